"""An in-memory cache of a JWKS endpoint's public signing keys.

Keys load at start-up and refresh in the background. A failed refresh keeps
the last good keys. An unknown ``kid`` triggers at most one fetch per
cooldown, shared by every request waiting on it (single flight); a request
that arrives within the cooldown waits for the next fetch rather than being
refused, so a key published just after a fetch (by another instance, or a
rotation) is never refused for a valid token, only delayed. Each fetch
is bounded: https only (plain http only to a loopback address), a total
timeout, no redirects, no proxy from the environment, no compression, a cap
on the body size and a cap on the number of keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import time
from collections.abc import Sequence
from typing import Final

import httpx

from tandem_auth.algorithms import ALGORITHMS, SHARED_SECRET_ALGORITHM, PublicKey, public_key_for
from tandem_auth.errors import ConfigurationError, InvalidToken, KeySourceUnavailable
from tandem_auth.keys import KeysRemovedListener, VerificationKey

logger = logging.getLogger("tandem_auth.jwks")

MAX_KEYS: Final = 32
MAX_BODY_BYTES: Final = 64 * 1024
# The most a request for an unknown kid waits, and the fewest seconds between the fetches
# unknown kids cause (see ``JWKSCache._refresh``).
UNKNOWN_KID_COOLDOWN_SECONDS: Final = 2.0
_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.localdomain"})


class JWKSFetchError(Exception):
    """A fetch that produced no usable key set; the message is a short reason code."""


def parse_jwks(body: bytes, *, algorithm: str, max_keys: int = MAX_KEYS) -> dict[str, PublicKey]:
    """The set's keys that may verify ``algorithm`` tokens, by ``kid``."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise JWKSFetchError("not_json") from exc
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise JWKSFetchError("no_keys_array")
    if len(entries) > max_keys:
        raise JWKSFetchError("too_many_keys")
    keys: dict[str, PublicKey] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        kid = entry.get("kid")
        if isinstance(kid, str) and kid and (key := public_key_for(entry, algorithm)):
            keys[kid] = key
    if not keys:
        raise JWKSFetchError("no_usable_keys")
    return keys


