"""The Alembic history: it goes down and up again, and it leaves RLS and grants as designed.

DESIGN.md §2 ("isolation", "database", "migrations"): RLS enabled and forced
with ``USING`` and ``WITH CHECK`` on ``app.user_id``; ``tandem_app`` is
neither superuser, BYPASSRLS nor owner, and may touch the rows of ``task``
and read only ``id``, ``"userId"`` and ``"expiresAt"`` of ``session`` (and
``id`` of ``"user"`` to check that a token's user still exists).
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from tandem_stack.throwaway import throwaway_postgres

from tandem.db import APP_ROLE
from tandem.db_url import async_driver_url
from tests.support.database import OWNER, MigratedDatabase, migrate, new_owner_password

BETTER_AUTH_TABLES = {"user", "session", "account", "verification", "jwks", "rateLimit"}
# Tables whose rows belong to one user; each must force RLS.
USER_TABLES = {"task", "idempotency_key"}
ALL_TABLES = BETTER_AUTH_TABLES | USER_TABLES | {"alembic_version"}

# Privileges granted to tandem_app, directly, on whole tables and on single columns.
EXPECTED_TABLE_GRANTS = {("task", p) for p in ("SELECT", "INSERT", "UPDATE", "DELETE")} | {
    ("idempotency_key", p) for p in ("SELECT", "INSERT", "DELETE")
}
EXPECTED_COLUMN_GRANTS = {
    ("session", "id", "SELECT"),
    ("session", "userId", "SELECT"),
    ("session", "expiresAt", "SELECT"),
    ("user", "id", "SELECT"),
}

_TABLE_GRANTS = text(
    """
    SELECT c.relname, acl.privilege_type
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
    CROSS JOIN LATERAL aclexplode(c.relacl) acl
    WHERE acl.grantee = (SELECT oid FROM pg_roles WHERE rolname = :role)
    """
)
_COLUMN_GRANTS = text(
    """
    SELECT c.relname, a.attname, acl.privilege_type
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
    CROSS JOIN LATERAL aclexplode(a.attacl) acl
    WHERE acl.grantee = (SELECT oid FROM pg_roles WHERE rolname = :role)
    """
)


@pytest_asyncio.fixture
async def inspector(scratch_database: MigratedDatabase) -> AsyncIterator[AsyncEngine]:
    """A superuser's view of the scratch database (migrated to head)."""
    engine = create_async_engine(async_driver_url(scratch_database.superuser_url))
    yield engine
    await engine.dispose()


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        rows = await connection.scalars(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        )
        return set(rows)


async def _owner_is_member_of_app_role(engine: AsyncEngine) -> bool:
    async with engine.connect() as connection:
        member: bool = await connection.scalar(
            text("SELECT pg_has_role(:owner, :role, 'MEMBER')"), {"owner": OWNER, "role": APP_ROLE}
        )
        return member


async def test_downgrade_to_base_then_upgrade_to_head(
    scratch_database: MigratedDatabase, inspector: AsyncEngine, superuser_engine: AsyncEngine
) -> None:
    assert await _tables(inspector) == ALL_TABLES
    migrate(scratch_database.owner_url, "base", command="downgrade")
    assert await _tables(inspector) == {"alembic_version"}
    # The membership is cluster-wide: other databases on the cluster still need it.
    assert await _owner_is_member_of_app_role(superuser_engine)
    migrate(scratch_database.owner_url)
    assert await _tables(inspector) == ALL_TABLES
    assert await _owner_is_member_of_app_role(inspector)
    await _assert_isolation_schema(inspector)


async def test_head_isolates_tasks_and_grants_least_privilege(inspector: AsyncEngine) -> None:
    await _assert_isolation_schema(inspector)


