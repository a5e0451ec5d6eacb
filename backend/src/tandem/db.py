"""One transaction per request, run as the least-privilege role, scoped to one user.

The API reaches PostgreSQL in one of two ways. With ``API_DATABASE_URL`` it
logs in as ``tandem_app`` itself. With only ``DATABASE_URL`` it logs in as
the schema owner and switches to ``tandem_app`` inside every transaction
(``set_config('role', …, true)`` is ``SET LOCAL ROLE``). Either way, the
user context is ``set_config('app.user_id', :sub, true)``: a bind parameter,
local to the transaction, so it can neither be injected nor outlive it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Row, TextClause, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from tandem_auth import Principal, RevokedSession

from tandem.config import Settings
from tandem.db_url import async_driver_url

APP_ROLE = "tandem_app"
# asyncpg prepares every statement, and after five runs PostgreSQL may settle on one
# generic plan, made for the average user; for a user with far more tasks it can cost
# several times a fresh plan (bench/README.md, "plan cache"). Planning every time costs
# tens of µs.
PLAN_CACHE_MODE = "force_custom_plan"
_PING = text("SELECT 1")
logger = logging.getLogger(__name__)
_Params = dict[str, Any]

# One round trip: become the app role, set the user, and check that the
# token's session (or, without a sid, its user) still exists. ``live_until``
# is NULL for a revoked session or a deleted user.
_ENTER_USER_CONTEXT = """
SELECT {role_switch}
       set_config('app.user_id', :sub, true),
       CASE WHEN CAST(:sid AS text) IS NULL
            THEN (SELECT 'infinity'::timestamptz FROM "user" WHERE id = :sub)
            ELSE (SELECT "expiresAt" FROM session
                  WHERE id = :sid AND "userId" = :sub AND "expiresAt" > now())
       END AS live_until
"""


class Database:
    """The API's engine and the transactions it hands to requests."""

    def __init__(self, settings: Settings) -> None:
        logs_in_as_app_role = settings.api_database_url is not None
        url = settings.api_database_url or settings.database_url
        self.engine: AsyncEngine = create_async_engine(
            async_driver_url(url),
            pool_size=settings.db_pool_size,
            max_overflow=0,  # a bounded pool: when it is exhausted, requests wait, then get 503
            pool_timeout=settings.db_pool_timeout_seconds,
            # A failing statement's message would otherwise quote its parameters: a task's
            # text, a user's ids. The logs get the statement, never the values.
            hide_parameters=True,
            # No pre-ping: with asyncpg it is three round trips (BEGIN, a statement,
            # ROLLBACK) before every transaction. A connection that died in the pool is
            # caught by the transaction's first statement instead (_first_row).
            pool_pre_ping=False,
            connect_args={
                "timeout": settings.db_pool_timeout_seconds,
                "server_settings": {
                    "application_name": "tandem-api",
                    "plan_cache_mode": PLAN_CACHE_MODE,
                    "statement_timeout": str(settings.db_statement_timeout_ms),
                    "lock_timeout": str(settings.db_statement_timeout_ms // 2),
                    "idle_in_transaction_session_timeout": str(
                        settings.db_statement_timeout_ms * 2
                    ),
                },
            },
        )
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        role_switch = "" if logs_in_as_app_role else f"set_config('role', '{APP_ROLE}', true),"
        self._enter_user_context = text(_ENTER_USER_CONTEXT.format(role_switch=role_switch))
        self._enter_app_role = text(f"SELECT {role_switch.rstrip(',') or '1'}")

    async def close(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def user_transaction(self, principal: Principal) -> AsyncIterator[AsyncSession]:
        """A transaction that sees only ``principal``'s rows; commits when the block succeeds.

        Raises ``RevokedSession`` when the token's session (or user) is gone.
        """
        async with self._transaction(*self._user_context(principal)) as (session, context):
            if context.live_until is None:
                raise RevokedSession()
            yield session

    async def session_live_until(self, principal: Principal) -> datetime | None:
        """Until when the token's session stays valid (None: it has ended), checked in a
        transaction of its own; a ``tandem_auth.postgres.SessionLookup``."""
        async with self._transaction(*self._user_context(principal)) as (_session, context):
            live_until: datetime | None = context.live_until
            return live_until

    @asynccontextmanager
    async def app_role_transaction(self) -> AsyncIterator[AsyncSession]:
        """A transaction as the app role with no user context (checks and tests)."""
        async with self._transaction(self._enter_app_role) as (session, _row):
            yield session

    async def ping(self) -> None:
        """Raise unless PostgreSQL answers, on a live connection from the pool."""
        async with self._transaction(_PING):
            pass

    def _user_context(self, principal: Principal) -> tuple[TextClause, _Params]:
        return self._enter_user_context, {"sub": principal.sub, "sid": principal.sid}

    @asynccontextmanager
    async def _transaction(
        self, first_statement: TextClause, params: _Params | None = None
    ) -> AsyncIterator[tuple[AsyncSession, Row[Any]]]:
        """A transaction that opens with ``first_statement`` and commits when the block succeeds.

        Round trips: BEGIN, the first statement, the block's statements, COMMIT.
        """
        async with self._sessions() as session:  # closing it rolls back whatever is left open
            first_row = await _first_row(session, first_statement, params)
            yield session, first_row
            await session.commit()


async def _first_row(
    session: AsyncSession, statement: TextClause, params: _Params | None
) -> Row[Any]:
    """Run a transaction's first statement, once more if its pooled connection was dead.

    A connection dies in the pool when PostgreSQL restarts or ends it. The first
    statement is then the one to fail, before the transaction has done anything,
    so running it again on a new connection is safe; SQLAlchemy has by then
    invalidated every connection older than the failure. A database that is
    really down fails the second attempt too (503).
    """
    try:
        return (await session.execute(statement, params)).one()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        logger.warning(
            "a pooled database connection was dead; retrying on a new one",
            extra={"event": "db.reconnected", "error": type(exc.orig).__name__},
        )
        await session.rollback()
    return (await session.execute(statement, params)).one()
