"""The embedded stack's database, as `make run`, `make api` and `make dev` prepare it.

DESIGN.md section 2 ("database", "embedded default") and security pass 2 (issue 12,
findings 4 and 8): the schema owner cannot create roles, and an owner an older stack
made loses CREATEROLE on the next start; the superuser makes ``tandem_app`` before the
migrations run, as a login with least privilege; the API logs in as ``tandem_app`` and
never sees the owner's password; the password files and ``.env`` are mode 0600.

The stack runs here as it does for ``make api``: ``tandem_stack.commands.api`` with a
real cluster in a scratch checkout under the temporary directory. Only the children are
left out: the migrations run in this process's environment, and the API's start is
recorded, then the app is served in-process with exactly the environment it was given.
"""

from __future__ import annotations

import asyncio
import shutil
import stat
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from tandem_auth.postgres.live_sessions import LISTENER_NAME
from tandem_stack import commands
from tandem_stack.config import StackConfig
from tandem_stack.database import DATABASE, OWNER, prepare_database
from tandem_stack.dotenv import SECRET_NAME, ensure_auth_secret
from tandem_stack.paths import RepoPaths
from tandem_stack.postgres import APP_ROLE, SUPERUSER, EmbeddedPostgres
from tandem_stack.supervisor import Supervisor
from tandem_stack.throwaway import free_port

from tests.conftest import make_settings
from tests.db.conftest import UserIn
from tests.support.apps import serving
from tests.support.database import BACKEND_DIR, MigratedDatabase, migrate
from tests.support.jwks_server import JWKSServer

_ROLE_ATTRIBUTES = (
    "SELECT rolcanlogin, rolsuper, rolbypassrls, rolcreatedb, rolcreaterole, rolinherit, "
    "rolreplication FROM pg_roles WHERE rolname = :'role'"
)


class _Runner(Supervisor):
    """The stack's own supervisor, with its children left out: the migrations run here,
    and the API's start is only recorded (name → environment)."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(run_dir)
        self.tasks: dict[str, dict[str, str]] = {}
        self.spawned: dict[str, dict[str, str]] = {}

    def _install_signal_handlers(self) -> None:
        pass  # Ctrl-C stays pytest's

    def run_task(
        self, name: str, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]
    ) -> None:
        self.tasks[name] = dict(env)
        if name == "migrate":
            assert "alembic" in argv
            migrate(env["DATABASE_URL"])

    def spawn(self, name: str, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> Any:
        self.spawned[name] = dict(env)
        return name

    def wait_ready(self, child: Any, url: str, *, timeout: float) -> None:
        pass

    def watch(self) -> None:
        pass


@dataclass(frozen=True)
class _Checkout:
    paths: RepoPaths
    config: StackConfig

    def stub_web_app(self) -> None:
        """A front end that is installed and needs no build: `next` itself never runs."""
        frontend = self.paths.frontend
        (frontend / "node_modules").mkdir(parents=True)
        (frontend / "package.json").write_text("{}\n", encoding="utf-8")
        (frontend / "node_modules" / ".package-lock.json").write_text("{}\n", encoding="utf-8")

    @property
    def postgres(self) -> EmbeddedPostgres:
        return EmbeddedPostgres(self.paths.postgres_data, self.config.embedded_pg_port)

    def sql(self, query: str, **variables: str) -> str:
        """SQL as the superuser, over the cluster's unix socket."""
        return self.postgres.run_sql(query, database=DATABASE, variables=variables).strip()

    def superuser_engine(self) -> AsyncEngine:
        return create_async_engine(
            f"postgresql+asyncpg://{SUPERUSER}@/{DATABASE}",
            connect_args={"host": str(self.paths.postgres_data), "port": self.postgres.port},
        )


@contextmanager
def _checkout() -> Iterator[_Checkout]:
    """A scratch checkout: the real back end, and a `.data/` of its own."""
    root = Path(tempfile.mkdtemp(prefix="tandem-stack-test-"))
    try:
        root.chmod(0o755)  # as root, PostgreSQL runs as another user, which must enter it
        (root / "backend").symlink_to(BACKEND_DIR)
        paths = RepoPaths(root)
        environ = {
            "EMBEDDED_PG_PORT": str(free_port()),
            "API_PORT": str(free_port()),
            "WEB_PORT": str(free_port()),
        }
        yield _Checkout(paths, StackConfig.from_env(paths, environ))
    finally:
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class _Started:
    checkout: _Checkout
    runner: _Runner

    @property
    def api_env(self) -> dict[str, str]:
        return self.runner.spawned["api"]

    @property
    def owner_url(self) -> str:
        return self.runner.tasks["migrate"]["DATABASE_URL"]


