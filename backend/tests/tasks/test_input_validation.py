"""Mass assignment and input: strict bodies and query parameters, stored text kept exact.

SECURITY.md, "Mass assignment and input" (the body-size, nesting and
content-type lines are in ``test_request_bodies.py``).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import User
from tests.support.rows import task_row, task_rows_of
from tests.tasks.helpers import create_task, error_body

SERVER_FIELDS: dict[str, Any] = {
    "user_id": "someone-else",
    "id": "00000000-0000-4000-8000-000000000000",
    "created_at": "2000-01-01T00:00:00Z",
    "updated_at": "2000-01-01T00:00:00Z",
}
FULL_BODY: dict[str, Any] = {"title": "t", "description": None, "completed": False}


def assert_validation_error(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    assert error_body(response)["code"] in {"validation_error", "invalid_cursor"}


@pytest.mark.parametrize("field", SERVER_FIELDS)
async def test_create_with_a_server_field_is_refused_and_stores_nothing(
    client: httpx.AsyncClient, alice: User, superuser_engine: AsyncEngine, field: str
) -> None:
    body = {"title": "t", field: SERVER_FIELDS[field]}
    response = await client.post(alice.tasks_url, headers=alice.headers, json=body)
    assert_validation_error(response)
    assert await task_rows_of(superuser_engine, alice.id) == []


@pytest.mark.parametrize("field", SERVER_FIELDS)
@pytest.mark.parametrize(
    ("method", "body"), [("PUT", FULL_BODY), ("PATCH", {"title": "t"})], ids=["put", "patch"]
)
async def test_update_with_a_server_field_is_refused_and_changes_nothing(
    client: httpx.AsyncClient,
    alice: User,
    superuser_engine: AsyncEngine,
    field: str,
    method: str,
    body: dict[str, Any],
) -> None:
    task = await create_task(client, alice)
    before = await task_row(superuser_engine, task["id"])
    response = await client.request(
        method,
        f"{alice.tasks_url}/{task['id']}",
        headers=alice.headers,
        json={**body, field: SERVER_FIELDS[field]},
    )
    assert_validation_error(response)
    assert await task_row(superuser_engine, task["id"]) == before


@pytest.mark.parametrize(
    "body",
    [
        {"title": 123},
        {"title": None},
        {"title": True},
        {"title": ["t"]},
        {"title": {"t": 1}},
        {"title": "t", "description": 5},
        {"title": "t", "completed": True},  # create takes no completed flag
    ],
    ids=repr,
)
async def test_create_refuses_wrong_types(
    client: httpx.AsyncClient, alice: User, body: dict[str, Any]
) -> None:
    response = await client.post(alice.tasks_url, headers=alice.headers, json=body)
    assert_validation_error(response)


@pytest.mark.parametrize(
    "changes",
    [
        {"completed": "yes"},
        {"completed": "true"},
        {"completed": 1},
        {"completed": 0},
        {"completed": None},
        {"title": 123},
        {"title": None},
        {"description": 5},
    ],
    ids=repr,
)
@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_updates_refuse_wrong_types(
    client: httpx.AsyncClient,
    alice: User,
    superuser_engine: AsyncEngine,
    changes: dict[str, Any],
    method: str,
) -> None:
    task = await create_task(client, alice)
    before = await task_row(superuser_engine, task["id"])
    body = {**FULL_BODY, **changes} if method == "PUT" else changes
    response = await client.request(
        method, f"{alice.tasks_url}/{task['id']}", headers=alice.headers, json=body
    )
    assert_validation_error(response)
    assert await task_row(superuser_engine, task["id"]) == before


@pytest.mark.parametrize(
    "raw_body",
    [
        b'{"title": "a\\u0000b"}',
        b'{"title": "\\ud800"}',
        b'{"title": "ok \\udfff"}',
        b'{"title": "t", "description": "a\\u0000b"}',
        b'{"title": "t", "description": "\\ud83d"}',
    ],
    ids=["NUL title", "lone high surrogate", "lone low surrogate", "NUL desc", "surrogate desc"],
)
async def test_text_postgres_cannot_store_is_refused_not_a_500(
    client: httpx.AsyncClient, alice: User, superuser_engine: AsyncEngine, raw_body: bytes
) -> None:
    response = await client.post(
        alice.tasks_url,
        headers={**alice.headers, "Content-Type": "application/json"},
        content=raw_body,
    )
    assert_validation_error(response)
    assert await task_rows_of(superuser_engine, alice.id) == []


@pytest.mark.parametrize(
    "raw_body",
    [b'{"title": "\\u0000"}', b'{"title": "\\ud800"}', b'{"description": "\\udc00"}'],
    ids=["NUL", "high surrogate", "low surrogate"],
)
async def test_unstorable_text_in_a_patch_is_refused_not_a_500(
    client: httpx.AsyncClient, alice: User, raw_body: bytes
) -> None:
    task = await create_task(client, alice)
    response = await client.patch(
        f"{alice.tasks_url}/{task['id']}",
        headers={**alice.headers, "Content-Type": "application/json"},
        content=raw_body,
    )
    assert_validation_error(response)


async def test_a_lone_surrogate_in_an_unknown_key_is_refused_not_a_500(
    client: httpx.AsyncClient, alice: User
) -> None:
    response = await client.post(
        alice.tasks_url,
        headers={**alice.headers, "Content-Type": "application/json"},
        content=b'{"title": "t", "\\ud800": 1}',
    )
    assert_validation_error(response)


@pytest.mark.parametrize(
    ("title", "status"),
    [
        ("x" * 200, 201),
        ("x" * 201, 422),
        ("\U0001f600" * 200, 201),  # length is counted in characters, not bytes
        ("\U0001f600" * 201, 422),
        ("", 422),
        ("   ", 422),
    ],
    ids=["200", "201", "200 emoji", "201 emoji", "empty", "blank"],
)
async def test_title_length_limits(
    client: httpx.AsyncClient, alice: User, title: str, status: int
) -> None:
    response = await client.post(alice.tasks_url, headers=alice.headers, json={"title": title})
    assert response.status_code == status, response.text
    if status == 201:
        assert response.json()["title"] == title


@pytest.mark.parametrize(("length", "status"), [(2000, 201), (2001, 422)])
async def test_description_length_limit(
    client: httpx.AsyncClient, alice: User, length: int, status: int
) -> None:
    body = {"title": "t", "description": "d" * length}
    response = await client.post(alice.tasks_url, headers=alice.headers, json=body)
    assert response.status_code == status, response.text


async def test_title_limits_apply_to_updates_too(
    client: httpx.AsyncClient, alice: User, superuser_engine: AsyncEngine
) -> None:
    task = await create_task(client, alice)
    url = f"{alice.tasks_url}/{task['id']}"
    for body in ({"title": "x" * 201}, {"description": "d" * 2001}, {"title": "a\nb"}):
        assert_validation_error(await client.patch(url, headers=alice.headers, json=body))
        put = await client.put(url, headers=alice.headers, json={**FULL_BODY, **body})
        assert_validation_error(put)
    row = await task_row(superuser_engine, task["id"])
    assert row is not None
    assert row["title"] == "a task"


HOSTILE_TEXT = [
    "'; DROP TABLE task; --",
    "Robert'); DELETE FROM task WHERE ('1'='1",
    '" OR "1"="1',
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "{{7*7}}",
    "${7*7}",
    "#{7*7} <%= 7*7 %> {% raw %}",
    "%s %n %x %(title)s",
    "\\x00 \\u0000 \\n",
    "Ünïcödé — 日本語 😀 \u202e txet",
    "  leading and trailing spaces  ",
    "tab\there",
]


@pytest.mark.parametrize("text", HOSTILE_TEXT)
async def test_hostile_text_is_stored_and_returned_byte_for_byte(
    client: httpx.AsyncClient, alice: User, superuser_engine: AsyncEngine, text: str
) -> None:
    created = await client.post(
        alice.tasks_url, headers=alice.headers, json={"title": text, "description": text}
    )
    assert created.status_code == 201, created.text
    task = created.json()
    assert task["title"] == text
    assert task["description"] == text

    row = await task_row(superuser_engine, task["id"])
    assert row is not None
    assert (row["title"], row["description"]) == (text, text)

    read = await client.get(f"{alice.tasks_url}/{task['id']}", headers=alice.headers)
    assert read.json()["title"] == text
    listed = await client.get(alice.tasks_url, headers=alice.headers)
    assert [t["title"] for t in listed.json()["items"]] == [text]
    # Sent back as JSON, never as markup a browser would run.
    assert read.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize(
    "sort", ["id", "user_id", "completed", "description", "title;", "created_at desc", "-id", ""]
)
async def test_sort_outside_the_allow_list_is_refused(
    client: httpx.AsyncClient, alice: User, sort: str
) -> None:
    response = await client.get(alice.tasks_url, headers=alice.headers, params={"sort": sort})
    assert_validation_error(response)


@pytest.mark.parametrize("status", ["deleted", "ALL", "", "true"])
async def test_status_outside_the_allow_list_is_refused(
    client: httpx.AsyncClient, alice: User, status: str
) -> None:
    response = await client.get(alice.tasks_url, headers=alice.headers, params={"status": status})
    assert_validation_error(response)


@pytest.mark.parametrize("limit", ["0", "-1", "101", "1000000", "1e3", "abc", "2.5", ""])
async def test_limit_outside_1_to_100_is_refused(
    client: httpx.AsyncClient, alice: User, limit: str
) -> None:
    response = await client.get(alice.tasks_url, headers=alice.headers, params={"limit": limit})
    assert_validation_error(response)


@pytest.mark.parametrize("limit", ["1", "100"])
async def test_limit_bounds_are_accepted(
    client: httpx.AsyncClient, alice: User, limit: str
) -> None:
    response = await client.get(alice.tasks_url, headers=alice.headers, params={"limit": limit})
    assert response.status_code == 200


async def _titles_matching(client: httpx.AsyncClient, user: User, q: str) -> list[str]:
    response = await client.get(user.tasks_url, headers=user.headers, params={"q": q})
    assert response.status_code == 200, response.text
    return sorted(t["title"] for t in response.json()["items"])


async def test_like_wildcards_in_search_are_literal(client: httpx.AsyncClient, alice: User) -> None:
    for title in ("100%", "abc", "a_c", "back\\slash", "plain"):
        await create_task(client, alice, title)

    assert await _titles_matching(client, alice, "%") == ["100%"]
    assert await _titles_matching(client, alice, "_") == ["a_c"]
    assert await _titles_matching(client, alice, "a_c") == ["a_c"]
    assert await _titles_matching(client, alice, "a%c") == []
    assert await _titles_matching(client, alice, "\\") == ["back\\slash"]
    assert await _titles_matching(client, alice, "\\%") == []


@pytest.mark.parametrize("q", ["", "\x00", "x" * 201])
async def test_search_text_that_cannot_match_is_refused(
    client: httpx.AsyncClient, alice: User, q: str
) -> None:
    response = await client.get(alice.tasks_url, headers=alice.headers, params={"q": q})
    assert_validation_error(response)


@pytest.mark.parametrize("raw_query", [b"q=%ED%A0%80", b"q=%FF%FE", b"q=%C0%80", b"sort=%00"])
async def test_undecodable_query_bytes_are_not_a_500(
    client: httpx.AsyncClient, alice: User, raw_query: bytes
) -> None:
    url = httpx.URL(f"http://testserver{alice.tasks_url}").copy_with(query=raw_query)
    response = await client.get(url, headers=alice.headers)
    assert response.status_code in {200, 422}, response.text


async def test_put_requires_every_client_field(
    client: httpx.AsyncClient, alice: User, superuser_engine: AsyncEngine
) -> None:
    task = await create_task(client, alice, description="kept")
    before = await task_row(superuser_engine, task["id"])
    url = f"{alice.tasks_url}/{task['id']}"
    full = {"title": "new", "description": "new", "completed": True}
    for missing in full:
        body = {k: v for k, v in full.items() if k != missing}
        assert_validation_error(await client.put(url, headers=alice.headers, json=body))
    assert await task_row(superuser_engine, task["id"]) == before

    replaced = await client.put(url, headers=alice.headers, json=full)
    assert replaced.status_code == 200
    assert {k: replaced.json()[k] for k in full} == full


@pytest.mark.parametrize(
    "body", [{}, {"title": None}, {"completed": None}, [], "title", 1], ids=repr
)
async def test_patch_needs_something_valid_to_change(
    client: httpx.AsyncClient, alice: User, body: Any
) -> None:
    task = await create_task(client, alice)
    response = await client.patch(
        f"{alice.tasks_url}/{task['id']}", headers=alice.headers, json=body
    )
    assert_validation_error(response)


@pytest.mark.parametrize(
    "change",
    [
        {"title": "renamed"},
        {"description": "described"},
        {"description": None},
        {"completed": True},
    ],
    ids=repr,
)
async def test_patch_changes_only_the_fields_it_names(
    client: httpx.AsyncClient, alice: User, change: dict[str, Any]
) -> None:
    task = await create_task(client, alice, "original", description="original notes")
    response = await client.patch(
        f"{alice.tasks_url}/{task['id']}", headers=alice.headers, json=change
    )
    assert response.status_code == 200, response.text
    patched = response.json()
    expected = {**task, **change}
    for field in ("id", "title", "description", "completed", "created_at"):
        assert patched[field] == expected[field], field


@pytest.mark.parametrize("task_id", ["not-a-uuid", "1", "00000000-0000-0000-0000", "%00"])
async def test_malformed_task_ids_are_refused(
    client: httpx.AsyncClient, alice: User, task_id: str
) -> None:
    response = await client.get(f"{alice.tasks_url}/{task_id}", headers=alice.headers)
    assert_validation_error(response)
