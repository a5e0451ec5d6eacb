"""Bringing the schema up to date with the back end's Alembic migrations."""

import logging

from tandem_stack.config import StackConfig
from tandem_stack.supervisor import Supervisor

log = logging.getLogger(__name__)


def run_migrations(config: StackConfig, supervisor: Supervisor, *, database_url: str) -> None:
    """`alembic upgrade head` in the back end's environment; skipped without alembic.ini."""
    backend = config.paths.backend
    ini = backend / "alembic.ini"
    if not ini.is_file():
        log.warning("%s not found; skipping migrations", ini)
        return
    supervisor.run_task(
        "migrate",
        config.paths.backend_command("alembic", "-c", str(ini), "upgrade", "head"),
        # From backend/, a relative script_location in alembic.ini resolves either way.
        cwd=backend,
        env=config.child_env(database_url=database_url),
    )
