"""Key and secret rotation, as the drills in docs/operations.md: each test does what an operator
does, in the same order, and checks what the operator would check.

- EdDSA: the running stack's signing key is retired the way Better Auth's `rotationInterval`
  retires it (its `expiresAt` passes); the next token comes with a new key. The API fetches
  the key set once and accepts both keys, and no request fails meanwhile.
- HS256: the suite's HS256 pair moves to a new JWT_SECRET with the old one in
  JWT_PREVIOUS_SECRETS, then drops it.
- BETTER_AUTH_SECRET: a Next.js server of its own, on the suite's database, is restarted with
  versioned secrets (BETTER_AUTH_SECRETS). The JWKS private key was encrypted before them, so
  it decrypts only while BETTER_AUTH_SECRET still holds the old secret; sessions are signed
  out, because Better Auth signs session cookies with the current secret alone.

Every sign-up and sign-in here comes from an X-Forwarded-For of its own, so that the drills
never use up the rest of the suite's sign-ins (Better Auth limits them per address).
"""

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

import httpx

from support import sensitive
from support.http import (
    SESSION_COOKIE,
    bearer,
    client,
    distinct_address,
    jwt_for,
    jwt_header,
    same_origin,
    sign_in,
    sign_up,
)
from support.logs import Event, audit_events, wait_for_events, with_request_id
from support.paths import LOGS
from support.stack import Pair, Stack
from support.users import new_user

ME = "/api/me"
# The loop's pace: enough requests to cover the rotation, few enough to stay far below the
# API's per-user limit (100/second) however fast the requests are: one round of at most
# three calls per pause is at most 60 a second.
_LOOP_PAUSE_SECONDS = 0.05
_LOOP_AFTER_ROTATION_SECONDS = 1.0