async def _assert_isolation_schema(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        user_tables = set(
            await connection.scalars(
                text(
                    "SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
                    "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' "
                    "AND a.attname = 'user_id' AND NOT a.attisdropped"
                )
            )
        )
        assert user_tables == USER_TABLES
        for table in sorted(user_tables):
            await _assert_forced_rls(connection, table)

        role = (
            await connection.execute(
                text(
                    "SELECT rolsuper, rolbypassrls, rolcanlogin, rolinherit, rolcreaterole, "
                    "rolcreatedb FROM pg_roles WHERE rolname = :role"
                ),
                {"role": APP_ROLE},
            )
        ).one()
        assert tuple(role) == (False, False, False, False, False, False)

        owned = await connection.scalar(
            text(
                "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
                "WHERE r.rolname = :role"
            ),
            {"role": APP_ROLE},
        )
        assert owned == 0
        acts_as_owner = await connection.scalar(
            text("SELECT pg_has_role(:role, :owner, 'MEMBER')"),
            {"role": APP_ROLE, "owner": OWNER},
        )
        assert acts_as_owner is False
        task_owner = await connection.scalar(
            text("SELECT tableowner FROM pg_tables WHERE tablename = 'task'")
        )
        assert task_owner == OWNER

        table_grants = {
            tuple(row) for row in await connection.execute(_TABLE_GRANTS, {"role": APP_ROLE})
        }
        column_grants = {
            tuple(row) for row in await connection.execute(_COLUMN_GRANTS, {"role": APP_ROLE})
        }
        assert table_grants == EXPECTED_TABLE_GRANTS
        assert column_grants == EXPECTED_COLUMN_GRANTS

        schema_rights = (
            await connection.execute(
                text(
                    "SELECT has_schema_privilege(:role, 'public', 'USAGE'), "
                    "has_schema_privilege(:role, 'public', 'CREATE')"
                ),
                {"role": APP_ROLE},
            )
        ).one()
        assert tuple(schema_rights) == (True, False)


async def _assert_forced_rls(connection: AsyncConnection, table: str) -> None:
    """RLS enabled and forced, under one policy for every command that checks both ways."""
    enabled, forced = (
        await connection.execute(
            text(
                "SELECT relrowsecurity, relforcerowsecurity FROM pg_class "
                "WHERE oid = CAST(:table AS regclass)"
            ),
            {"table": f"public.{table}"},
        )
    ).one()
    assert (enabled, forced) == (True, True), table

    policies = (
        await connection.execute(
            text(
                "SELECT permissive, roles, cmd, qual, with_check FROM pg_policies "
                "WHERE schemaname = 'public' AND tablename = :table"
            ),
            {"table": table},
        )
    ).all()
    # The schema owner's own policies (migration 0006's purge) reach expired rows only.
    everyone = [policy for policy in policies if list(policy.roles) == ["public"]]
    for _permissive, roles, cmd, using, _check in policies:
        if list(roles) != ["public"]:
            assert "tandem_app" not in roles, (table, roles)
            assert cmd in ("SELECT", "DELETE"), (table, cmd)
            assert "created_at < (now() - '24:00:00'::interval)" in using, (table, using)
    assert len(everyone) == 1, table
    permissive, roles, cmd, using, with_check = everyone[0]
    assert (permissive, list(roles), cmd) == ("PERMISSIVE", ["public"], "ALL"), table
    for expression in (using, with_check):
        assert expression is not None, table
        normalized = " ".join(expression.split())
        assert normalized == (
            "(user_id = NULLIF(current_setting('app.user_id'::text, true), ''::text))"
        ), (table, expression)


async def test_the_app_role_cannot_read_secrets_even_by_column(
    scratch_database: MigratedDatabase,
) -> None:
    """The grants hold in practice: session tokens, password hashes and keys stay unreadable."""
    engine = create_async_engine(async_driver_url(scratch_database.owner_url))
    try:
        for forbidden in (
            "SELECT token FROM session",
            'SELECT email FROM "user"',
            "SELECT * FROM session",
            "SELECT password FROM account",
            'SELECT "privateKey" FROM jwks',
            "SELECT value FROM verification",
            'SELECT key FROM "rateLimit"',
            'UPDATE session SET "expiresAt" = now()',
            "DELETE FROM session",
            'INSERT INTO "user" (id, name, email, "emailVerified") VALUES (1, 1, 1, false)',
            "TRUNCATE task",
            "CREATE TABLE public.sneaky (id int)",
        ):
            async with engine.connect() as connection:
                await connection.execute(text(f"SET ROLE {APP_ROLE}"))
                with pytest.raises(DBAPIError, match="permission denied"):
                    await connection.execute(text(forbidden))
        async with engine.begin() as connection:
            await connection.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
            await connection.execute(text('SELECT id, "userId", "expiresAt" FROM session'))
            await connection.execute(text('SELECT id FROM "user"'))
    finally:
        await engine.dispose()


async def test_migrates_as_an_owner_that_may_not_create_roles(
    empty_database: MigratedDatabase, superuser_engine: AsyncEngine
) -> None:
    """As the stack prepares a database: the superuser made tandem_app and made the owner
    its member, and the owner has no CREATEROLE (on PostgreSQL 15 nearly superuser). The
    migrations then neither need it nor try it."""
    async with superuser_engine.connect() as connection:
        may_create_roles = await connection.scalar(
            text("SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = :owner"),
            {"owner": OWNER},
        )
    assert may_create_roles is False
    migrate(empty_database.owner_url)
    engine = create_async_engine(async_driver_url(empty_database.superuser_url))
    try:
        await _assert_isolation_schema(engine)
    finally:
        await engine.dispose()


def _migration_error(url: str) -> str:
    with pytest.raises(subprocess.CalledProcessError) as failed:
        migrate(url)
    return failed.value.stderr.decode(errors="replace")


def test_without_the_app_role_the_migrations_make_it_or_say_what_the_operator_must() -> None:
    """A database the stack does not own, on a cluster without tandem_app."""
    with throwaway_postgres() as cluster:
        password = new_owner_password()
        cluster.run_sql(
            f"CREATE ROLE {OWNER} LOGIN PASSWORD :'password';"
            f"CREATE DATABASE made_by_hand OWNER {OWNER};",
            variables={"password": password},
        )
        url = cluster.url(OWNER, password, "made_by_hand")

        # An owner that may not create roles: the migration says what to create.
        error = _migration_error(url)
        assert f"the role {APP_ROLE} does not exist, and {OWNER} may not create it" in error
        assert f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB" in error
        assert f"GRANT {APP_ROLE} TO {OWNER}" in error

        # The role made, but the owner not its member (and unable to join it).
        cluster.run_sql(f"CREATE ROLE {APP_ROLE} LOGIN NOINHERIT")
        error = _migration_error(url)
        assert f"{OWNER} is not a member of the role {APP_ROLE}, and may not join it" in error
        assert f"GRANT {APP_ROLE} TO {OWNER}" in error

        cluster.run_sql(f"GRANT {APP_ROLE} TO {OWNER}")
        migrate(url)
        tables = cluster.run_sql(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'task'", database="made_by_hand"
        )
        assert tables.strip() == "1"

        # As before: an owner with CREATEROLE gets the role made (NOLOGIN) and joins it.
        cluster.run_sql(
            "DROP DATABASE made_by_hand;"
            f"DROP ROLE {APP_ROLE};"
            f"ALTER ROLE {OWNER} CREATEROLE;"
            f"CREATE DATABASE made_by_hand OWNER {OWNER};"
        )
        migrate(url)
        made = cluster.run_sql(
            "SELECT rolcanlogin, rolsuper, rolbypassrls, rolinherit, "
            "pg_has_role(:'owner', oid, 'MEMBER') FROM pg_roles WHERE rolname = :'role'",
            variables={"owner": OWNER, "role": APP_ROLE},
        )
        assert made.strip() == "f|f|f|f|t"
