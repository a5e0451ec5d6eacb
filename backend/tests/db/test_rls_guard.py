"""The startup guard: the API refuses to serve when RLS could not confine users.

SECURITY.md, "Access control (BOLA)": at startup, refuse to run when the app
role is superuser, BYPASSRLS or the table owner, or when a user table lacks
forced RLS. Table changes happen in a scratch database; role changes are
cluster-wide, so each is undone in a ``finally``.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tandem.config import Settings
from tandem.db import APP_ROLE
from tandem.rls_guard import UnsafeDatabase
from tests.conftest import User, make_settings
from tests.db.conftest import UserIn, login_role, principal, run_sql, with_login
from tests.support.apps import serving
from tests.support.database import OWNER, MigratedDatabase
from tests.support.jwks_server import JWKSServer
from tests.support.rows import task_row


async def _refuses_to_start(settings: Settings, reason: str) -> None:
    with pytest.raises(UnsafeDatabase, match=reason):
        async with serving(settings):
            pytest.fail("the app started")


@asynccontextmanager
async def _app_role_altered(
    superuser_engine: AsyncEngine, change: str, undo: str
) -> AsyncIterator[None]:
    await run_sql(superuser_engine, f"ALTER ROLE {APP_ROLE} {change}")
    try:
        yield
    finally:
        await run_sql(superuser_engine, f"ALTER ROLE {APP_ROLE} {undo}")


@pytest.mark.parametrize(
    ("change", "undo"), [("SUPERUSER", "NOSUPERUSER"), ("BYPASSRLS", "NOBYPASSRLS")]
)
async def test_refuses_when_the_app_role_can_bypass_rls(
    database: MigratedDatabase, superuser_engine: AsyncEngine, change: str, undo: str
) -> None:
    async with _app_role_altered(superuser_engine, change, undo):
        await _refuses_to_start(make_settings(database), "superuser or has BYPASSRLS")


async def test_refuses_a_superuser_login(database: MigratedDatabase) -> None:
    settings = make_settings(database, api_database_url=database.superuser_url)
    await _refuses_to_start(settings, "superuser or has BYPASSRLS")


async def test_refuses_a_login_with_bypassrls(
    database: MigratedDatabase, superuser_engine: AsyncEngine
) -> None:
    async with login_role(superuser_engine, database, f"BYPASSRLS IN ROLE {APP_ROLE}") as url:
        await _refuses_to_start(
            make_settings(database, api_database_url=url), "superuser or has BYPASSRLS"
        )


async def test_refuses_a_superuser_login_role_behind_the_role_switch(
    database: MigratedDatabase, jwks: JWKSServer
) -> None:
    """With only DATABASE_URL the API logs in and switches to tandem_app per transaction:
    current_user is then harmless, but a superuser login could leave the switch."""
    settings = make_settings(database, database_url=database.superuser_url, jwks_url=jwks.url)
    await _refuses_to_start(settings, "login role postgres is a superuser or has BYPASSRLS")


async def test_refuses_a_bypassrls_login_role_behind_the_role_switch(
    database: MigratedDatabase, superuser_engine: AsyncEngine, jwks: JWKSServer
) -> None:
    async with login_role(superuser_engine, database, f"BYPASSRLS IN ROLE {APP_ROLE}") as url:
        settings = make_settings(database, database_url=url, jwks_url=jwks.url)
        await _refuses_to_start(settings, "login role api_login_.* is a superuser or has BYPASSRLS")


async def test_starts_with_a_plain_login_role_behind_the_role_switch(
    database: MigratedDatabase, superuser_engine: AsyncEngine, jwks: JWKSServer
) -> None:
    """The control for the two above: the same login without BYPASSRLS starts."""
    async with login_role(superuser_engine, database, f"IN ROLE {APP_ROLE}") as url:
        settings = make_settings(database, database_url=url, jwks_url=jwks.url)
        async with serving(settings) as (_app, http):
            assert (await http.get("/ready")).status_code == 200


async def test_refuses_when_the_app_role_owns_the_table(
    scratch_database: MigratedDatabase, scratch_superuser: AsyncEngine
) -> None:
    await run_sql(scratch_superuser, f"ALTER TABLE task OWNER TO {APP_ROLE}")
    await _refuses_to_start(make_settings(scratch_database), "owns table task")


async def test_refuses_the_owner_as_the_api_login(database: MigratedDatabase) -> None:
    settings = make_settings(database, api_database_url=database.owner_url)
    await _refuses_to_start(settings, "owns table")


async def test_refuses_a_login_that_can_act_as_the_owner(
    database: MigratedDatabase, superuser_engine: AsyncEngine
) -> None:
    async with login_role(superuser_engine, database, f"IN ROLE {APP_ROLE}, {OWNER}") as url:
        await _refuses_to_start(make_settings(database, api_database_url=url), "owns table")


@pytest.mark.parametrize(
    "statements",
    [
        ["ALTER TABLE task NO FORCE ROW LEVEL SECURITY"],
        ["ALTER TABLE task DISABLE ROW LEVEL SECURITY"],
        # Another table whose rows belong to users, created without RLS or without FORCE.
        ['CREATE TABLE note (id int PRIMARY KEY, user_id text REFERENCES "user")'],
        [
            "CREATE TABLE note (id int PRIMARY KEY, user_id text)",
            "ALTER TABLE note ENABLE ROW LEVEL SECURITY",
        ],
    ],
    ids=["task not forced", "task disabled", "new table without rls", "new table not forced"],
)
async def test_refuses_a_user_table_without_forced_rls(
    scratch_database: MigratedDatabase, scratch_superuser: AsyncEngine, statements: list[str]
) -> None:
    await run_sql(scratch_superuser, *statements)
    await _refuses_to_start(make_settings(scratch_database), "lacks enabled and forced")


async def test_refuses_a_database_without_the_task_table(
    scratch_database: MigratedDatabase, scratch_superuser: AsyncEngine
) -> None:
    await run_sql(scratch_superuser, "DROP TABLE task")
    await _refuses_to_start(make_settings(scratch_database), "task is missing")


async def test_starts_on_a_scratch_database_that_is_left_as_migrated(
    scratch_database: MigratedDatabase, jwks: JWKSServer
) -> None:
    """The control for the tests above: their scratch databases fail only by their change."""
    async with serving(make_settings(scratch_database, jwks_url=jwks.url)) as (_app, http):
        assert (await http.get("/ready")).status_code == 200


async def _works_as_the_app_role(
    settings: Settings, user: User, other: User, superuser_engine: AsyncEngine
) -> None:
    async with serving(settings) as (app, http):
        created = await http.post(user.tasks_url, headers=user.headers, json={"title": "via login"})
        assert created.status_code == 201, created.text
        listed = await http.get(user.tasks_url, headers=user.headers)
        assert [t["id"] for t in listed.json()["items"]] == [created.json()["id"]]
        assert (await http.get(other.tasks_url, headers=user.headers)).status_code == 403
        async with app.state.database.user_transaction(principal(user)) as connection:
            who = await connection.fetchrow("SELECT current_user, session_user")
    row = await task_row(superuser_engine, created.json()["id"])
    assert row is not None
    assert row["user_id"] == user.id
    assert who[0] == who[1] != OWNER  # no role switch: the login is the app role


async def test_starts_and_works_with_a_login_that_is_a_member_of_the_app_role(
    scratch_database: MigratedDatabase,
    scratch_superuser: AsyncEngine,
    superuser_engine: AsyncEngine,
    user_in: UserIn,
    jwks: JWKSServer,
) -> None:
    alice, bob = await user_in(scratch_superuser), await user_in(scratch_superuser)
    async with login_role(superuser_engine, scratch_database, f"IN ROLE {APP_ROLE}") as url:
        settings = make_settings(scratch_database, api_database_url=url, jwks_url=jwks.url)
        await _works_as_the_app_role(settings, alice, bob, scratch_superuser)


async def test_starts_and_works_logged_in_as_the_app_role_itself(
    scratch_database: MigratedDatabase,
    scratch_superuser: AsyncEngine,
    superuser_engine: AsyncEngine,
    user_in: UserIn,
    jwks: JWKSServer,
) -> None:
    alice, bob = await user_in(scratch_superuser), await user_in(scratch_superuser)
    password = secrets.token_hex(16)
    async with _app_role_altered(
        superuser_engine, f"LOGIN PASSWORD '{password}'", "NOLOGIN PASSWORD NULL"
    ):
        url = with_login(scratch_database.owner_url, APP_ROLE, password)
        settings = make_settings(scratch_database, api_database_url=url, jwks_url=jwks.url)
        await _works_as_the_app_role(settings, alice, bob, scratch_superuser)
