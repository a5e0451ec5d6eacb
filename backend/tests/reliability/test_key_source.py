"""Key-source faults that ``tests/auth/test_jwks_cache.py`` leaves out (issue 5, item 4).

That module covers a JWKS that answers badly (5xx, 404, not JSON, no usable
key), redirects, hangs or sends 10 MB. Here the key source is not answering
at all: Better Auth (Next.js) has stopped, so its port refuses connections.
FastAPI must go on serving every token it can verify with the keys it
cached, through its scheduled refreshes, and pick up new keys by itself once
Better Auth is back. Also here: a JWKS that hangs while the app starts.

The factory builds its ``JWKSCache`` with production intervals (a refresh
every 5 minutes). Tests that need to cross refreshes swap in the same class
with short intervals, so the app under test is otherwise the real one.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from tandem_auth import JWKSCache

import tandem.main
from tests.conftest import MakeUser, User, make_settings
from tests.support.apps import serving
from tests.support.database import MigratedDatabase
from tests.support.jwks_server import JWKSServer
from tests.support.tokens import SigningKey, claims_for, sign_eddsa

REFRESH_SECONDS = 0.2


class BetterAuthKeys:
    """Better Auth's ``/api/auth/jwks`` on a fixed port, which can go down and come back."""

    def __init__(self, keys: list[dict[str, Any]]) -> None:
        self.keys = keys
        self.fetches = 0
        self.port = 0
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/auth/jwks"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> BetterAuthKeys:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)  # reuses the address
        server.daemon_threads = True
        self.port = server.server_address[1]
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        self._server = server
        return self

    def stop(self) -> None:
        """Gone: the listening socket is closed, so connections are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


StartBetterAuth = Callable[[list[dict[str, Any]]], BetterAuthKeys]


@pytest.fixture
def better_auth() -> Iterator[StartBetterAuth]:
    """Start a key source publishing the given keys; every one is stopped afterwards."""
    holder: list[BetterAuthKeys] = []

    def make(keys: list[dict[str, Any]]) -> BetterAuthKeys:
        holder.append(BetterAuthKeys(keys).start())
        return holder[-1]

    yield make
    for server in holder:
        server.stop()


class RefreshLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.events: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append(str(getattr(record, "event", "")))

    def count(self, event: str) -> int:
        return self.events.count(event)


@pytest.fixture
def refresh_log() -> Iterator[RefreshLog]:
    logger = logging.getLogger("tandem_auth.jwks")
    handler = RefreshLog()
    previous = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(previous)


@pytest.fixture
def fast_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """Apps built from now on refresh their keys every 0.2 s (retry 0.1 s, fetch 1 s)."""
    monkeypatch.setattr(
        tandem.main,
        "JWKSCache",
        functools.partial(
            JWKSCache,
            refresh_interval_seconds=REFRESH_SECONDS,
            retry_interval_seconds=REFRESH_SECONDS / 2,
            fetch_timeout_seconds=1.0,
        ),
    )


def fresh_token(user: User, key: SigningKey) -> dict[str, str]:
    """A token never seen before (its own ``name``), so the verified-token cache cannot answer."""
    token = sign_eddsa(claims_for(user.id, user.sid, name=f"n{time.monotonic_ns()}"), key)
    return {"Authorization": f"Bearer {token}"}


async def assert_served(http: httpx.AsyncClient, user: User, key: SigningKey) -> None:
    """A fresh token with a cached key works on a route with and one without the database."""
    me = await http.get("/api/me", headers=fresh_token(user, key))
    assert me.status_code == 200, me.text
    assert me.json()["user_id"] == user.id
    created = await http.post(
        user.tasks_url, headers=fresh_token(user, key), json={"title": "while Better Auth is down"}
    )
    assert created.status_code == 201, created.text


async def wait_until(condition: Any, *, within: float) -> None:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < within, "condition not met in time"
        await asyncio.sleep(0.02)


@asynccontextmanager
async def app_on(
    database: MigratedDatabase, jwks_url: str
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with serving(make_settings(database, jwks_url=jwks_url)) as (app, http):
        yield app, http


async def test_better_auth_stopping_does_not_stop_the_api(
    database: MigratedDatabase, better_auth: StartBetterAuth, alice: User
) -> None:
    """Production timings: the refresh an unknown kid forces fails at once, and costs nothing."""
    k1, k2 = SigningKey(kid="k1"), SigningKey(kid="k2")
    source = better_auth([k1.jwk()])
    async with app_on(database, source.url) as (app, http):
        await assert_served(http, alice, k1)
        remembered = fresh_token(alice, k1)
        assert (await http.get("/api/me", headers=remembered)).status_code == 200

        source.stop()

        started = time.monotonic()
        unknown = await http.get("/api/me", headers=fresh_token(alice, k2))
        assert time.monotonic() - started < 1.0  # a refused connection fails fast
        assert unknown.status_code == 401, unknown.text  # not 503: the API has keys
        assert 'error="invalid_token"' in unknown.headers["www-authenticate"]

        for _ in range(3):
            await assert_served(http, alice, k1)
        assert (await http.get("/api/me", headers=remembered)).status_code == 200
        ready = await http.get("/ready")
        assert ready.status_code == 200, ready.text
        assert app.state.verifier.keys.kids == {"k1"}


async def test_better_auth_down_past_several_refreshes_then_back_with_a_new_key(
    database: MigratedDatabase,
    better_auth: StartBetterAuth,
    alice: User,
    fast_refresh: None,
    refresh_log: RefreshLog,
) -> None:
    k1, k2 = SigningKey(kid="k1"), SigningKey(kid="k2")
    source = better_auth([k1.jwk()])
    async with app_on(database, source.url) as (app, http):
        await assert_served(http, alice, k1)
        await wait_until(lambda: source.fetches >= 3, within=3.0)  # refreshes do run

        source.stop()
        failed_before = refresh_log.count("jwks.refresh_failed")
        stopped_at = time.monotonic()
        # Well past several refresh times, every request with a cached key is served.
        while time.monotonic() - stopped_at < 6 * REFRESH_SECONDS:
            await assert_served(http, alice, k1)
            assert (await http.get("/ready")).status_code == 200
        assert refresh_log.count("jwks.refresh_failed") - failed_before >= 3
        assert app.state.verifier.keys.kids == {"k1"}

        # Better Auth comes back on the same URL, now also publishing a new key; the
        # scheduled refresh finds it without anyone asking.
        source.keys = [k1.jwk(), k2.jwk()]
        source.start()
        await wait_until(lambda: app.state.verifier.keys.kids == {"k1", "k2"}, within=3.0)
        await assert_served(http, alice, k2)
        await assert_served(http, alice, k1)


async def test_a_cache_keeps_its_keys_while_the_source_refuses_connections(
    better_auth: StartBetterAuth,
) -> None:
    """The cache itself: a refused connection is a failed refresh, never an empty key set."""
    k1 = SigningKey(kid="k1")
    source = better_auth([k1.jwk()])
    cache = JWKSCache(
        source.url,
        refresh_interval_seconds=0.05,
        retry_interval_seconds=0.05,
        fetch_timeout_seconds=0.5,
        unknown_kid_cooldown_seconds=0.0,
    )
    await cache.start()
    try:
        assert cache.kids == {"k1"}
        source.stop()
        for _ in range(10):
            await asyncio.sleep(0.05)
            assert cache.ready
            assert len(await cache.keys_for("k1")) == 1
        started = time.monotonic()
        with pytest.raises(Exception, match="unknown_kid"):
            await cache.keys_for("k9")  # tries the source, which refuses at once
        assert time.monotonic() - started < 0.5
        assert cache.kids == {"k1"}
    finally:
        await cache.close()


async def test_a_jwks_hanging_at_startup_delays_startup_by_one_fetch_timeout_then_503(
    database: MigratedDatabase, alice: User, fast_refresh: None
) -> None:
    """Startup waits for at most one fetch; then 503 until keys load, which they do by themselves.

    While a fetch hangs, a request that needs a key waits for it (at most one
    fetch timeout, 1 s here) and gets 503; requests that need no key are not held.
    """
    key = SigningKey(kid="hang-k1")
    hanging = JWKSServer().start()
    hanging.reset([key.jwk()])
    hanging.delay_seconds = 3.0
    try:
        started = time.monotonic()
        async with app_on(database, hanging.url) as (_app, http):
            startup = time.monotonic() - started
            assert 0.9 <= startup < 2.5, startup

            t0 = time.monotonic()
            assert (await http.get("/health")).status_code == 200
            ready = await http.get("/ready")
            assert ready.status_code == 503
            assert ready.json()["keys"] == "unavailable"
            assert time.monotonic() - t0 < 0.5

            t0 = time.monotonic()
            waiting = await http.get("/api/me", headers=fresh_token(alice, key))
            assert time.monotonic() - t0 < 1.5
            assert waiting.status_code == 503, waiting.text
            assert waiting.headers["retry-after"].isdigit()

            hanging.delay_seconds = 0.0

            async def served() -> bool:
                response = await http.get("/api/me", headers=fresh_token(alice, key))
                assert response.status_code in (200, 503), response.text
                return response.status_code == 200

            deadline = time.monotonic() + 3.0
            while not await served():
                assert time.monotonic() < deadline, "keys never loaded"
                await asyncio.sleep(0.05)
            assert (await http.get("/ready")).status_code == 200
    finally:
        hanging.stop()


async def test_shared_secret_tokens_do_not_need_better_auth_at_all(
    hs256_client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    """HS256 mode: the API verifies with its own secret; no key source is involved."""
    user = await make_user(hs256=True)
    assert (await hs256_client.get("/api/me", headers=user.headers)).status_code == 200
    listed = await hs256_client.get(user.tasks_url, headers=user.headers)
    assert listed.status_code == 200
