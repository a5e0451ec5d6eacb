"""Idempotent creates: one ``Idempotency-Key``, one task, however often it is retried.

SECURITY.md "Faults": a POST retried with the same ``Idempotency-Key`` →
exactly one task. Issue 5, item 1: keys are per user, stored in PostgreSQL in
the task's own transaction, and count for 24 hours; the same key with the same
body replays the original 201 and its body, with another body it gets 422.
Every count here is read as the superuser, past row-level security.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tandem.main import create_app
from tandem.tasks.etag import etag_for
from tandem.tasks.purge import IdempotencyPurge
from tandem.tasks.schemas import Task
from tests.conftest import MakeUser, User, client_for, make_settings
from tests.support.apps import serving
from tests.support.database import MigratedDatabase
from tests.support.jwks_server import JWKSServer
from tests.support.rows import task_rows_of
from tests.tasks.helpers import error_body

REPLAYED = "idempotent-replayed"


def new_key() -> str:
    return f"key-{secrets.token_hex(8)}"


async def post(
    client: httpx.AsyncClient, user: User, key: str | bytes | None, body: Any
) -> httpx.Response:
    headers: dict[str, Any] = dict(user.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post(user.tasks_url, headers=headers, json=body)


async def key_rows(engine: AsyncEngine, user_id: str) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT key, request_hash, response_status, response_body, created_at "
                "FROM idempotency_key WHERE user_id = :user_id ORDER BY created_at, key"
            ),
            {"user_id": user_id},
        )
        return [dict(row._mapping) for row in rows]


def assert_first_create(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    assert REPLAYED not in response.headers
    task: dict[str, Any] = response.json()
    assert response.headers["etag"] == etag_for(Task.model_validate(task).updated_at)
    return task


def assert_replay_of(response: httpx.Response, original: httpx.Response) -> None:
    assert response.status_code == 201, response.text
    assert response.headers[REPLAYED] == "true"
    assert response.json() == original.json()
    assert response.headers["etag"] == original.headers["etag"]
    assert response.headers["cache-control"] == "no-store"


async def test_a_retry_with_the_same_key_replays_the_original_and_creates_one_task(
    client: httpx.AsyncClient, alice: User, superuser_engine: AsyncEngine
) -> None:
    key, body = new_key(), {"title": "pay rent", "description": "before the 5th"}
    first = await post(client, alice, key, body)
    task = assert_first_create(first)

    for _ in range(3):
        assert_replay_of(await post(client, alice, key, body), first)

    rows = await task_rows_of(superuser_engine, alice.id)
    assert [str(row["id"]) for row in rows] == [task["id"]]
    keys = await key_rows(superuser_engine, alice.id)
    assert [(k["key"], k["response_status"], k["response_body"]) for k in keys] == [
        (key, 201, task)
    ]


async def test_an_equivalent_body_counts_as_the_same_request(
    client: httpx.AsyncClient, alice: User, superuser_engine: AsyncEngine
) -> None:
    """Field order and an explicit ``"description": null`` do not make another request."""
    key = new_key()
    first = await post(client, alice, key, {"title": "t"})
    assert_first_create(first)
    assert_replay_of(await post(client, alice, key, {"description": None, "title": "t"}), first)
    assert len(await task_rows_of(superuser_engine, alice.id)) == 1


async def test_a_replay_returns_the_original_response_even_after_the_task_changed(
    client: httpx.AsyncClient, alice: User
) -> None:
    """A retry settles what the first request did."""
    key, body = new_key(), {"title": "draft"}
    first = await post(client, alice, key, body)
    task = assert_first_create(first)

    url = f"{alice.tasks_url}/{task['id']}"
    patched = await client.patch(url, headers=alice.headers, json={"title": "final"})
    assert patched.status_code == 200
    assert_replay_of(await post(client, alice, key, body), first)


async def test_deleting_a_task_drops_its_stored_body_and_a_retry_gets_404(
    client: httpx.AsyncClient, alice: User, superuser_engine: AsyncEngine
) -> None:
    """The stored response held the task's whole text; once the task is deleted, the key
    keeps only its verdict: a retry neither sees the text nor re-creates the task."""
    key, body = new_key(), {"title": "a private thought", "description": "deleted text"}
    task = assert_first_create(await post(client, alice, key, body))
    other_key = new_key()
    assert_first_create(await post(client, alice, other_key, {"title": "kept"}))

    url = f"{alice.tasks_url}/{task['id']}"
    assert (await client.delete(url, headers=alice.headers)).status_code == 204

    stored = {row["key"]: row for row in await key_rows(superuser_engine, alice.id)}
    assert (stored[key]["response_status"], stored[key]["response_body"]) == (404, None)
    assert stored[other_key]["response_body"]["title"] == "kept"
    retry = await post(client, alice, key, body)
    assert retry.status_code == 404
    assert error_body(retry)["code"] == "not_found"
    assert [row["title"] for row in await task_rows_of(superuser_engine, alice.id)] == ["kept"]


async def test_the_same_key_with_another_body_is_422_and_creates_nothing(
    client: httpx.AsyncClient, alice: User, superuser_engine: AsyncEngine
) -> None:
    key = new_key()
    first = await post(client, alice, key, {"title": "one"})
    task = assert_first_create(first)

    for other in ({"title": "two"}, {"title": "one", "description": "more"}):
        reused = await post(client, alice, key, other)
        assert reused.status_code == 422, reused.text
        assert error_body(reused) == {
            "detail": "This Idempotency-Key was already used with a different request body",
            "code": "idempotency_key_reused",
        }
        assert REPLAYED not in reused.headers

    assert [str(row["id"]) for row in await task_rows_of(superuser_engine, alice.id)] == [
        task["id"]
    ]
    # The key still belongs to the first request.
    assert_replay_of(await post(client, alice, key, {"title": "one"}), first)


async def test_twenty_concurrent_duplicates_create_one_task(
    eddsa_app: FastAPI, jwks: JWKSServer, alice: User, superuser_engine: AsyncEngine
) -> None:
    key, body = new_key(), {"title": "once", "description": "only once"}
    clients = [client_for(eddsa_app) for _ in range(20)]
    try:
        responses = await asyncio.gather(*(post(c, alice, key, body) for c in clients))
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))

    assert [r.status_code for r in responses] == [201] * 20, [r.text for r in responses]
    # The same JSON (a replay comes from jsonb, whose key order is its own).
    assert all(r.json() == responses[0].json() for r in responses)
    assert len({r.headers["etag"] for r in responses}) == 1
    assert sum(REPLAYED not in r.headers for r in responses) == 1  # exactly one created it
    rows = await task_rows_of(superuser_engine, alice.id)
    assert [str(row["id"]) for row in rows] == [responses[0].json()["id"]]
    assert len(await key_rows(superuser_engine, alice.id)) == 1


async def test_concurrent_requests_with_one_key_and_two_bodies_create_one_task(
    eddsa_app: FastAPI, jwks: JWKSServer, alice: User, superuser_engine: AsyncEngine
) -> None:
    """Whichever body claims the key first wins; the other body's requests all get 422."""
    key = new_key()
    bodies = [{"title": "A"}, {"title": "B"}] * 10
    clients = [client_for(eddsa_app) for _ in bodies]
    try:
        sends = (post(c, alice, key, b) for c, b in zip(clients, bodies, strict=True))
        responses = await asyncio.gather(*sends)
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))

    rows = await task_rows_of(superuser_engine, alice.id)
    assert len(rows) == 1
    winner = rows[0]["title"]
    for body, response in zip(bodies, responses, strict=True):
        if body["title"] == winner:
            assert response.status_code == 201, response.text
            assert response.json()["id"] == str(rows[0]["id"])
        else:
            assert response.status_code == 422, response.text
            assert response.json()["code"] == "idempotency_key_reused"


