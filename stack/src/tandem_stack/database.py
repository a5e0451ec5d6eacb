"""The stack's database: `DATABASE_URL` when set, otherwise the embedded cluster under
`.data/postgres` with the role `tandem` owning the database `tandem`, and the API's own
login `tandem_app`."""

import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tandem_stack.config import StackConfig
from tandem_stack.errors import ConfigError
from tandem_stack.postgres import APP_ROLE, EmbeddedPostgres
from tandem_stack.readiness import port_in_use
from tandem_stack.supervisor import Supervisor

DATABASE = "tandem"
OWNER = "tandem"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatabaseUrls:
    """Who connects how: the owner's URL for Next.js and the migrations, and the API's own."""

    owner: str
    """DATABASE_URL: the schema owner."""
    api: str | None
    """The API's login as tandem_app (API_DATABASE_URL); None for a database the stack does
    not own, where the operator decides (docs/operations.md)."""


def stored_password(path: Path) -> str:
    """A role's password: read from `path`, or generated there (mode 0600) once."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        password = path.read_text(encoding="utf-8").strip()
        if not password:
            raise ConfigError(f"{path} is empty; delete it to generate a new password") from None
        return password
    password = secrets.token_urlsafe(32)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(password + "\n")
    return password


def api_env(env: Mapping[str, str], database: DatabaseUrls) -> dict[str, str]:
    """The API process's environment. With a login of its own, that login is both
    API_DATABASE_URL and DATABASE_URL, so the owner's password never reaches the API."""
    if database.api is None:
        return dict(env)
    return {**env, "DATABASE_URL": database.api, "API_DATABASE_URL": database.api}


def redact(url: str) -> str:
    """The URL with its password replaced by `***`, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class PostgresService:
    """The embedded cluster as a supervised service: watched while the stack runs,
    stopped (fast) when it stops."""

    name = "postgres"

    def __init__(self, postgres: EmbeddedPostgres) -> None:
        self.postgres = postgres

    def alive(self) -> bool:
        return self.postgres.is_running()

    def stop(self) -> None:
        self.postgres.stop("fast")


def prepare_database(config: StackConfig, supervisor: Supervisor) -> DatabaseUrls:
    """Make the database usable and return its URLs.

    With DATABASE_URL set that is all; otherwise the embedded cluster is created if
    needed, started (and stopped with the supervisor), and given its roles and database.
    """
    if config.external_database_url:
        log.info("using DATABASE_URL %s", redact(config.external_database_url))
        return DatabaseUrls(owner=config.external_database_url, api=None)
    paths = config.paths
    # 0755: as root the server runs as another user, which must be able to enter .data/.
    paths.data.mkdir(mode=0o755, exist_ok=True)
    postgres = EmbeddedPostgres(paths.postgres_data, config.embedded_pg_port)
    postgres.ensure_cluster()
    if not postgres.is_running() and port_in_use(postgres.port):
        raise ConfigError(
            f"port {postgres.port} is already in use; set EMBEDDED_PG_PORT to a free port"
        )
    supervisor.add(PostgresService(postgres))
    if not postgres.start():
        log.info("PostgreSQL was already running (pid %s); it stops with the stack", postgres.pid())
    password = stored_password(paths.owner_password)
    app_password = stored_password(paths.app_password)
    postgres.ensure_database(
        OWNER, password, DATABASE, app_role=APP_ROLE, app_password=app_password
    )
    return DatabaseUrls(
        owner=postgres.url(OWNER, password, DATABASE),
        api=postgres.url(APP_ROLE, app_password, DATABASE),
    )
