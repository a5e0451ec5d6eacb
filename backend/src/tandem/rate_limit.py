"""Request limits per client address and per user, with the ``limits`` library.

Every API request counts against its client address, before authentication,
so a flood of invalid tokens is limited too. A verified request also counts
against its user (``sub``), so one user cannot starve the others behind the
same address (the web app's proxy). Counters live in memory by default
(``window_counters``), or in Redis when ``RATE_LIMIT_STORAGE_URL`` says so, to
be shared by processes (``shared_counters``, which counts in this process while
Redis is away).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections import Counter
from collections.abc import Sequence
from typing import Literal
from urllib.parse import urlsplit

from limits import RateLimitItem, parse_many
from limits.aio.strategies import FixedWindowRateLimiter
from starlette.types import Scope

from tandem.errors import AppError
from tandem.shared_counters import SharedCounters
from tandem.window_counters import WindowCounters

audit = logging.getLogger("tandem.audit")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class RateLimited(AppError):
    status_code = 429
    code = "rate_limited"
    detail = "Too many requests; retry later"

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__()
        self.retry_after_seconds = retry_after_seconds

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


_REDIS_SCHEMES = frozenset({"redis", "rediss"})
# Where the counters are: this process by configuration, Redis, or this process because
# Redis is not answering.
StorageState = Literal["local", "shared", "degraded"]


def _storage(url: str) -> WindowCounters | SharedCounters:
    """Our constant-cost counters in memory (``window_counters``), or Redis
    (``shared_counters``)."""
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return WindowCounters()
    if scheme in _REDIS_SCHEMES:
        return SharedCounters(url)
    raise ValueError("RATE_LIMIT_STORAGE_URL must be memory:// or a redis:// (rediss://) URL")


class RateLimiter:
    """Checks one request against every configured limit for an identity."""

    def __init__(self, *, limits: str, storage_url: str) -> None:
        self._items: list[RateLimitItem] = parse_many(limits)
        self._storage = _storage(storage_url)
        # Fixed windows: one counter per limit and identity, the cheapest check on the hot
        # path (about half the cost of a sliding window, measured). A client can burst up
        # to twice a limit across a window boundary, which these limits tolerate.
        self._limiter = FixedWindowRateLimiter(self._storage)
        self.rejections: Counter[str] = Counter()  # by kind ("address", "user"), for metrics

    @property
    def shared(self) -> SharedCounters | None:
        """The Redis counters, when the limits are shared."""
        return self._storage if isinstance(self._storage, SharedCounters) else None

    def storage_state(self) -> StorageState:
        """Where requests are counted now; asks for a (bounded) probe of Redis."""
        shared = self.shared
        if shared is None:
            return "local"
        shared.probe_if_due()
        return "degraded" if shared.degraded else "shared"

    async def start(self) -> None:
        if self.shared is not None:
            await self.shared.start()

    async def close(self) -> None:
        if self.shared is not None:
            await self.shared.close()

    async def check_address(self, address: str) -> None:
        await self._check("address", address)

    async def check_user(self, sub: str) -> None:
        await self._check("user", sub)

    async def _check(self, kind: str, identity: str) -> None:
        for item in self._items:
            if not await self._limiter.hit(item, kind, identity):
                self.rejections[kind] += 1
                stats = await self._limiter.get_window_stats(item, kind, identity)
                audit.info(
                    "rate limit exceeded",
                    extra={
                        "event": "rate_limit.exceeded",
                        "reason": "too_many_requests",
                        "kind": kind,
                        "limit": str(item),
                        # The user id when the limit is the user's; never the address.
                        "sub": identity if kind == "user" else None,
                    },
                )
                raise RateLimited(max(1, math.ceil(stats.reset_time - time.time())))


def parse_trusted_proxies(entries: Sequence[str]) -> tuple[IPNetwork, ...]:
    """``TRUSTED_PROXIES`` entries: addresses or networks (``127.0.0.1``, ``10.0.0.0/8``)."""
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def client_address(scope: Scope, trusted: Sequence[IPNetwork]) -> str:
    """The peer's address, or the one its trusted proxies forwarded for.

    ``X-Forwarded-For`` is read right to left: each hop appends the address it
    saw, so the first entry not owned by a trusted proxy is the real client.
    Anything left of it could have been written by the client itself.
    """
    peer = scope["client"][0] if scope.get("client") else "unknown"
    if not trusted or not _is_trusted(peer, trusted):
        return peer
    forwarded = b",".join(v for k, v in scope["headers"] if k == b"x-forwarded-for")
    hops = [hop.strip() for hop in forwarded.decode("latin-1").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop if _is_ip(hop) else peer
    return peer


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_trusted(address: str, trusted: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
