"""Row-level security, exercised directly through the API's own transactions.

SECURITY.md, "Access control (BOLA)": a query with no user filter inside A's
transaction sees only A's rows; a transaction with no user context sees none
and cannot insert; on a pool of one connection the user context does not
survive its transaction. These tests skip the routes and the services on
purpose: they show that the database confines users even when a query forgets
its ``WHERE``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tandem.db import APP_ROLE, Database
from tandem.db_url import async_driver_url
from tests.conftest import User, make_settings
from tests.db.conftest import principal
from tests.support.database import OWNER, MigratedDatabase
from tests.support.rows import insert_task, task_row


@pytest_asyncio.fixture
async def db(database: MigratedDatabase) -> AsyncIterator[Database]:
    """The API's database layer, logged in as the owner (``SET LOCAL ROLE`` per transaction)."""
    instance = Database(make_settings(database))
    await instance.open()
    yield instance
    await instance.close()


@pytest_asyncio.fixture
async def rows(superuser_engine: AsyncEngine, alice: User, bob: User) -> dict[str, list[uuid.UUID]]:
    """Two tasks each for Alice and Bob, arranged past RLS."""
    return {
        user.id: [
            await insert_task(superuser_engine, user_id=user.id, title=f"{name} {n}")
            for n in range(2)
        ]
        for user, name in ((alice, "alice"), (bob, "bob"))
    }


async def test_a_query_without_a_user_filter_sees_only_the_callers_rows(
    db: Database, alice: User, rows: dict[str, list[uuid.UUID]]
) -> None:
    async with db.user_transaction(principal(alice)) as connection:
        seen = await connection.fetch("SELECT id, user_id FROM task")
        count = await connection.fetchval("SELECT count(*) FROM task")
    assert {user_id for _, user_id in seen} == {alice.id}
    assert sorted(task_id for task_id, _ in seen) == sorted(rows[alice.id])
    assert count == 2


async def test_the_transaction_really_runs_as_the_app_role(db: Database, alice: User) -> None:
    async with db.user_transaction(principal(alice)) as connection:
        who = await connection.fetchrow(
            "SELECT current_user, session_user, current_setting('app.user_id')"
        )
    assert tuple(who) == (APP_ROLE, OWNER, alice.id)


async def test_no_user_context_sees_no_rows_and_cannot_insert(
    db: Database, alice: User, rows: dict[str, list[uuid.UUID]], superuser_engine: AsyncEngine
) -> None:
    async with superuser_engine.connect() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM task")) >= 4

    async with db.app_role_transaction() as connection:
        assert await connection.fetchval("SELECT current_user") == APP_ROLE
        assert await connection.fetchval("SELECT count(*) FROM task") == 0

    for insert, args in (
        ("INSERT INTO task (user_id, title) VALUES ($1, 'planted')", (alice.id,)),
        # user_id defaults to the (empty) context
        ("INSERT INTO task (title) VALUES ('planted')", ()),
    ):
        with pytest.raises(asyncpg.PostgresError):
            async with db.app_role_transaction() as connection:
                await connection.execute(insert, *args)
    async with superuser_engine.connect() as connection:
        planted = await connection.scalar(text("SELECT count(*) FROM task WHERE title = 'planted'"))
    assert planted == 0


async def test_an_empty_user_context_counts_as_none(
    db: Database, rows: dict[str, list[uuid.UUID]]
) -> None:
    async with db.app_role_transaction() as connection:
        await connection.execute("SELECT set_config('app.user_id', '', true)")
        assert await connection.fetchval("SELECT count(*) FROM task") == 0


async def test_another_users_rows_cannot_be_updated_or_deleted(
    db: Database,
    alice: User,
    bob: User,
    rows: dict[str, list[uuid.UUID]],
    superuser_engine: AsyncEngine,
) -> None:
    bobs = rows[bob.id][0]
    before = await task_row(superuser_engine, bobs)
    attempts = [
        ("UPDATE task SET title = 'taken', completed = true WHERE id = $1 RETURNING id", bobs),
        ("UPDATE task SET title = 'taken' WHERE user_id = $1 RETURNING id", bob.id),
        ("DELETE FROM task WHERE id = $1 RETURNING id", bobs),
        ("DELETE FROM task WHERE user_id <> $1 RETURNING id", alice.id),
    ]
    async with db.user_transaction(principal(alice)) as connection:
        for statement, value in attempts:
            assert await connection.fetch(statement, value) == [], statement
    assert await task_row(superuser_engine, bobs) == before


