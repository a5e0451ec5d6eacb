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

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
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
    async with db.user_transaction(principal(alice)) as session:
        seen = (await session.execute(text("SELECT id, user_id FROM task"))).all()
        count = await session.scalar(text("SELECT count(*) FROM task"))
    assert {user_id for _, user_id in seen} == {alice.id}
    assert sorted(task_id for task_id, _ in seen) == sorted(rows[alice.id])
    assert count == 2


async def test_the_transaction_really_runs_as_the_app_role(db: Database, alice: User) -> None:
    async with db.user_transaction(principal(alice)) as session:
        who = (
            await session.execute(
                text("SELECT current_user, session_user, current_setting('app.user_id')")
            )
        ).one()
    assert tuple(who) == (APP_ROLE, OWNER, alice.id)


async def test_no_user_context_sees_no_rows_and_cannot_insert(
    db: Database, alice: User, rows: dict[str, list[uuid.UUID]], superuser_engine: AsyncEngine
) -> None:
    async with superuser_engine.connect() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM task")) >= 4

    async with db.app_role_transaction() as session:
        assert await session.scalar(text("SELECT current_user")) == APP_ROLE
        assert await session.scalar(text("SELECT count(*) FROM task")) == 0

    for insert in (
        "INSERT INTO task (user_id, title) VALUES (:user_id, 'planted')",
        "INSERT INTO task (title) VALUES ('planted')",  # user_id defaults to the (empty) context
    ):
        with pytest.raises(DBAPIError):
            async with db.app_role_transaction() as session:
                await session.execute(text(insert), {"user_id": alice.id})
    async with superuser_engine.connect() as connection:
        planted = await connection.scalar(text("SELECT count(*) FROM task WHERE title = 'planted'"))
    assert planted == 0


async def test_an_empty_user_context_counts_as_none(
    db: Database, rows: dict[str, list[uuid.UUID]]
) -> None:
    async with db.app_role_transaction() as session:
        await session.execute(text("SELECT set_config('app.user_id', '', true)"))
        assert await session.scalar(text("SELECT count(*) FROM task")) == 0


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
        "UPDATE task SET title = 'taken', completed = true WHERE id = :bobs RETURNING id",
        "UPDATE task SET title = 'taken' WHERE user_id = :bob RETURNING id",
        "DELETE FROM task WHERE id = :bobs RETURNING id",
        "DELETE FROM task WHERE user_id <> :alice RETURNING id",
    ]
    async with db.user_transaction(principal(alice)) as session:
        for statement in attempts:
            affected = await session.scalars(
                text(statement), {"bobs": bobs, "bob": bob.id, "alice": alice.id}
            )
            assert affected.all() == [], statement
    assert await task_row(superuser_engine, bobs) == before


async def test_a_row_for_another_user_is_refused_by_with_check(
    db: Database,
    alice: User,
    bob: User,
    rows: dict[str, list[uuid.UUID]],
    superuser_engine: AsyncEngine,
) -> None:
    with pytest.raises(DBAPIError, match="row-level security"):
        async with db.user_transaction(principal(alice)) as session:
            await session.execute(
                text("INSERT INTO task (user_id, title) VALUES (:bob, 'planted')"), {"bob": bob.id}
            )
    # Nor can Alice hand one of her own rows over to Bob.
    alices = rows[alice.id][0]
    with pytest.raises(DBAPIError, match="row-level security"):
        async with db.user_transaction(principal(alice)) as session:
            await session.execute(
                text("UPDATE task SET user_id = :bob WHERE id = :id"), {"bob": bob.id, "id": alices}
            )
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
    try:
        async with db.user_transaction(principal(alice)) as session:
            alice_pid = await session.scalar(text("SELECT pg_backend_pid()"))
            alice_sees = set(await session.scalars(text("SELECT user_id FROM task")))
        async with db.user_transaction(principal(bob)) as session:
            bob_pid = await session.scalar(text("SELECT pg_backend_pid()"))
            bob_sees = list(await session.scalars(text("SELECT id FROM task")))
        # The same connection, checked out again outside any API transaction.
        async with db.engine.connect() as connection:
            after = (
                await connection.execute(
                    text(
                        "SELECT pg_backend_pid(), current_setting('app.user_id', true), "
                        "current_user, (SELECT count(*) FROM task)"
                    )
                )
            ).one()
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
    try:
        with pytest.raises(RuntimeError):
            async with db.user_transaction(principal(alice)):
                raise RuntimeError("the request failed")
        async with db.app_role_transaction() as session:
            context = await session.scalar(text("SELECT current_setting('app.user_id', true)"))
            count = await session.scalar(text("SELECT count(*) FROM task"))
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
