"""The commands behind `make db`, `make api`, `make run`, `make dev` and `make cluster`."""

import logging

from tandem_stack import cluster as topology
from tandem_stack.api import start_api
from tandem_stack.config import StackConfig
from tandem_stack.database import DatabaseUrls, api_env, prepare_database, redact
from tandem_stack.mail import MailCatcher
from tandem_stack.migrations import run_migrations
from tandem_stack.redis import prepare_redis
from tandem_stack.supervisor import Supervisor
from tandem_stack.web import create_signing_key, prepare_web, start_web

log = logging.getLogger(__name__)


def _database(config: StackConfig, supervisor: Supervisor) -> DatabaseUrls:
    database = prepare_database(config, supervisor)
    run_migrations(config, supervisor, database_url=database.owner)
    return database


def db(config: StackConfig, supervisor: Supervisor) -> None:
    """Prepare and migrate the database, then keep the embedded cluster up until Ctrl-C."""
    database = _database(config, supervisor)
    if config.external_database_url:
        log.info("the database is ready; nothing else to keep running")
        return
    log.info("database ready: %s", redact(database.owner))
    if database.api is not None:
        log.info("  the API's login: %s", redact(database.api))
    log.info(
        "  superuser: psql -h %s -p %d -U postgres",
        config.paths.postgres_data,
        config.embedded_pg_port,
    )
    log.info("Ctrl-C to stop")
    supervisor.watch()


def api(config: StackConfig, supervisor: Supervisor, *, reload: bool) -> None:
    """The database and FastAPI."""
    database = _database(config, supervisor)
    env = config.child_env(database_url=database.owner)
    started = start_api(config, supervisor, env=api_env(env, database), reload=reload)
    _banner(config, database.owner, web=False, api=started)
    supervisor.watch()


def _mail(config: StackConfig, supervisor: Supervisor) -> str:
    """SMTP_URL, or the URL of an embedded catcher, stopped with the stack."""
    if config.smtp_url:
        return config.smtp_url
    catcher = MailCatcher(config.paths.mail).start()
    supervisor.add(catcher)
    log.info("mail catcher on %s; messages in %s", catcher.url, config.paths.mail)
    return catcher.url


def run(config: StackConfig, supervisor: Supervisor, *, dev: bool, rebuild: bool = False) -> None:
    """The whole stack: database, FastAPI and Next.js (production build, or `next dev`)."""
    database = _database(config, supervisor)
    env = config.child_env(database_url=database.owner) | {"SMTP_URL": _mail(config, supervisor)}
    has_web = prepare_web(config, supervisor, env=env, dev=dev, rebuild=rebuild)
    # The web app first: the API loads its signing keys from the web app's JWKS at startup.
    if has_web:
        start_web(config, supervisor, env=env, dev=dev)
    # The API logs in as tandem_app; the owner's URL reaches only Next.js and the migrations.
    has_api = start_api(config, supervisor, env=api_env(env, database), reload=dev)
    _banner(config, database.owner, web=has_web, api=has_api)
    supervisor.watch()


def cluster(config: StackConfig, supervisor: Supervisor, *, build: bool, rebuild: bool) -> None:
    """CLUSTER_SIZE web and API instances behind HAProxy, on one database and one Redis."""
    layout = topology.Topology.of(config)
    topology.check_ports_free(config, layout)
    database = _database(config, supervisor)  # the migrations run once, before any instance
    redis_url = prepare_redis(config, supervisor)
    env = config.child_env(database_url=database.owner) | {
        "REDIS_URL": redis_url,
        "SMTP_URL": _mail(config, supervisor),
    }
    if build:
        prepare_web(config, supervisor, env=env, dev=False, rebuild=rebuild)
    # Exactly one signing key, made before any instance could race to make its own.
    create_signing_key(config, supervisor, env=env)
    topology.start_web_instances(config, supervisor, layout, env=env)
    # Before the API instances: they read their keys from the web instances through it.
    topology.start_balancer(config, supervisor, layout)
    topology.start_api_instances(config, supervisor, layout, env=api_env(env, database))
    log.info("Tandem is running: %d web and %d API instances", len(layout.web), len(layout.api))
    log.info("  Web:      %s (load balancer)", config.better_auth_url)
    for web in layout.web:
        log.info("    %s:   %s", web.name, web.url)
    log.info("  API:      %s (load balancer)", config.api_url)
    for api in layout.api:
        log.info("    %s:   %s   metrics %s", api.name, api.url, api.metrics_url)
    log.info("  Database: %s", redact(database.owner))
    log.info("  Redis:    %s", redact(redis_url))
    log.info("  HAProxy:  %s", config.paths.cluster_dir / "haproxy.cfg")
    log.info("Ctrl-C to stop")
    supervisor.watch()


def _banner(config: StackConfig, database_url: str, *, web: bool, api: bool) -> None:
    log.info("Tandem is running")
    if web:
        log.info("  Web:      %s", config.better_auth_url)
    if web and not config.smtp_url:
        log.info("  Mail:     links are printed here as mail arrives")
    if api:
        log.info("  API:      %s", config.api_url)
        log.info("  API docs: %s", config.api_docs_url)
        if config.metrics_url:
            log.info("  Metrics:  %s", config.metrics_url)
    log.info("  Database: %s", redact(database_url))
    log.info("Ctrl-C to stop")
