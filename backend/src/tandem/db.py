"""One transaction per request, run as the least-privilege role, scoped to one user.

The API reaches PostgreSQL in one of two ways. With ``API_DATABASE_URL`` it
logs in as ``tandem_app`` itself. With only ``DATABASE_URL`` it logs in as
the schema owner and switches to ``tandem_app`` inside every transaction
(``set_config('role', …, true)`` is ``SET LOCAL ROLE``). Either way, the
user context is ``set_config('app.user_id', $1, true)``: a bind parameter,
local to the transaction, so it can neither be injected nor outlive it.

Requests run on the driver's own connection (asyncpg), borrowed from
SQLAlchemy's pool: the pool bounds, times out and replaces connections, and
the statements go straight to the driver, without SQLAlchemy's execution
layer (bench/README.md, "driver path"). SQLAlchemy remains the schema's
source and builds the statements (``tasks/statements.py``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from tandem_auth import Principal, RevokedSession

from tandem.config import Settings
from tandem.db_url import async_driver_url

APP_ROLE = "tandem_app"
# asyncpg prepares every statement, and after five runs PostgreSQL may settle on one
# generic plan, made for the average user; for a user with far more tasks it can cost
# several times a fresh plan (bench/README.md, "plan cache"). Planning every time costs
# tens of µs.
PLAN_CACHE_MODE = "force_custom_plan"
logger = logging.getLogger(__name__)
# A begun transaction: the pool's connection, its driver connection, the transaction,
# and the first statement's row.
_Begun = tuple[AsyncConnection, asyncpg.Connection, Any, asyncpg.Record]
# What a connection that died in the pool raises at its first use.
_LOST_CONNECTION = (
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.AdminShutdownError,
    OSError,
)

# One round trip: become the app role, set the user, and check that the
# token's session (or, without a sid, its user) still exists. ``live_until``
# is NULL for a revoked session or a deleted user.
_ENTER_USER_CONTEXT = """
SELECT {role_switch}
       set_config('app.user_id', $1, true),
       CASE WHEN $2::text IS NULL
            THEN (SELECT 'infinity'::timestamptz FROM "user" WHERE id = $1)
            ELSE (SELECT "expiresAt" FROM session
                  WHERE id = $2 AND "userId" = $1 AND "expiresAt" > now())
       END AS live_until
"""


class _DeadPooledConnection(Exception):
    """A connection from the pool failed at its first use; ``reason`` names the error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Database:
    """The API's pool and the transactions it hands out."""

    def __init__(self, settings: Settings) -> None:
        logs_in_as_app_role = settings.api_database_url is not None
        url = settings.api_database_url or settings.database_url
        # SQLAlchemy's pool: bounded, timed out, and replacing connections that die.
        self.engine: AsyncEngine = create_async_engine(
            async_driver_url(url),
            pool_size=settings.db_pool_size,
            max_overflow=0,  # a bounded pool: when it is exhausted, requests wait, then get 503
            pool_timeout=settings.db_pool_timeout_seconds,
            # No pre-ping: with asyncpg it is three round trips (BEGIN, a statement,
            # ROLLBACK) before every transaction. A connection that died in the pool is
            # caught by the transaction's first statement instead (_begin).
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
        role_switch = "" if logs_in_as_app_role else f"set_config('role', '{APP_ROLE}', true),"
        self._enter_user_context = _ENTER_USER_CONTEXT.format(role_switch=role_switch)
        self._enter_app_role = f"SELECT {role_switch.rstrip(',') or '1'}"

    async def close(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def user_transaction(self, principal: Principal) -> AsyncIterator[asyncpg.Connection]:
        """A transaction that sees only ``principal``'s rows; commits when the block succeeds.

        Round trips: BEGIN, the user context (which also checks the session), the
        block's statements, COMMIT. Raises ``RevokedSession`` when the token's
        session (or user) is gone.
        """
        first = (self._enter_user_context, principal.sub, principal.sid)
        async with self._transaction(*first) as (connection, context):
            if context["live_until"] is None:
                raise RevokedSession()
            yield connection

    async def session_live_until(self, principal: Principal) -> datetime | None:
        """Until when the token's session stays valid (None: it has ended), checked in a
        transaction of its own; a ``tandem_auth.postgres.SessionLookup``."""
        first = (self._enter_user_context, principal.sub, principal.sid)
        async with self._transaction(*first) as (_connection, context):
            live_until: datetime | None = context["live_until"]
            return live_until

    @asynccontextmanager
    async def app_role_transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A transaction as the app role with no user context (start-up checks, the purge)."""
        async with self._transaction(self._enter_app_role) as (connection, _row):
            yield connection

    async def ping(self) -> None:
        """Raise unless PostgreSQL answers, on a live connection from the pool."""
        async with self._transaction("SELECT 1"):
            pass

    @asynccontextmanager
    async def _transaction(
        self, first_statement: str, *args: Any
    ) -> AsyncIterator[tuple[asyncpg.Connection, asyncpg.Record]]:
        """A transaction on the driver's own connection that opens with ``first_statement``
        and commits when the block succeeds."""
        pooled, connection, transaction, first_row = await self._begin(first_statement, args)
        try:
            yield connection, first_row
            await transaction.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                await transaction.rollback()
            raise
        finally:
            if connection.is_in_transaction():
                # Neither commit nor rollback finished (a cancelled request, a lost
                # server): this connection holds someone's context, so it never goes back.
                await pooled.invalidate()
            await pooled.close()

    async def _begin(self, first_statement: str, args: tuple[Any, ...]) -> _Begun:
        """BEGIN and the first statement, once more on a new connection if the pooled one
        was dead.

        Connections die in the pool when PostgreSQL restarts or ends them, usually
        all together. A dead one fails at its first use, before the transaction has
        done anything, so trying again is safe; the pool is disposed first, so that
        the retry opens a new connection rather than meeting the next dead one
        (checked-out connections finish their work, then close). A database that
        cannot be reached fails to give a connection at all: that is not retried,
        and becomes a 503 at once.
        """
        try:
            return await self._begin_once(first_statement, args, retried=False)
        except _DeadPooledConnection as dead:
            logger.warning(
                "a pooled database connection was dead; retrying on a new one",
                extra={"event": "db.reconnected", "error": dead.reason},
            )
        await self.engine.dispose()
        return await self._begin_once(first_statement, args, retried=True)

    async def _begin_once(
        self, first_statement: str, args: tuple[Any, ...], *, retried: bool
    ) -> _Begun:
        pooled = await self.engine.connect()  # a database that is down fails here, as itself
        try:
            connection: asyncpg.Connection = (await pooled.get_raw_connection()).driver_connection
            transaction = connection.transaction()
            await transaction.start()
            first_row = await connection.fetchrow(first_statement, *args)
        except BaseException as exc:
            # Whatever failed, this connection's state is unknown: it never goes back.
            await pooled.invalidate()
            await pooled.close()
            if not retried and isinstance(exc, _LOST_CONNECTION):
                raise _DeadPooledConnection(type(exc).__name__) from exc
            raise
        return pooled, connection, transaction, first_row
