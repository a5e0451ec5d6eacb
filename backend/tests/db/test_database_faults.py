"""Database faults: PostgreSQL stopped, killed and restarted, and an exhausted pool.

SECURITY.md, "Faults": PostgreSQL stopped → 503 with ``Retry-After`` and no
driver text, recovering after a restart without restarting the app; a 201
survives ``pg_ctl stop -m immediate``; pool exhausted → 503 within the pool
timeout, with no unbounded queue. Two neighbours of the pool test: a server
that refuses more connections and a lock held past ``lock_timeout`` are the
database being busy, so they are 503 too, not 500. The session's PostgreSQL
is shared, so the stop and start tests run on a cluster of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from tandem_stack.postgres import EmbeddedPostgres, StopMode
from tandem_stack.throwaway import throwaway_postgres

from tandem.config import Settings
from tandem.db import APP_ROLE
from tandem.db_url import async_driver_url
from tandem.errors import install_error_handlers
from tandem.logging import JsonFormatter
from tests.conftest import User, client_for, make_settings
from tests.db.conftest import UserIn, login_role
from tests.support.apps import serving
from tests.support.asgi import send_raw
from tests.support.database import DATABASE, OWNER, MigratedDatabase, migrate, new_owner_password
from tests.support.jwks_server import JWKSServer
from tests.support.rows import task_row
from tests.tasks.helpers import create_task

POOL_TIMEOUT = 0.5
# Words that would mean driver or connection details reached the client.
DRIVER_TEXT = (
    "asyncpg",
    "sqlalchemy",
    "psycopg",
    "errno",
    "refused",
    "connect",
    "127.0.0.1",
    "postgres",
    "traceback",
    "oserror",
    "socket",
)


@dataclass(frozen=True)
class OwnCluster:
    postgres: EmbeddedPostgres
    database: MigratedDatabase


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[OwnCluster]:
    """A migrated cluster that only this module stops and starts."""
    with throwaway_postgres() as postgres:
        password = new_owner_password()
        postgres.ensure_database(owner=OWNER, password=password, database=DATABASE)
        # Test clusters skip fsync and commit asynchronously. A crash may then lose a
        # commit the client saw, so this database commits synchronously, as production
        # does; without fsync the WAL still reaches the OS, which survives a killed server.
        postgres.run_sql(f"ALTER DATABASE {DATABASE} SET synchronous_commit = on")
        owner_url = postgres.url(OWNER, password, DATABASE)
        migrate(owner_url)
        assert postgres.superuser_password is not None
        superuser_url = postgres.url("postgres", postgres.superuser_password, DATABASE)
        yield OwnCluster(postgres, MigratedDatabase(owner_url, superuser_url))


@pytest_asyncio.fixture
async def own_superuser(own_cluster: OwnCluster) -> AsyncIterator[AsyncEngine]:
    # No pooling: the cluster restarts under this engine.
    engine = create_async_engine(
        async_driver_url(own_cluster.database.superuser_url), poolclass=NullPool
    )
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture
async def carol(own_superuser: AsyncEngine, user_in: UserIn) -> User:
    return await user_in(own_superuser)


@pytest_asyncio.fixture
async def crashable_cluster(own_cluster: OwnCluster) -> AsyncIterator[OwnCluster]:
    """The cluster, running again after the test whatever happened in it."""
    yield own_cluster
    await asyncio.to_thread(own_cluster.postgres.start)


def _settings(database: MigratedDatabase, jwks: JWKSServer, **overrides: object) -> Settings:
    return make_settings(
        database, jwks_url=jwks.url, db_pool_timeout_seconds=POOL_TIMEOUT * 4, **overrides
    )


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, (response.request.url, response.text)
    assert response.headers["retry-after"].isdigit()
    assert response.json() == {
        "detail": "The service is temporarily unavailable; retry shortly",
        "code": "service_unavailable",
    }
    lowered = response.text.lower()
    for word in DRIVER_TEXT:
        assert word not in lowered, word


@pytest.mark.parametrize("mode", ["immediate", "fast"])
async def test_postgres_stopped_gives_503_then_the_same_app_recovers(
    crashable_cluster: OwnCluster, carol: User, jwks: JWKSServer, mode: StopMode
) -> None:
    postgres = crashable_cluster.postgres
    async with serving(_settings(crashable_cluster.database, jwks)) as (_app, http):
        task = await http.post(carol.tasks_url, headers=carol.headers, json={"title": "kept"})
        assert task.status_code == 201
        task_url = f"{carol.tasks_url}/{task.json()['id']}"

        await asyncio.to_thread(postgres.stop, mode)
        started = time.monotonic()
        for method, url, body in (
            ("GET", carol.tasks_url, None),
            ("POST", carol.tasks_url, {"title": "while down"}),
            ("GET", task_url, None),
            ("PATCH", task_url, {"title": "while down"}),
            ("PATCH", f"{task_url}/complete", None),
            ("DELETE", task_url, None),
            ("GET", "/api/me", None),
        ):
            response = await http.request(method, url, headers=carol.headers, json=body)
            _assert_unavailable(response)
            assert response.headers["cache-control"] == "no-store"
        assert time.monotonic() - started < 10, "a stopped database must fail fast"

        ready = await http.get("/ready")
        assert ready.status_code == 503
        assert ready.headers["retry-after"].isdigit()
        assert ready.json()["database"] == "unavailable"
        assert (await http.get("/health")).status_code == 200

        await asyncio.to_thread(postgres.start)

        listed = await http.get(carol.tasks_url, headers=carol.headers)
        assert listed.status_code == 200, listed.text
        assert [t["id"] for t in listed.json()["items"]] == [task.json()["id"]]
        await _ready_again(http)  # /ready probes at most once a second
        again = await http.post(carol.tasks_url, headers=carol.headers, json={"title": "after"})
        assert again.status_code == 201


async def _ready_again(http: httpx.AsyncClient, *, within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while (await http.get("/ready")).status_code != 200:
        assert time.monotonic() < deadline, "/ready did not recover"
        await asyncio.sleep(0.1)


async def test_a_task_acknowledged_with_201_survives_a_crash(
    crashable_cluster: OwnCluster, carol: User, jwks: JWKSServer, own_superuser: AsyncEngine
) -> None:
    postgres = crashable_cluster.postgres

    async def crash_when_acknowledged(status: int) -> None:
        # The instant the status line leaves the app: no clean shutdown, no checkpoint.
        assert status == 201
        await asyncio.to_thread(postgres.stop, "immediate")

    async with serving(_settings(crashable_cluster.database, jwks)) as (app, http):
        created = await send_raw(
            app,
            "POST",
            carol.tasks_url.encode(),
            {**carol.headers, "Content-Type": "application/json"},
            body=b'{"title": "durable", "description": "d"}',
            on_start=crash_when_acknowledged,
        )
        assert created.status == 201
        assert not postgres.is_running()
        await asyncio.to_thread(postgres.start)

        task = json.loads(created.body)
        read = await http.get(f"{carol.tasks_url}/{task['id']}", headers=carol.headers)
        assert read.status_code == 200, read.text
        assert read.json() == task
    row = await task_row(own_superuser, task["id"])
    assert row is not None
    assert (row["user_id"], row["title"]) == (carol.id, "durable")


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "tasks", 200),
        ("POST", "tasks", 201),
        ("GET", "/api/me", 200),
        ("GET", "/ready", 200),
    ],
)
async def test_connections_that_died_in_the_pool_are_replaced_without_failing_a_request(
    database: MigratedDatabase,
    superuser_engine: AsyncEngine,
    jwks: JWKSServer,
    alice: User,
    method: str,
    path: str,
    expected: int,
) -> None:
    """The pool does not ping before each transaction, yet no request fails on a dead one."""
    others = await _api_connections(superuser_engine)  # the session's shared apps keep theirs
    async with serving(_settings(database, jwks, db_pool_size=3)) as (app, http):
        # Fill the pool: three requests at once hold three connections.
        first = await asyncio.gather(
            *(http.get(alice.tasks_url, headers=alice.headers) for _ in range(3))
        )
        assert [r.status_code for r in first] == [200, 200, 200]
        ours = await _api_connections(superuser_engine) - others
        assert len(ours) == app.state.database.pool.get_idle_size() == 3
        async with superuser_engine.connect() as connection:
            for pid in ours:
                assert await connection.scalar(
                    text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid}
                )

        url = alice.tasks_url if path == "tasks" else path
        body = {"title": "after"} if method == "POST" else None
        with _recording("tandem.db") as records:
            response = await http.request(method, url, headers=alice.headers, json=body)
        assert response.status_code == expected, response.text
        # asyncpg's pool sees that a connection was closed and opens a new one; a death it
        # could not see fails the first statement, which is retried once, and logged.
        assert [getattr(r, "event", None) for r in records] in ([], ["db.reconnected"])
        again = await http.get(alice.tasks_url, headers=alice.headers)
        assert again.status_code == 200, again.text
        assert not (await _api_connections(superuser_engine)) & ours, "no dead one was kept"


@contextlib.contextmanager
def _recording(logger_name: str) -> Iterator[list[logging.LogRecord]]:
    """The records ``logger_name`` emits inside the block."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


