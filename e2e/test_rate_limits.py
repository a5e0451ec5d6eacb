"""Better Auth's limits on sign-in, sign-up and password changes (SECURITY.md "Rate limits").

They hold in every environment, not only under `next start`, and their counters live in the
database, so two Next.js servers on one database share them: failed sign-ins spread over both
are stopped at the same attempt. The sign-in page says what happened.

Each test sends an X-Forwarded-For of its own, from 127.0.0.1: the hop the web app trusts
(TRUSTED_PROXIES), as it would trust a reverse proxy. Better Auth keys a counter by that address
and the path, so these tests neither use up nor depend on the rest of the suite's sign-ins. A
client that is not a trusted hop cannot choose its address: test_client_address.py.
"""

import json
import os
import re
import secrets
import subprocess
from collections.abc import Callable, Iterator
from functools import partial

import httpx
import pytest
from playwright.sync_api import expect

from support import sensitive
from support.browser import NewContext
from support.http import client, distinct_address
from support.logs import audit_events, wait_for_events, with_request_id
from support.paths import FRONTEND
from support.stack import Pair, Stack
from support.ui import fill_sign_in
from support.users import User, new_user

# frontend/src/lib/auth.ts: rateLimit.customRules
SIGN_IN = "/sign-in/email"
SIGN_UP = "/sign-up/email"
CHANGE_ROUTE = "/change-password"
LIMIT = 10
PASSWORD_CHANGE_LIMIT = 5
WINDOW_SECONDS = 60
TOO_MANY = re.compile(r"^Too many attempts\. Please wait \d+ seconds? and try again\.$")

# Better Auth as `next dev` would run it: the options the app passes, resolved under
# NODE_ENV=development, where Better Auth's own default leaves rate limiting off.
_RESOLVED_RATE_LIMIT = """
import { auth, pool } from "./src/lib/auth.ts";
auth.$context.then(({ rateLimit }) => {
  console.log(JSON.stringify({ enabled: rateLimit.enabled, storage: rateLimit.storage,
    rules: rateLimit.customRules, env: process.env.NODE_ENV }));
  return pool.end();
});
"""


@pytest.fixture(scope="module")
def second_web(stack: Stack, app: Pair) -> Iterator[str]:
    """Another Next.js server: the same build, database and settings, on its own port."""
    url = stack.start_web("web-2", like=app, env={})
    yield url
    stack.stop("web-2")


def _sign_in(web: httpx.Client, app: Pair, user: User) -> httpx.Response:
    body = {"email": user.email, "password": user.password}
    return web.post(f"/api/auth{SIGN_IN}", json=body, headers={"Origin": app.origin})


def _counter(stack: Stack, address: str, path: str) -> str:
    query = """SELECT count FROM "rateLimit" WHERE key = :'key'"""
    return stack.sql(query, key=f"{address}|{path}").strip()


def _assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert 0 < int(response.headers["X-Retry-After"]) <= WINDOW_SECONDS
    assert response.json() == {"message": "Too many requests. Please try again later."}


def test_failed_sign_ins_on_two_servers_share_one_limit(
    stack: Stack, app: Pair, second_web: str, new_context: NewContext
) -> None:
    address = distinct_address()
    # Someone guessing a password: the account need not exist for the attempts to count.
    guess = new_user("Ines Duarte")
    with (
        client(app.web_url, forwarded_for=address) as first,
        client(second_web, forwarded_for=address) as second,
    ):
        servers = [first, second]
        for attempt in range(LIMIT):
            response = _sign_in(servers[attempt % 2], app, guess)
            assert response.status_code == 401, (attempt, response.text)
            assert response.json()["code"] == "INVALID_EMAIL_OR_PASSWORD"
        # One counter in the database, whichever server counted the attempt.
        assert _counter(stack, address, SIGN_IN) == str(LIMIT)

        # The next attempt is refused by whichever server receives it.
        refused = [_sign_in(web, app, guess) for web in servers]
        for response in refused:
            _assert_limited(response)

    # Each server wrote the refusal it answered into its own audit trail.
    for name, response in zip(["web", "web-2"], refused, strict=True):
        request_id = response.headers["X-Request-ID"]
        (event,) = wait_for_events(partial(audit_events, name), with_request_id(request_id))
        assert event["event"] == "auth.rate_limited"
        assert event["route"] == SIGN_IN
        assert event["status"] == 429

    # The sign-in page, from the same address, says why nothing happens.
    context = new_context()
    context.set_extra_http_headers({"X-Forwarded-For": address})
    page = context.new_page()
    page.goto(f"{app.web_url}/sign-in")
    fill_sign_in(page, guess)
    expect(page.get_by_test_id("form-error")).to_have_text(TOO_MANY)
    expect(page).to_have_url(f"{app.web_url}/sign-in")


def _spread_until_limited(
    stack: Stack,
    app: Pair,
    servers: list[str],
    path: str,
    limit: int,
    body: Callable[[], dict[str, str]],
    refused_with: int,
) -> None:
    """`limit` requests spread over `servers`, each refused by the endpoint itself (and
    counted all the same: the limit comes first); then every server answers 429."""
    address = distinct_address()
    clients = [client(url, forwarded_for=address) for url in servers]
    try:
        for attempt in range(limit):
            web = clients[attempt % len(clients)]
            response = web.post(f"/api/auth{path}", json=body(), headers={"Origin": app.origin})
            assert response.status_code == refused_with, (attempt, response.text)
        assert _counter(stack, address, path) == str(limit)
        for web in clients:
            _assert_limited(
                web.post(f"/api/auth{path}", json=body(), headers={"Origin": app.origin})
            )
    finally:
        for web in clients:
            web.close()


def test_sign_ups_are_limited_too(stack: Stack, app: Pair, second_web: str) -> None:
    def too_short() -> dict[str, str]:
        user = new_user("Theo Brandt")
        return {"name": user.name, "email": user.email, "password": "short"}

    servers = [app.web_url, second_web]
    _spread_until_limited(stack, app, servers, SIGN_UP, LIMIT, too_short, refused_with=400)


def test_password_changes_are_limited_too(stack: Stack, app: Pair, second_web: str) -> None:
    def change() -> dict[str, str]:
        # Without a session: refused with 401, once the limiter has counted it.
        current, new = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
        sensitive.remember("password", current)
        sensitive.remember("password", new)
        return {"currentPassword": current, "newPassword": new}

    servers = [app.web_url, second_web]
    _spread_until_limited(
        stack, app, servers, CHANGE_ROUTE, PASSWORD_CHANGE_LIMIT, change, refused_with=401
    )


def test_rate_limiting_is_on_under_next_dev_too(stack: Stack) -> None:
    """`next start` runs with NODE_ENV=production, where the tests above ran. Under `next dev`
    (NODE_ENV=development) Better Auth's default is off: the app's options turn it on."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("BETTER_AUTH_", "JWT_", "NODE_ENV"))
    }
    env |= {
        "NODE_ENV": "development",
        "DATABASE_URL": stack.database_url,
        "BETTER_AUTH_SECRET": stack.auth_secret,
    }
    result = subprocess.run(
        [str(FRONTEND / "node_modules" / ".bin" / "tsx"), "-e", _RESOLVED_RATE_LIMIT],
        cwd=FRONTEND,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout.strip().splitlines()[-1])
    assert resolved["env"] == "development"
    assert resolved["enabled"] is True
    assert resolved["storage"] == "database"
    assert resolved["rules"][SIGN_IN] == {"window": WINDOW_SECONDS, "max": LIMIT}
    assert resolved["rules"][SIGN_UP] == {"window": WINDOW_SECONDS, "max": LIMIT}
