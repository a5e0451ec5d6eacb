"""Rate-limit counters in Redis, shared by every API process, and what happens when it is away.

Counting goes to Redis (``limits``' async Redis storage on the redis-py client).
When a call fails or takes longer than ``timeout_seconds``, this process falls
back to counting on its own (``WindowCounters``): each process then enforces
the limits alone, so a client spread over N processes gets up to N times its
limit until Redis returns. That is the price of never turning a Redis outage
into failed requests. The fallback is logged once per outage
(``rate_limit.degraded``). Redis is probed at most once per
``probe_interval_seconds`` (from a hit while degraded, or from ``/ready``), never
on every request, and counting returns to it as soon as a probe answers
(``rate_limit.recovered``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from limits.aio.storage import RedisStorage, Storage
from redis.asyncio import ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from tandem.window_counters import WindowCounters

# Rate limits are security events: these go to the audit log too (logging.py).
logger = logging.getLogger("tandem.audit")
T = TypeVar("T")
# What a Redis that is down, hung, restarting or refusing writes raises.
_UNAVAILABLE = (RedisError, OSError, TimeoutError)


class SharedCounters(Storage):
    """Counts in Redis while it answers, in this process while it does not."""

    STORAGE_SCHEME = None  # built by ``RateLimiter`` for redis:// and rediss://

    def __init__(
        self, url: str, *, timeout_seconds: float = 0.25, probe_interval_seconds: float = 1.0
    ) -> None:
        super().__init__()
        # No retries: a request must not wait through redis-py's backoff (seconds by
        # default) for a server that is down; the fallback is the retry.
        self._pool = ConnectionPool.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), 0),
        )
        # redis-py's client: with limits 5.8, the default (coredis) failed on its first
        # request. ``limits`` types its options as scalars; a pool is one it documents.
        self._redis = RedisStorage(
            f"async+{url}",
            implementation="redispy",
            connection_pool=self._pool,  # type: ignore[arg-type]
        )
        self._local = WindowCounters()
        self._timeout = timeout_seconds
        self._probe_interval = probe_interval_seconds
        self._probed_at = float("-inf")
        self._probe: asyncio.Task[None] | None = None
        self.degraded = False
        self.outages = 0

    @property
    def base_exceptions(self) -> type[Exception]:
        return ValueError  # Redis's errors never leave this class: they mean "count here"

    async def start(self) -> None:
        """Probe once, so that the first state (and an outage at start-up) is known."""
        await self._probe_now()

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        await self._pool.aclose()

    def probe_if_due(self) -> None:
        """Start a probe in the background, unless one ran within the probe interval."""
        if (self._probe is None or self._probe.done()) and (
            time.monotonic() - self._probed_at >= self._probe_interval
        ):
            self._probed_at = time.monotonic()
            self._probe = asyncio.create_task(self._probe_now(), name="rate-limit-redis-probe")

    async def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        return await self._call(lambda storage: storage.incr(key, int(expiry), amount))

    async def get(self, key: str) -> int:
        return await self._call(lambda storage: storage.get(key))

    async def get_expiry(self, key: str) -> float:
        return await self._call(lambda storage: storage.get_expiry(key))

    async def check(self) -> bool:
        return not self.degraded

    async def reset(self) -> int | None:
        await self._local.reset()
        return await self._redis.reset()

    async def clear(self, key: str) -> None:
        await self._local.clear(key)
        await self._call(lambda storage: storage.clear(key))

    async def _call(self, operation: Callable[[Storage], Awaitable[T]]) -> T:
        if not self.degraded:
            try:
                async with asyncio.timeout(self._timeout):
                    return await operation(self._redis)
            except _UNAVAILABLE as exc:
                self._degrade(type(exc).__name__)
        else:
            self.probe_if_due()
        return await operation(self._local)

    async def _probe_now(self) -> None:
        self._probed_at = time.monotonic()
        try:
            async with asyncio.timeout(self._timeout):
                answered = await self._redis.check()
        except TimeoutError:
            answered = False
        if answered and self.degraded:
            self.degraded = False
            await self._local.reset()  # counts kept during the outage are Redis's again
            logger.info(
                "Redis answers again; rate limits are shared again",
                extra={"event": "rate_limit.recovered"},
            )
        elif not answered:
            self._degrade("no_answer")

    def _degrade(self, error: str) -> None:
        self._probed_at = time.monotonic()  # the failure was this interval's probe
        if self.degraded:
            return
        self.degraded = True
        self.outages += 1
        logger.warning(
            "Redis is unavailable; each API process counts rate limits on its own",
            extra={"event": "rate_limit.degraded", "error": error},
        )
