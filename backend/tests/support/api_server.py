"""The API as a real uvicorn process that a test can signal, time and inspect.

``api_process`` (beside this module) is enough to talk to a server. This one
also hands the test the process itself, for tests that send it SIGTERM and
check how it goes down, and a private PostgreSQL cluster the test may stop.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from tandem_stack.api import uvicorn_args
from tandem_stack.postgres import EmbeddedPostgres
from tandem_stack.throwaway import free_port, throwaway_postgres

from tandem.config import Settings
from tests.support.database import (
    BACKEND_DIR,
    DATABASE,
    OWNER,
    MigratedDatabase,
    migrate,
    new_owner_password,
)
from tests.support.tokens import AUDIENCE, ISSUER

GRACEFUL_SHUTDOWN_SECONDS = 10
# Settings the server must not inherit from whoever runs the tests.
_SETTINGS_NAMES = frozenset(name.upper() for name in Settings.model_fields)


@dataclass(frozen=True)
class PrivateCluster:
    """A migrated cluster that one test module may stop, kill and restart."""

    postgres: EmbeddedPostgres
    database: MigratedDatabase


@contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """A throwaway cluster whose database commits synchronously, as production does.

    Throwaway clusters skip fsync and commit asynchronously; a server killed with
    ``stop -m immediate`` could then lose a commit its client saw. Without fsync
    the WAL still reaches the OS on commit, and the OS outlives a killed server.
    """
    with throwaway_postgres() as postgres:
        password = new_owner_password()
        postgres.ensure_database(owner=OWNER, password=password, database=DATABASE)
        postgres.run_sql(f"ALTER DATABASE {DATABASE} SET synchronous_commit = on")
        owner_url = postgres.url(OWNER, password, DATABASE)
        migrate(owner_url)
        assert postgres.superuser_password is not None
        superuser_url = postgres.url("postgres", postgres.superuser_password, DATABASE)
        yield PrivateCluster(postgres, MigratedDatabase(owner_url, superuser_url))


@dataclass
class ApiServer:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    async def wait_exit(self, within: float) -> int | None:
        """The exit code, or None if the process still runs after ``within`` seconds."""
        try:
            return await asyncio.to_thread(self.process.wait, within)
        except subprocess.TimeoutExpired:
            return None


def server_environment(
    *, database_url: str, jwks_url: str, extra: Mapping[str, str]
) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if k.upper() not in _SETTINGS_NAMES}
    return {
        **inherited,
        "DATABASE_URL": database_url,
        "JWKS_URL": jwks_url,
        "BETTER_AUTH_URL": ISSUER,
        "JWT_AUDIENCE": AUDIENCE,
        "RATE_LIMIT_API": "1000000/second",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


@asynccontextmanager
async def running_api(
    *,
    database_url: str,
    jwks_url: str,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    graceful_shutdown_seconds: int = GRACEFUL_SHUTDOWN_SECONDS,
    ready_within: float = 30.0,
) -> AsyncIterator[ApiServer]:
    """Start ``uvicorn tandem.main:create_app --factory`` with the test's interpreter.

    Yields once ``/ready`` answers 200. On exit the process is sent SIGTERM if it
    still runs, and killed if it outlives its graceful-shutdown timeout.
    """
    port = free_port()
    argv = [
        sys.executable, "-m",
        *uvicorn_args(port, graceful_shutdown_seconds=graceful_shutdown_seconds),
    ]  # fmt: skip
    environment = server_environment(database_url=database_url, jwks_url=jwks_url, extra=env or {})
    process = _spawn(argv, environment, log_path)
    server = ApiServer(process=process, url=f"http://127.0.0.1:{port}", log_path=log_path)
    try:
        await _wait_ready(server, ready_within)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            if await server.wait_exit(graceful_shutdown_seconds + 5) is None:
                process.kill()
                await asyncio.to_thread(process.wait)


def _spawn(argv: list[str], environment: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start the server with its output in ``log_path`` (a pipe nobody reads could block it)."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            argv, cwd=BACKEND_DIR, env=environment, stdout=log, stderr=subprocess.STDOUT
        )


async def _wait_ready(server: ApiServer, within: float) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=server.url, timeout=1.0, trust_env=False) as http:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(
                    f"the API exited with {server.process.returncode} before it was ready:\n"
                    + server.log_text()[-4000:]
                )
            try:
                if (await http.get("/ready")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(f"the API at {server.url} was not ready within {within} s")
