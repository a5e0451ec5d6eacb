"""One transaction per request, run as the least-privilege role, scoped to one user.

The API reaches PostgreSQL in one of two ways. With ``API_DATABASE_URL`` it
logs in as ``tandem_app`` itself. With only ``DATABASE_URL`` it logs in as
the schema owner and switches to ``tandem_app`` inside every transaction
(``set_config('role', …, true)`` is ``SET LOCAL ROLE``). Either way, the
user context is ``set_config('app.user_id', $1, true)``: a bind parameter,
local to the transaction, so it can neither be injected nor outlive it.

Requests run on asyncpg's own pool and connections, with no layer between
(bench/README.md, "driver path" and "pool"): the pool is bounded, times out,
and replaces connections that die or whose state is unknown. SQLAlchemy
remains the schema's source and builds the statements (``tasks/statements.py``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
from tandem_auth import Principal, RevokedSession

from tandem.config import Settings
from tandem.db_url import libpq_url

APP_ROLE = "tandem_app"
# asyncpg prepares every statement, and after five runs PostgreSQL may settle on one
# generic plan, made for the average user; for a user with far more tasks it can cost
# several times a fresh plan (bench/README.md, "plan cache"). Planning every time costs
# tens of µs.
PLAN_CACHE_MODE = "force_custom_plan"
logger = logging.getLogger(__name__)
# A begun transaction: the pool's connection, the transaction, and the first statement's row.
_Begun = tuple[asyncpg.pool.PoolConnectionProxy, Any, asyncpg.Record]
# What a connection that died in the pool raises at its first use. A server that ends a
# connection between statements (a shutdown's FATAL arrives unasked) leaves asyncpg's
# protocol waiting out that error, so the next statement is refused, unsent, with
# InternalClientError ("another operation is in progress").
_LOST_CONNECTION = (
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.InternalClientError,
    OSError,
)
# What a database that cannot be used right now raises, besides PostgreSQL's own errors: a
# connection lost (as above) or refused, a pool that stayed full (TimeoutError). A request
# gets 503 for these (errors.py), and the idempotency purge tries again later.
DATABASE_UNAVAILABLE = (OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.InternalClientError)

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
    """The API's pool and the transactions it hands out; ``open`` before use."""

    def __init__(self, settings: Settings) -> None:
        logs_in_as_app_role = settings.api_database_url is not None
        self._url = libpq_url(settings.api_database_url or settings.database_url)
        self._settings = settings
        self._pool: asyncpg.Pool | None = None
        self._server_settings = {
            "application_name": "tandem-api",
            "plan_cache_mode": PLAN_CACHE_MODE,
            "statement_timeout": str(settings.db_statement_timeout_ms),
            "lock_timeout": str(settings.db_statement_timeout_ms // 2),
            "idle_in_transaction_session_timeout": str(settings.db_statement_timeout_ms * 2),
        }
        role_switch = "" if logs_in_as_app_role else f"set_config('role', '{APP_ROLE}', true),"
        self._enter_user_context = _ENTER_USER_CONTEXT.format(role_switch=role_switch)
        self._enter_app_role = f"SELECT {role_switch.rstrip(',') or '1'}"

    async def open(self) -> None:
        """Make the pool (no connection yet: each opens when a request first needs it)."""
        settings = self._settings
        self._pool = await asyncpg.create_pool(
            self._url,
            min_size=0,
            max_size=settings.db_pool_size,  # when every one is busy, requests wait, then 503
            timeout=settings.db_pool_timeout_seconds,  # to connect
            # Nothing a request sets outlives its transaction, and a connection whose
            # transaction did not end never goes back (_transaction), so asyncpg's reset
            # query would be one more round trip that finds nothing to reset.
            reset=_nothing_to_reset,
            server_settings=self._server_settings,
        )

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the database is not open")
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

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
        connection, transaction, first_row = await self._begin(first_statement, args)
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
                connection.terminate()
            await self.pool.release(connection)

    async def _begin(self, first_statement: str, args: tuple[Any, ...]) -> _Begun:
        """BEGIN and the first statement, once more on a new connection if the pooled one
        was dead.

        Connections die in the pool when PostgreSQL restarts or ends them, usually
        all together. A dead one fails at its first use, before the transaction has
        done anything, so trying again is safe; the pool's connections are expired
        first, so that the retry opens a new connection rather than meeting the next
        dead one (checked-out connections finish their work, then close). A database that
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
        await self.pool.expire_connections()
        return await self._begin_once(first_statement, args, retried=True)

    async def _begin_once(
        self, first_statement: str, args: tuple[Any, ...], *, retried: bool
    ) -> _Begun:
        # A database that is down fails here, as itself; a full pool, with TimeoutError.
        connection = await self.pool.acquire(timeout=self._settings.db_pool_timeout_seconds)
        try:
            transaction = connection.transaction()
            await transaction.start()
            first_row = await connection.fetchrow(first_statement, *args)
        except BaseException as exc:
            # Whatever failed, this connection's state is unknown: it never goes back.
            connection.terminate()
            await self.pool.release(connection)
            if not retried and isinstance(exc, _LOST_CONNECTION):
                raise _DeadPooledConnection(type(exc).__name__) from exc
            raise
        return connection, transaction, first_row


async def _nothing_to_reset(_connection: asyncpg.Connection) -> None:
    """asyncpg's pool calls this instead of its reset query when a connection goes back."""
