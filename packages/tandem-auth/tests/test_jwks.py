"""The key set's fetch: where it may come from, what it may be, and what an outage does."""

from __future__ import annotations

import asyncio
import gzip
import json
import time

import pytest
from _pytest.logging import LogCaptureFixture

from tandem_auth import ConfigurationError, InvalidToken, JWKSCache, KeySourceUnavailable
from tandem_auth.jwks import MAX_BODY_BYTES, MAX_KEYS
from tests.conftest import KeyServer, StartVerifier
from tests.signers import JWKS_URL, claims, signer

EDDSA = signer("EdDSA")


def refresh_failures(caplog: LogCaptureFixture) -> list[str]:
    """The reason codes of the refreshes the cache logged as failed."""
    return [
        record.reason  # type: ignore[attr-defined]
        for record in caplog.records
        if getattr(record, "event", None) == "jwks.refresh_failed"
    ]


@pytest.mark.parametrize(
    "url",
    [
        "http://auth.example.test/api/auth/jwks",
        "http://10.0.0.8/jwks",
        "http://localhost.evil.example/jwks",
        "ftp://auth.example.test/jwks",
        "file:///etc/passwd",
        "https:///no-host",
        "not a url",
    ],
)
def test_keys_are_fetched_only_over_https(url: str) -> None:
    with pytest.raises(ConfigurationError, match="JWKS_URL"):
        JWKSCache(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://auth.example.test/api/auth/jwks",
        "http://localhost:3000/api/auth/jwks",
        "http://127.0.0.1:3000/api/auth/jwks",
        "http://127.8.9.10/jwks",
        "http://[::1]:3000/jwks",
    ],
)
def test_plain_http_is_allowed_to_loopback_addresses(url: str) -> None:
    JWKSCache(url)


async def test_the_fetch_asks_for_no_compression_and_sends_no_credentials(
    key_server: KeyServer, start_verifier: StartVerifier
) -> None:
    key_server.publish(EDDSA.jwk())
    async with start_verifier():
        pass
    (request,) = key_server.requests
    assert request.headers["accept-encoding"] == "identity"
    assert "authorization" not in request.headers
    assert "cookie" not in request.headers


async def test_a_compressed_key_set_is_refused(
    key_server: KeyServer, start_verifier: StartVerifier, caplog: LogCaptureFixture
) -> None:
    # 60 KiB of JSON compresses into a few hundred bytes: a cap on compressed bytes alone
    # would let a key server make us inflate far more than we meant to read.
    key_server.body = gzip.compress(
        json.dumps({"keys": [EDDSA.jwk()], "pad": "x" * 60_000}).encode()
    )
    key_server.headers = {"content-encoding": "gzip"}
    async with start_verifier() as verifier:
        assert not verifier.keys.ready
    assert refresh_failures(caplog) == ["compressed"]


async def test_a_set_of_more_than_32_keys_is_refused(
    key_server: KeyServer, start_verifier: StartVerifier, caplog: LogCaptureFixture
) -> None:
    extra = [{**EDDSA.jwk(), "kid": f"extra-{n}"} for n in range(MAX_KEYS)]
    key_server.publish(EDDSA.jwk(), *extra)
    async with start_verifier() as verifier:
        assert not verifier.keys.ready
    assert refresh_failures(caplog) == ["too_many_keys"]

    key_server.publish(EDDSA.jwk(), *extra[:-1])  # exactly 32
    async with start_verifier() as verifier:
        assert verifier.keys.ready


async def test_a_body_over_the_cap_is_refused_even_without_a_declared_length(
    key_server: KeyServer, start_verifier: StartVerifier, caplog: LogCaptureFixture
) -> None:
    key_server.body = json.dumps({"keys": [EDDSA.jwk()], "pad": "x" * MAX_BODY_BYTES}).encode()
    async with start_verifier() as verifier:
        assert not verifier.keys.ready
    assert refresh_failures(caplog) == ["too_large"]


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_not_followed(
    status: int, key_server: KeyServer, start_verifier: StartVerifier, caplog: LogCaptureFixture
) -> None:
    key_server.status = status
    key_server.headers = {"location": "https://attacker.example.test/jwks"}
    key_server.publish(EDDSA.jwk())
    async with start_verifier() as verifier:
        assert not verifier.keys.ready
    assert [str(r.url) for r in key_server.requests] == [JWKS_URL]
    assert refresh_failures(caplog) == [f"status_{status}"]


def test_the_fetch_timeout_cannot_exceed_five_seconds() -> None:
    with pytest.raises(ConfigurationError):
        JWKSCache(JWKS_URL, fetch_timeout_seconds=30)


async def test_a_hanging_key_server_is_abandoned_at_the_timeout_and_stale_keys_serve(
    key_server: KeyServer, start_verifier: StartVerifier
) -> None:
    key_server.publish(EDDSA.jwk())
    async with start_verifier(cache={"fetch_timeout_seconds": 0.3}) as verifier:
        token = EDDSA.sign(claims())
        key_server.delay_seconds = 30
        started = time.monotonic()
        with pytest.raises(InvalidToken) as refused:
            await verifier.verify(signer("EdDSA", "rotated-in").sign(claims()))
        assert refused.value.reason == "unknown_kid"
        assert time.monotonic() - started < 1.0
        assert (await verifier.verify(token)).sub == "user-1"


async def test_no_key_source_and_no_cached_key_is_unavailable_not_invalid(
    key_server: KeyServer, start_verifier: StartVerifier
) -> None:
    key_server.status = 503
    async with start_verifier() as verifier:
        with pytest.raises(KeySourceUnavailable):
            await verifier.verify(EDDSA.sign(claims()))


async def test_unknown_kids_share_one_fetch_within_the_cooldown(
    key_server: KeyServer, start_verifier: StartVerifier
) -> None:
    key_server.publish(EDDSA.jwk())
    async with start_verifier() as verifier:
        tokens = [signer("EdDSA", f"unknown-{n}").sign(claims()) for n in range(50)]
        results = await asyncio.gather(
            *(verifier.verify(token) for token in tokens), return_exceptions=True
        )
    assert all(isinstance(result, InvalidToken) for result in results)
    assert len(key_server.requests) == 2  # start-up, then one for the whole burst


async def test_a_rotated_in_key_is_fetched_at_its_first_use(
    key_server: KeyServer, start_verifier: StartVerifier
) -> None:
    key_server.publish(EDDSA.jwk())
    async with start_verifier() as verifier:
        rotated = signer("EdDSA", "next-key")
        key_server.publish(EDDSA.jwk(), rotated.jwk())
        assert (await verifier.verify(rotated.sign(claims()))).kid == "next-key"
        assert (await verifier.verify(EDDSA.sign(claims()))).kid == EDDSA.kid
