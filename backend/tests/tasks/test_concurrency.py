"""Many users' requests interleaved on a small pool never see each other's rows.

SECURITY.md, "Access control (BOLA)": 200 concurrent requests alternating A
and B on a small pool → no response holds the other's rows. The user context
is transaction-local, so a pooled connection must come back clean every time.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import MakeUser, User, make_settings
from tests.support.apps import serving
from tests.support.database import MigratedDatabase
from tests.support.jwks_server import JWKSServer
from tests.tasks.helpers import create_task

REQUESTS = 200


async def _one(http: httpx.AsyncClient, user: User, n: int, own_task: str) -> httpx.Response:
    """Rotate through the routes that read or write rows."""
    match n % 4:
        case 0:
            return await http.get(user.tasks_url, headers=user.headers, params={"limit": 100})
        case 1:
            return await http.get(f"{user.tasks_url}/{own_task}", headers=user.headers)
        case 2:
            return await http.get(user.tasks_url, headers=user.headers, params={"q": "shared"})
        case _:
            return await http.post(
                user.tasks_url, headers=user.headers, json={"title": f"shared word {n}"}
            )


def _task_ids(body: dict[str, Any]) -> list[str]:
    return [t["id"] for t in body["items"]] if "items" in body else [body["id"]]


async def test_interleaved_requests_on_a_pool_of_two_stay_isolated(
    database: MigratedDatabase,
    jwks: JWKSServer,
    make_user: MakeUser,
    superuser_engine: AsyncEngine,
) -> None:
    alice, bob = await make_user(), await make_user()
    # Rate limits are not what this test is about; many requests come from one address.
    settings = make_settings(
        database, jwks_url=jwks.url, db_pool_size=2, rate_limit_api="100000/second"
    )
    async with serving(settings) as (app, http):
        assert app.state.database.pool.get_max_size() == 2
        own = {
            user.id: [(await create_task(http, user, f"shared {user.id}"))["id"] for _ in range(3)]
            for user in (alice, bob)
        }
        users = [alice, bob]
        responses = await asyncio.gather(
            *(
                _one(http, users[n % 2], n // 2, own[users[n % 2].id][n % 3])
                for n in range(REQUESTS)
            )
        )

    async with superuser_engine.connect() as connection:
        owner_of = dict(
            (str(task_id), user_id)
            for task_id, user_id in await connection.execute(
                text("SELECT id, user_id FROM task WHERE user_id IN (:a, :b)"),
                {"a": alice.id, "b": bob.id},
            )
        )
    seen = 0
    for n, response in enumerate(responses):
        user = users[n % 2]
        assert response.status_code in {200, 201}, (n, response.status_code, response.text)
        ids = _task_ids(response.json())
        assert ids, n
        for task_id in ids:
            assert owner_of[task_id] == user.id, (n, task_id)
            seen += 1
        other = users[(n + 1) % 2]
        assert other.id not in response.text
    assert seen > REQUESTS


async def test_concurrent_toggles_are_atomic(client: httpx.AsyncClient, alice: User) -> None:
    """Toggling reads and writes in one statement, so no flip is lost to a race."""
    task = await create_task(client, alice)
    url = f"{alice.tasks_url}/{task['id']}/complete"
    flips = 31
    responses = await asyncio.gather(
        *(client.patch(url, headers=alice.headers) for _ in range(flips))
    )
    assert {r.status_code for r in responses} == {200}
    assert sum(r.json()["completed"] for r in responses) == (flips + 1) // 2
    final = await client.get(f"{alice.tasks_url}/{task['id']}", headers=alice.headers)
    assert final.json()["completed"] is (flips % 2 == 1)