@pytest.fixture(scope="module")
def started() -> Iterator[_Started]:
    """`make api` on a fresh checkout; the cluster runs until the module is done."""
    with _checkout() as checkout, _Runner(checkout.paths.run_dir) as runner:
        commands.api(checkout.config, runner, reload=False)
        yield _Started(checkout, runner)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- the schema owner -------------------------------------------------------------------


def test_the_owner_may_not_create_roles(started: _Started) -> None:
    checkout = started.checkout
    assert checkout.sql(_ROLE_ATTRIBUTES, role=OWNER) == "t|f|f|f|f|t|f"


def test_an_owner_made_by_an_older_stack_loses_createrole_on_the_next_start() -> None:
    """Before security pass 2 the stack gave the owner CREATEROLE, and the migrations
    made tandem_app (NOLOGIN); an existing `.data/` keeps both until the next start."""
    with _checkout() as checkout:
        with _Runner(checkout.paths.run_dir) as runner:
            prepare_database(checkout.config, runner)
            checkout.sql(f"ALTER ROLE {OWNER} CREATEROLE")
            checkout.sql(f"ALTER ROLE {APP_ROLE} NOLOGIN PASSWORD NULL")
            checkout.paths.app_password.unlink()
        assert not checkout.postgres.is_running()  # stopped with the stack

        with _Runner(checkout.paths.run_dir) as runner:
            database = prepare_database(checkout.config, runner)
            assert checkout.sql(_ROLE_ATTRIBUTES, role=OWNER) == "t|f|f|f|f|t|f"
            assert checkout.sql(_ROLE_ATTRIBUTES, role=APP_ROLE) == "t|f|f|f|f|f|f"
            assert database.api is not None
            assert asyncio.run(_login_role(database.api)) == APP_ROLE


# --- tandem_app, made by the superuser before the migrations ----------------------------


async def _login_role(url: str) -> str:
    connection = await asyncpg.connect(url)
    try:
        role: str = await connection.fetchval("SELECT session_user")
        return role
    finally:
        await connection.close()


def test_the_app_role_is_a_login_with_least_privilege(started: _Started) -> None:
    checkout = started.checkout
    # LOGIN; no SUPERUSER, BYPASSRLS, CREATEDB, CREATEROLE, INHERIT or REPLICATION.
    assert checkout.sql(_ROLE_ATTRIBUTES, role=APP_ROLE) == "t|f|f|f|f|f|f"
    memberships = checkout.sql(
        "SELECT pg_has_role(:'app', :'owner', 'MEMBER'), pg_has_role(:'owner', :'app', 'MEMBER')",
        app=APP_ROLE,
        owner=OWNER,
    )
    # Never the owner's member; the owner is its member (SET LOCAL ROLE without a login).
    assert memberships == "f|t"


async def test_the_app_role_logs_in_with_its_own_password(started: _Started) -> None:
    url = started.api_env["API_DATABASE_URL"]
    assert await _login_role(url) == APP_ROLE
    stored = started.checkout.paths.app_password.read_text(encoding="utf-8").strip()
    assert urlsplit(url).password == stored


def test_the_password_files_are_private(started: _Started) -> None:
    paths = started.checkout.paths
    for path in (paths.owner_password, paths.app_password):
        assert _mode(path) == 0o600, path
    assert paths.owner_password.read_text() != paths.app_password.read_text()


def test_the_migrations_ran_as_the_owner_after_the_role_was_made(started: _Started) -> None:
    """The owner may not create roles, so the migrations worked only because the role
    existed; they granted it what it needs."""
    assert urlsplit(started.owner_url).username == OWNER
    checkout = started.checkout
    granted = checkout.sql(
        "SELECT has_table_privilege(:'app', 'task', 'SELECT, INSERT, UPDATE, DELETE')",
        app=APP_ROLE,
    )
    assert granted == "t"


# --- the API's own login ----------------------------------------------------------------