async def _api_connections(superuser_engine: AsyncEngine) -> set[int]:
    """The server processes of every API pool's connection to this database."""
    async with superuser_engine.connect() as connection:
        pids = await connection.scalars(
            text(
                "SELECT pid FROM pg_stat_activity "
                "WHERE application_name = 'tandem-api' AND datname = current_database()"
            )
        )
        return set(pids)


async def test_an_exhausted_pool_answers_503_within_the_pool_timeout(
    database: MigratedDatabase, superuser_engine: AsyncEngine, jwks: JWKSServer, alice: User
) -> None:
    settings = make_settings(
        database, jwks_url=jwks.url, db_pool_size=1, db_pool_timeout_seconds=POOL_TIMEOUT
    )
    async with serving(settings) as (app, http):
        assert (await http.get(alice.tasks_url, headers=alice.headers)).status_code == 200
        holder: list[int] = []
        holding = asyncio.Event()

        async def slow_query() -> None:
            """Hold the pool's only connection in a query far longer than any bound below."""
            async with app.state.database.pool.acquire() as connection:
                holder.append(await connection.fetchval("SELECT pg_backend_pid()"))
                holding.set()
                # cancelled at the end of the test
                with contextlib.suppress(asyncpg.QueryCanceledError):
                    await connection.execute("SELECT pg_sleep(60)")

        sleeper = asyncio.create_task(slow_query())
        try:
            await holding.wait()
            started = time.monotonic()
            responses = await asyncio.gather(
                *(http.get(alice.tasks_url, headers=alice.headers) for _ in range(20))
            )
            elapsed = time.monotonic() - started
        finally:
            async with superuser_engine.connect() as connection:
                await connection.execute(text("SELECT pg_cancel_backend(:pid)"), {"pid": holder[0]})
            await sleeper
        for response in responses:
            _assert_unavailable(response)
        # Every waiter gave up after about one pool timeout, together: nothing queued behind.
        assert POOL_TIMEOUT * 0.8 <= elapsed < POOL_TIMEOUT + 4, elapsed

        assert (await http.get(alice.tasks_url, headers=alice.headers)).status_code == 200


