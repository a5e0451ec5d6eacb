"""SECURITY.md "Faults" (JWKS lines) and DESIGN.md §4 step 4: the key cache under failure.

App-level tests start a fresh app per test against its own loopback JWKS
server, with the production timings. Cache-level tests drive ``JWKSCache``
directly with short intervals, so waiting for a background refresh is cheap.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import pytest_asyncio
from tandem_auth import (
    InvalidToken,
    JWKSCache,
    KeySourceUnavailable,
    TokenVerifier,
    VerifierSettings,
)

from tests.auth.conftest import AuthLog, StartApp
from tests.auth.expect import (
    ME,
    assert_invalid_token,
    assert_missing_credentials,
    assert_unavailable,
    bearer,
)
from tests.auth.forge import token_for
from tests.conftest import User
from tests.support.jwks_server import JWKSServer
from tests.support.tokens import AUDIENCE, ISSUER, SigningKey

TEN_MB = 10 * 1024 * 1024


async def me(client: httpx.AsyncClient, user: User, key: SigningKey, **claims: Any) -> Any:
    """A fresh token each call (a new ``name``), so the verified-token cache never answers."""
    claims.setdefault("name", f"n{time.monotonic_ns()}")
    return await client.get(ME, headers=bearer(token_for(user, key, **claims)))


async def assert_fresh_token_accepted(
    client: httpx.AsyncClient, user: User, key: SigningKey
) -> None:
    response = await me(client, user, key)
    assert response.status_code == 200, response.text


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/jwks"


async def wait_until(condition: Any, *, within: float, interval: float = 0.05) -> None:
    """Poll an async condition until it holds, failing after ``within`` seconds."""
    started = time.monotonic()
    while not await condition():
        assert time.monotonic() - started < within, "condition not met in time"
        await asyncio.sleep(interval)


@pytest.fixture
def k1() -> SigningKey:
    return SigningKey(kid="k1")


@pytest.fixture
def k2() -> SigningKey:
    return SigningKey(kid="k2")


# --- app level: production timings ---------------------------------------------------------------


async def test_jwks_down_at_startup_gives_503_and_the_app_recovers_by_itself(
    start_app: StartApp, new_jwks_server, alice: User, k1: SigningKey
) -> None:
    server = new_jwks_server([k1.jwk()])
    server.status = 500

    async with start_app(jwks_url=server.url) as (_app, client):
        assert_unavailable(await me(client, alice, k1))
        ready = await client.get("/ready")
        assert ready.status_code == 503
        assert ready.headers["retry-after"].isdigit()
        assert ready.json()["keys"] == "unavailable"
        # Requests that need no key are still answered as before.
        assert_missing_credentials(await client.get(ME))
        assert_invalid_token(await client.get(ME, headers=bearer("a.b")))

        server.status = 200

        async def is_ready() -> bool:
            return (await client.get("/ready")).status_code == 200

        await wait_until(is_ready, within=8.0, interval=0.25)  # the retry runs every 5 s
        await assert_fresh_token_accepted(client, alice, k1)


async def test_jwks_unreachable_at_startup_gives_503(
    start_app: StartApp, alice: User, k1: SigningKey
) -> None:
    async with start_app(jwks_url=closed_port_url()) as (_app, client):
        assert_unavailable(await me(client, alice, k1))
        assert_unavailable(await client.get(f"/api/{alice.id}/tasks", headers=alice.headers))
        assert (await client.get("/ready")).status_code == 503


FAULTS: dict[str, dict[str, Any]] = {
    "status_500": {"status": 500},
    "status_404": {"status": 404},
    "not_json": {"body_override": b"<html>maintenance</html>"},
    "empty_key_set": {"body_override": b'{"keys": []}'},
    "no_usable_key": {"body_override": b'{"keys": [{"kty": "RSA", "kid": "k1"}]}'},
    "not_an_object": {"body_override": b"[]"},
    "deeply_nested": {"body_override": b"[" * 100_000 + b"]" * 100_000},
}


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_jwks_down_after_keys_were_cached_keeps_serving_them(
    start_app: StartApp, new_jwks_server, alice: User, k1: SigningKey, k2: SigningKey, fault: str
) -> None:
    server = new_jwks_server([k1.jwk()])
    async with start_app(jwks_url=server.url) as (app, client):
        await assert_fresh_token_accepted(client, alice, k1)
        for name, value in FAULTS[fault].items():
            setattr(server, name, value)

        # An unknown kid makes the app refresh now, instead of in five minutes.
        assert_invalid_token(await me(client, alice, k2))
        assert server.fetches == 2

        await assert_fresh_token_accepted(client, alice, k1)
        assert app.state.verifier.keys.kids == {"k1"}
        assert (await client.get("/ready")).status_code == 200


async def test_rotation_costs_one_refetch_and_the_old_kid_keeps_working(
    start_app: StartApp, new_jwks_server, alice: User, k1: SigningKey, k2: SigningKey
) -> None:
    server = new_jwks_server([k1.jwk()])
    async with start_app(jwks_url=server.url) as (_app, client):
        await assert_fresh_token_accepted(client, alice, k1)
        assert server.fetches == 1  # at startup

        server.keys = [k1.jwk(), k2.jwk()]  # Better Auth publishes a new key and signs with it
        await assert_fresh_token_accepted(client, alice, k2)
        assert server.fetches == 2

        for _ in range(3):
            await assert_fresh_token_accepted(client, alice, k2)
            await assert_fresh_token_accepted(client, alice, k1)
        assert server.fetches == 2


async def test_a_kid_that_leaves_the_jwks_takes_its_cached_tokens_with_it(
    start_app: StartApp,
    new_jwks_server,
    alice: User,
    k1: SigningKey,
    k2: SigningKey,
    auth_log: AuthLog,
) -> None:
    server = new_jwks_server([k1.jwk(), k2.jwk()])
    async with start_app(jwks_url=server.url) as (_app, client):
        remembered = token_for(alice, k1)
        for _ in range(2):  # the second answer comes from the verified-token cache
            assert (await client.get(ME, headers=bearer(remembered))).status_code == 200

        server.keys = [k2.jwk()]
        assert_invalid_token(await me(client, alice, SigningKey(kid="k3")))  # forces a refresh
        assert server.fetches == 2

        response = await client.get(ME, headers=bearer(remembered))
        assert_invalid_token(response, token=remembered)
        assert auth_log.last_reason == "unknown_kid"
        await assert_fresh_token_accepted(client, alice, k2)


async def test_a_redirecting_jwks_is_not_followed_and_stale_keys_are_kept(
    start_app: StartApp,
    new_jwks_server,
    alice: User,
    k1: SigningKey,
    k2: SigningKey,
    auth_log: AuthLog,
) -> None:
    server = new_jwks_server([k1.jwk()])
    elsewhere = new_jwks_server([k1.jwk(), k2.jwk()])
    async with start_app(jwks_url=server.url) as (app, client):
        server.redirect_to = elsewhere.url

        assert_invalid_token(await me(client, alice, k2))
        assert auth_log.last_reason == "unknown_kid"

        assert server.fetches == 2
        assert elsewhere.fetches == 0
        assert app.state.verifier.keys.kids == {"k1"}
        await assert_fresh_token_accepted(client, alice, k1)


async def test_a_hanging_jwks_is_abandoned_within_5_s_while_known_kids_are_served(
    start_app: StartApp, new_jwks_server, alice: User, k1: SigningKey, k2: SigningKey
) -> None:
    server = new_jwks_server([k1.jwk()])
    async with start_app(jwks_url=server.url) as (app, client):
        server.keys = [k1.jwk(), k2.jwk()]
        server.delay_seconds = 10.0

        started = time.monotonic()
        stuck = asyncio.create_task(me(client, alice, k2))

        async def refetch_started() -> bool:
            return server.fetches == 2

        await wait_until(refetch_started, within=2.0)
        for _ in range(5):  # the fetch hangs; requests with a known kid do not wait for it
            request_started = time.monotonic()
            await assert_fresh_token_accepted(client, alice, k1)
            assert time.monotonic() - request_started < 0.5
        response = await stuck
        elapsed = time.monotonic() - started

        assert_invalid_token(response)
        assert elapsed <= 5.75  # the fetch timeout is 5 s
        assert app.state.verifier.keys.kids == {"k1"}
        await assert_fresh_token_accepted(client, alice, k1)


async def test_a_10_mb_jwks_is_cut_off_and_stale_keys_are_kept(
    start_app: StartApp, new_jwks_server, alice: User, k1: SigningKey, k2: SigningKey
) -> None:
    server = new_jwks_server([k1.jwk()])
    async with start_app(jwks_url=server.url) as (app, client):
        padding = [{"kty": "oct", "kid": f"pad-{i}", "k": "A" * 1024} for i in range(10_240)]
        server.body_override = json.dumps({"keys": [k1.jwk(), k2.jwk(), *padding]}).encode()
        assert len(server.body_override) > TEN_MB

        started = time.monotonic()
        assert_invalid_token(await me(client, alice, k2))
        assert time.monotonic() - started < 2.0

        assert server.fetches == 2
        assert app.state.verifier.keys.kids == {"k1"}
        await assert_fresh_token_accepted(client, alice, k1)


# --- cache level: short intervals ----------------------------------------------------------------


class StreamingServer:
    """A JWKS endpoint that streams its body with no ``Content-Length``, in paced chunks."""

    def __init__(self, body: bytes, *, chunk: int, pause_seconds: float = 0.0) -> None:
        outer_body, outer_chunk, outer_pause = body, chunk, pause_seconds

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for start in range(0, len(outer_body), outer_chunk):
                        self.wfile.write(outer_body[start : start + outer_chunk])
                        self.wfile.flush()
                        time.sleep(outer_pause)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/jwks"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def streaming_server() -> Iterator[Any]:
    servers: list[StreamingServer] = []

    def start(body: bytes, *, chunk: int, pause_seconds: float = 0.0) -> StreamingServer:
        servers.append(StreamingServer(body, chunk=chunk, pause_seconds=pause_seconds))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest_asyncio.fixture
async def fast_cache(
    new_jwks_server, k1: SigningKey
) -> AsyncIterator[tuple[JWKSCache, JWKSServer]]:
    """A started cache that refreshes every 0.1 s, against a server publishing k1."""
    server = new_jwks_server([k1.jwk()])
    cache = JWKSCache(
        server.url,
        fetch_timeout_seconds=0.5,
        refresh_interval_seconds=0.1,
        retry_interval_seconds=0.05,
    )
    await cache.start()
    yield cache, server
    await cache.close()


async def test_cache_down_at_startup_raises_unavailable_then_recovers(
    new_jwks_server, k1: SigningKey
) -> None:
    server = new_jwks_server([k1.jwk()])
    server.status = 503
    cache = JWKSCache(server.url, retry_interval_seconds=0.05)
    await cache.start()
    try:
        assert not cache.ready
        with pytest.raises(KeySourceUnavailable):
            await cache.keys_for("k1")

        server.status = 200

        async def ready() -> bool:
            return cache.ready

        await wait_until(ready, within=2.0)
        assert len(await cache.keys_for("k1")) == 1
    finally:
        await cache.close()


async def test_cache_keeps_its_keys_through_failed_refreshes(fast_cache, k1: SigningKey) -> None:
    cache, server = fast_cache
    server.status = 500

    async def several_failed() -> bool:
        return server.fetches >= 4

    await wait_until(several_failed, within=3.0)

    assert cache.ready
    assert cache.kids == {"k1"}
    assert len(await cache.keys_for("k1")) == 1


async def test_background_refresh_drops_removed_kids_and_their_cached_tokens(
    fast_cache, alice: User, k1: SigningKey, k2: SigningKey
) -> None:
    cache, server = fast_cache
    verifier = TokenVerifier(
        VerifierSettings(algorithm="EdDSA", issuer=ISSUER, audience=AUDIENCE), cache
    )
    token = token_for(alice, k1)
    assert (await verifier.verify(token)).sub == alice.id
    assert (await verifier.verify(token)).sub == alice.id  # now from the verified-token cache

    server.keys = [k2.jwk()]

    async def rotated() -> bool:
        return cache.kids == {"k2"}

    await wait_until(rotated, within=2.0)  # no request asked for it: the refresh is scheduled
    with pytest.raises(InvalidToken):
        await verifier.verify(token)
    assert (await verifier.verify(token_for(alice, k2))).sub == alice.id


async def test_unknown_kids_share_one_fetch_and_respect_the_cooldown(
    new_jwks_server, k1: SigningKey
) -> None:
    server = new_jwks_server([k1.jwk()])
    cooldown = 0.3
    cache = JWKSCache(
        server.url, refresh_interval_seconds=3600, unknown_kid_cooldown_seconds=cooldown
    )
    await cache.start()
    started = time.monotonic()
    try:
        for burst in ("nope", "again"):
            results = await asyncio.gather(
                *(cache.keys_for(f"{burst}-{i}") for i in range(200)), return_exceptions=True
            )
            assert all(isinstance(result, InvalidToken) for result in results)
    finally:
        await cache.close()
    elapsed = time.monotonic() - started
    # Each burst: the first kid's fetch, then, a cooldown later, one for all the rest;
    # never more than one per cooldown.
    assert 2 <= server.fetches - 1 <= 1 + elapsed / cooldown


async def test_cache_abandons_a_hanging_fetch_at_its_timeout(
    fast_cache, k1: SigningKey, k2: SigningKey
) -> None:
    cache, server = fast_cache
    server.keys = [k1.jwk(), k2.jwk()]
    server.delay_seconds = 3.0

    started = time.monotonic()
    known = await cache.keys_for("k1")
    assert time.monotonic() - started < 0.1
    assert len(known) == 1
    with pytest.raises(InvalidToken):
        await cache.keys_for("k2")
    assert time.monotonic() - started < 1.0  # fetch_timeout_seconds=0.5
    assert cache.kids == {"k1"}


async def test_cache_cuts_off_a_body_with_no_declared_length(
    streaming_server, k1: SigningKey
) -> None:
    body = json.dumps({"keys": [k1.jwk()], "padding": "x" * TEN_MB}).encode()
    server = streaming_server(body, chunk=16 * 1024)
    cache = JWKSCache(server.url)
    started = time.monotonic()
    await cache.start()
    try:
        assert not cache.ready  # the body held k1, but it was over the cap
        assert time.monotonic() - started < 2.0
    finally:
        await cache.close()


async def test_cache_abandons_a_slow_drip_at_its_total_timeout(
    streaming_server, k1: SigningKey
) -> None:
    # One byte every 50 ms: no single read ever times out, so only a total deadline helps.
    body = json.dumps({"keys": [k1.jwk()]}).encode()
    server = streaming_server(body, chunk=1, pause_seconds=0.05)
    cache = JWKSCache(server.url, fetch_timeout_seconds=0.5)
    started = time.monotonic()
    await cache.start()
    try:
        assert time.monotonic() - started < 1.0
        assert not cache.ready
    finally:
        await cache.close()
