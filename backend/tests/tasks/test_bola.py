"""Broken object-level authorization: no user reaches another user's tasks.

SECURITY.md, "Access control (BOLA)". The path's user must be the token's
``sub`` (403 otherwise), and a task id that belongs to someone else answers
exactly like one that does not exist (404), so ids leak nothing.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import User
from tests.support.asgi import send_raw
from tests.support.rows import task_row, task_rows_of
from tests.tasks.helpers import create_task, error_body

# (method, path suffix after the task id, JSON body) for every route that takes a task id.
TASK_OPERATIONS: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "read": ("GET", "", None),
    "replace": ("PUT", "", {"title": "taken over", "description": "x", "completed": True}),
    "patch": ("PATCH", "", {"title": "taken over"}),
    "toggle": ("PATCH", "/complete", None),
    "delete": ("DELETE", "", None),
}


def _without_request_id(response: httpx.Response) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in response.headers.multi_items() if k != "x-request-id")


async def test_listing_another_users_tasks_is_forbidden(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    await create_task(client, bob, "bob's private list")
    response = await client.get(bob.tasks_url, headers=alice.headers)
    assert response.status_code == 403
    assert error_body(response)["code"] == "forbidden"
    assert "bob's private list" not in response.text


async def test_creating_under_another_user_is_forbidden_and_creates_no_row(
    client: httpx.AsyncClient, alice: User, bob: User, superuser_engine: AsyncEngine
) -> None:
    response = await client.post(bob.tasks_url, headers=alice.headers, json={"title": "planted"})
    assert response.status_code == 403
    assert error_body(response)["code"] == "forbidden"
    assert await task_rows_of(superuser_engine, bob.id) == []
    assert await task_rows_of(superuser_engine, alice.id) == []


async def test_another_users_path_answers_the_same_whether_or_not_that_user_exists(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    await create_task(client, bob)
    real = await client.get(bob.tasks_url, headers=alice.headers)
    made_up = await client.get(f"/api/{uuid.uuid4().hex}/tasks", headers=alice.headers)
    assert real.status_code == made_up.status_code == 403
    assert real.content == made_up.content
    assert _without_request_id(real) == _without_request_id(made_up)


@pytest.mark.parametrize("operation", TASK_OPERATIONS)
async def test_another_users_path_is_forbidden_for_every_task_route(
    client: httpx.AsyncClient,
    alice: User,
    bob: User,
    superuser_engine: AsyncEngine,
    operation: str,
) -> None:
    task = await create_task(client, bob, "bob's task")
    before = await task_row(superuser_engine, task["id"])
    method, suffix, body = TASK_OPERATIONS[operation]
    response = await client.request(
        method, f"{bob.tasks_url}/{task['id']}{suffix}", headers=alice.headers, json=body
    )
    assert response.status_code == 403
    assert "bob's task" not in response.text
    assert await task_row(superuser_engine, task["id"]) == before


@pytest.mark.parametrize("operation", TASK_OPERATIONS)
async def test_another_users_task_answers_exactly_like_a_missing_one(
    client: httpx.AsyncClient,
    alice: User,
    bob: User,
    superuser_engine: AsyncEngine,
    operation: str,
) -> None:
    task = await create_task(client, bob, "bob's task", description="bob's notes")
    before = await task_row(superuser_engine, task["id"])
    method, suffix, body = TASK_OPERATIONS[operation]

    foreign = await client.request(
        method, f"{alice.tasks_url}/{task['id']}{suffix}", headers=alice.headers, json=body
    )
    missing = await client.request(
        method, f"{alice.tasks_url}/{uuid.uuid4()}{suffix}", headers=alice.headers, json=body
    )

    assert foreign.status_code == 404
    assert error_body(foreign)["code"] == "not_found"
    assert foreign.content == missing.content
    assert _without_request_id(foreign) == _without_request_id(missing)
    assert missing.status_code == 404
    assert await task_row(superuser_engine, task["id"]) == before
    # Bob still sees his task exactly as it was.
    mine = await client.get(f"{bob.tasks_url}/{task['id']}", headers=bob.headers)
    assert mine.json() == task


def _fullwidth(text: str) -> str:
    """ASCII letters and digits as their fullwidth look-alikes (U+FF01 block)."""
    return "".join(chr(ord(ch) + 0xFEE0) if ch.isascii() and ch.isalnum() else ch for ch in text)


def _user_segment_variants(own: str, other: str) -> dict[str, str]:
    """Ways to spell the path's user segment that must never reach ``other``'s rows."""
    return {
        "uppercase": own.upper(),
        "trailing NUL": own + "%00",
        "NUL inside": own[:8] + "%00" + own[8:],
        "trailing space": own + "%20",
        "leading space": "%20" + own,
        "fullwidth look-alike": quote(_fullwidth(own)),
        "fullwidth look-alike of the other": quote(_fullwidth(other)),
        "encoded traversal": quote(f"{own}/../{other}", safe=""),
        "encoded dots": f"{own}/%2e%2e/{other}",
        "double-encoded traversal": quote(quote(f"{own}/../{other}", safe=""), safe=""),
        "backslash traversal": quote(f"{own}\\..\\{other}", safe=""),
        "semicolon": f"{own};{other}",
        "comma": f"{own},{other}",
    }


async def test_path_variants_of_own_id_never_return_another_users_tasks(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    await create_task(client, alice, "alice's task")
    bobs = await create_task(client, bob, "bob's secret task", description="bob's secret notes")

    for name, segment in _user_segment_variants(alice.id, bob.id).items():
        for suffix in ("", f"/{bobs['id']}"):
            response = await client.get(f"/api/{segment}/tasks{suffix}", headers=alice.headers)
            assert response.status_code in {403, 404, 422}, (name, suffix, response.status_code)
            assert "bob's secret" not in response.text, name
            assert bobs["id"] not in response.text, name


async def test_raw_dot_segment_traversal_never_returns_another_users_tasks(
    eddsa_app: FastAPI, client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    bobs = await create_task(client, bob, "bob's secret task")
    for raw in (
        f"/api/{alice.id}/../{bob.id}/tasks",
        f"/api/{alice.id}/tasks/../../{bob.id}/tasks",
        f"/api/{alice.id}/tasks/../../{bob.id}/tasks/{bobs['id']}",
    ):
        response = await send_raw(eddsa_app, "GET", raw.encode(), alice.headers)
        assert response.status in {403, 404, 422}, (raw, response.status)
        assert b"bob's secret" not in response.body
        assert bobs["id"].encode() not in response.body


async def test_spellings_of_another_users_task_id_are_all_not_found(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    bobs = await create_task(client, bob, "bob's secret task")
    task_id = uuid.UUID(bobs["id"])
    for spelling in (
        str(task_id).upper(),
        task_id.hex,
        f"{{{task_id}}}",
        f"urn:uuid:{task_id}",
        quote(f" {task_id} "),
        f"{task_id}%00",
    ):
        response = await client.get(f"{alice.tasks_url}/{spelling}", headers=alice.headers)
        assert response.status_code in {404, 422}, (spelling, response.status_code)
        assert "bob's secret" not in response.text


async def test_identity_from_query_or_header_is_ignored(
    client: httpx.AsyncClient, alice: User, bob: User, superuser_engine: AsyncEngine
) -> None:
    bobs = await create_task(client, bob, "bob's secret task")
    mine = await create_task(client, alice, "alice's task")
    smuggled = {**alice.headers, "X-User-ID": bob.id, "X-User-Id": bob.id}

    listed = await client.get(alice.tasks_url, params={"user_id": bob.id}, headers=smuggled)
    assert listed.status_code == 200
    assert [t["id"] for t in listed.json()["items"]] == [mine["id"]]

    read = await client.get(
        f"{alice.tasks_url}/{bobs['id']}", params={"user_id": bob.id}, headers=smuggled
    )
    assert read.status_code == 404

    created = await client.post(
        alice.tasks_url, params={"user_id": bob.id}, headers=smuggled, json={"title": "mine"}
    )
    assert created.status_code == 201
    row = await task_row(superuser_engine, created.json()["id"])
    assert row is not None
    assert row["user_id"] == alice.id

    # Naming Bob's path while claiming to be Bob in a header still needs Bob's token.
    forbidden = await client.get(bob.tasks_url, params={"user_id": bob.id}, headers=smuggled)
    assert forbidden.status_code == 403
