"""What a request costs in round trips to PostgreSQL, counted on the wire.

A route that touches the database runs one transaction: BEGIN, the context
statement (role, ``app.user_id`` and the revocation check in one), its own
statements, and COMMIT. Nothing else: no ping, no separate revocation query.
(SQLAlchemy cannot pipeline statements, so BEGIN and COMMIT stay round trips of
their own; bench/README.md has the measurements behind keeping asyncpg.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import User, make_settings
from tests.support.apps import serving
from tests.support.database import MigratedDatabase
from tests.support.jwks_server import JWKSServer
from tests.support.relay import CountingRelay, counting_relay
from tests.tasks.helpers import create_task

REQUESTS = 5
BEGIN_CONTEXT_COMMIT = 3


@asynccontextmanager
async def _serving_through_relay(
    database: MigratedDatabase, jwks: JWKSServer
) -> AsyncIterator[tuple[CountingRelay, FastAPI, httpx.AsyncClient]]:
    """An app whose pool of one connection reaches PostgreSQL through a counting relay."""
    async with counting_relay(database.owner_url) as relay:
        settings = make_settings(
            database, jwks_url=jwks.url, database_url=relay.url, db_pool_size=1
        )
        async with serving(settings) as (app, http):
            yield relay, app, http


async def _round_trips_per_request(
    database: MigratedDatabase, jwks: JWKSServer, user: User, method: str, path: str
) -> float:
    async with _serving_through_relay(database, jwks) as (relay, _app, http):
        task = await create_task(http, user, title="counted")
        url = path.format(tasks=user.tasks_url, task=f"{user.tasks_url}/{task['id']}")

        async def call() -> httpx.Response:
            body = {"title": "counted"} if method in ("POST", "PATCH") else None
            return await http.request(method, url, headers=user.headers, json=body)

        assert (await call()).status_code < 300  # connects and prepares its statements
        relay.reset()
        for _ in range(REQUESTS):
            response = await call()
            assert response.status_code < 300, response.text
        return relay.writes_by("tandem-api") / REQUESTS


@pytest.mark.parametrize(
    ("method", "path", "own_statements"),
    [
        ("GET", "{tasks}", 1),
        ("GET", "{task}", 1),
        ("POST", "{tasks}", 1),
        ("PATCH", "{task}", 1),
    ],
)
async def test_a_request_costs_its_own_statements_plus_begin_context_and_commit(
    database: MigratedDatabase,
    jwks: JWKSServer,
    alice: User,
    method: str,
    path: str,
    own_statements: int,
) -> None:
    trips = await _round_trips_per_request(database, jwks, alice, method, path)
    assert trips == BEGIN_CONTEXT_COMMIT + own_statements


async def test_api_me_checks_the_session_in_one_transaction_then_trusts_the_live_cache(
    database: MigratedDatabase, jwks: JWKSServer, alice: User, bob: User
) -> None:
    async with _serving_through_relay(database, jwks) as (relay, app, http):
        await app.state.sessions.cache.wait_listening()
        # Bob's request prepares the context statement on the pool's one connection.
        assert (await http.get("/api/me", headers=bob.headers)).status_code == 200
        relay.reset()
        assert (await http.get("/api/me", headers=alice.headers)).status_code == 200
        assert relay.writes_by("tandem-api") == BEGIN_CONTEXT_COMMIT
        for _ in range(REQUESTS):
            assert (await http.get("/api/me", headers=alice.headers)).status_code == 200
        assert relay.writes_by("tandem-api") == BEGIN_CONTEXT_COMMIT


async def test_the_list_query_is_planned_for_each_user_not_once_for_all(
    database: MigratedDatabase, jwks: JWKSServer, alice: User
) -> None:
    """A prepared statement's generic plan fits the average user, not one with many tasks."""
    settings = make_settings(database, jwks_url=jwks.url, db_pool_size=1)
    async with serving(settings) as (app, http):
        for _ in range(10):
            assert (await http.get(alice.tasks_url, headers=alice.headers)).status_code == 200
        async with app.state.database.pool.acquire() as connection:  # the pool's one
            plans = await connection.fetchrow(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                "WHERE statement LIKE 'SELECT task.id%ORDER BY%'"
            )
    assert plans["generic_plans"] == 0
    assert plans["custom_plans"] >= 10