async def test_postgres_refusing_more_connections_answers_503(
    database: MigratedDatabase, superuser_engine: AsyncEngine, jwks: JWKSServer, alice: User
) -> None:
    """max_connections (or a role's limit) reached is a busy database, not a server bug."""
    limited = f"CONNECTION LIMIT 1 IN ROLE {APP_ROLE}"
    async with login_role(superuser_engine, database, limited) as url:
        settings = make_settings(database, jwks_url=jwks.url, api_database_url=url, db_pool_size=2)
        async with serving(settings) as (app, http):
            async with app.state.database.pool.acquire() as held:
                await held.execute("SELECT 1")  # the role's only connection
                _assert_unavailable(await http.get(alice.tasks_url, headers=alice.headers))
            assert (await http.get(alice.tasks_url, headers=alice.headers)).status_code == 200


async def test_a_row_locked_past_the_lock_timeout_answers_503(
    database: MigratedDatabase, superuser_engine: AsyncEngine, jwks: JWKSServer, alice: User
) -> None:
    settings = make_settings(database, jwks_url=jwks.url, db_statement_timeout_ms=400)
    async with serving(settings) as (_app, http):
        task = await create_task(http, alice)
        url = f"{alice.tasks_url}/{task['id']}"
        async with superuser_engine.connect() as locker:
            await locker.execute(
                text("SELECT 1 FROM task WHERE id = :id FOR UPDATE"), {"id": task["id"]}
            )
            started = time.monotonic()
            _assert_unavailable(await http.patch(url, headers=alice.headers, json={"title": "x"}))
            assert time.monotonic() - started < 4  # lock_timeout is 200 ms here
            await locker.rollback()
        patched = await http.patch(url, headers=alice.headers, json={"title": "x"})
        assert patched.status_code == 200


async def test_a_failing_statement_does_not_quote_its_parameters(
    eddsa_app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    """asyncpg's message quotes the bound value it could not use: the text of a task, a
    user's id. It never reaches a log."""
    secret_title = "my private task text"
    probe = FastAPI()
    install_error_handlers(probe)

    @probe.get("/fails")
    async def fails() -> None:
        async with eddsa_app.state.database.app_role_transaction() as connection:
            await connection.fetchval("SELECT $1::integer", secret_title)

    with caplog.at_level(logging.ERROR, "tandem"):
        async with client_for(probe) as http:
            response = await http.get("/fails")

    assert response.status_code == 500
    assert secret_title not in response.text
    (record,) = [r for r in caplog.records if getattr(r, "event", None) == "http.unhandled"]
    logged = JsonFormatter().format(record)
    assert "SELECT $1::integer" in logged  # the statement, to find the bug by
    assert secret_title not in logged