@dataclass
class RequestLoop:
    """Calls made over and over on a thread of their own until `stop`: every status seen."""

    calls: dict[str, Callable[[], httpx.Response]]
    seen: list[tuple[str, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def add(self, name: str, call: Callable[[], httpx.Response]) -> None:
        with self._lock:
            self.calls[name] = call

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="request-loop", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                calls = list(self.calls.items())
            for name, call in calls:
                try:
                    status = call().status_code
                except httpx.HTTPError as error:
                    status = -1
                    name = f"{name}: {type(error).__name__}"
                self.seen.append((name, status))
            time.sleep(_LOOP_PAUSE_SECONDS)

    def wait_until(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.seen) < count:
            assert time.monotonic() < deadline, f"the loop made {len(self.seen)} calls"
            time.sleep(_LOOP_PAUSE_SECONDS)

    def stop(self) -> list[tuple[str, int]]:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=30)
        return self.seen


def _signing_kid(stack: Stack) -> str:
    """The key the main pair signs with: the newest EdDSA one not yet expired (the table also
    holds the keys of the pairs that test_algorithms.py starts on the same database)."""
    query = """SELECT id FROM jwks WHERE alg = 'EdDSA'
               AND ("expiresAt" IS NULL OR "expiresAt" > now())
               ORDER BY "createdAt" DESC LIMIT 1"""
    return stack.sql(query).strip()


def _jwks_refreshes(since: float) -> list[Event]:
    """The API's key-set fetches logged after `since` (a time.time())."""
    return [
        event
        for event in audit_events("api")
        if event["event"] == "jwks.refreshed"
        and _timestamp(event) >= since
        and event["reason"] == "unknown_kid"
    ]


def _timestamp(event: Event) -> float:
    return datetime.fromisoformat(event["time"]).timestamp()


def test_eddsa_signing_key_rotation_with_the_app_running(stack: Stack, app: Pair) -> None:
    address = distinct_address()
    user = new_user("Rosa Kim")
    with client(app.web_url, forwarded_for=address) as web, client(app.api_url) as api:
        sign_up(web, app, user)
        old_token = jwt_for(web)
        old_kid = jwt_header(old_token)["kid"]
        assert _signing_kid(stack) == old_kid
        assert api.get(ME, headers=bearer(old_token)).status_code == 200

        # Traffic all through the drill: the task list through the proxy (which now holds
        # an old-key token for this session) and the old token straight to the API.
        proxy = client(app.web_url, forwarded_for=address)
        proxy.cookies.set(SESSION_COOKIE, web.cookies[SESSION_COOKIE])
        direct = client(app.api_url)
        loop = RequestLoop(
            {
                "proxy": lambda: proxy.get("/api/tasks", headers=same_origin(app)),
                "old token": lambda: direct.get(ME, headers=bearer(old_token)),
            }
        )
        loop.start()
        loop.wait_until(4)
        rotated_at = time.time()

        # 1. Retire the signing key, as `rotationInterval` does once it is due.
        stack.sql("""UPDATE jwks SET "expiresAt" = now() WHERE id = :'kid'""", kid=old_kid)
        # 2. The next token Better Auth signs makes a new key, and carries its kid.
        new_token = jwt_for(web)
        new_kid = jwt_header(new_token)["kid"]
        assert new_kid != old_kid
        assert _signing_kid(stack) == new_kid
        assert jwt_header(jwt_for(web))["kid"] == new_kid
        published = {key["kid"] for key in web.get("/api/auth/jwks").json()["keys"]}
        assert {old_kid, new_kid} <= published  # the old key stays for the grace period

        # 3. The API takes the new key at its first token, and still takes the old one.
        loop.add("new token", lambda: direct.get(ME, headers=bearer(new_token)))
        assert api.get(ME, headers=bearer(new_token)).status_code == 200
        assert api.get(ME, headers=bearer(old_token)).status_code == 200
        time.sleep(_LOOP_AFTER_ROTATION_SECONDS)
        seen = loop.stop()
        proxy.close()
        direct.close()

        # A new session's token, through the proxy, is signed with the new key.
        with client(app.web_url, forwarded_for=address) as later:
            sign_in(later, app, user)
            listed = later.get("/api/tasks", headers=same_origin(app))
            assert listed.status_code == 200, listed.text
            request_id = listed.headers["X-Request-ID"]

    assert {name for name, _ in seen} == {"proxy", "old token", "new token"}
    failed = [(name, status) for name, status in seen if status != 200]
    assert not failed, f"{len(failed)} of {len(seen)} requests failed: {failed[:5]}"

    accepted = wait_for_events(
        lambda: audit_events("api"),
        lambda e: e["request_id"] == request_id and e["event"] == "auth.accepted",
    )
    assert accepted[0]["kid"] == new_kid
    # One fetch of the key set, at the first new-key token, with both keys in it. (The API
    # writes its events in order: the last request's is there, so every earlier one is too.)
    (refresh,) = _jwks_refreshes(rotated_at)
    assert set(refresh["kids"]) >= {old_kid, new_kid}
    assert refresh["removed"] == []


def _signed_with(token: str, secret: str) -> bool:
    signing_input, _, signature = token.rpartition(".")
    expected = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return hmac.compare_digest(base64.urlsafe_b64encode(expected).rstrip(b"=").decode(), signature)


def _rejection(api: httpx.Client, token: str) -> Event:
    """The API's 401 for `token`, and the reason it logged."""
    response = api.get(ME, headers=bearer(token))
    assert response.status_code == 401, response.text
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    request_id = response.headers["X-Request-ID"]
    (event,) = wait_for_events(partial(audit_events, "api-hs256"), with_request_id(request_id))
    return event


def test_hs256_secret_rotation(stack: Stack) -> None:
    """On the suite's HS256 pair, which ends the drill on its new secret."""
    pair = stack.hs256()
    old_secret, new_secret = stack.env(pair.api)["JWT_SECRET"], secrets.token_urlsafe(36)
    sensitive.remember("JWT_SECRET", new_secret)
    with (
        client(pair.web_url, forwarded_for=distinct_address()) as web,
        client(pair.api_url) as api,
    ):
        sign_up(web, pair, new_user("Hana Sato"))
        assert api.get(ME, headers=bearer(jwt_for(web))).status_code == 200

        # 1. The API first: the new secret, with the old one still accepted.
        stack.restart(pair.api, {"JWT_SECRET": new_secret, "JWT_PREVIOUS_SECRETS": old_secret})
        old_token = jwt_for(web)
        assert _signed_with(old_token, old_secret)
        assert api.get(ME, headers=bearer(old_token)).status_code == 200

        # 2. Then the web app signs with the new secret. Sessions are untouched.
        stack.restart(pair.web, {"JWT_SECRET": new_secret})
        new_token = jwt_for(web)
        assert _signed_with(new_token, new_secret)
        assert api.get(ME, headers=bearer(new_token)).status_code == 200
        assert api.get(ME, headers=bearer(old_token)).status_code == 200
        title = f"Made after the rotation {secrets.token_hex(3)}"
        created = web.post("/api/tasks", json={"title": title}, headers=same_origin(pair))
        assert created.status_code == 201, created.text

        # 3. Drop the old secret: its tokens are refused (for their signature, whether or
        #    not they have expired meanwhile), and new ones work.
        stack.restart(pair.api, {"JWT_PREVIOUS_SECRETS": None})
        assert _rejection(api, old_token)["reason"] == "bad_signature"
        assert api.get(ME, headers=bearer(jwt_for(web))).status_code == 200
        listed = web.get("/api/tasks", headers=same_origin(pair))
        assert [task["title"] for task in listed.json()["items"]] == [title]


def test_better_auth_secret_rotation(stack: Stack, app: Pair) -> None:
    old_secret, new_secret = stack.auth_secret, secrets.token_urlsafe(32)
    sensitive.remember("BETTER_AUTH_SECRET", new_secret)
    versioned = f"2:{new_secret},1:{old_secret}"
    name = "web-secret-drill"
    # A Next.js server like the suite's own (its settings, its database, its JWKS key), so
    # that the main one keeps serving the rest of the suite. Its tokens outlive the drill, so
    # that the last check is about the session and not about expiry.
    web_url = stack.start_web(name, like=app, env={"JWT_LIFETIME_SECONDS": "300"})
    try:
        with (
            client(web_url, forwarded_for=distinct_address()) as web,
            client(app.api_url) as api,
        ):
            user = new_user("Omar Haddad")
            sign_up(web, app, user)
            cookie_before = web.cookies[SESSION_COOKIE]
            token_before = jwt_for(web)
            kid = jwt_header(token_before)["kid"]
            assert api.get(ME, headers=bearer(token_before)).status_code == 200

            # Versioned secrets alone: the key encrypted before them cannot be decrypted.
            stack.restart(name, {"BETTER_AUTH_SECRETS": versioned, "BETTER_AUTH_SECRET": None})
            # The session cookie was signed with the old secret: that session is signed out.
            assert web.get("/api/auth/token").status_code == 401
            sign_in(web, app, user)
            refused = web.get("/api/auth/token")
            assert refused.status_code == 500
            log = (LOGS / f"{name}.log").read_text(encoding="utf-8", errors="replace")
            assert "Failed to decrypt private key" in log

            # With the old secret kept in BETTER_AUTH_SECRET too, signing works again.
            stack.restart(
                name, {"BETTER_AUTH_SECRETS": versioned, "BETTER_AUTH_SECRET": old_secret}
            )
            token_after = jwt_for(web)  # the session made under the new secret is still valid
            assert jwt_header(token_after)["kid"] == kid  # the same key, still decrypted
            assert api.get(ME, headers=bearer(token_after)).status_code == 200
            listed = web.get("/api/tasks", headers=same_origin(app))
            assert listed.status_code == 200, listed.text

            # A session from before the rotation stays signed out: its cookie no longer
            # verifies. Its row remains, so a token minted before still works until it expires.
            with client(web_url) as stale:
                stale.cookies.set(SESSION_COOKIE, cookie_before)
                assert stale.get("/api/auth/token").status_code == 401
                assert stale.get("/api/tasks", headers=same_origin(app)).status_code == 401
            assert api.get(ME, headers=bearer(token_before)).status_code == 200
    finally:
        stack.stop(name)
