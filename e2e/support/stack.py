"""The real stack on free ports: a throwaway PostgreSQL, the migrations, Next.js and FastAPI.

Every child runs under tandem_stack's Supervisor: in its own process group, stopped in
reverse order (SIGTERM, then SIGKILL after a grace period), with a PID file under
artifacts/run/ so that the next run stops whatever a killed run left behind. Each child's
output goes to artifacts/logs/<name>.log.
"""

import contextlib
import os
import secrets
import signal
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tandem_stack.config import StackConfig
from tandem_stack.errors import ChildFailed
from tandem_stack.paths import RepoPaths
from tandem_stack.processes import Child
from tandem_stack.supervisor import STOP_SIGNALS, Supervisor
from tandem_stack.throwaway import free_port, throwaway_postgres
from tandem_stack.web import needs_install, newest_source

from support.paths import BACKEND, FRONTEND, LOGS, ROOT, RUN

HOST = "127.0.0.1"
DATABASE = "tandem"
OWNER = "tandem"
# Short enough that a test can watch a token expire; the API gets no leeway on top.
JWT_LIFETIME_SECONDS = 20
JWT_LEEWAY_SECONDS = 0

_GRACE = 10.0
_BUILD_TIMEOUT = 600.0
_TASK_TIMEOUT = 180.0
_WEB_READY_TIMEOUT = 60.0
_API_READY_TIMEOUT = 90.0
_LOG_TAIL_LINES = 40
# Settings the suite chooses itself: values from the caller's environment (or a developer's
# shell) would mix another configuration into the one under test.
_OWNED_PREFIXES = ("JWT_", "BETTER_AUTH_", "RATE_LIMIT_")
_OWNED_NAMES = frozenset(
    {
        "DATABASE_URL",
        "API_DATABASE_URL",
        "API_URL",
        "API_PORT",
        "WEB_PORT",
        "JWKS_URL",
        "TRUSTED_ORIGINS",
        "TRUSTED_PROXIES",
        "HOST",
        "NODE_ENV",
        # The suite's own virtualenv: `uv run --project backend` must use the back end's.
        "VIRTUAL_ENV",
    }
)


class StackFailed(RuntimeError):
    """A child failed to build, migrate or start; the message ends with its log."""


@dataclass(frozen=True)
class Pair:
    """One Next.js front end and the FastAPI back end it proxies to."""

    web_url: str
    api_url: str
    algorithm: str

    @property
    def origin(self) -> str:
        """The app's origin: what a browser sends as `Origin` on its own pages' requests."""
        return self.web_url


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-_LOG_TAIL_LINES:])


def _base_env() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if name not in _OWNED_NAMES and not name.startswith(_OWNED_PREFIXES)
    }


def _backend_command(*args: str) -> list[str]:
    return ["uv", "run", "--project", str(BACKEND), "--frozen", *args]


def _two_free_ports() -> tuple[int, int]:
    first = free_port()
    while (second := free_port()) == first:
        pass
    return first, second


