"""The key set's fetch: where it may come from, what it may be, and what an outage does."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import time

import pytest
from _pytest.logging import LogCaptureFixture

from tandem_auth import ConfigurationError, InvalidToken, JWKSCache, KeySourceUnavailable
from tandem_auth.jwks import MAX_BODY_BYTES, MAX_KEYS
from tests.conftest import KeyServer, StartVerifier
from tests.signers import JWKS_URL, claims, signer

EDDSA = signer("EdDSA")
COOLDOWN = 0.5  # the unknown-kid cooldown of the tests that measure it
# The key server sees a fetch a little after the cache decided on it (other coroutines run
# in between), so the gaps it sees may fall short of the cooldown by that much.
SPACED = COOLDOWN - 0.05


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


async def test_a_burst_of_unknown_kids_costs_at_most_one_fetch_per_cooldown(
    key_server: KeyServer, start_verifier: StartVerifier
) -> None:
    key_server.publish(EDDSA.jwk())
    async with start_verifier(cache={"unknown_kid_cooldown_seconds": COOLDOWN}) as verifier:
        tokens = [signer("EdDSA", f"unknown-{n}").sign(claims()) for n in range(50)]
        results = await asyncio.gather(
            *(verifier.verify(token) for token in tokens), return_exceptions=True
        )
    assert all(isinstance(result, InvalidToken) for result in results)
    # Start-up; the first kid's fetch; and one more, a cooldown later, for the kids that
    # arrived while it ran (their keys could have been published after it started).
    _start_up, first, second = key_server.requested_at
    assert second - first >= SPACED


async def test_a_rotated_in_key_is_fetched_once_at_its_first_use(
    key_server: KeyServer, start_verifier: StartVerifier
) -> None:
    key_server.publish(EDDSA.jwk())
    async with start_verifier() as verifier:
        rotated = signer("EdDSA", "next-key")
        key_server.publish(EDDSA.jwk(), rotated.jwk())
        # A burst of the new kid: whoever waited behind the fetch finds its key, no wait.
        tokens = [rotated.sign(claims(sub=f"user-{n}")) for n in range(50)]
        principals = await asyncio.gather(*(verifier.verify(token) for token in tokens))
        assert {principal.kid for principal in principals} == {"next-key"}
        assert (await verifier.verify(EDDSA.sign(claims()))).kid == EDDSA.kid
    assert len(key_server.requests) == 2  # start-up, then one for the whole burst


# --- the unknown-kid cooldown in a cluster -----------------------------------------------------
# Instance A fetches for a made-up kid; a moment later another instance (or a rotation)
# publishes a real key. A must not refuse tokens signed with it for the rest of its cooldown.


async def test_a_key_published_just_after_a_fetch_for_a_made_up_kid_is_accepted(
    key_server: KeyServer, start_verifier: StartVerifier
) -> None:
    key_server.publish(EDDSA.jwk())
    async with start_verifier(cache={"unknown_kid_cooldown_seconds": COOLDOWN}) as verifier:
        with pytest.raises(InvalidToken) as refused:
            await verifier.verify(signer("EdDSA", "made-up").sign(claims()))
        assert refused.value.reason == "unknown_kid"
        assert len(key_server.requests) == 2  # start-up, then the made-up kid's

        created = signer("EdDSA", "just-created")
        key_server.publish(EDDSA.jwk(), created.jwk())
        # Within the cooldown: the token waits for the next fetch instead of a 401.
        principal = await verifier.verify(created.sign(claims()))

    assert principal.kid == "just-created"
    assert len(key_server.requests) == 3
    assert key_server.requested_at[2] - key_server.requested_at[1] >= SPACED


async def test_unknown_kids_without_pause_cost_at_most_one_fetch_per_cooldown(
    key_server: KeyServer, start_verifier: StartVerifier
) -> None:
    """Made-up kids sent one after another, as an attacker would, for three cooldowns."""
    key_server.publish(EDDSA.jwk())
    async with start_verifier(cache={"unknown_kid_cooldown_seconds": COOLDOWN}) as verifier:
        token = EDDSA.sign(claims())
        started = time.monotonic()
        sent = 0

        async def attacker(lane: int) -> None:
            nonlocal sent
            while time.monotonic() - started < 3 * COOLDOWN:
                sent += 1
                with pytest.raises(InvalidToken):
                    await verifier.verify(signer("EdDSA", f"made-up-{lane}-{sent}").sign(claims()))

        await asyncio.gather(*(attacker(lane) for lane in range(20)))
        assert (await verifier.verify(token)).sub == "user-1"  # a known kid never waits

    unknown_kid_fetches = key_server.requested_at[1:]
    assert sent > len(unknown_kid_fetches)
    gaps = [b - a for a, b in itertools.pairwise(unknown_kid_fetches)]
    assert all(gap >= SPACED for gap in gaps), gaps
    assert len(unknown_kid_fetches) <= 5  # three cooldowns and the last waiters' fetch


async def test_with_no_keys_at_all_an_unknown_kid_does_not_wait(
    key_server: KeyServer, start_verifier: StartVerifier
) -> None:
    key_server.status = 503
    async with start_verifier(cache={"unknown_kid_cooldown_seconds": 60}) as verifier:
        with pytest.raises(KeySourceUnavailable):
            await verifier.verify(EDDSA.sign(claims()))  # fetches once more
        with pytest.raises(KeySourceUnavailable):
            await verifier.verify(EDDSA.sign(claims()))  # within the cooldown: at once
    assert len(key_server.requests) == 2
