"""A per-process cache of Better Auth sessions known to be live, kept honest by NOTIFY.

Routes that touch the database check a token's session in their own
transaction. Routes that don't (``/api/me``) ask this cache first, so they
skip the round trip. A trigger on ``session`` (migration 0004) sends the id
of every deleted or changed session on ``tandem_session_changed``; the
listener drops it at once. While the listening connection is down, the cache
is empty and unused, and it is flushed again on reconnect, so a sign-out
missed during an outage cannot be served from memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

import asyncpg

logger = logging.getLogger("tandem.live_sessions")
CHANNEL = "tandem_session_changed"
LISTENER_NAME = "tandem-session-listener"


@dataclass(frozen=True, slots=True)
class _Entry:
    sub: str
    live_until: float


class LiveSessionCache:
    """Session ids whose row existed, unexpired, at the last check and has not changed since."""

    def __init__(
        self, dsn: str, *, max_entries: int = 100_000, reconnect_seconds: float = 1.0
    ) -> None:
        self._dsn = dsn
        self._max_entries = max_entries
        self._reconnect_seconds = reconnect_seconds
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._changes_seen = 0  # bumps on every notification and every flush
        self._listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="live-sessions")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait_listening(self) -> None:
        await self._listening.wait()

    def is_live(self, sid: str, sub: str) -> bool:
        entry = self._entries.get(sid)
        return (
            entry is not None
            and self.listening
            and entry.sub == sub
            and entry.live_until > time.time()
        )

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

    def _forget(self, sid: str) -> None:
        self._changes_seen += 1
        self._entries.pop(sid, None)

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
        try:
            connection.add_termination_listener(lambda _conn: lost.set())
            await connection.add_listener(CHANNEL, lambda *args: self._forget(str(args[3])))
            self._flush()  # anything may have changed while we were not listening
            self._listening.set()
            logger.info("session listener connected", extra={"event": "live_sessions.connected"})
            while not lost.is_set():
                # A dead peer does not always close the socket; probe it now and then.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(5):
                        await lost.wait()
                if not lost.is_set():
                    await connection.execute("SELECT 1", timeout=5)
        finally:
            self._listening.clear()
            with contextlib.suppress(Exception):
                await connection.close(timeout=1)
