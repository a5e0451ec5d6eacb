"""An in-memory cache of a JWKS endpoint's Ed25519 signing keys.

Keys load at startup and refresh in the background. A failed refresh keeps
the last good keys. An unknown ``kid`` triggers at most one fetch per
cooldown, shared by every request waiting on it (single flight). Each fetch
is bounded: a total timeout, no redirects, and a cap on the body size.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tandem.auth.errors import InvalidToken, KeySourceUnavailable
from tandem.auth.keys import KeysRemovedListener, VerificationKey
from tandem.auth.token_shape import b64url_decode

logger = logging.getLogger("tandem.auth.jwks")


class JWKSFetchError(Exception):
    """A fetch that produced no usable key set; the message is a short reason."""


def parse_jwks(body: bytes) -> dict[str, Ed25519PublicKey]:
    """Keep only public OKP/Ed25519 signing keys with a usable ``kid``."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise JWKSFetchError("not_json") from exc
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise JWKSFetchError("no_keys_array")
    keys = {}
    for entry in entries:
        if isinstance(entry, dict) and (parsed := _ed25519_signing_key(entry)):
            keys[parsed[0]] = parsed[1]
    if not keys:
        raise JWKSFetchError("no_usable_keys")
    return keys


def _ed25519_signing_key(jwk: Mapping[str, Any]) -> tuple[str, Ed25519PublicKey] | None:
    kid, x = jwk.get("kid"), jwk.get("x")
    if (
        jwk.get("kty") != "OKP"
        or jwk.get("crv") != "Ed25519"
        or "d" in jwk  # a private key published by mistake is never trusted
        or jwk.get("use", "sig") != "sig"
        or jwk.get("alg", "EdDSA") not in ("EdDSA", "Ed25519")
        or not isinstance(kid, str)
        or not kid
        or not isinstance(x, str)
    ):
        return None
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return None
    try:
        return kid, Ed25519PublicKey.from_public_bytes(b64url_decode(x))
    except (InvalidToken, ValueError):
        return None


class JWKSCache:
    """Serves Ed25519 keys by ``kid`` from a JWKS URL, refreshed in the background."""

    def __init__(
        self,
        url: str,
        *,
        fetch_timeout_seconds: float = 5.0,
        max_body_bytes: int = 64 * 1024,
        refresh_interval_seconds: float = 300.0,
        retry_interval_seconds: float = 5.0,
        unknown_kid_cooldown_seconds: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = url
        self._fetch_timeout = fetch_timeout_seconds
        self._max_body_bytes = max_body_bytes
        self._refresh_interval = refresh_interval_seconds
        self._retry_interval = retry_interval_seconds
        self._cooldown = unknown_kid_cooldown_seconds
        self._transport = transport
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._last_fetch_started = float("-inf")
        self._last_unknown_kid_fetch = float("-inf")
        self._fetch_lock = asyncio.Lock()
        self._listeners: list[KeysRemovedListener] = []
        self._client: httpx.AsyncClient | None = None
        self._refresher: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return bool(self._keys)

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

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
            await self._refresh(trigger="unknown_kid")
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

    async def _refresh(self, *, trigger: str) -> None:
        """Fetch once; concurrent callers share the fetch instead of starting their own.

        The cooldown counts only the fetches that unknown kids asked for: a key
        published just after a scheduled refresh is fetched at its first use.
        ``trigger`` (``startup``, ``scheduled`` or ``unknown_kid``) is logged as the
        refresh's reason.
        """
        respect_cooldown = trigger == "unknown_kid"
        requested_at = time.monotonic()
        async with self._fetch_lock:
            if self._last_fetch_started >= requested_at:
                return  # someone else fetched while we waited for the lock
            if respect_cooldown:
                if requested_at - self._last_unknown_kid_fetch < self._cooldown:
                    return
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

    async def _fetch(self) -> dict[str, Ed25519PublicKey]:
        assert self._client is not None, "start() must run before keys are fetched"
        try:
            async with asyncio.timeout(self._fetch_timeout):
                body = await self._read_capped()
        except TimeoutError as exc:
            raise JWKSFetchError("timeout") from exc
        except httpx.HTTPError as exc:
            raise JWKSFetchError(type(exc).__name__) from exc
        return parse_jwks(body)

    async def _read_capped(self) -> bytes:
        assert self._client is not None
        async with self._client.stream(
            "GET", self._url, headers={"Accept": "application/json"}
        ) as response:
            if response.status_code != 200:
                raise JWKSFetchError(f"status_{response.status_code}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self._max_body_bytes:
                raise JWKSFetchError("too_large")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self._max_body_bytes:
                    raise JWKSFetchError("too_large")
            return bytes(body)
