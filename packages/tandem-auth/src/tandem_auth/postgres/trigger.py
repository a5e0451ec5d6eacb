"""The trigger that tells every listening process when a session ends.

It sends on one channel: a session's id when its row is deleted (sign-out,
revocation, a deleted user's cascade) or its expiry or owner changes; ``*``
when the table is truncated; and, when Better Auth's admin plugin columns
exist, the id of every session of a user whose ban changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tandem_auth.postgres.schema import (
    ADMIN_COLUMNS_QUERY,
    DEFAULT_CHANNEL,
    BetterAuthTables,
    quoted,
)

if TYPE_CHECKING:
    import asyncpg

FLUSH_ALL = "*"


def session_trigger_statements(
    *,
    channel: str = DEFAULT_CHANNEL,
    tables: BetterAuthTables | None = None,
    admin_plugin: bool = False,
) -> list[str]:
    """The DDL, one statement per item, for a migration tool to run (Alembic's ``op.execute``).

    Running it again replaces what an earlier run made.
    """
    tables = tables or BetterAuthTables()
    quoted(channel, what="the notification channel")  # it is sent as a trigger argument
    session, user = tables.session_sql, tables.user_sql
    statements = [
        f"""
        CREATE OR REPLACE FUNCTION tandem_auth_session_changed() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'TRUNCATE' THEN
                PERFORM pg_notify(TG_ARGV[0], '{FLUSH_ALL}');
            ELSE
                PERFORM pg_notify(TG_ARGV[0], OLD.id);
            END IF;
            RETURN NULL;
        END
        $$
        """,
        f"DROP TRIGGER IF EXISTS tandem_auth_session_changed ON {session}",
        f"""
        CREATE TRIGGER tandem_auth_session_changed
            AFTER DELETE OR UPDATE OF "expiresAt", "userId" ON {session}
            FOR EACH ROW EXECUTE FUNCTION tandem_auth_session_changed('{channel}')
        """,
        f"DROP TRIGGER IF EXISTS tandem_auth_session_truncated ON {session}",
        f"""
        CREATE TRIGGER tandem_auth_session_truncated
            AFTER TRUNCATE ON {session}
            FOR EACH STATEMENT EXECUTE FUNCTION tandem_auth_session_changed('{channel}')
        """,
    ]
    if admin_plugin:
        statements += [
            f"""
            CREATE OR REPLACE FUNCTION tandem_auth_user_ban_changed() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify(TG_ARGV[0], s.id) FROM {session} s WHERE s."userId" = NEW.id;
                RETURN NULL;
            END
            $$
            """,
            f"DROP TRIGGER IF EXISTS tandem_auth_user_ban_changed ON {user}",
            f"""
            CREATE TRIGGER tandem_auth_user_ban_changed
                AFTER UPDATE OF banned, "banExpires" ON {user}
                FOR EACH ROW EXECUTE FUNCTION tandem_auth_user_ban_changed('{channel}')
            """,
        ]
    return statements


def drop_session_trigger_statements(*, tables: BetterAuthTables | None = None) -> list[str]:
    """The DDL that removes what ``session_trigger_statements`` made (a migration's downgrade)."""
    tables = tables or BetterAuthTables()
    session, user = tables.session_sql, tables.user_sql
    return [
        f"DROP TRIGGER IF EXISTS tandem_auth_session_changed ON {session}",
        f"DROP TRIGGER IF EXISTS tandem_auth_session_truncated ON {session}",
        f"DROP TRIGGER IF EXISTS tandem_auth_user_ban_changed ON {user}",
        "DROP FUNCTION IF EXISTS tandem_auth_session_changed()",
        "DROP FUNCTION IF EXISTS tandem_auth_user_ban_changed()",
    ]


async def install_session_trigger(
    connection: asyncpg.Connection,
    *,
    channel: str = DEFAULT_CHANNEL,
    tables: BetterAuthTables | None = None,
) -> None:
    """Install (or replace) the trigger, in one transaction, as the tables' owner.

    Whether the admin plugin's ban columns exist is read from the database.
    """
    tables = tables or BetterAuthTables()
    admin_plugin = bool(await connection.fetchval(ADMIN_COLUMNS_QUERY, tables.user))
    async with connection.transaction():
        for statement in session_trigger_statements(
            channel=channel, tables=tables, admin_plugin=admin_plugin
        ):
            await connection.execute(statement)
