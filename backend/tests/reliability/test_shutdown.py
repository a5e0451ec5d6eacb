"""Graceful shutdown: SIGTERM while requests are in flight (issue 5, item 5).

A real uvicorn process, as ``make run`` starts it, gets SIGTERM while about
forty requests are under way. Half of them are held inside the database on
a row lock the test controls, so they are certainly in flight when the
signal arrives. Every request must end in a normal answer or a clean
connection error (never a 500, never a hang), the process must exit within
its grace period, and its lifespan must close the pool: afterwards
PostgreSQL has no connection left from the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from tandem_auth.postgres.live_sessions import LISTENER_NAME

from tests.conftest import User
from tests.support.api_server import ApiServer, PrivateCluster, running_api
from tests.support.jwks_server import JWKSServer
from tests.support.rows import insert_user, task_row
from tests.support.tokens import SigningKey, claims_for, sign_eddsa

CLIENT_TIMEOUT_SECONDS = 15.0
HELD = 20  # requests held on the row lock
LOOPING = 20  # clients that list and create until the server goes away
API_CONNECTIONS = text("SELECT count(*) FROM pg_stat_activity WHERE application_name = ANY(:names)")
# uvicorn finishes its shutdown, then re-raises the signal it caught, so that its parent
# sees why it stopped: after SIGTERM, a clean exit is the "killed by SIGTERM" status.
CLEAN_EXIT = -signal.SIGTERM
# The app's last log line, written once its pool is closed. (uvicorn's own last lines can
# be lost: the re-raised signal ends the process before its log thread writes them.)


def log_events(log: str) -> list[dict[str, object]]:
    """The server's JSON log events (uv and the interpreter may print other lines)."""
    events = []
    for line in log.splitlines():
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if isinstance(event, dict):
                events.append(event)
    return events


def stopped(log: str) -> bool:
    """The lifespan ran to its end: the pool is closed."""
    return any(event.get("event") == "app.stopped" for event in log_events(log))


UNAVAILABLE_BODY = {
    "detail": "The service is temporarily unavailable; retry shortly",
    "code": "service_unavailable",
}
LOCK_WAITERS = text(
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE application_name = 'tandem-api' AND wait_event_type = 'Lock'"
)


@dataclass
class Caller:
    user_id: str
    headers: dict[str, str]
    http: httpx.AsyncClient

    @property
    def tasks_url(self) -> str:
        return f"/api/{self.user_id}/tasks"


@dataclass
class Outcomes:
    statuses: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)


async def callers(engine: AsyncEngine, api: ApiServer, key: SigningKey, count: int) -> list[Caller]:
    made = []
    for _ in range(count):
        user_id, sid = await insert_user(engine)
        token = sign_eddsa(claims_for(user_id, sid), key)
        http = httpx.AsyncClient(
            base_url=api.url,
            timeout=CLIENT_TIMEOUT_SECONDS,
            trust_env=False,
            limits=httpx.Limits(max_connections=HELD + LOOPING),
        )
        made.append(Caller(user_id, {"Authorization": f"Bearer {token}"}, http))
    return made


async def send(caller: Caller, method: str, url: str, **kwargs: Any) -> httpx.Response | str:
    """The response, or the name of the clean error that ended the request."""
    try:
        return await caller.http.request(method, url, headers=caller.headers, **kwargs)
    except httpx.TimeoutException as exc:
        return f"client timeout ({type(exc).__name__})"
    except httpx.TransportError as exc:
        return type(exc).__name__


async def loop_until_the_server_goes(caller: Caller, outcomes: Outcomes) -> None:
    """List and create, one request at a time, until a request ends without a response."""
    serial = 0
    while True:
        serial += 1
        if serial % 2:
            result = await send(caller, "GET", caller.tasks_url, params={"limit": 100})
        else:
            result = await send(caller, "POST", caller.tasks_url, json={"title": f"t{serial}"})
        if isinstance(result, str):
            outcomes.errors.append(result)
            return
        outcomes.statuses.append(result.status_code)
        if result.status_code == 201:
            outcomes.created.append(result.json()["id"])


