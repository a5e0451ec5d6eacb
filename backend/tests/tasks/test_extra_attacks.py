"""Attacks on the task API that SECURITY.md does not list, found in the independent pass."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import User
from tests.support.asgi import send_raw
from tests.support.rows import task_row, task_rows_of
from tests.tasks.helpers import create_task, error_body

OVERRIDE_HEADERS = ("X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override")


@pytest.mark.parametrize("header", OVERRIDE_HEADERS)
async def test_method_override_headers_are_ignored(
    client: httpx.AsyncClient, alice: User, superuser_engine: AsyncEngine, header: str
) -> None:
    """A GET (or a form POST a browser can send cross-site) never becomes a write."""
    task = await create_task(client, alice, "keep me")
    url = f"{alice.tasks_url}/{task['id']}"
    before = await task_row(superuser_engine, task["id"])

    read = await client.get(url, headers={**alice.headers, header: "DELETE"})
    assert read.status_code == 200
    assert read.json() == task
    listed = await client.post(alice.tasks_url, headers={**alice.headers, header: "GET"})
    assert listed.status_code == 422  # still a create, with no body
    post_as_delete = await client.post(url, headers={**alice.headers, header: "DELETE"})
    assert post_as_delete.status_code == 405

    assert await task_row(superuser_engine, task["id"]) == before
    assert len(await task_rows_of(superuser_engine, alice.id)) == 1


async def test_traversal_in_the_task_id_never_reaches_another_users_task(
    eddsa_app: FastAPI, client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    bobs = await create_task(client, bob, "bob's secret task")
    mine = await create_task(client, alice, "alice's task")
    for raw in (
        f"{alice.tasks_url}/../../{bob.id}/tasks/{bobs['id']}",
        f"{alice.tasks_url}/{mine['id']}/../../../{bob.id}/tasks/{bobs['id']}",
        f"{alice.tasks_url}/{quote(f'../../{bob.id}/tasks/' + bobs['id'], safe='')}",
        f"{alice.tasks_url}/%2e%2e%2f%2e%2e%2f{bob.id}%2ftasks%2f{bobs['id']}",
        f"{alice.tasks_url}/{bobs['id']}/..",
    ):
        for method in ("GET", "DELETE"):
            response = await send_raw(eddsa_app, method, raw.encode(), alice.headers)
            assert response.status in {403, 404, 405, 422}, (method, raw, response.status)
            assert b"bob's secret" not in response.body
    still_there = await client.get(f"{bob.tasks_url}/{bobs['id']}", headers=bob.headers)
    assert still_there.status_code == 200


@pytest.mark.parametrize(
    "cache_control",
    ["public, max-age=31536000", "max-age=3600, immutable", "only-if-cached"],
)
async def test_a_client_cannot_make_any_response_cacheable(
    client: httpx.AsyncClient, alice: User, bob: User, cache_control: str
) -> None:
    """Shared caches must never keep a per-user answer, whatever the request asked for."""
    task = await create_task(client, alice)
    asked = {"Cache-Control": cache_control, "Pragma": "cache"}
    responses = [
        await client.get(alice.tasks_url, headers={**alice.headers, **asked}),  # 200
        await client.get(f"{alice.tasks_url}/{task['id']}", headers={**alice.headers, **asked}),
        await client.get(bob.tasks_url, headers={**alice.headers, **asked}),  # 403
        await client.get(alice.tasks_url, headers=asked),  # 401
        await client.get(f"{alice.tasks_url}/{uuid.uuid4()}", headers={**alice.headers, **asked}),
        await client.get("/api/me", headers={**alice.headers, **asked}),
    ]
    assert [r.status_code for r in responses] == [200, 200, 403, 401, 404, 200]
    for response in responses:
        assert response.headers.get_list("cache-control") == ["no-store"], response.request.url
        assert "public" not in response.headers.get("vary", "").lower()


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://localhost:3000"])
async def test_the_api_grants_no_cross_origin_access(
    client: httpx.AsyncClient, alice: User, origin: str
) -> None:
    """The API answers bearer tokens only; it never tells a browser another origin may read it."""
    task = await create_task(client, alice)
    preflight = await client.options(
        f"{alice.tasks_url}/{task['id']}",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "DELETE",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 405
    for response in (
        preflight,
        await client.get(alice.tasks_url, headers={**alice.headers, "Origin": origin}),
        await client.get(alice.tasks_url, headers={"Origin": origin}),
    ):
        granted = {k for k in response.headers if k.lower().startswith("access-control-")}
        assert granted == set(), response.headers
    still_there = await client.get(f"{alice.tasks_url}/{task['id']}", headers=alice.headers)
    assert still_there.status_code == 200


@pytest.mark.parametrize(
    "limit", ["\u0661\u0660", "\uff11\uff10", "\u00b9", "\u0665", "1\u0660"], ids=repr
)
async def test_non_ascii_digits_in_limit_are_refused(
    client: httpx.AsyncClient, alice: User, limit: str
) -> None:
    """``int()`` reads Arabic-Indic or fullwidth digits; the API's parser must not."""
    response = await client.get(alice.tasks_url, headers=alice.headers, params={"limit": limit})
    assert response.status_code == 422, response.text
    error_body(response)


@pytest.mark.parametrize(
    "cursor", ["\u0661\u0662\u0663", "\uff21\uff22\uff23\uff24", "é" * 8], ids=repr
)
async def test_non_ascii_cursor_is_refused_not_a_500(
    client: httpx.AsyncClient, alice: User, cursor: str
) -> None:
    response = await client.get(alice.tasks_url, headers=alice.headers, params={"cursor": cursor})
    assert response.status_code == 422, response.text
    assert error_body(response)["code"] == "invalid_cursor"
