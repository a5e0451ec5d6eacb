"""Talking to the stack without a browser: Better Auth's JSON endpoints, the proxy, FastAPI."""

import base64
import json
from typing import Any

import httpx

from support.stack import Pair
from support.users import User

TIMEOUT = httpx.Timeout(15.0)
SESSION_COOKIE = "better-auth.session_token"


def client(base_url: str) -> httpx.Client:
    """A client that keeps cookies and ignores proxy settings (everything is on 127.0.0.1)."""
    return httpx.Client(base_url=base_url, timeout=TIMEOUT, trust_env=False)


def same_origin(pair: Pair) -> dict[str, str]:
    """The headers a browser sends with a request from the app's own pages."""
    return {"Origin": pair.origin, "Sec-Fetch-Site": "same-origin"}


def sign_up(web: httpx.Client, pair: Pair, user: User) -> None:
    body = {"name": user.name, "email": user.email, "password": user.password}
    response = web.post("/api/auth/sign-up/email", json=body, headers={"Origin": pair.origin})
    assert response.status_code == 200, response.text
    assert web.cookies.get(SESSION_COOKIE), "sign-up set no session cookie"


def sign_in(web: httpx.Client, pair: Pair, user: User) -> None:
    body = {"email": user.email, "password": user.password}
    response = web.post("/api/auth/sign-in/email", json=body, headers={"Origin": pair.origin})
    assert response.status_code == 200, response.text
    assert web.cookies.get(SESSION_COOKIE), "sign-in set no session cookie"


def sign_out(web: httpx.Client, pair: Pair) -> None:
    headers = {"Origin": pair.origin, "Content-Type": "application/json"}
    response = web.post("/api/auth/sign-out", content=b"{}", headers=headers)
    assert response.status_code == 200, response.text


def jwt_for(web: httpx.Client) -> str:
    """A JWT for the client's session, as an external client gets one."""
    response = web.get("/api/auth/token")
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
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