async def wait_for(engine: AsyncEngine, query: Any, params: dict[str, Any], value: int) -> None:
    deadline = time.monotonic() + 5.0
    while True:
        async with engine.connect() as connection:
            count = await connection.scalar(query, params)
        if count == value:
            return
        assert time.monotonic() < deadline, f"{count} rows, expected {value}"
        await asyncio.sleep(0.05)


async def hold_row_lock(connection: AsyncConnection, task_id: str) -> None:
    await connection.execute(text("SELECT 1 FROM task WHERE id = :id FOR UPDATE"), {"id": task_id})


async def api_connections(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        count: int = await connection.scalar(
            API_CONNECTIONS, {"names": ["tandem-api", LISTENER_NAME]}
        )
    return count


def assert_clean(status_or_error: httpx.Response | str, *, allowed: set[int]) -> None:
    if isinstance(status_or_error, str):
        assert "timeout" not in status_or_error, status_or_error
    else:
        assert status_or_error.status_code in allowed, status_or_error.text
        if status_or_error.status_code == 503:
            assert status_or_error.json() == UNAVAILABLE_BODY
            assert status_or_error.headers["retry-after"].isdigit()


@pytest_asyncio.fixture
async def api(
    private: PrivateCluster, process_jwks: JWKSServer, tmp_path: Path
) -> AsyncIterator[ApiServer]:
    """A server with room in its pool for every request here and a long lock timeout."""
    async with running_api(
        database_url=private.database.owner_url,
        jwks_url=process_jwks.url,
        log_path=tmp_path / "api.log",
        env={"DB_POOL_SIZE": str(HELD + LOOPING + 5), "DB_STATEMENT_TIMEOUT_MS": "20000"},
    ) as server:
        yield server


async def test_sigterm_finishes_in_flight_requests_then_closes_the_pool(
    api: ApiServer, private_superuser: AsyncEngine, process_key: SigningKey
) -> None:
    people = await callers(private_superuser, api, process_key, LOOPING)
    owner = people[0]
    try:
        made = await send(owner, "POST", owner.tasks_url, json={"title": "contended"})
        assert isinstance(made, httpx.Response)
        assert made.status_code == 201, made.text
        task_id = made.json()["id"]
        url = f"{owner.tasks_url}/{task_id}"

        outcomes = Outcomes()
        async with private_superuser.connect() as locker:
            await hold_row_lock(locker, task_id)
            held = [
                asyncio.create_task(send(owner, "PATCH", url, json={"title": f"held {n}"}))
                for n in range(HELD)
            ]
            await wait_for(private_superuser, LOCK_WAITERS, {}, HELD)
            loops = [
                asyncio.create_task(loop_until_the_server_goes(person, outcomes))
                for person in people
            ]
            await asyncio.sleep(0.5)
            assert await api_connections(private_superuser) > HELD

            signalled = time.monotonic()
            api.process.send_signal(signal.SIGTERM)
            await asyncio.sleep(1.0)
            assert api.process.poll() is None, "the server quit with requests in flight"
            await locker.rollback()  # the held requests may go on now

        held_results = await asyncio.gather(*held)
        code = await api.wait_exit(15)
        exited_after = time.monotonic() - signalled
        await asyncio.gather(*loops)
    finally:
        await asyncio.gather(*(person.http.aclose() for person in people))

    # Every request held at the signal finished normally, after COMMIT.
    for result in held_results:
        assert isinstance(result, httpx.Response), result
        assert result.status_code == 200, result.text
    row = await task_row(private_superuser, task_id)
    assert row is not None
    assert row["title"] in {f"held {n}" for n in range(HELD)}

    # The rest finished normally, or the server was gone when they started.
    assert outcomes.statuses
    assert set(outcomes.statuses) <= {200, 201}, outcomes.statuses
    assert len(outcomes.errors) == LOOPING
    assert not [e for e in outcomes.errors if "timeout" in e], outcomes.errors
    for task in outcomes.created:
        assert await task_row(private_superuser, task) is not None

    log = api.log_text()
    assert code == CLEAN_EXIT, log[-3000:]
    assert exited_after < 10, exited_after  # --timeout-graceful-shutdown 10
    assert stopped(log), log[-3000:]
    events = log_events(log)
    assert not [e for e in events if e.get("level") == "error"], log[-3000:]
    assert not [e for e in events if e.get("logger") == "uvicorn.access"]  # --no-access-log
    await wait_for(private_superuser, API_CONNECTIONS, {"names": ["tandem-api", LISTENER_NAME]}, 0)


async def test_a_request_stuck_past_the_grace_period_does_not_hold_the_process(
    private: PrivateCluster,
    process_jwks: JWKSServer,
    private_superuser: AsyncEngine,
    process_key: SigningKey,
    tmp_path: Path,
) -> None:
    """Past the grace period the stuck requests are cut off, the pool still closes, and
    their writes, never committed, are not in the database."""
    async with running_api(
        database_url=private.database.owner_url,
        jwks_url=process_jwks.url,
        log_path=tmp_path / "api.log",
        env={"DB_STATEMENT_TIMEOUT_MS": "30000"},
        graceful_shutdown_seconds=2,
    ) as api:
        (owner,) = await callers(private_superuser, api, process_key, 1)
        try:
            made = await send(owner, "POST", owner.tasks_url, json={"title": "before"})
            assert isinstance(made, httpx.Response)
            task_id = made.json()["id"]
            url = f"{owner.tasks_url}/{task_id}"
            async with private_superuser.connect() as locker:
                await hold_row_lock(locker, task_id)
                stuck = [
                    asyncio.create_task(send(owner, "PATCH", url, json={"title": "never"}))
                    for _ in range(5)
                ]
                await wait_for(private_superuser, LOCK_WAITERS, {}, 5)

                signalled = time.monotonic()
                api.process.send_signal(signal.SIGTERM)
                code = await api.wait_exit(10)
                exited_after = time.monotonic() - signalled
                results = await asyncio.gather(*stuck)
                await locker.rollback()
        finally:
            await owner.http.aclose()

    log = api.log_text()
    assert code == CLEAN_EXIT, log[-3000:]
    assert 2 <= exited_after < 5, exited_after
    for result in results:
        assert_clean(result, allowed={503})
    assert "Cancel 5 running task(s), timeout graceful shutdown exceeded" in log, log[-3000:]
    assert stopped(log), log[-3000:]
    # Once the lock is gone, the cut-off transactions end without COMMIT: nothing changed.
    await wait_for(private_superuser, API_CONNECTIONS, {"names": ["tandem-api", LISTENER_NAME]}, 0)
    row = await task_row(private_superuser, task_id)
    assert row is not None
    assert row["title"] == "before"


async def test_a_request_cancelled_before_it_answered_gets_503_and_changes_nothing(
    eddsa_app: FastAPI,
    jwks: JWKSServer,
    client: httpx.AsyncClient,
    alice: User,
    superuser_engine: AsyncEngine,
) -> None:
    """What uvicorn does to requests still running at the end of the grace period.

    Cancelled, a request would otherwise get uvicorn's own text 500. Whether that
    answer leaves the process before it exits is a race, so the app is driven
    here in-process, where the answer can be read every time.
    """
    created = await client.post(alice.tasks_url, headers=alice.headers, json={"title": "kept"})
    task_id = created.json()["id"]
    body = b'{"title": "cut off"}'
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PATCH",
        "scheme": "http",
        "path": f"{alice.tasks_url}/{task_id}",
        "raw_path": f"{alice.tasks_url}/{task_id}".encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"authorization", alice.headers["Authorization"].encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async with superuser_engine.connect() as locker:
        await hold_row_lock(locker, task_id)
        request = asyncio.create_task(eddsa_app(scope, receive, send))
        waiting = text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        await wait_for(superuser_engine, waiting, {}, 1)
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        await locker.rollback()

    assert sent, "the cancelled request sent nothing: uvicorn would answer it with a text 500"
    start, *rest = sent
    assert start["type"] == "http.response.start"
    assert start["status"] == 503
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    assert headers["retry-after"].isdigit()
    assert headers["cache-control"] == "no-store"
    assert "x-request-id" in headers
    assert json.loads(b"".join(m.get("body", b"") for m in rest)) == UNAVAILABLE_BODY
    row = await task_row(superuser_engine, task_id)
    assert row is not None
    assert row["title"] == "kept"
