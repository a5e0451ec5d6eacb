"""The real stack on free ports: a throwaway PostgreSQL, the migrations, Next.js and FastAPI.

Every child runs under tandem_stack's Supervisor: in its own process group, stopped in
reverse order (SIGTERM, then SIGKILL after a grace period), with a PID file under
artifacts/run/ so that the next run stops whatever a killed run left behind. Each child's
output goes to artifacts/logs/<name>.log, and its audit events (AUDIT_LOG) to
artifacts/logs/audit-<name>.jsonl; the directory is emptied when the stack starts, so it holds
exactly this run's logs. A test may stop a child, or restart it with other settings on the
same port (the rotation drills); its log then continues in the same file.
"""

import contextlib
import os
import secrets
import shutil
import signal
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from tandem_stack.api import uvicorn_args
from tandem_stack.config import StackConfig
from tandem_stack.database import DatabaseUrls, api_env
from tandem_stack.errors import ChildFailed
from tandem_stack.mail import MailCatcher
from tandem_stack.paths import RepoPaths
from tandem_stack.postgres import APP_ROLE, EmbeddedPostgres
from tandem_stack.processes import Child
from tandem_stack.supervisor import STOP_SIGNALS, Supervisor
from tandem_stack.throwaway import free_port, throwaway_postgres
from tandem_stack.web import needs_install, newest_source

from support import sensitive
from support.paths import BACKEND, FRONTEND, LOGS, MAIL, PYCACHE, ROOT, RUN

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
        "AUDIT_LOG",
        "SMTP_URL",
        "MAIL_FROM",
        "REQUIRE_EMAIL_VERIFICATION",
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
    suffix: str = ""
    """Its children are `web<suffix>` and `api<suffix>`."""

    @property
    def origin(self) -> str:
        """The app's origin: what a browser sends as `Origin` on its own pages' requests."""
        return self.web_url

    @property
    def web(self) -> str:
        return f"web{self.suffix}"

    @property
    def api(self) -> str:
        return f"api{self.suffix}"


@dataclass(frozen=True)
class _Service:
    """How a long-running child is started, kept so that it can be restarted."""

    name: str
    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str]
    ready_url: str
    timeout: float


class _StopOnce:
    """A child as the Supervisor sees it: stopped by a test and again at shutdown, it stops once."""

    def __init__(self, child: Child) -> None:
        self.child = child
        self._stopped = False

    @property
    def name(self) -> str:
        return self.child.name

    def alive(self) -> bool:
        return self.child.alive()

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self.child.stop()


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-_LOG_TAIL_LINES:])


