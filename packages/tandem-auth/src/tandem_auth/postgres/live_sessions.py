"""A per-process cache of Better Auth sessions known to be live, kept honest by NOTIFY.

The trigger (``install_session_trigger``) sends the id of every session that
ends or changes; the listener drops it from the cache at once, and flushes
the whole cache on ``*`` (a TRUNCATE). While the listening connection is
down the cache is empty and unused, and it is flushed again on reconnect, so
a sign-out missed during an outage cannot be served from memory. A probe
every ``probe_interval_seconds`` notices a dead peer that never closed the
socket, within twice that interval.

The listener needs a direct connection to PostgreSQL: a pooler in
transaction mode (pgbouncer) does not deliver notifications.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import asyncpg

from tandem_auth.postgres.schema import DEFAULT_CHANNEL, quoted
from tandem_auth.postgres.trigger import FLUSH_ALL
from tandem_auth.stats import CacheStats

logger = logging.getLogger("tandem_auth.postgres")
LISTENER_NAME = "tandem-auth-session-listener"


@dataclass(frozen=True, slots=True)
class _Entry:
    sub: str
    live_until: float


class LiveSessionCache:
    """Session ids whose row existed, unexpired, at the last check and has not changed since."""

    def __init__(
        self,
        dsn: str,
        *,
        channel: str = DEFAULT_CHANNEL,
        max_entries: int = 100_000,
        reconnect_seconds: float = 1.0,
        probe_interval_seconds: float = 2.0,
    ) -> None:
        quoted(channel, what="the notification channel")
        self._dsn = dsn
        self._channel = channel
        self._max_entries = max_entries
        self._reconnect_seconds = reconnect_seconds
        self._probe_interval = probe_interval_seconds
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._changes_seen = 0  # bumps on every notification and every flush
        self._listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.stats = CacheStats()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="tandem-auth-sessions")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait_listening(self) -> None:
        await self._listening.wait()

    def is_live(self, sid: str, sub: str) -> bool:
        entry = self._entries.get(sid)
        live = (
            entry is not None
            and self.listening
            and entry.sub == sub
            and entry.live_until > time.time()
        )
        if live:
            self.stats.hits += 1
        else:
            self.stats.misses += 1
        return live

    def checkpoint(self) -> int:
        """Take before a database check; pass to ``remember`` after it."""
        return self._changes_seen

    def remember(self, sid: str, sub: str, *, live_until: float, checkpoint: int) -> None:
        """Cache a session the database just found live, unless anything changed meanwhile.

        A notification that arrived between the check and now may concern this
        very session, so the result is not cached (the next request re-checks).
        """
        if not self.listening or checkpoint != self._changes_seen:
            return
        while len(self._entries) >= self._max_entries:
            self._entries.popitem(last=False)
        self._entries[sid] = _Entry(sub=sub, live_until=live_until)

    def _notified(self, payload: str) -> None:
        if payload == FLUSH_ALL:
            self._flush()
        else:
            self._changes_seen += 1
            self._entries.pop(payload, None)

    def _flush(self) -> None:
        self._changes_seen += 1
        self._entries.clear()

    async def _listen_forever(self) -> None:
        while True:
            try:
                await self._listen_once()
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                logger.warning(
                    "session listener disconnected; cache off until it reconnects",
                    extra={"event": "live_sessions.disconnected", "error": type(exc).__name__},
                )
            finally:
                self._listening.clear()
                self._flush()
            await asyncio.sleep(self._reconnect_seconds)

    async def _listen_once(self) -> None:
        connection = await asyncpg.connect(
            self._dsn, timeout=5, server_settings={"application_name": LISTENER_NAME}
        )
        lost = asyncio.Event()

        def on_notification(*args: Any) -> None:
            self._notified(str(args[3]))

        try:
            connection.add_termination_listener(lambda _conn: lost.set())
            await connection.add_listener(self._channel, on_notification)
            self._flush()  # anything may have changed while we were not listening
            self._listening.set()
            logger.info("session listener connected", extra={"event": "live_sessions.connected"})
            while not lost.is_set():
                # A dead peer does not always close the socket: probe it now and then.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._probe_interval):
                        await lost.wait()
                if not lost.is_set():
                    await connection.execute("SELECT 1", timeout=self._probe_interval)
        finally:
            self._listening.clear()
            with contextlib.suppress(Exception):
                await connection.close(timeout=1)