async def test_a_row_for_another_user_is_refused_by_with_check(
    db: Database,
    alice: User,
    bob: User,
    rows: dict[str, list[uuid.UUID]],
    superuser_engine: AsyncEngine,
) -> None:
    with pytest.raises(asyncpg.PostgresError, match="row-level security"):
        async with db.user_transaction(principal(alice)) as connection:
            await connection.execute(
                "INSERT INTO task (user_id, title) VALUES ($1, 'planted')", bob.id
            )
    # Nor can Alice hand one of her own rows over to Bob.
    alices = rows[alice.id][0]
    with pytest.raises(asyncpg.PostgresError, match="row-level security"):
        async with db.user_transaction(principal(alice)) as connection:
            await connection.execute("UPDATE task SET user_id = $1 WHERE id = $2", bob.id, alices)
    row = await task_row(superuser_engine, alices)
    assert row is not None
    assert row["user_id"] == alice.id
    async with superuser_engine.connect() as connection:
        planted = await connection.scalar(text("SELECT count(*) FROM task WHERE title = 'planted'"))
    assert planted == 0


async def test_on_a_pool_of_one_the_user_context_does_not_outlive_its_transaction(
    database: MigratedDatabase, alice: User, bob: User, rows: dict[str, list[uuid.UUID]]
) -> None:
    db = Database(make_settings(database, db_pool_size=1))
    await db.open()
    try:
        async with db.user_transaction(principal(alice)) as connection:
            alice_pid = await connection.fetchval("SELECT pg_backend_pid()")
            alice_sees = {row[0] for row in await connection.fetch("SELECT user_id FROM task")}
        async with db.user_transaction(principal(bob)) as connection:
            bob_pid = await connection.fetchval("SELECT pg_backend_pid()")
            bob_sees = [row[0] for row in await connection.fetch("SELECT id FROM task")]
        # The same connection, checked out again outside any API transaction.
        async with db.pool.acquire() as connection:
            after = await connection.fetchrow(
                "SELECT pg_backend_pid(), current_setting('app.user_id', true), "
                "current_user, (SELECT count(*) FROM task)"
            )
    finally:
        await db.close()

    assert alice_pid == bob_pid == after[0], "the pool of one must reuse its connection"
    assert alice_sees == {alice.id}
    assert sorted(bob_sees) == sorted(rows[bob.id])
    assert after[1] in {None, ""}
    assert after[2] == OWNER  # back to the login role, not tandem_app
    assert after[3] == 0  # and as the owner, forced RLS still shows nothing


async def test_a_failed_transaction_leaves_no_user_context_behind(
    database: MigratedDatabase, alice: User, rows: dict[str, list[uuid.UUID]]
) -> None:
    db = Database(make_settings(database, db_pool_size=1))
    await db.open()
    try:
        with pytest.raises(RuntimeError):
            async with db.user_transaction(principal(alice)):
                raise RuntimeError("the request failed")
        async with db.app_role_transaction() as connection:
            context = await connection.fetchval("SELECT current_setting('app.user_id', true)")
            count = await connection.fetchval("SELECT count(*) FROM task")
    finally:
        await db.close()
    assert context in {None, ""}
    assert count == 0


async def test_forced_rls_confines_even_the_table_owner(
    database: MigratedDatabase, alice: User, rows: dict[str, list[uuid.UUID]]
) -> None:
    """Without ``SET ROLE`` the owner is still subject to the policy (FORCE ROW LEVEL SECURITY)."""
    owner = create_async_engine(async_driver_url(database.owner_url))
    try:
        async with owner.begin() as connection:
            assert await connection.scalar(text("SELECT current_user")) == OWNER
            assert await connection.scalar(text("SELECT count(*) FROM task")) == 0
            await connection.execute(
                text("SELECT set_config('app.user_id', :sub, true)"), {"sub": alice.id}
            )
            seen = set(await connection.scalars(text("SELECT user_id FROM task")))
    finally:
        await owner.dispose()
    assert seen == {alice.id}
