"""Scratch databases in the session's cluster, for tests that change a schema or a role.

Each scratch database is the session's owner's, migrated by Alembic, and is
dropped afterwards, so breaking it cannot affect any other test.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from tandem_auth import Principal

from tandem.db_url import async_driver_url
from tests.conftest import User
from tests.support.database import OWNER, MigratedDatabase, migrate
from tests.support.rows import insert_user
from tests.support.tokens import SigningKey, claims_for, sign_eddsa


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def with_login(url: str, user: str, password: str) -> str:
    return make_url(url).set(username=user, password=password).render_as_string(hide_password=False)


def principal(user: User) -> Principal:
    """What the verifier would make of ``user``'s token."""
    return Principal(sub=user.id, sid=user.sid, email=None, name=None, kid=None, expires_at=0.0)


async def run_sql(engine: AsyncEngine, *statements: str) -> None:
    async with engine.begin() as connection:
        for statement in statements:
            await connection.execute(text(statement))


@asynccontextmanager
async def login_role(
    superuser_engine: AsyncEngine, database: MigratedDatabase, options: str
) -> AsyncIterator[str]:
    """A temporary login role created with ``options``; yields its URL for ``database``."""
    name, password = f"api_login_{secrets.token_hex(4)}", secrets.token_hex(16)
    await run_sql(superuser_engine, f"CREATE ROLE {name} LOGIN PASSWORD '{password}' {options}")
    try:
        yield with_login(database.owner_url, name, password)
    finally:
        await run_sql(superuser_engine, f"DROP ROLE {name}")


@asynccontextmanager
async def _new_database(
    database: MigratedDatabase, superuser_engine: AsyncEngine, *, template: str = "template1"
) -> AsyncIterator[MigratedDatabase]:
    """A database owned by the schema owner, copied from ``template``; dropped on exit."""
    name = f"scratch_{secrets.token_hex(6)}"
    admin = superuser_engine.execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(
            text(f'CREATE DATABASE "{name}" OWNER "{OWNER}" TEMPLATE "{template}"')
        )
    try:
        yield MigratedDatabase(
            owner_url=with_database(database.owner_url, name),
            superuser_url=with_database(database.superuser_url, name),
        )
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest_asyncio.fixture
async def empty_database(
    database: MigratedDatabase, superuser_engine: AsyncEngine
) -> AsyncIterator[MigratedDatabase]:
    """A new, empty database owned by the schema owner."""
    async with _new_database(database, superuser_engine) as empty:
        yield empty


@pytest_asyncio.fixture(scope="session")
async def _migrated_template(
    database: MigratedDatabase, superuser_engine: AsyncEngine
) -> AsyncIterator[str]:
    """One database migrated by Alembic, which scratch databases copy (copying is fast)."""
    async with _new_database(database, superuser_engine) as template:
        migrate(template.owner_url)
        yield make_url(template.owner_url).database or ""


@pytest_asyncio.fixture
async def scratch_database(
    database: MigratedDatabase, superuser_engine: AsyncEngine, _migrated_template: str
) -> AsyncIterator[MigratedDatabase]:
    """A database migrated to head that the test may break as it likes."""
    async with _new_database(database, superuser_engine, template=_migrated_template) as scratch:
        yield scratch


@pytest_asyncio.fixture
async def scratch_superuser(scratch_database: MigratedDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(async_driver_url(scratch_database.superuser_url))
    yield engine
    await engine.dispose()


UserIn = Callable[[AsyncEngine], Awaitable[User]]


@pytest_asyncio.fixture
async def user_in(signing_key: SigningKey) -> UserIn:
    """Make a user with a live session in the database ``engine`` reaches, and its token."""

    async def make(engine: AsyncEngine) -> User:
        user_id, sid = await insert_user(engine)
        return User(id=user_id, sid=sid, token=sign_eddsa(claims_for(user_id, sid), signing_key))

    return make