def _base_env() -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in _OWNED_NAMES and not name.startswith(_OWNED_PREFIXES)
    }
    # Compiled bytecode goes under artifacts/, out of the source tree, even when the caller's
    # shell says PYTHONDONTWRITEBYTECODE: otherwise every start and restart of the API (the
    # rotation drills restart it) compiles the whole back end again, for seconds each time.
    if "PYTHONPYCACHEPREFIX" not in env:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


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
        self._running: dict[str, tuple[_Service, _StopOnce]] = {}

    def _child(self, name: str, argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> Child:
        # Appended: a restarted child goes on in the same file (emptied when the run starts).
        log = (LOGS / f"{name}.log").open("ab")
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

    def serve(self, service: _Service) -> None:
        """Start a long-running child and wait until its `ready_url` answers 2xx."""
        if service.name in self._running:
            raise StackFailed(f"{service.name} is already running")
        env = dict(service.env) | {"AUDIT_LOG": str(LOGS / f"audit-{service.name}.jsonl")}
        child = _StopOnce(self._child(service.name, service.argv, service.cwd, env))
        self._supervisor.add(child)  # stopped at shutdown even if it never gets ready
        self._running[service.name] = (service, child)
        child.child.start()
        try:
            self._supervisor.wait_ready(child.child, service.ready_url, timeout=service.timeout)
        except ChildFailed as error:
            raise StackFailed(
                f"{error}; the end of its log:\n{_tail(LOGS / f'{service.name}.log')}"
            ) from None

    def service(self, name: str) -> _Service:
        """How a running child was started."""
        return self._running[name][0]

    def stop(self, name: str) -> _Service:
        """Stop a running child (it is no longer watched); returns how it was started."""
        service, child = self._running.pop(name)
        child.stop()
        return service

    def dead_services(self) -> list[str]:
        return [name for name, (_, child) in self._running.items() if not child.alive()]

    def close_logs(self) -> None:
        for log in self._logs:
            log.close()


class Stack:
    """The database, the EdDSA pair every test uses, and more children on demand: an HS256
    pair, a pair for the other JWKS algorithms, more Next.js servers on the same database,
    and restarts with other settings."""

    def __init__(
        self,
        launcher: Launcher,
        postgres: EmbeddedPostgres,
        database: DatabaseUrls,
        mail: MailCatcher,
    ) -> None:
        self._launcher = launcher
        self._postgres = postgres
        # Every Next.js server mails through real SMTP to the suite's own catcher (support.mail).
        self.smtp_url = mail.url
        # As under `make run`: Next.js and the migrations use the schema owner's URL
        # (database_url), and the API logs in as tandem_app.
        self._database = database
        self.database_url = database.owner
        self.auth_secret = secrets.token_urlsafe(32)
        sensitive.remember("BETTER_AUTH_SECRET", self.auth_secret)
        self._hs256: Pair | None = None
        self._jwks: Pair | None = None
        self.main = self.start_pair("", algorithm="EdDSA", extra={})

    def hs256(self) -> Pair:
        """A second pair on the same build and database, signing with a shared secret."""
        if self._hs256 is None:
            jwt_secret = secrets.token_urlsafe(36)  # 48 characters
            sensitive.remember("JWT_SECRET", jwt_secret)
            extra = {"JWT_SECRET": jwt_secret}
            self._hs256 = self.start_pair("-hs256", algorithm="HS256", extra=extra)
        return self._hs256

    def pair_for(self, algorithm: str) -> Pair:
        """A pair that signs with `algorithm`: the main pair for EdDSA, the HS256 pair, or else
        the one `-jwks` pair, started on first use and restarted with each new algorithm. One
        Next.js server more, rather than one per algorithm: each costs memory and seconds, and
        the restart is an operator's change of JWT_ALGORITHM on a database that keeps its keys."""
        if algorithm == self.main.algorithm:
            return self.main
        if algorithm == "HS256":
            return self.hs256()
        if self._jwks is None:
            self._jwks = self.start_pair("-jwks", algorithm=algorithm, extra={})
        elif self._jwks.algorithm != algorithm:
            # The API stays down while its web app restarts: it would only log failed refreshes.
            api = self._launcher.stop(self._jwks.api)
            self.restart(self._jwks.web, {"JWT_ALGORITHM": algorithm})
            self._launcher.serve(replace(api, env=_changed(api.env, {"JWT_ALGORITHM": algorithm})))
            self._jwks = replace(self._jwks, algorithm=algorithm)
        return self._jwks

    def check_alive(self) -> None:
        if dead := self._launcher.dead_services():
            logs = "\n\n".join(f"{name}:\n{_tail(LOGS / f'{name}.log')}" for name in dead)
            raise StackFailed(f"stopped during the run: {', '.join(dead)}\n{logs}")

    # -- more children, and restarts -------------------------------------------------------

    def start_pair(self, suffix: str, *, algorithm: str, extra: Mapping[str, str]) -> Pair:
        """Next.js and FastAPI, named `web<suffix>` and `api<suffix>`, on the same database."""
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
            "SMTP_URL": self.smtp_url,
            **extra,
        }
        # The web app first: the API loads its keys from the web app's JWKS at startup.
        self._launcher.serve(_web(f"web{suffix}", web_port, env))
        self._launcher.serve(
            _Service(
                name=f"api{suffix}",
                argv=tuple(_backend_command(*uvicorn_args(api_port))),
                cwd=BACKEND,
                env=api_env(env, self._database),
                # /ready rather than /health: the database and the signing keys are usable.
                ready_url=f"{config.api_url}/ready",
                timeout=_API_READY_TIMEOUT,
            )
        )
        return Pair(web_url=web_url, api_url=config.api_url, algorithm=algorithm, suffix=suffix)

    def start_web(self, name: str, *, like: Pair, env: Mapping[str, str | None]) -> str:
        """Another Next.js server for `like`'s pair, on a free port: the same build, database
        and settings (its BETTER_AUTH_URL too, as a replica behind one address would have),
        with `env` on top (None removes a variable). Returns its URL."""
        template = self._launcher.service(like.web)
        port = free_port()
        self._launcher.serve(_web(name, port, _changed(template.env, env)))
        return f"http://{HOST}:{port}"

    def restart(self, name: str, env: Mapping[str, str | None]) -> None:
        """Stop a child and start it again on the same port, with `env` changed (None
        removes a variable), as an operator restarts a service with a new configuration."""
        service = self._launcher.stop(name)
        self._launcher.serve(replace(service, env=_changed(service.env, env)))

    def stop(self, name: str) -> None:
        """Stop a child started on demand; it is no longer checked between tests."""
        self._launcher.stop(name)

    def env(self, name: str) -> Mapping[str, str]:
        """The settings a running child was started with."""
        return self._launcher.service(name).env

    # -- the database ----------------------------------------------------------------------

    def sql(self, query: str, **variables: str) -> str:
        """Run SQL on the app's database as the superuser; values go in as `:'name'`."""
        return self._postgres.run_sql(query, database=DATABASE, variables=variables)

    @property
    def postgres_log(self) -> Path:
        """PostgreSQL's own log (in the throwaway cluster's directory, gone after the run)."""
        return self._postgres.log_file


