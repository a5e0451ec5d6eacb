"""Listing tasks: filters, search, every sort order, and keyset pagination with cursors."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import User
from tests.support.rows import insert_task
from tests.tasks.helpers import create_task, error_body

SORTS = ["created_at", "-created_at", "title", "-title", "updated_at", "-updated_at"]
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


async def _list(client: httpx.AsyncClient, user: User, **params: Any) -> dict[str, Any]:
    response = await client.get(user.tasks_url, headers=user.headers, params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def _walk(client: httpx.AsyncClient, user: User, **params: Any) -> list[str]:
    """Every id, following ``next_cursor`` until it is null; fails on a runaway loop."""
    ids: list[str] = []
    cursor: str | None = None
    for _ in range(100):
        page = await _list(client, user, **params, **({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) <= params.get("limit", 50)
        ids += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids
        assert page["items"], "a cursor must not follow an empty page"
    raise AssertionError("pagination did not end")


def _cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


@pytest_asyncio.fixture
async def arranged(superuser_engine: AsyncEngine, alice: User, bob: User) -> list[dict[str, Any]]:
    """Alice's tasks with ties in every sort key (same title, same timestamps); Bob has some too."""
    specs = [
        ("delta", T0, T0 + timedelta(hours=5)),
        ("alpha", T0 + timedelta(minutes=1), T0 + timedelta(minutes=1)),
        ("same", T0 + timedelta(minutes=2), T0 + timedelta(hours=1)),
        ("same", T0 + timedelta(minutes=2), T0 + timedelta(hours=1)),
        ("same", T0 + timedelta(minutes=2), T0 + timedelta(hours=1)),
        ("charlie", T0 + timedelta(minutes=2), T0 + timedelta(hours=9)),
        ("bravo", T0 - timedelta(days=1), T0 + timedelta(hours=1)),
    ]
    rows = []
    for title, created, updated in specs:
        task_id = await insert_task(
            superuser_engine, user_id=alice.id, title=title, created_at=created, updated_at=updated
        )
        rows.append({"id": task_id, "title": title, "created_at": created, "updated_at": updated})
    for title in ("alpha", "same", "zulu"):
        await insert_task(superuser_engine, user_id=bob.id, title=title, created_at=T0)
    return rows


def _expected(rows: list[dict[str, Any]], sort: str) -> list[str]:
    """What the keyset order must be: the sort column, then the id, both in one direction."""
    column = sort.removeprefix("-")
    ordered = sorted(rows, key=lambda r: (r[column], r["id"]), reverse=sort.startswith("-"))
    return [str(r["id"]) for r in ordered]


@pytest.mark.parametrize("sort", SORTS)
async def test_every_sort_orders_correctly(
    client: httpx.AsyncClient, alice: User, arranged: list[dict[str, Any]], sort: str
) -> None:
    page = await _list(client, alice, sort=sort, limit=100)
    assert [t["id"] for t in page["items"]] == _expected(arranged, sort)
    assert page["next_cursor"] is None


async def test_default_order_is_newest_first(
    client: httpx.AsyncClient, alice: User, arranged: list[dict[str, Any]]
) -> None:
    page = await _list(client, alice)
    assert [t["id"] for t in page["items"]] == _expected(arranged, "-created_at")


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("limit", [1, 2, 3, 7])
async def test_cursor_pagination_visits_every_task_exactly_once(
    client: httpx.AsyncClient,
    alice: User,
    arranged: list[dict[str, Any]],
    sort: str,
    limit: int,
) -> None:
    ids = await _walk(client, alice, sort=sort, limit=limit)
    assert ids == _expected(arranged, sort)
    assert len(set(ids)) == len(arranged)


async def test_pagination_keeps_the_filters(
    client: httpx.AsyncClient, alice: User, superuser_engine: AsyncEngine
) -> None:
    wanted = []
    for n in range(5):
        wanted.append(
            str(
                await insert_task(
                    superuser_engine, user_id=alice.id, title=f"report {n}", created_at=T0
                )
            )
        )
        await insert_task(
            superuser_engine, user_id=alice.id, title=f"report {n}", completed=True, created_at=T0
        )
        await insert_task(superuser_engine, user_id=alice.id, title=f"other {n}", created_at=T0)
    ids = await _walk(client, alice, q="REPORT", status="pending", sort="title", limit=2)
    assert sorted(ids) == sorted(wanted)
    assert len(ids) == len(set(ids)) == 5


async def test_status_filter(client: httpx.AsyncClient, alice: User) -> None:
    done = await create_task(client, alice, "done")
    await client.patch(f"{alice.tasks_url}/{done['id']}/complete", headers=alice.headers)
    open_task = await create_task(client, alice, "open")

    assert [t["id"] for t in (await _list(client, alice, status="completed"))["items"]] == [
        done["id"]
    ]
    assert [t["id"] for t in (await _list(client, alice, status="pending"))["items"]] == [
        open_task["id"]
    ]
    everything = await _list(client, alice, status="all")
    assert {t["id"] for t in everything["items"]} == {done["id"], open_task["id"]}