async def test_keys_are_per_user(
    client: httpx.AsyncClient, alice: User, bob: User, superuser_engine: AsyncEngine
) -> None:
    """Bob's request with Alice's key is his own request: it never reaches her task."""
    key, body = new_key(), {"title": "same words"}
    alices = assert_first_create(await post(client, alice, key, body))
    bobs_first = await post(client, bob, key, body)
    bobs = assert_first_create(bobs_first)
    assert bobs["id"] != alices["id"]

    # Another body under the same key is not a reuse for Bob: her key is not his.
    other = await post(client, bob, new_key(), {"title": "unrelated"})
    assert other.status_code == 201
    retry = await post(client, bob, key, body)
    assert_replay_of(retry, bobs_first)
    assert alices["id"] not in retry.text

    carol_key = new_key()
    assert_first_create(await post(client, alice, carol_key, {"title": "hers"}))
    bobs_try = await post(client, bob, carol_key, {"title": "his"})  # no oracle, no 422
    assert_first_create(bobs_try)
    assert alices["id"] not in bobs_try.text

    alice_rows = await task_rows_of(superuser_engine, alice.id)
    bob_rows = await task_rows_of(superuser_engine, bob.id)
    assert {row["title"] for row in alice_rows} == {"same words", "hers"}
    assert {row["title"] for row in bob_rows} == {"same words", "unrelated", "his"}
    assert {str(r["id"]) for r in alice_rows}.isdisjoint({str(r["id"]) for r in bob_rows})
    assert {k["key"] for k in await key_rows(superuser_engine, bob.id)} == {
        key,
        carol_key,
        other.request.headers["idempotency-key"],
    }