def closed_port_url() -> str:
    """An http URL on this machine where nothing listens (for an API that is down)."""
    return f"http://{HOST}:{free_port()}"


def _changed(env: Mapping[str, str], changes: Mapping[str, str | None]) -> dict[str, str]:
    updated = dict(env)
    for name, value in changes.items():
        if value is None:
            updated.pop(name, None)
        else:
            updated[name] = value
    return updated


def _web(name: str, port: int, env: Mapping[str, str]) -> _Service:
    return _Service(
        name=name,
        argv=("npx", "--no-install", "next", "start", "-H", HOST, "-p", str(port)),
        cwd=FRONTEND,
        env=dict(env) | {"WEB_PORT": str(port)},
        ready_url=f"http://{HOST}:{port}/api/auth/ok",
        timeout=_WEB_READY_TIMEOUT,
    )


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
    shutil.rmtree(LOGS, ignore_errors=True)  # only this run's logs: the log scan reads them all
    LOGS.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(MAIL, ignore_errors=True)  # only this run's mail
    with contextlib.ExitStack() as cleanup:
        mail = cleanup.enter_context(MailCatcher(MAIL))
        postgres = cleanup.enter_context(throwaway_postgres())
        supervisor = cleanup.enter_context(_supervisor())
        launcher = Launcher(supervisor)
        cleanup.callback(launcher.close_logs)
        # Callbacks run last-registered first: the children stop before their logs close.
        cleanup.callback(supervisor.shutdown)
        _build_web(launcher)
        password, app_password = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        sensitive.remember("database password", password)
        sensitive.remember("the API's database password", app_password)
        # As the stack does: the superuser makes the API's login before the migrations run.
        postgres.ensure_database(OWNER, password, DATABASE, app_password=app_password)
        database_url = postgres.url(OWNER, password, DATABASE)
        database = DatabaseUrls(
            owner=database_url, api=postgres.url(APP_ROLE, app_password, DATABASE)
        )
        launcher.run(
            "migrate",
            _backend_command("alembic", "-c", str(BACKEND / "alembic.ini"), "upgrade", "head"),
            cwd=BACKEND,
            env=_base_env() | {"DATABASE_URL": database_url},
            timeout=_TASK_TIMEOUT,
        )
        yield Stack(launcher, postgres, database, mail)