async def test_search_covers_title_and_description_case_insensitively(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    in_title = await create_task(client, alice, "Quarterly REPORT")
    in_description = await create_task(client, alice, "misc", description="draft the report")
    await create_task(client, alice, "unrelated", description="nothing here")
    await create_task(client, bob, "bob's report")

    for q in ("report", "REPORT", "RePoRt", "port"):
        found = {t["id"] for t in (await _list(client, alice, q=q))["items"]}
        assert found == {in_title["id"], in_description["id"]}, q
    assert (await _list(client, alice, q="ÜBER"))["items"] == []


async def test_search_folds_case_beyond_ascii(client: httpx.AsyncClient, alice: User) -> None:
    task = await create_task(client, alice, "Über Straße")
    assert [t["id"] for t in (await _list(client, alice, q="über"))["items"]] == [task["id"]]


async def test_search_does_not_match_across_the_title_and_description(
    client: httpx.AsyncClient, alice: User
) -> None:
    """The folded search text joins both fields; a match must still lie within one of them."""
    await create_task(client, alice, "pay the", description="rent today")
    assert (await _list(client, alice, q="the rent"))["items"] == []
    assert (await _list(client, alice, q="e\x1fr"))["items"] == []


async def test_search_follows_an_edited_title(client: httpx.AsyncClient, alice: User) -> None:
    task = await create_task(client, alice, "Call the plumber")
    edited = await client.patch(
        f"{alice.tasks_url}/{task['id']}",
        headers=alice.headers,
        json={"title": "Call the ELECTRICIAN"},
    )
    assert edited.status_code == 200
    assert (await _list(client, alice, q="plumber"))["items"] == []
    assert [t["id"] for t in (await _list(client, alice, q="electrician"))["items"]] == [task["id"]]


async def test_a_cursor_from_one_sort_is_refused_by_another(
    client: httpx.AsyncClient, alice: User, arranged: list[dict[str, Any]]
) -> None:
    for sort in SORTS:
        cursor = (await _list(client, alice, sort=sort, limit=1))["next_cursor"]
        assert cursor is not None
        for other in SORTS:
            if other == sort:
                continue
            response = await client.get(
                alice.tasks_url, headers=alice.headers, params={"sort": other, "cursor": cursor}
            )
            assert response.status_code == 422, (sort, other)
            assert error_body(response)["code"] == "invalid_cursor"


GARBAGE_CURSORS = {
    "empty": "",
    "words": "garbage",
    "punctuation": "!!!***",
    "padding only": "====",
    "not json": base64.urlsafe_b64encode(b"not json").decode(),
    "invalid utf-8": base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(),
    "object": base64.urlsafe_b64encode(b'{"sort": "-created_at"}').decode(),
    "too short": _cursor("-created_at", "2024-05-01T12:00:00+00:00"),
    "too long": _cursor("-created_at", "2024-05-01T12:00:00+00:00", str(uuid.uuid4()), 1),
    "number value": _cursor("-created_at", 5, str(uuid.uuid4())),
    "null value": _cursor("-created_at", None, str(uuid.uuid4())),
    "not a date": _cursor("-created_at", "yesterday", str(uuid.uuid4())),
    "naive date": _cursor("-created_at", "2024-05-01T12:00:00", str(uuid.uuid4())),
    "not a uuid": _cursor("-created_at", "2024-05-01T12:00:00+00:00", "x"),
    "sql": _cursor("-created_at", "2024-05-01T12:00:00+00:00'; DROP TABLE task; --", "x"),
    "deep": base64.urlsafe_b64encode(b"[" * 600 + b"]" * 600).decode(),
    "year 1 east of utc": _cursor("-created_at", "0001-01-01T00:00:00+14:00", str(uuid.uuid4())),
    "year 9999 west of utc": _cursor("-created_at", "9999-12-31T23:59:59-14:00", str(uuid.uuid4())),
    "huge": "A" * 2000,
}


@pytest.mark.parametrize("cursor", GARBAGE_CURSORS.values(), ids=GARBAGE_CURSORS.keys())
async def test_a_garbage_cursor_is_refused(
    client: httpx.AsyncClient, alice: User, cursor: str
) -> None:
    response = await client.get(alice.tasks_url, headers=alice.headers, params={"cursor": cursor})
    assert response.status_code == 422, response.text
    error_body(response)


@pytest.mark.parametrize(
    "value", ["\u0000", "a\u0000b", "\ud800", "x\udfffy"], ids=["NUL", "NUL inside", "hi", "lo"]
)
async def test_a_title_cursor_holding_text_postgres_cannot_store_is_refused(
    client: httpx.AsyncClient, alice: User, value: str
) -> None:
    cursor = base64.urlsafe_b64encode(
        json.dumps(["title", value, str(uuid.uuid4())]).encode()
    ).decode()
    response = await client.get(
        alice.tasks_url, headers=alice.headers, params={"sort": "title", "cursor": cursor}
    )
    assert response.status_code == 422, response.text
    error_body(response)


async def test_a_cursor_carries_no_access_to_its_owners_rows(
    client: httpx.AsyncClient, alice: User, bob: User, arranged: list[dict[str, Any]]
) -> None:
    alices_cursor = (await _list(client, alice, sort="title", limit=1))["next_cursor"]
    page = await _list(client, bob, sort="title", cursor=alices_cursor)
    alices_ids = {str(r["id"]) for r in arranged}
    assert page["items"]
    assert not {t["id"] for t in page["items"]} & alices_ids