async def _age_key(engine: AsyncEngine, user_id: str, key: str, hours: int) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE idempotency_key SET created_at = now() - make_interval(hours => :hours) "
                "WHERE user_id = :user_id AND key = :key"
            ),
            {"user_id": user_id, "key": key, "hours": hours},
        )


async def test_a_key_counts_for_24_hours(
    client: httpx.AsyncClient, alice: User, superuser_engine: AsyncEngine
) -> None:
    key, body = new_key(), {"title": "daily"}
    first = await post(client, alice, key, body)
    original = assert_first_create(first)

    await _age_key(superuser_engine, alice.id, key, 23)
    assert_replay_of(await post(client, alice, key, body), first)

    await _age_key(superuser_engine, alice.id, key, 25)
    fresh = assert_first_create(await post(client, alice, key, body))
    assert fresh["id"] != original["id"]
    rows = await task_rows_of(superuser_engine, alice.id)
    assert {str(row["id"]) for row in rows} == {original["id"], fresh["id"]}
    (stored,) = await key_rows(superuser_engine, alice.id)
    assert stored["response_body"]["id"] == fresh["id"]

    # An expired key is also free for another body.
    await _age_key(superuser_engine, alice.id, key, 25)
    assert_first_create(await post(client, alice, key, {"title": "something else"}))
    assert len(await task_rows_of(superuser_engine, alice.id)) == 3


INVALID_KEYS: dict[str, str | bytes] = {
    "empty": "",
    "256_chars": "k" * 256,
    "far_too_long": "k" * 1000,
    "non_ascii": "clé-1".encode(),
    "non_ascii_utf8_emoji": "key-\N{GRINNING FACE}".encode(),
    "latin1_byte": b"key-\xe9",
    "space": "two words",
    "tab": "a\tb",
    "control_char": b"a\x01b",
    "escape": b"a\x1bb",
    "delete_char": b"a\x7fb",
    "vertical_tab": b"a\x0bb",
}


@pytest.mark.parametrize("name", list(INVALID_KEYS))
async def test_an_invalid_key_is_422_and_stores_nothing(
    client: httpx.AsyncClient, make_user: MakeUser, superuser_engine: AsyncEngine, name: str
) -> None:
    user = await make_user()
    response = await post(client, user, INVALID_KEYS[name], {"title": "t"})
    assert response.status_code == 422, response.text
    assert error_body(response)["code"] in {"invalid_idempotency_key", "validation_error"}
    assert await task_rows_of(superuser_engine, user.id) == []
    assert await key_rows(superuser_engine, user.id) == []


@pytest.mark.parametrize("key", ["k", "k" * 255, "~!#$%&'*+-.^_`|" + "0aZ", "00000000-0000-4000"])
async def test_keys_of_1_to_255_visible_ascii_characters_are_accepted(
    client: httpx.AsyncClient, make_user: MakeUser, superuser_engine: AsyncEngine, key: str
) -> None:
    user = await make_user()
    first = await post(client, user, key, {"title": "t"})
    assert_first_create(first)
    assert_replay_of(await post(client, user, key, {"title": "t"}), first)
    assert [k["key"] for k in await key_rows(superuser_engine, user.id)] == [key]


async def test_a_refused_create_leaves_its_key_free_for_the_corrected_retry(
    client: httpx.AsyncClient, alice: User, superuser_engine: AsyncEngine
) -> None:
    """Validation runs before the key is claimed, so a 422 stores nothing under the key."""
    key = new_key()
    for bad in ({"title": "x" * 201}, {"title": ""}, {"title": "t", "user_id": "x"}, [1]):
        refused = await post(client, alice, key, bad)
        assert refused.status_code == 422, refused.text
        assert error_body(refused)["code"] == "validation_error"
    assert await key_rows(superuser_engine, alice.id) == []

    corrected = await post(client, alice, key, {"title": "x" * 200})
    task = assert_first_create(corrected)
    assert_replay_of(await post(client, alice, key, {"title": "x" * 200}), corrected)
    assert [str(r["id"]) for r in await task_rows_of(superuser_engine, alice.id)] == [task["id"]]


