"""``SessionCheck`` for a service that shares Better Auth's PostgreSQL database.

A token's session is live while its row in ``session`` exists, belongs to the
token's ``sub`` and has not expired, and, when Better Auth's admin plugin is
installed, while its user is not banned. Live answers are remembered in a
``LiveSessionCache``, so most requests cost no query at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from types import TracebackType

import asyncpg

from tandem_auth.errors import RevokedSession, SessionCheckUnavailable
from tandem_auth.postgres.live_sessions import LiveSessionCache
from tandem_auth.postgres.schema import ADMIN_COLUMNS_QUERY, DEFAULT_CHANNEL, BetterAuthTables
from tandem_auth.principal import Principal

# Until when the principal's session stays live, or None when it has ended.
SessionLookup = Callable[[Principal], Awaitable[datetime | None]]
_UNAVAILABLE = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


def live_until_query(tables: BetterAuthTables, *, admin_plugin: bool, with_sid: bool) -> str:
    """The lookup, with ``$1`` the user id and ``$2`` the session id.

    A token without ``sid`` (accepted only with ``require_sid=False``) stays valid
    for as long as its user exists.
    """
    if with_sid:
        query = (
            f'SELECT s."expiresAt" FROM {tables.session_sql} s'
            ' WHERE s.id = $2 AND s."userId" = $1 AND s."expiresAt" > now()'
        )
    else:
        query = f"SELECT 'infinity'::timestamptz FROM {tables.user_sql} WHERE id = $1"
    if admin_plugin:
        query += (
            f" AND NOT EXISTS (SELECT 1 FROM {tables.user_sql} u WHERE u.id = $1"
            ' AND u.banned AND (u."banExpires" IS NULL OR u."banExpires" > now()))'
        )
    return query


class PostgresSessionCheck:
    """Refuses tokens whose Better Auth session has ended; an async context manager.

    By default it opens a small pool of its own on ``dsn``. A service that
    already holds a transaction per request can pass ``lookup`` instead and
    run the query there; the cache and its listener still use ``dsn``.
    """

    def __init__(
        self,
        dsn: str,
        *,
        lookup: SessionLookup | None = None,
        channel: str = DEFAULT_CHANNEL,
        tables: BetterAuthTables | None = None,
        pool_size: int = 4,
        query_timeout_seconds: float = 5.0,
        cache_entries: int = 100_000,
    ) -> None:
        self._dsn = dsn
        self._tables = tables or BetterAuthTables()
        self._pool_size = pool_size
        self._timeout = query_timeout_seconds
        self._pool: asyncpg.Pool | None = None
        self._queries: dict[bool, str] = {}  # by "has a sid"
        self._lookup = lookup
        self.cache = LiveSessionCache(dsn, channel=channel, max_entries=cache_entries)

    async def __aenter__(self) -> PostgresSessionCheck:
        if self._lookup is None:
            self._pool = await asyncpg.create_pool(
                self._dsn, min_size=0, max_size=self._pool_size, timeout=self._timeout
            )
            admin_plugin = bool(await self._pool.fetchval(ADMIN_COLUMNS_QUERY, self._tables.user))
            self._queries = {
                with_sid: live_until_query(
                    self._tables, admin_plugin=admin_plugin, with_sid=with_sid
                )
                for with_sid in (True, False)
            }
            self._lookup = self._query_live_until
        await self.cache.start()
        return self

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        await self.cache.close()
        if self._pool is not None:
            await self._pool.close()

    async def ensure_live(self, principal: Principal) -> None:
        sid = principal.sid
        if sid is not None and self.cache.is_live(sid, principal.sub):
            return
        assert self._lookup is not None, "enter the check (async with) before using it"
        checkpoint = self.cache.checkpoint()
        live_until = await self._lookup(principal)
        if live_until is None:
            raise RevokedSession()
        if sid is None:
            return  # nothing to remember it by: such tokens are checked every time
        self.cache.remember(
            sid,
            principal.sub,
            live_until=min(live_until.timestamp(), principal.expires_at),
            checkpoint=checkpoint,
        )

    async def _query_live_until(self, principal: Principal) -> datetime | None:
        assert self._pool is not None
        try:
            args = (principal.sub,) if principal.sid is None else (principal.sub, principal.sid)
            live_until: datetime | None = await self._pool.fetchval(
                self._queries[principal.sid is not None], *args, timeout=self._timeout
            )
        except _UNAVAILABLE:
            raise SessionCheckUnavailable() from None
        return live_until