class Launcher:
    """Runs the stack's children under one Supervisor, each logging to its own file."""

    def __init__(self, supervisor: Supervisor) -> None:
        self._supervisor = supervisor
        self._logs: list[BinaryIO] = []
        self._services: list[Child] = []

    def _child(self, name: str, argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> Child:
        log = (LOGS / f"{name}.log").open("wb")
        self._logs.append(log)
        return Child(
            name, argv, cwd=cwd, env=env, pidfile=RUN / f"{name}.pid", output=log, grace=_GRACE
        )

    def run(
        self, name: str, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float
    ) -> None:
        """Run a child to completion; StackFailed if it fails or outlives `timeout`."""
        child = self._child(name, argv, cwd, env)
        child.start()
        try:
            code = child.wait(timeout)
        finally:
            child.stop()
        if code != 0:
            outcome = f"timed out after {timeout:.0f} s" if code is None else f"exited {code}"
            raise StackFailed(
                f"{name} {outcome}; the end of its log:\n{_tail(LOGS / f'{name}.log')}"
            )

    def serve(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        ready_url: str,
        timeout: float,
    ) -> None:
        """Start a long-running child and wait until `ready_url` answers 2xx."""
        child = self._child(name, argv, cwd, env)
        self._supervisor.add(child)  # stopped at shutdown even if it never gets ready
        child.start()
        self._services.append(child)
        try:
            self._supervisor.wait_ready(child, ready_url, timeout=timeout)
        except ChildFailed as error:
            raise StackFailed(
                f"{error}; the end of its log:\n{_tail(LOGS / f'{name}.log')}"
            ) from None

    def dead_services(self) -> list[str]:
        return [child.name for child in self._services if not child.alive()]

    def close_logs(self) -> None:
        for log in self._logs:
            log.close()


class Stack:
    """The database, the EdDSA pair every test uses, and an HS256 pair started on demand."""

    def __init__(self, launcher: Launcher, database_url: str) -> None:
        self._launcher = launcher
        self.database_url = database_url
        self.auth_secret = secrets.token_urlsafe(32)
        self._hs256: Pair | None = None
        self.main = self._start_pair("", algorithm="EdDSA", extra={})

    def hs256(self) -> Pair:
        """A second pair on the same build and database, signing with a shared secret."""
        if self._hs256 is None:
            jwt_secret = secrets.token_urlsafe(36)  # 48 characters
            extra = {"JWT_SECRET": jwt_secret}
            self._hs256 = self._start_pair("-hs256", algorithm="HS256", extra=extra)
        return self._hs256

    def check_alive(self) -> None:
        if dead := self._launcher.dead_services():
            logs = "\n\n".join(f"{name}:\n{_tail(LOGS / f'{name}.log')}" for name in dead)
            raise StackFailed(f"stopped during the run: {', '.join(dead)}\n{logs}")

    def _start_pair(self, suffix: str, *, algorithm: str, extra: Mapping[str, str]) -> Pair:
        web_port, api_port = _two_free_ports()
        web_url = f"http://{HOST}:{web_port}"
        config = StackConfig.from_env(
            RepoPaths(ROOT),
            {
                "WEB_PORT": str(web_port),
                "API_PORT": str(api_port),
                # 127.0.0.1 everywhere, so the browser's Origin is exactly the trusted origin.
                "BETTER_AUTH_URL": web_url,
                "JWT_ALGORITHM": algorithm,
            },
        )
        env = config.child_env(database_url=self.database_url, base=_base_env())
        env |= {
            "BETTER_AUTH_SECRET": self.auth_secret,
            "JWT_LIFETIME_SECONDS": str(JWT_LIFETIME_SECONDS),
            "JWT_LEEWAY_SECONDS": str(JWT_LEEWAY_SECONDS),
            "NEXT_TELEMETRY_DISABLED": "1",
            **extra,
        }
        # The web app first: the API loads its keys from the web app's JWKS at startup.
        self._launcher.serve(
            f"web{suffix}",
            ["npx", "--no-install", "next", "start", "-H", HOST, "-p", str(web_port)],
            cwd=FRONTEND,
            env=env,
            ready_url=f"{web_url}/api/auth/ok",
            timeout=_WEB_READY_TIMEOUT,
        )
        self._launcher.serve(
            f"api{suffix}",
            _backend_command(
                "uvicorn",
                "tandem.main:create_app",
                "--factory",
                "--host",
                HOST,
                "--port",
                str(api_port),
            ),
            cwd=BACKEND,
            env=env,
            # /ready rather than /health: the database and the signing keys are usable.
            ready_url=f"{config.api_url}/ready",
            timeout=_API_READY_TIMEOUT,
        )
        return Pair(web_url=web_url, api_url=config.api_url, algorithm=algorithm)


def _build_web(launcher: Launcher) -> None:
    """`npm ci` and `npm run build` only when needed, as tandem_stack.web decides."""
    env = _base_env() | {"NEXT_TELEMETRY_DISABLED": "1"}
    if needs_install(FRONTEND):
        argv = ["npm", "ci", "--no-audit", "--no-fund"]
        launcher.run("npm-ci", argv, cwd=FRONTEND, env=env, timeout=_BUILD_TIMEOUT)
    build_id = FRONTEND / ".next" / "BUILD_ID"
    if build_id.is_file() and newest_source(FRONTEND) <= build_id.stat().st_mtime:
        return
    launcher.run("build", ["npm", "run", "build"], cwd=FRONTEND, env=env, timeout=_BUILD_TIMEOUT)


@contextlib.contextmanager
def _supervisor() -> Iterator[Supervisor]:
    """A Supervisor that leaves Ctrl-C to pytest.

    The Supervisor turns stop signals into a request for its own wait loop, which the suite
    never runs; pytest must keep getting KeyboardInterrupt, so that it unwinds the fixtures
    that stop everything.
    """
    handlers = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    with Supervisor(RUN, grace=_GRACE) as supervisor:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        yield supervisor


@contextlib.contextmanager
def running_stack() -> Iterator[Stack]:
    """Build if stale, then start everything; leaving stops everything, failures included."""
    LOGS.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as cleanup:
        postgres = cleanup.enter_context(throwaway_postgres())
        supervisor = cleanup.enter_context(_supervisor())
        launcher = Launcher(supervisor)
        cleanup.callback(launcher.close_logs)
        # Callbacks run last-registered first: the children stop before their logs close.
        cleanup.callback(supervisor.shutdown)
        _build_web(launcher)
        password = secrets.token_urlsafe(24)
        postgres.ensure_database(OWNER, password, DATABASE)
        database_url = postgres.url(OWNER, password, DATABASE)
        launcher.run(
            "migrate",
            _backend_command("alembic", "-c", str(BACKEND / "alembic.ini"), "upgrade", "head"),
            cwd=BACKEND,
            env=_base_env() | {"DATABASE_URL": database_url},
            timeout=_TASK_TIMEOUT,
        )
        yield Stack(launcher, database_url)