async def test_a_create_that_fails_after_claiming_its_key_releases_it(
    database: MigratedDatabase, jwks: JWKSServer, alice: User, superuser_engine: AsyncEngine
) -> None:
    """The claim and the task commit or roll back together.

    A transaction that still holds the key (as a crashed or slow first attempt
    would) makes the retry wait past ``lock_timeout``: that is a 503, not a 500
    and not a second task. Once the holder rolls back, the key is free again.
    """
    key, body = new_key(), {"title": "after the failure"}
    settings = make_settings(database, jwks_url=jwks.url, db_statement_timeout_ms=400)
    async with serving(settings) as (_app, http), superuser_engine.connect() as holder:
        await holder.execute(
            text(
                "INSERT INTO idempotency_key (user_id, key, request_hash, response_status, "
                "response_body) VALUES (:user_id, :key, 'in-flight', 0, 'null')"
            ),
            {"user_id": alice.id, "key": key},
        )
        blocked = await post(http, alice, key, body)
        assert blocked.status_code == 503, blocked.text
        assert blocked.headers["retry-after"].isdigit()
        await holder.rollback()

        created = await post(http, alice, key, body)
        task = assert_first_create(created)
        assert_replay_of(await post(http, alice, key, body), created)
    assert [str(r["id"]) for r in await task_rows_of(superuser_engine, alice.id)] == [task["id"]]


async def test_without_a_key_every_post_creates_a_task(
    client: httpx.AsyncClient, alice: User, superuser_engine: AsyncEngine
) -> None:
    for _ in range(2):
        response = await post(client, alice, None, {"title": "no key"})
        assert_first_create(response)
    assert len(await task_rows_of(superuser_engine, alice.id)) == 2
    assert await key_rows(superuser_engine, alice.id) == []


async def _insert_key(engine: AsyncEngine, user_id: str, *, hours_old: int) -> str:
    key = new_key()
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO idempotency_key"
                " (user_id, key, request_hash, response_status, response_body, created_at)"
                " VALUES (:user_id, :key, 'h', 201, '{}', now() - make_interval(hours => :hours))"
            ),
            {"user_id": user_id, "key": key, "hours": hours_old},
        )
    return key


async def test_expired_keys_of_every_user_are_purged_in_bounded_batches(
    eddsa_app: FastAPI, make_user: MakeUser, superuser_engine: AsyncEngine
) -> None:
    """The API's role sees one user's rows at a time; the purge reaches every user's."""
    alice, bob = await make_user(), await make_user()
    expired = [await _insert_key(superuser_engine, who.id, hours_old=25) for who in (alice, bob)]
    expired += [await _insert_key(superuser_engine, alice.id, hours_old=30) for _ in range(3)]
    fresh = await _insert_key(superuser_engine, bob.id, hours_old=23)

    purge = IdempotencyPurge(eddsa_app.state.database, batch=2, max_batches=100)
    assert await purge.run_once() >= len(expired)

    left = {row["key"] for who in (alice, bob) for row in await key_rows(superuser_engine, who.id)}
    assert left == {fresh}


async def test_a_batch_is_bounded(
    eddsa_app: FastAPI, alice: User, superuser_engine: AsyncEngine
) -> None:
    for _ in range(5):
        await _insert_key(superuser_engine, alice.id, hours_old=48)
    purge = IdempotencyPurge(eddsa_app.state.database, batch=2, max_batches=1)
    assert await purge.run_once() == 2
    assert len(await key_rows(superuser_engine, alice.id)) == 3


async def test_the_api_purges_expired_keys_at_start_up(
    database: MigratedDatabase, jwks: JWKSServer, alice: User, superuser_engine: AsyncEngine
) -> None:
    stale = await _insert_key(superuser_engine, alice.id, hours_old=25)
    app = create_app(make_settings(database, jwks_url=jwks.url))
    async with app.router.lifespan_context(app):
        for _ in range(100):
            if stale not in {row["key"] for row in await key_rows(superuser_engine, alice.id)}:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the expired key survived the API's start-up")


async def test_the_api_role_cannot_purge_directly(
    eddsa_app: FastAPI, alice: User, superuser_engine: AsyncEngine
) -> None:
    """Only through the function: a plain DELETE by the API's role reaches no other user."""
    stale = await _insert_key(superuser_engine, alice.id, hours_old=25)
    async with eddsa_app.state.database.app_role_transaction() as connection:
        gone = await connection.execute(
            "DELETE FROM idempotency_key WHERE created_at < now() - interval '24 hours'"
        )
        assert gone == "DELETE 0"
    assert stale in {row["key"] for row in await key_rows(superuser_engine, alice.id)}