def check_jwks_url(url: str) -> httpx.URL:
    """The URL, if keys may be fetched from it: https, or http to a loopback address."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ConfigurationError("JWKS_URL is not a valid URL") from exc
    if parsed.scheme == "https" and parsed.host:
        return parsed
    if parsed.scheme == "http" and _is_loopback(parsed.host):
        return parsed
    raise ConfigurationError("JWKS_URL must use https (plain http only to a loopback address)")


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class JWKSCache:
    """Serves the public keys for one algorithm by ``kid``, refreshed in the background."""

    def __init__(
        self,
        url: str,
        *,
        algorithm: str = "EdDSA",
        fetch_timeout_seconds: float = 5.0,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_keys: int = MAX_KEYS,
        refresh_interval_seconds: float = 300.0,
        retry_interval_seconds: float = 5.0,
        unknown_kid_cooldown_seconds: float = UNKNOWN_KID_COOLDOWN_SECONDS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if algorithm not in ALGORITHMS or algorithm == SHARED_SECRET_ALGORITHM:
            raise ConfigurationError("JWT_ALGORITHM for a JWKS must be an asymmetric algorithm")
        if not 0 < fetch_timeout_seconds <= 5:
            raise ConfigurationError("the JWKS fetch timeout must be above 0 and at most 5 s")
        self._url = check_jwks_url(url)
        self.algorithm = algorithm
        self._fetch_timeout = fetch_timeout_seconds
        self._max_body_bytes = max_body_bytes
        self._max_keys = max_keys
        self._refresh_interval = refresh_interval_seconds
        self._retry_interval = retry_interval_seconds
        self._cooldown = unknown_kid_cooldown_seconds
        self._transport = transport
        self._keys: dict[str, PublicKey] = {}
        self._last_fetch_started = float("-inf")
        self._last_unknown_kid_fetch = float("-inf")
        self._refreshed_at: float | None = None
        self._fetch_lock = asyncio.Lock()
        self._listeners: list[KeysRemovedListener] = []
        self._client: httpx.AsyncClient | None = None
        self._refresher: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return bool(self._keys)

    @property
    def url(self) -> str:
        return str(self._url)

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    @property
    def refreshed_at(self) -> float | None:
        """``time.time()`` of the last successful fetch, or None before the first."""
        return self._refreshed_at

    def on_keys_removed(self, listener: KeysRemovedListener) -> None:
        self._listeners.append(listener)

    async def start(self) -> None:
        """Load keys once (a failure is logged, not raised), then refresh in the background."""
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=self._fetch_timeout,
            transport=self._transport,
            trust_env=False,  # no proxy from the environment may sit between us and our keys
        )
        await self._refresh(trigger="startup")
        self._refresher = asyncio.create_task(self._refresh_forever(), name="jwks-refresh")

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        if self._client is not None:
            await self._client.aclose()

    async def keys_for(self, kid: str | None) -> Sequence[VerificationKey]:
        if kid is None:
            raise InvalidToken("bad_kid")
        key = self._keys.get(kid)
        if key is None:
            await self._refresh(trigger="unknown_kid", kid=kid)
            key = self._keys.get(kid)
        if key is not None:
            return (key,)
        if not self._keys:
            raise KeySourceUnavailable()
        raise InvalidToken("unknown_kid")

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_interval if self._keys else self._retry_interval)
            await self._refresh(trigger="scheduled")

    async def _refresh(self, *, trigger: str, kid: str | None = None) -> None:
        """Fetch once; concurrent callers share the fetch instead of starting their own.

        The cooldown counts only the fetches that unknown kids asked for: a key
        published just after a scheduled refresh is fetched at its first use.
        ``trigger`` (``startup``, ``scheduled`` or ``unknown_kid``) is logged as the
        refresh's reason.

        An unknown kid within the cooldown waits for the cooldown's end, holding the
        lock, so that everyone arriving meanwhile shares the one fetch that follows.
        Without the key its signature cannot be checked, so a kid that an attacker
        made up and one that was published a moment ago look the same: refusing
        both would refuse valid tokens for the rest of the cooldown, while waiting
        costs them at most the cooldown and keeps the fetch rate at one per
        cooldown. With no keys at all there is nothing to wait for: the caller
        gets 503 at once.
        """
        requested_at = time.monotonic()
        async with self._fetch_lock:
            if self._last_fetch_started >= requested_at or kid in self._keys:
                return  # someone else fetched while we waited for the lock
            if trigger == "unknown_kid":
                wait = self._last_unknown_kid_fetch + self._cooldown - time.monotonic()
                if wait > 0:
                    if not self._keys:
                        return
                    await asyncio.sleep(wait)
                self._last_unknown_kid_fetch = time.monotonic()
            self._last_fetch_started = time.monotonic()
            try:
                keys = await self._fetch()
            except JWKSFetchError as exc:
                logger.warning(
                    "JWKS refresh failed; keeping the last good keys",
                    extra={"event": "jwks.refresh_failed", "reason": str(exc), "trigger": trigger},
                )
                return
            removed = frozenset(self._keys) - frozenset(keys)
            self._keys = keys
            self._refreshed_at = time.time()
            logger.info(
                "JWKS refreshed",
                extra={
                    "event": "jwks.refreshed",
                    "reason": trigger,
                    "kids": sorted(keys),
                    "removed": sorted(removed),
                },
            )
        if removed:
            for listener in self._listeners:
                listener(removed)

    async def _fetch(self) -> dict[str, PublicKey]:
        try:
            async with asyncio.timeout(self._fetch_timeout):
                body = await self._read_capped()
        except TimeoutError as exc:
            raise JWKSFetchError("timeout") from exc
        except httpx.HTTPError as exc:
            raise JWKSFetchError(type(exc).__name__) from exc
        return parse_jwks(body, algorithm=self.algorithm, max_keys=self._max_keys)

    async def _read_capped(self) -> bytes:
        """The response body, capped; a compressed body is refused before it is read.

        A compressed body could inflate far past the cap, so only identity is
        accepted, and the bytes counted are the bytes that arrived.
        """
        assert self._client is not None, "start() must run before keys are fetched"
        headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
        async with self._client.stream("GET", self._url, headers=headers) as response:
            if response.status_code != 200:
                raise JWKSFetchError(f"status_{response.status_code}")
            if response.headers.get("content-encoding", "identity").lower() != "identity":
                raise JWKSFetchError("compressed")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self._max_body_bytes:
                raise JWKSFetchError("too_large")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self._max_body_bytes:
                    raise JWKSFetchError("too_large")
            return bytes(body)