def test_the_api_logs_in_as_the_app_role_and_never_sees_the_owners_password(
    started: _Started,
) -> None:
    env = started.api_env
    api_login = urlsplit(env["API_DATABASE_URL"])
    assert (api_login.username, api_login.hostname) == (APP_ROLE, "127.0.0.1")
    assert api_login.path == f"/{DATABASE}"
    assert env["DATABASE_URL"] == env["API_DATABASE_URL"]
    owner_password = urlsplit(started.owner_url).password
    assert owner_password
    assert not [name for name, value in env.items() if owner_password in value]


@pytest.mark.parametrize("dev", [False, True], ids=["make run", "make dev"])
def test_make_run_and_dev_give_the_owners_url_to_the_web_app_only(dev: bool) -> None:
    with _checkout() as checkout, _Runner(checkout.paths.run_dir) as runner:
        checkout.stub_web_app()
        commands.run(checkout.config, runner, dev=dev)
        web, api = runner.spawned["web"], runner.spawned["api"]
        owner_url = runner.tasks["migrate"]["DATABASE_URL"]
    assert web["DATABASE_URL"] == owner_url
    assert "API_DATABASE_URL" not in web
    assert urlsplit(api["API_DATABASE_URL"]).username == APP_ROLE
    assert api["DATABASE_URL"] == api["API_DATABASE_URL"]


@pytest_asyncio.fixture
async def embedded_superuser(started: _Started) -> AsyncIterator[AsyncEngine]:
    engine = started.checkout.superuser_engine()
    yield engine
    await engine.dispose()


async def test_the_api_serves_and_hears_sign_outs_as_the_app_role(
    started: _Started, embedded_superuser: AsyncEngine, user_in: UserIn, jwks: JWKSServer
) -> None:
    """What the API does with the environment the stack gave it: the startup guard
    passes, /ready answers, and the live-session listener (LISTEN needs no grant) runs
    as tandem_app and hears a sign-out."""
    env = started.api_env
    database = MigratedDatabase(owner_url=env["DATABASE_URL"], superuser_url="")
    settings = make_settings(database, api_database_url=env["API_DATABASE_URL"], jwks_url=jwks.url)
    alice = await user_in(embedded_superuser)
    async with serving(settings) as (app, http):
        assert (await http.get("/ready")).status_code == 200
        async with asyncio.timeout(5):
            await app.state.sessions.cache.wait_listening()
        async with embedded_superuser.connect() as connection:
            listeners = await connection.scalars(
                text("SELECT usename FROM pg_stat_activity WHERE application_name = :name"),
                {"name": LISTENER_NAME},
            )
            assert list(listeners) == [APP_ROLE]
        for _ in range(2):  # the second answer comes from the live-session cache
            assert (await http.get("/api/me", headers=alice.headers)).status_code == 200
        assert app.state.sessions.cache.is_live(alice.sid, alice.id)

        async with embedded_superuser.begin() as connection:  # what a sign-out does
            await connection.execute(
                text("DELETE FROM session WHERE id = :sid"), {"sid": alice.sid}
            )
        for _ in range(200):  # NOTIFY reaches the listener in milliseconds; 2 s at most
            status = (await http.get("/api/me", headers=alice.headers)).status_code
            if status != 200:
                break
            await asyncio.sleep(0.01)
        assert status == 401


# --- .env -------------------------------------------------------------------------------


def test_a_new_env_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    assert ensure_auth_secret(path, environ={})
    assert _mode(path) == 0o600


@pytest.mark.parametrize("has_secret", [True, False], ids=["with a secret", "without"])
def test_an_existing_env_file_is_made_private(tmp_path: Path, has_secret: bool) -> None:
    path = tmp_path / ".env"
    original = "SMTP_URL=smtp://user:pass@mail.example.test\n"
    if has_secret:
        original += f"{SECRET_NAME}=an-old-secret-of-forty-eight-characters-or-so-0123\n"
    path.write_text(original, encoding="utf-8")
    path.chmod(0o644)

    assert ensure_auth_secret(path, environ={}) is not has_secret

    assert _mode(path) == 0o600
    assert path.read_text(encoding="utf-8").startswith(original)


def test_an_env_file_already_private_is_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(f"{SECRET_NAME}=x\n", encoding="utf-8")
    path.chmod(0o400)
    ensure_auth_secret(path, environ={})
    assert _mode(path) == 0o400
