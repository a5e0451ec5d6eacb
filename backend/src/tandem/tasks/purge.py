"""Expired idempotency keys, purged at start-up and every ten minutes, in bounded batches.

Each batch is one short transaction that calls the owner's purge function
(migration 0006), so no transaction holds many locks or runs long, and
several API processes purging at once only share the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType

import asyncpg

from tandem.db import DATABASE_UNAVAILABLE, Database

logger = logging.getLogger(__name__)
_PURGE_BATCH = "SELECT purge_expired_idempotency_keys($1)"
# What a database that is down or restarting raises; the next interval tries again.
_UNAVAILABLE = (*DATABASE_UNAVAILABLE, asyncpg.PostgresError)


class IdempotencyPurge:
    """Runs ``run_once`` now and every ``interval_seconds`` while entered."""

    def __init__(
        self,
        database: Database,
        *,
        interval_seconds: float = 600.0,
        batch: int = 1000,
        max_batches: int = 100,
    ) -> None:
        self._database = database
        self._interval = interval_seconds
        self._batch = batch
        self._max_batches = max_batches
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> IdempotencyPurge:
        self._task = asyncio.create_task(self._forever(), name="idempotency-purge")
        return self

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run_once(self) -> int:
        """Purge until a batch comes back short, or ``max_batches`` ran; the rows purged."""
        purged = 0
        for _ in range(self._max_batches):
            async with self._database.app_role_transaction() as connection:
                count = int(await connection.fetchval(_PURGE_BATCH, self._batch) or 0)
            purged += count
            if count < self._batch:
                break
        return purged

    async def _forever(self) -> None:
        while True:
            try:
                purged = await self.run_once()
            except _UNAVAILABLE as exc:
                logger.warning(
                    "idempotency purge failed; retrying at the next interval",
                    extra={"event": "idempotency.purge_failed", "error": type(exc).__name__},
                )
            else:
                if purged:
                    logger.info(
                        "expired idempotency keys purged",
                        extra={"event": "idempotency.purged", "rows": purged},
                    )
            await asyncio.sleep(self._interval)
