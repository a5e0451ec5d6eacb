"""The task routes' contract (DESIGN.md §3): shapes, status codes, headers, error bodies."""

from __future__ import annotations

import uuid
from datetime import datetime

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import User
from tests.support.rows import task_row
from tests.tasks.helpers import TASK_FIELDS, create_task, error_body


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, value
    return parsed


async def test_create_answers_201_with_the_task(
    client: httpx.AsyncClient, alice: User, superuser_engine: AsyncEngine
) -> None:
    response = await client.post(
        alice.tasks_url, headers=alice.headers, json={"title": "Buy milk", "description": "2 L"}
    )
    assert response.status_code == 201
    task = response.json()
    assert set(task) == TASK_FIELDS
    assert uuid.UUID(task["id"]).version == 4
    assert (task["title"], task["description"], task["completed"]) == ("Buy milk", "2 L", False)
    assert task["created_at"] == task["updated_at"]
    _parse_time(task["created_at"])

    row = await task_row(superuser_engine, task["id"])
    assert row is not None
    assert row["user_id"] == alice.id
    assert row["title"] == "Buy milk"


async def test_description_is_optional_and_may_be_null(
    client: httpx.AsyncClient, alice: User
) -> None:
    assert (await create_task(client, alice, "no description"))["description"] is None
    explicit = await create_task(client, alice, "null description", description=None)
    assert explicit["description"] is None


async def test_get_returns_the_same_task(client: httpx.AsyncClient, alice: User) -> None:
    task = await create_task(client, alice, "read me", description="body")
    response = await client.get(f"{alice.tasks_url}/{task['id']}", headers=alice.headers)
    assert response.status_code == 200
    assert response.json() == task


async def test_put_replaces_and_advances_updated_at(client: httpx.AsyncClient, alice: User) -> None:
    task = await create_task(client, alice, "old", description="old notes")
    response = await client.put(
        f"{alice.tasks_url}/{task['id']}",
        headers=alice.headers,
        json={"title": "new", "description": None, "completed": True},
    )
    assert response.status_code == 200
    replaced = response.json()
    assert (replaced["title"], replaced["description"], replaced["completed"]) == (
        "new",
        None,
        True,
    )
    assert replaced["created_at"] == task["created_at"]
    assert _parse_time(replaced["updated_at"]) > _parse_time(task["updated_at"])
    read = await client.get(f"{alice.tasks_url}/{task['id']}", headers=alice.headers)
    assert read.json() == replaced


async def test_patch_advances_updated_at(client: httpx.AsyncClient, alice: User) -> None:
    task = await create_task(client, alice)
    response = await client.patch(
        f"{alice.tasks_url}/{task['id']}", headers=alice.headers, json={"title": "renamed"}
    )
    patched = response.json()
    assert patched["created_at"] == task["created_at"]
    assert _parse_time(patched["updated_at"]) > _parse_time(task["updated_at"])


async def test_toggle_flips_completed_and_back(client: httpx.AsyncClient, alice: User) -> None:
    task = await create_task(client, alice)
    url = f"{alice.tasks_url}/{task['id']}/complete"

    first = await client.patch(url, headers=alice.headers)
    assert first.status_code == 200
    assert first.json()["completed"] is True
    assert _parse_time(first.json()["updated_at"]) > _parse_time(task["updated_at"])

    second = await client.patch(url, headers=alice.headers)
    assert second.json()["completed"] is False
    assert _parse_time(second.json()["updated_at"]) > _parse_time(first.json()["updated_at"])
    assert {k: second.json()[k] for k in ("title", "description", "created_at")} == {
        k: task[k] for k in ("title", "description", "created_at")
    }


async def test_toggle_ignores_any_body(client: httpx.AsyncClient, alice: User) -> None:
    task = await create_task(client, alice)
    response = await client.patch(
        f"{alice.tasks_url}/{task['id']}/complete",
        headers=alice.headers,
        json={"completed": False, "user_id": "someone", "title": "changed"},
    )
    assert response.status_code == 200
    assert response.json()["completed"] is True
    assert response.json()["title"] == task["title"]


