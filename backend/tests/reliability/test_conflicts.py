"""No lost updates: ``ETag`` on every task response, ``If-Match`` on every change.

Issue 5, item 2, and its "Conflicts" test: two clients update the same task
with ``If-Match``; exactly one wins and the other gets 412. The version is
``updated_at`` to the microsecond, checked and moved in one UPDATE statement,
so the race is decided by PostgreSQL's row lock, never by the application.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from tandem.tasks.etag import etag_for
from tandem.tasks.schemas import Task
from tests.conftest import User, client_for
from tests.support.jwks_server import JWKSServer
from tests.support.rows import task_row
from tests.tasks.helpers import create_task, error_body

ROUNDS = 5
PRECONDITION_FAILED = {
    "detail": "The task changed since you read it; fetch it again and reapply your change",
    "code": "precondition_failed",
}


@pytest_asyncio.fixture
async def second_client(eddsa_app: FastAPI, jwks: JWKSServer) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(eddsa_app) as http:
        yield http


def url_of(user: User, task: dict[str, Any]) -> str:
    return f"{user.tasks_url}/{task['id']}"


async def read(client: httpx.AsyncClient, user: User, task: dict[str, Any]) -> httpx.Response:
    response = await client.get(url_of(user, task), headers=user.headers)
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == etag_for(Task.model_validate(response.json()).updated_at)
    return response


def conditional(user: User, etag: str | bytes | None) -> dict[str, Any]:
    headers: dict[str, Any] = dict(user.headers)
    if etag is not None:
        headers["If-Match"] = etag
    return headers


def assert_precondition_failed(response: httpx.Response) -> None:
    assert response.status_code == 412, response.text
    assert error_body(response) == PRECONDITION_FAILED
    assert "etag" not in response.headers
    assert response.headers["cache-control"] == "no-store"


async def db_state(engine: AsyncEngine, task: dict[str, Any]) -> tuple[Any, ...] | None:
    row = await task_row(engine, task["id"])
    if row is None:
        return None
    return (row["title"], row["description"], row["completed"], etag_for(row["updated_at"]))


Race = Callable[[httpx.AsyncClient, str, dict[str, Any], str], Awaitable[httpx.Response]]


async def _both_read_then_both_write(
    first: httpx.AsyncClient,
    second: httpx.AsyncClient,
    user: User,
    task: dict[str, Any],
    writes: tuple[tuple[str, Any], tuple[str, Any]],
) -> tuple[httpx.Response, httpx.Response, str]:
    """Each client reads the task, then both send their change with that ETag at once."""
    seen = await asyncio.gather(read(first, user, task), read(second, user, task))
    etag = seen[0].headers["etag"]
    assert seen[1].headers["etag"] == etag
    (method_a, body_a), (method_b, body_b) = writes
    a, b = await asyncio.gather(
        _send(first, method_a, user, task, body_a, etag),
        _send(second, method_b, user, task, body_b, etag),
    )
    return a, b, etag


async def _send(
    client: httpx.AsyncClient, method: str, user: User, task: dict[str, Any], body: Any, etag: str
) -> httpx.Response:
    url = url_of(user, task) + ("/complete" if method == "COMPLETE" else "")
    verb = "PATCH" if method == "COMPLETE" else method
    return await client.request(verb, url, headers=conditional(user, etag), json=body)


def _winner_and_loser(
    a: httpx.Response, b: httpx.Response, success: int
) -> tuple[int, httpx.Response, httpx.Response]:
    statuses = sorted([a.status_code, b.status_code])
    assert success in statuses, (a.text, b.text)
    return (0, a, b) if a.status_code == success else (1, b, a)


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_two_concurrent_updates_with_one_etag_exactly_one_wins(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    alice: User,
    superuser_engine: AsyncEngine,
    method: str,
) -> None:
    task = await create_task(client, alice, "start", description="d0")
    for round_ in range(ROUNDS):
        bodies = [
            {"title": f"A{round_}", "description": f"a{round_}", "completed": True},
            {"title": f"B{round_}", "description": f"b{round_}", "completed": False},
        ]
        a, b, old_etag = await _both_read_then_both_write(
            client, second_client, alice, task, ((method, bodies[0]), (method, bodies[1]))
        )
        assert sorted([a.status_code, b.status_code]) == [200, 412], (a.text, b.text)
        index, winner, loser = _winner_and_loser(a, b, 200)
        assert_precondition_failed(loser)

        won = bodies[index]
        assert winner.headers["etag"] != old_etag
        assert (
            winner.json()["title"],
            winner.json()["description"],
            winner.json()["completed"],
        ) == (won["title"], won["description"], won["completed"])
        expected = (won["title"], won["description"], won["completed"], winner.headers["etag"])
        assert await db_state(superuser_engine, task) == expected
        assert (await read(client, alice, task)).headers["etag"] == winner.headers["etag"]


async def test_two_concurrent_toggles_with_one_etag_toggle_once(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    alice: User,
    superuser_engine: AsyncEngine,
) -> None:
    task = await create_task(client, alice, "toggle me")
    completed = False
    for _ in range(ROUNDS):
        a, b, _etag = await _both_read_then_both_write(
            client, second_client, alice, task, (("COMPLETE", None), ("COMPLETE", None))
        )
        assert sorted([a.status_code, b.status_code]) == [200, 412], (a.text, b.text)
        _index, winner, loser = _winner_and_loser(a, b, 200)
        assert_precondition_failed(loser)
        completed = not completed
        assert winner.json()["completed"] is completed
        state = await db_state(superuser_engine, task)
        assert state is not None
        assert state[2:] == (completed, winner.headers["etag"])


async def test_two_concurrent_deletes_with_one_etag_delete_once(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    alice: User,
    superuser_engine: AsyncEngine,
) -> None:
    """The loser finds no task at all, which the contract answers with 404 (as without If-Match)."""
    for _ in range(ROUNDS):
        task = await create_task(client, alice, "delete me")
        a, b, _etag = await _both_read_then_both_write(
            client, second_client, alice, task, (("DELETE", None), ("DELETE", None))
        )
        assert sorted([a.status_code, b.status_code]) == [204, 404], (a.text, b.text)
        assert await task_row(superuser_engine, task["id"]) is None


async def test_an_update_racing_a_delete_with_one_etag_exactly_one_wins(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    alice: User,
    superuser_engine: AsyncEngine,
) -> None:
    outcomes = set()
    for round_ in range(ROUNDS * 2):
        task = await create_task(client, alice, "contested")
        body = {"title": f"edited {round_}"}
        patch, delete, _etag = await _both_read_then_both_write(
            client, second_client, alice, task, (("PATCH", body), ("DELETE", None))
        )
        if patch.status_code == 200:
            assert_precondition_failed(delete)  # the task is still there, in a newer version
            state = await db_state(superuser_engine, task)
            assert state is not None
            assert (state[0], state[3]) == (body["title"], patch.headers["etag"])
        else:
            assert (patch.status_code, delete.status_code) == (404, 204), (patch.text, delete.text)
            assert await task_row(superuser_engine, task["id"]) is None
        outcomes.add((patch.status_code, delete.status_code))
    assert outcomes <= {(200, 412), (404, 204)}


@pytest.mark.parametrize("if_match", [None, "*", " * "])
async def test_if_match_star_or_absent_is_unconditional(
    client: httpx.AsyncClient, alice: User, superuser_engine: AsyncEngine, if_match: str | None
) -> None:
    task = await create_task(client, alice, "v0")
    stale = (await read(client, alice, task)).headers["etag"]
    moved = await client.patch(url_of(alice, task), headers=alice.headers, json={"title": "v1"})
    assert moved.status_code == 200
    assert moved.headers["etag"] != stale

    headers = conditional(alice, if_match)
    url = url_of(alice, task)
    put = await client.put(
        url, headers=headers, json={"title": "v2", "description": None, "completed": False}
    )
    assert put.status_code == 200, put.text
    patched = await client.patch(url, headers=headers, json={"title": "v3"})
    assert patched.status_code == 200, patched.text
    toggled = await client.patch(f"{url}/complete", headers=headers)
    assert toggled.status_code == 200, toggled.text
    assert await db_state(superuser_engine, task) == ("v3", None, True, toggled.headers["etag"])
    assert (await client.delete(url, headers=headers)).status_code == 204
    assert await task_row(superuser_engine, task["id"]) is None
    missing = await client.patch(url, headers=headers, json={"title": "v4"})
    assert missing.status_code == 404


def _unmatchable(current: str) -> dict[str, str | bytes]:
    digits = current.strip('"')
    return {
        "weak_current": f"W/{current}",
        "weak_lowercase": f"w/{current}",
        "unquoted_current": digits,
        "single_quoted": f"'{digits}'",
        "empty_quotes": '""',
        "one_quote": '"',
        "garbage": "garbage",
        "negative": f'"-{digits}"',
        "fraction": f'"{digits}.0"',
        "exponent": '"1e15"',
        "hex": '"0x1f"',
        "plus_sign": f'"+{digits}"',
        "spaces_inside": f'" {digits} "',
        "next_microsecond": f'"{int(digits) + 1}"',
        "zero": '"0"',
        "past_year_9999": '"253402300800000000"',
        "twenty_nines": '"99999999999999999999"',
        "forty_digits": '"' + "9" * 40 + '"',
        "superscript_digits": b'"\xb2\xb3"',  # latin-1 '²³': str.isdigit() says yes
        "only_commas": ",,,",
    }


@pytest.mark.parametrize("method", ["PUT", "PATCH", "COMPLETE", "DELETE"])
async def test_weak_malformed_or_wrong_etags_never_match(
    client: httpx.AsyncClient, alice: User, superuser_engine: AsyncEngine, method: str
) -> None:
    task = await create_task(client, alice, "guarded")
    current = (await read(client, alice, task)).headers["etag"]
    before = await db_state(superuser_engine, task)
    bodies = {
        "PUT": {"title": "x", "description": None, "completed": True},
        "PATCH": {"title": "x"},
        "COMPLETE": None,
        "DELETE": None,
    }
    for name, if_match in _unmatchable(current).items():
        url = url_of(alice, task) + ("/complete" if method == "COMPLETE" else "")
        response = await client.request(
            "PATCH" if method == "COMPLETE" else method,
            url,
            headers=conditional(alice, if_match),
            json=bodies[method],
        )
        assert response.status_code == 412, (name, response.status_code, response.text)
        assert_precondition_failed(response)
        assert await db_state(superuser_engine, task) == before, name


async def test_a_list_of_etags_matches_if_any_is_current(
    client: httpx.AsyncClient, alice: User
) -> None:
    task = await create_task(client, alice, "v0")
    old = (await read(client, alice, task)).headers["etag"]
    moved = await client.patch(url_of(alice, task), headers=alice.headers, json={"title": "v1"})
    current = moved.headers["etag"]

    stale_only = await client.patch(
        url_of(alice, task), headers=conditional(alice, f"{old}, W/{current}"), json={"title": "x"}
    )
    assert_precondition_failed(stale_only)
    listed = await client.patch(
        url_of(alice, task),
        headers=conditional(alice, f'"1", garbage, {old} ,{current}'),
        json={"title": "v2"},
    )
    assert listed.status_code == 200, listed.text


async def test_a_missing_task_is_404_whatever_the_if_match(
    client: httpx.AsyncClient, alice: User
) -> None:
    task = await create_task(client, alice, "soon gone")
    etag = (await read(client, alice, task)).headers["etag"]
    assert (await client.delete(url_of(alice, task), headers=alice.headers)).status_code == 204
    for if_match in (etag, "garbage", "*", None):
        headers = conditional(alice, if_match)
        url = url_of(alice, task)
        responses = [
            await client.put(
                url, headers=headers, json={"title": "t", "description": None, "completed": False}
            ),
            await client.patch(url, headers=headers, json={"title": "t"}),
            await client.patch(f"{url}/complete", headers=headers),
            await client.delete(url, headers=headers),
        ]
        for response in responses:
            assert response.status_code == 404, (if_match, response.text)
            assert error_body(response)["code"] == "not_found"


async def test_another_users_task_is_404_even_with_its_current_etag(
    client: httpx.AsyncClient, alice: User, bob: User, superuser_engine: AsyncEngine
) -> None:
    task = await create_task(client, alice, "alice's")
    etag = (await read(client, alice, task)).headers["etag"]
    before = await db_state(superuser_engine, task)
    url = f"{bob.tasks_url}/{task['id']}"
    for response in (
        await client.patch(url, headers=conditional(bob, etag), json={"title": "bob's"}),
        await client.delete(url, headers=conditional(bob, etag)),
    ):
        assert response.status_code == 404, response.text
        assert etag not in response.text
    assert await db_state(superuser_engine, task) == before


async def test_the_etag_moves_on_every_change_and_matches_get(
    client: httpx.AsyncClient, alice: User
) -> None:
    created = await client.post(alice.tasks_url, headers=alice.headers, json={"title": "v0"})
    assert created.status_code == 201
    task = created.json()
    seen = [created.headers["etag"]]
    assert (await read(client, alice, task)).headers["etag"] == seen[-1]

    url = url_of(alice, task)
    changes = [
        ("PUT", url, {"title": "v1", "description": "d", "completed": False}),
        ("PATCH", url, {"title": "v2"}),
        ("PATCH", url, {"title": "v2"}),  # no visible change is still a new version
        ("PATCH", f"{url}/complete", None),
        ("PATCH", f"{url}/complete", None),
        ("PUT", url, {"title": "v2", "description": "d", "completed": False}),
    ]
    for method, target, body in changes:
        response = await client.request(
            method, target, headers=conditional(alice, seen[-1]), json=body
        )
        assert response.status_code == 200, response.text
        etag = response.headers["etag"]
        assert etag.startswith('"')  # a strong tag
        assert etag.endswith('"')
        assert etag[1:-1].isdigit()
        assert etag == etag_for(Task.model_validate(response.json()).updated_at)
        assert etag not in seen
        seen.append(etag)
        got = await read(client, alice, task)
        assert got.headers["etag"] == etag
        assert got.json() == response.json()

    for stale in seen[:-1]:  # every older version is refused
        refused = await client.patch(url, headers=conditional(alice, stale), json={"title": "x"})
        assert_precondition_failed(refused)
