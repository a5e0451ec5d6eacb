"""The commands behind `make db`, `make api`, `make run` and `make dev`."""

import logging

from tandem_stack.api import start_api
from tandem_stack.config import StackConfig
from tandem_stack.database import DatabaseUrls, api_env, prepare_database, redact
from tandem_stack.mail import MailCatcher
from tandem_stack.migrations import run_migrations
from tandem_stack.supervisor import Supervisor
from tandem_stack.web import prepare_web, start_web

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


def _banner(config: StackConfig, database_url: str, *, web: bool, api: bool) -> None:
    log.info("Tandem is running")
    if web:
        log.info("  Web:      %s", config.better_auth_url)
    if web and not config.smtp_url:
        log.info("  Mail:     links are printed here as mail arrives")
    if api:
        log.info("  API:      %s", config.api_url)
        log.info("  API docs: %s", config.api_docs_url)
    log.info("  Database: %s", redact(database_url))
    log.info("Ctrl-C to stop")
