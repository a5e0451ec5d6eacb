"""Fixtures: verifiers against a key set served through an httpx transport.

The key server is an ``httpx.MockTransport`` handler: the cache's real HTTP
client, with its redirects, timeouts, headers and size caps, reads whatever
the test serves, without a socket. The cryptography is never mocked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tandem_auth import JWKSCache, TokenVerifier, VerifierSettings
from tests.signers import AUDIENCE, ISSUER, JWKS_URL, key_set


@dataclass
class KeyServer:
    """What the JWKS endpoint answers; every request is counted."""

    body: bytes = b'{"keys": []}'
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0
    requests: list[httpx.Request] = field(default_factory=list)
    requested_at: list[float] = field(default_factory=list)  # time.monotonic() of each

    def publish(self, *jwks: dict[str, Any]) -> None:
        self.body = key_set(*jwks)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.requested_at.append(time.monotonic())
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        return httpx.Response(
            self.status,
            stream=httpx.ByteStream(self.body),  # streamed, as a socket's body would be
            headers={"content-type": "application/json", **self.headers},
        )

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


@pytest.fixture
def key_server() -> KeyServer:
    return KeyServer()


StartVerifier = Callable[..., Any]


@pytest.fixture
def start_verifier(key_server: KeyServer) -> StartVerifier:
    """A started verifier for ``algorithm`` whose key set is ``key_server``."""

    @asynccontextmanager
    async def start(
        algorithm: str = "EdDSA", *, cache: dict[str, Any] | None = None, **settings: Any
    ) -> AsyncIterator[TokenVerifier]:
        keys = JWKSCache(
            JWKS_URL, algorithm=algorithm, transport=key_server.transport, **(cache or {})
        )
        verifier = TokenVerifier(
            VerifierSettings(algorithm=algorithm, issuer=ISSUER, audience=AUDIENCE, **settings),  # type: ignore[arg-type]
            keys,
        )
        async with verifier:
            yield verifier

    return start