async def test_delete_then_the_task_is_gone(
    client: httpx.AsyncClient, alice: User, superuser_engine: AsyncEngine
) -> None:
    task = await create_task(client, alice)
    url = f"{alice.tasks_url}/{task['id']}"
    deleted = await client.delete(url, headers=alice.headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert (await client.get(url, headers=alice.headers)).status_code == 404
    assert (await client.delete(url, headers=alice.headers)).status_code == 404
    assert await task_row(superuser_engine, task["id"]) is None


async def test_missing_task_is_404_on_every_route(client: httpx.AsyncClient, alice: User) -> None:
    url = f"{alice.tasks_url}/{uuid.uuid4()}"
    for method, suffix, body in (
        ("GET", "", None),
        ("PUT", "", {"title": "t", "description": None, "completed": False}),
        ("PATCH", "", {"title": "t"}),
        ("PATCH", "/complete", None),
        ("DELETE", "", None),
    ):
        response = await client.request(method, url + suffix, headers=alice.headers, json=body)
        assert response.status_code == 404, (method, suffix)
        assert error_body(response) == {"detail": "Task not found", "code": "not_found"}


async def test_unsupported_method_is_405_with_the_error_shape(
    client: httpx.AsyncClient, alice: User
) -> None:
    response = await client.request("TRACE", alice.tasks_url, headers=alice.headers)
    assert response.status_code == 405
    error_body(response)


async def test_every_api_response_is_not_cached(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    task = await create_task(client, alice)
    url = f"{alice.tasks_url}/{task['id']}"
    responses = [
        await client.get(alice.tasks_url, headers=alice.headers),  # 200
        await client.post(alice.tasks_url, headers=alice.headers, json={"title": "x"}),  # 201
        await client.get(url, headers=alice.headers),  # 200
        await client.patch(url, headers=alice.headers, json={"title": "y"}),  # 200
        await client.patch(f"{url}/complete", headers=alice.headers),  # 200
        await client.get(bob.tasks_url, headers=alice.headers),  # 403
        await client.get(alice.tasks_url),  # 401
        await client.get(f"{alice.tasks_url}/{uuid.uuid4()}", headers=alice.headers),  # 404
        await client.get(alice.tasks_url, headers=alice.headers, params={"limit": 0}),  # 422
        await client.post(alice.tasks_url, headers=alice.headers, content=b"x" * 70_000),  # 413
        await client.request("TRACE", alice.tasks_url, headers=alice.headers),  # 405
        await client.get("/api/no/such/route", headers=alice.headers),  # 404
        await client.delete(url, headers=alice.headers),  # 204
    ]
    statuses = [r.status_code for r in responses]
    assert statuses == [200, 201, 200, 200, 200, 403, 401, 404, 422, 413, 405, 404, 204]
    for response in responses:
        assert response.headers.get("cache-control") == "no-store", response.request.url


MARKER = "zq-echo-marker-7f3a"


@pytest.mark.parametrize(
    ("method", "path", "body", "params"),
    [
        ("POST", "", {"title": MARKER * 20}, None),  # too long
        ("POST", "", {"title": MARKER, MARKER: 1}, None),  # unknown field
        ("POST", "", {"title": MARKER, "user_id": MARKER}, None),  # mass assignment
        ("POST", "", {"title": [MARKER]}, None),  # wrong type
        ("POST", "", {"title": f"{MARKER}\u0000"}, None),  # NUL
        ("GET", "", None, {"sort": MARKER}),
        ("GET", "", None, {"status": MARKER}),
        ("GET", "", None, {"limit": MARKER}),
        ("GET", "", None, {"cursor": MARKER}),
        ("GET", "", None, {"q": MARKER * 20}),
        ("GET", f"/{MARKER}", None, None),  # not a uuid
        ("PATCH", f"/{uuid.uuid4()}", {"completed": MARKER}, None),
    ],
    ids=[
        "long title",
        "unknown field",
        "user_id",
        "title list",
        "NUL",
        "sort",
        "status",
        "limit",
        "cursor",
        "long q",
        "task id",
        "completed",
    ],
)
async def test_error_bodies_never_echo_the_request(
    client: httpx.AsyncClient,
    alice: User,
    method: str,
    path: str,
    body: object,
    params: dict[str, str] | None,
) -> None:
    response = await client.request(
        method, alice.tasks_url + path, headers=alice.headers, json=body, params=params
    )
    assert response.status_code == 422, response.text
    error_body(response)
    assert MARKER not in response.text
    assert "Traceback" not in response.text


async def test_a_malformed_json_error_does_not_echo_the_document(
    client: httpx.AsyncClient, alice: User
) -> None:
    response = await client.post(
        alice.tasks_url,
        headers={**alice.headers, "Content-Type": "application/json"},
        content=f'{{"title": "{MARKER}",'.encode(),
    )
    assert response.status_code in {400, 422}
    error_body(response)
    assert MARKER not in response.text
