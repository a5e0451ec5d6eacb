"""The commands behind `make db`, `make api`, `make run` and `make dev`."""

import logging

from tandem_stack.api import start_api
from tandem_stack.config import StackConfig
from tandem_stack.database import prepare_database, redact
from tandem_stack.migrations import run_migrations
from tandem_stack.supervisor import Supervisor
from tandem_stack.web import prepare_web, start_web

log = logging.getLogger(__name__)


def _database(config: StackConfig, supervisor: Supervisor) -> str:
    database_url = prepare_database(config, supervisor)
    run_migrations(config, supervisor, database_url=database_url)
    return database_url


def db(config: StackConfig, supervisor: Supervisor) -> None:
    """Prepare and migrate the database, then keep the embedded cluster up until Ctrl-C."""
    database_url = _database(config, supervisor)
    if config.external_database_url:
        log.info("the database is ready; nothing else to keep running")
        return
    log.info("database ready: %s", redact(database_url))
    log.info(
        "  superuser: psql -h %s -p %d -U postgres",
        config.paths.postgres_data,
        config.embedded_pg_port,
    )
    log.info("Ctrl-C to stop")
    supervisor.watch()


def api(config: StackConfig, supervisor: Supervisor, *, reload: bool) -> None:
    """The database and FastAPI."""
    database_url = _database(config, supervisor)
    env = config.child_env(database_url=database_url)
    started = start_api(config, supervisor, env=env, reload=reload)
    _banner(config, database_url, web=False, api=started)
    supervisor.watch()


def run(config: StackConfig, supervisor: Supervisor, *, dev: bool, rebuild: bool = False) -> None:
    """The whole stack: database, FastAPI and Next.js (production build, or `next dev`)."""
    database_url = _database(config, supervisor)
    env = config.child_env(database_url=database_url)
    has_web = prepare_web(config, supervisor, env=env, dev=dev, rebuild=rebuild)
    # The web app first: the API loads its signing keys from the web app's JWKS at startup.
    if has_web:
        start_web(config, supervisor, env=env, dev=dev)
    has_api = start_api(config, supervisor, env=env, reload=dev)
    _banner(config, database_url, web=has_web, api=has_api)
    supervisor.watch()


def _banner(config: StackConfig, database_url: str, *, web: bool, api: bool) -> None:
    log.info("Tandem is running")
    if web:
        log.info("  Web:      %s", config.better_auth_url)
    if api:
        log.info("  API:      %s", config.api_url)
        log.info("  API docs: %s", config.api_docs_url)
    log.info("  Database: %s", redact(database_url))
    log.info("Ctrl-C to stop")
