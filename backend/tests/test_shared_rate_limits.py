"""Rate limits shared through a real Redis, and what a Redis outage does to the API.

Two app instances (each with its own lifespan, pool and counters, as two API
processes have) count against one ``redis-server`` started for the test. The
per-user limit is theirs together; with memory storage it is each one's alone,
which the control test shows, so the shared test can see the difference.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
import pytest

from tandem.config import Settings
from tests.conftest import MakeUser, User, make_settings
from tests.support.apps import serving
from tests.support.database import MigratedDatabase
from tests.support.jwks_server import JWKSServer
from tests.support.redis_server import RedisServer, redis_server

LIMIT = 6
INSTANCES = 2
# Each request comes from an address of its own (through a trusted proxy), so that only
# the per-user count can stop a user.
_addresses = (f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}" for n in itertools.count(1))


def _headers(user: User) -> dict[str, str]:
    return {**user.headers, "X-Forwarded-For": next(_addresses)}


class AuditEvents(logging.Handler):
    """The ``event`` of every record the ``tandem.audit`` logger writes."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.events: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append(getattr(record, "event", ""))

    def count(self, event: str) -> int:
        return self.events.count(event)


@pytest.fixture
def audit() -> Iterator[AuditEvents]:
    logger = logging.getLogger("tandem.audit")
    handler = AuditEvents()
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis") as server:
        yield server


@asynccontextmanager
async def instances(settings: Settings) -> AsyncIterator[list[httpx.AsyncClient]]:
    """``INSTANCES`` apps on the same settings, each through its real lifespan."""
    async with AsyncExitStack() as stack:
        clients = []
        for _ in range(INSTANCES):
            _app, http = await stack.enter_async_context(serving(settings))
            clients.append(http)
        yield clients


def _settings(
    database: MigratedDatabase, jwks: JWKSServer, storage: str, *, limit: int = LIMIT
) -> Settings:
    # Per minute: the window cannot roll over during a test.
    return make_settings(
        database,
        jwks_url=jwks.url,
        rate_limit_api=f"{limit}/minute",
        rate_limit_storage_url=storage,
        trusted_proxies=["127.0.0.1"],
    )


async def _statuses(clients: list[httpx.AsyncClient], user: User, count: int) -> list[int]:
    """``count`` requests of ``user``'s, dealt round-robin to the instances."""
    return [
        (await clients[n % len(clients)].get(user.tasks_url, headers=_headers(user))).status_code
        for n in range(count)
    ]


async def _ready(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.get("/ready")
    assert response.status_code == 200
    body: dict[str, str] = response.json()
    return body


async def _wait_for_state(clients: list[httpx.AsyncClient], state: str) -> None:
    """Poll /ready (which probes Redis at most once a second) until every instance says so."""
    for _ in range(100):
        states = [(await _ready(client))["rate_limits"] for client in clients]
        if states == [state] * len(clients):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the instances never reported rate_limits={state!r}")


async def test_the_per_user_limit_is_shared_by_instances_on_one_redis(
    database: MigratedDatabase, jwks: JWKSServer, redis: RedisServer, alice: User, bob: User
) -> None:
    async with instances(_settings(database, jwks, redis.url)) as clients:
        assert [(await _ready(client))["rate_limits"] for client in clients] == ["shared"] * 2
        statuses = await _statuses(clients, alice, LIMIT + INSTANCES)
        bobs = await _statuses(clients, bob, 1)

    assert statuses[:LIMIT] == [200] * LIMIT
    assert statuses[LIMIT:] == [429] * INSTANCES  # whichever instance serves it
    assert bobs == [200]  # another user is not affected


async def test_with_memory_storage_each_instance_counts_alone(
    database: MigratedDatabase, jwks: JWKSServer, alice: User
) -> None:
    async with instances(_settings(database, jwks, "memory://")) as clients:
        assert [(await _ready(client))["rate_limits"] for client in clients] == ["local"] * 2
        statuses = await _statuses(clients, alice, INSTANCES * LIMIT + INSTANCES)

    assert statuses[: INSTANCES * LIMIT] == [200] * (INSTANCES * LIMIT)
    assert statuses[INSTANCES * LIMIT :] == [429] * INSTANCES


async def test_redis_killed_under_load_serves_on_then_shares_again_when_it_returns(
    database: MigratedDatabase,
    jwks: JWKSServer,
    redis: RedisServer,
    make_user: MakeUser,
    audit: AuditEvents,
) -> None:
    alice, bob, carol = await make_user(), await make_user(), await make_user()
    # A limit the load does not reach (each user sends 120 requests, counted per instance
    # during the outage): this part is about failures, not 429s.
    limit = 150
    async with instances(_settings(database, jwks, redis.url, limit=limit)) as clients:
        statuses: list[int] = []
        under_way = asyncio.Event()

        async def load(client: httpx.AsyncClient, user: User, requests: int) -> None:
            for _ in range(requests):
                response = await client.get(user.tasks_url, headers=_headers(user))
                statuses.append(response.status_code)
                if len(statuses) >= 40:
                    under_way.set()

        loaders = [
            asyncio.create_task(load(client, user, 60))
            for client in clients
            for user in (alice, bob)
        ]
        await under_way.wait()
        redis.stop()
        await asyncio.gather(*loaders)

        assert set(statuses) == {200}, "no request may fail because Redis did"
        # One degraded event per instance: however many requests met the outage.
        assert audit.count("rate_limit.degraded") == INSTANCES
        for client in clients:
            body = await _ready(client)
            assert body["status"] == "ok"
            assert body["rate_limits"] == "degraded"

        redis.start()
        await _wait_for_state(clients, "shared")
        assert audit.count("rate_limit.recovered") == INSTANCES
        assert audit.count("rate_limit.degraded") == INSTANCES

        # Shared again: the restarted Redis counts for both instances together.
        statuses = await _statuses(clients, carol, limit + 1)
    assert statuses == [200] * limit + [429]


async def test_a_hung_redis_does_not_stall_requests(
    database: MigratedDatabase,
    jwks: JWKSServer,
    redis: RedisServer,
    alice: User,
    audit: AuditEvents,
) -> None:
    async with serving(_settings(database, jwks, redis.url, limit=1000)) as (_app, http):
        redis.pause()  # accepts connections, answers nothing
        try:
            # Without a timeout of its own, the first of these would wait forever.
            statuses = [
                (await http.get(alice.tasks_url, headers=alice.headers, timeout=5)).status_code
                for _ in range(5)
            ]
            assert (await _ready(http))["rate_limits"] == "degraded"
        finally:
            redis.resume()
        await _wait_for_state([http], "shared")
    assert statuses == [200] * 5
    assert audit.count("rate_limit.degraded") == 1
    assert audit.count("rate_limit.recovered") == 1


async def test_redis_down_at_start_up_is_degraded_not_fatal(
    database: MigratedDatabase,
    jwks: JWKSServer,
    redis: RedisServer,
    alice: User,
    audit: AuditEvents,
) -> None:
    redis.stop()
    async with serving(_settings(database, jwks, redis.url)) as (_app, http):
        assert audit.count("rate_limit.degraded") == 1
        assert (await _ready(http))["rate_limits"] == "degraded"
        # Still limited, by this process alone.
        statuses = await _statuses([http], alice, LIMIT + 1)
        redis.start()
        await _wait_for_state([http], "shared")
    assert statuses == [200] * LIMIT + [429]
