"""Talking to the stack without a browser: Better Auth's JSON endpoints, the proxy, FastAPI."""

import base64
import itertools
import json
from typing import Any

import httpx

from support import sensitive
from support.mail import verification_link
from support.stack import Pair
from support.users import User

TIMEOUT = httpx.Timeout(15.0)
SESSION_COOKIE = "better-auth.session_token"


_ADDRESSES = itertools.chain(
    (f"198.51.100.{n}" for n in range(1, 255)), (f"203.0.113.{n}" for n in range(1, 255))
)


def distinct_address() -> str:
    """A client address (RFC 5737 documentation range) used by no other caller in this run."""
    return next(_ADDRESSES)


# The stack's children trust 127.0.0.1 and ::1 as the hop in front of them (TRUSTED_PROXIES,
# tandem_stack.config): a client connecting from there plays the part of a reverse proxy.
TRUSTED_HOP = "127.0.0.1"


def client(
    base_url: str, *, forwarded_for: str | None = None, source: str | None = None
) -> httpx.Client:
    """A client that keeps cookies and ignores proxy settings (everything is on 127.0.0.1).

    With `forwarded_for`, every request says it comes from that address. From the trusted hop
    (where every client connects from unless `source` says otherwise) the web app believes it,
    as it believes a reverse proxy: Better Auth keys its rate limits by that address and the
    path, so such a client has limits of its own and does not use up the sign-ins the rest of
    the suite needs. From any other `source` (say 127.0.0.2: a browser that reached Next.js
    directly) the header is ignored, and the connection's own address counts.
    """
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else None
    transport = httpx.HTTPTransport(local_address=source) if source else None
    return httpx.Client(
        base_url=base_url, timeout=TIMEOUT, trust_env=False, headers=headers, transport=transport
    )


def same_origin(pair: Pair) -> dict[str, str]:
    """The headers a browser sends with a request from the app's own pages."""
    return {"Origin": pair.origin, "Sec-Fetch-Site": "same-origin"}


def request_sign_up(web: httpx.Client, origin: str, user: User) -> httpx.Response:
    """Sign-up's first half: the form's request, which mails a verification link."""
    body = {"name": user.name, "email": user.email, "password": user.password}
    return web.post("/api/auth/sign-up/email", json=body, headers={"Origin": origin})


def follow_verification(web: httpx.Client, link: str) -> httpx.Response:
    """Opens a mailed verification link on the client's own server (the link names the
    server's public URL); a valid one signs the client in and redirects."""
    parts = httpx.URL(link)
    return web.get(parts.raw_path.decode("ascii"))


def sign_up(web: httpx.Client, pair: Pair, user: User) -> None:
    """Sign up and verify the address through the mailed link, as a person does."""
    response = request_sign_up(web, pair.origin, user)
    assert response.status_code == 200, response.text
    assert response.json()["token"] is None, "sign-up signed in before verification"
    assert not web.cookies.get(SESSION_COOKIE), "sign-up set a session before verification"
    verified = follow_verification(web, verification_link(user.email))
    assert verified.status_code == 302, verified.text
    assert web.cookies.get(SESSION_COOKIE), "verification set no session cookie"
    remember_session(web)


def sign_in(web: httpx.Client, pair: Pair, user: User) -> None:
    body = {"email": user.email, "password": user.password}
    response = web.post("/api/auth/sign-in/email", json=body, headers={"Origin": pair.origin})
    assert response.status_code == 200, response.text
    assert web.cookies.get(SESSION_COOKIE), "sign-in set no session cookie"
    remember_session(web)


def remember_session(web: httpx.Client) -> None:
    """The client's session cookie must never appear in a log (test_zz_log_scan.py)."""
    for cookie in web.cookies.jar:
        if cookie.value is not None:
            sensitive.remember_cookie(cookie.name, cookie.value)


def sign_out(web: httpx.Client, pair: Pair) -> None:
    headers = {"Origin": pair.origin, "Content-Type": "application/json"}
    response = web.post("/api/auth/sign-out", content=b"{}", headers=headers)
    assert response.status_code == 200, response.text


def jwt_for(web: httpx.Client) -> str:
    """A JWT for the client's session, as an external client gets one."""
    response = web.get("/api/auth/token")
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    sensitive.remember("JWT", token)
    return token


def _segment(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def jwt_header(token: str) -> dict[str, Any]:
    """The token's header, read without verifying anything."""
    return _segment(token, 0)


def jwt_claims(token: str) -> dict[str, Any]:
    """The token's claims, read without verifying anything."""
    return _segment(token, 1)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
