"""Sign-out reaches every API process within 100 ms, even where /api/me skips the database.

``/api/me`` answers from a per-process cache of live sessions. These tests
prove the cache is really used, and that a deleted session row (what Better
Auth's sign-out does) is dropped from it through LISTEN/NOTIFY in time.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from tandem_auth.postgres import LiveSessionCache
from tandem_auth.postgres.live_sessions import LISTENER_NAME

from tests.conftest import User
from tests.support.api_server import running_api
from tests.support.database import MigratedDatabase
from tests.support.jwks_server import JWKSServer

PROPAGATION_BUDGET_SECONDS = 0.100


async def _sign_out(engine: AsyncEngine, user: User) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM session WHERE id = :sid"), {"sid": user.sid})


async def _seconds_until_refused(http: httpx.AsyncClient, user: User, *, limit: float) -> float:
    """Poll /api/me until it answers 401; the time it took, or ``inf`` past ``limit``."""
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < limit:
        response = await http.get("/api/me", headers=user.headers)
        if response.status_code == 401:
            return elapsed
        assert response.status_code == 200, response.text
        await asyncio.sleep(0.002)
    return float("inf")


async def test_me_is_served_from_the_cache_once_the_session_was_checked(
    client: httpx.AsyncClient, eddsa_app: FastAPI, alice: User
) -> None:
    cache: LiveSessionCache = eddsa_app.state.sessions.cache
    assert not cache.is_live(alice.sid, alice.id)

    assert (await client.get("/api/me", headers=alice.headers)).status_code == 200

    assert cache.is_live(alice.sid, alice.id)
    assert not cache.is_live(alice.sid, "someone-else")  # a sid is only live for its own user


async def test_a_signed_out_session_leaves_the_cache_within_the_budget(
    client: httpx.AsyncClient, alice: User, superuser_engine: AsyncEngine
) -> None:
    assert (await client.get("/api/me", headers=alice.headers)).status_code == 200

    await _sign_out(superuser_engine, alice)

    elapsed = await _seconds_until_refused(client, alice, limit=2.0)
    assert elapsed < PROPAGATION_BUDGET_SECONDS


async def test_a_dropped_listener_flushes_the_cache(
    client: httpx.AsyncClient, eddsa_app: FastAPI, alice: User, superuser_engine: AsyncEngine
) -> None:
    cache: LiveSessionCache = eddsa_app.state.sessions.cache
    assert (await client.get("/api/me", headers=alice.headers)).status_code == 200
    assert cache.is_live(alice.sid, alice.id)

    async with superuser_engine.begin() as connection:
        await connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :n"
            ),
            {"n": LISTENER_NAME},
        )
    # A sign-out while nobody listens: no notification will ever arrive for it.
    await _sign_out(superuser_engine, alice)

    elapsed = await _seconds_until_refused(client, alice, limit=2.0)
    assert elapsed < PROPAGATION_BUDGET_SECONDS
    async with asyncio.timeout(5):
        await cache.wait_listening()  # and it reconnects by itself


async def test_sign_out_reaches_two_api_processes_within_100_ms(
    database: MigratedDatabase,
    jwks: JWKSServer,
    alice: User,
    superuser_engine: AsyncEngine,
    tmp_path: Path,
) -> None:
    async with (
        running_api(
            database_url=database.owner_url, jwks_url=jwks.url, log_path=tmp_path / "a.log"
        ) as first,
        running_api(
            database_url=database.owner_url, jwks_url=jwks.url, log_path=tmp_path / "b.log"
        ) as second,
        httpx.AsyncClient(base_url=first.url) as a,
        httpx.AsyncClient(base_url=second.url) as b,
    ):
        for http in (a, b):  # warm both caches, twice, so the second answer is a cache hit
            for _ in range(2):
                assert (await http.get("/api/me", headers=alice.headers)).status_code == 200

        await _sign_out(superuser_engine, alice)

        elapsed = await asyncio.gather(
            _seconds_until_refused(a, alice, limit=2.0),
            _seconds_until_refused(b, alice, limit=2.0),
        )
    assert max(elapsed) < PROPAGATION_BUDGET_SECONDS, elapsed
