"""The proxy and the tokens over plain HTTP: CSRF refusals, safe GETs, revocation, HS256,
duplicate session cookies."""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
import pytest

from support.http import (
    SESSION_COOKIE,
    bearer,
    client,
    distinct_address,
    jwt_claims,
    jwt_for,
    jwt_header,
    same_origin,
    sign_in,
    sign_out,
    sign_up,
)
from support.logs import audit_events, wait_for_events, with_request_id
from support.stack import JWT_LIFETIME_SECONDS, Pair, Stack
from support.users import User, new_user

# The back end drops a signed-out session's tokens at once, or within 100 ms (DESIGN.md §2).
_REVOCATION_DEADLINE_SECONDS = 1.0


@dataclass(frozen=True)
class SignedIn:
    user: User
    web: httpx.Client

    def tasks(self, pair: Pair) -> list[dict[str, Any]]:
        """The task list as the app's own page would fetch it."""
        response = self.web.get("/api/tasks", headers=same_origin(pair))
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


@pytest.fixture(scope="module")
def carol(app: Pair) -> Iterator[SignedIn]:
    with client(app.web_url) as web:
        user = new_user("Carol Diaz")
        sign_up(web, app, user)
        yield SignedIn(user, web)


@pytest.fixture(scope="module")
def carols_task(carol: SignedIn, app: Pair) -> dict[str, Any]:
    body = {"title": "Carol's task that nobody else may change", "description": "As it was"}
    response = carol.web.post("/api/tasks", json=body, headers=same_origin(app))
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


# -- CSRF --------------------------------------------------------------------------------

CHANGES = {
    "create": ("POST", "/api/tasks", {"title": "Planted by another site"}),
    "replace": (
        "PUT",
        "/api/tasks/{id}",
        {"title": "Replaced", "description": None, "completed": True},
    ),
    "update": ("PATCH", "/api/tasks/{id}", {"title": "Renamed by another site"}),
    "complete": ("PATCH", "/api/tasks/{id}/complete", None),
    "delete": ("DELETE", "/api/tasks/{id}", None),
}
FOREIGN: dict[str, Callable[[Pair], dict[str, str]]] = {
    "evil-origin": lambda _app: {"Origin": "https://evil.example"},
    "null-origin": lambda _app: {"Origin": "null"},
    # The app's own Origin, but the browser says the request came from another site.
    "cross-site-fetch": lambda app: {"Origin": app.origin, "Sec-Fetch-Site": "cross-site"},
    "no-origin": lambda _app: {},
}


@pytest.mark.parametrize("change", CHANGES)
@pytest.mark.parametrize("foreign", FOREIGN)
def test_cross_site_change_is_refused_and_changes_nothing(
    carol: SignedIn, carols_task: dict[str, Any], app: Pair, change: str, foreign: str
) -> None:
    method, path, body = CHANGES[change]
    before = carol.tasks(app)
    response = carol.web.request(
        method, path.format(id=carols_task["id"]), json=body, headers=FOREIGN[foreign](app)
    )
    assert response.status_code == 403, response.text
    assert response.json() == {"detail": "Cross-site request refused", "code": "csrf"}
    assert carol.tasks(app) == before
    assert carols_task in before


def test_same_origin_change_is_accepted(carol: SignedIn, app: Pair) -> None:
    """The refusals above come from the headers alone: the app's own requests get through."""
    before = carol.tasks(app)
    created = carol.web.post("/api/tasks", json={"title": "Short-lived"}, headers=same_origin(app))
    assert created.status_code == 201, created.text
    task_id = created.json()["id"]
    assert [task["id"] for task in carol.tasks(app)] == [task_id] + [t["id"] for t in before]
    deleted = carol.web.delete(f"/api/tasks/{task_id}", headers=same_origin(app))
    assert deleted.status_code == 204, deleted.text
    assert carol.tasks(app) == before


def test_get_never_changes_state(carol: SignedIn, carols_task: dict[str, Any], app: Pair) -> None:
    task_url = f"/api/tasks/{carols_task['id']}"
    before = carol.tasks(app)
    attempts = [
        ("GET", f"{task_url}/complete", {}),
        ("GET", f"{task_url}?_method=DELETE", {}),
        ("GET", task_url, {"X-HTTP-Method-Override": "DELETE"}),
        ("GET", "/api/tasks?title=Planted&_method=POST", {}),
        ("HEAD", task_url, {}),
        ("OPTIONS", task_url, {}),
    ]
    for method, url, headers in attempts:
        response = carol.web.request(
            method, url, headers={"Origin": "https://evil.example"} | headers
        )
        assert response.status_code < 500, (method, url, response.status_code)
    assert carol.tasks(app) == before
    unchanged = carol.web.get(task_url)
    assert unchanged.status_code == 200, unchanged.text
    assert unchanged.json() == carols_task


# -- tokens ------------------------------------------------------------------------------


def test_jwt_stops_working_when_its_session_signs_out(carol: SignedIn, app: Pair) -> None:
    with client(app.web_url) as web, client(app.api_url) as api:
        sign_in(web, app, carol.user)  # a session of its own, so carol's stays signed in
        cookie = web.cookies[SESSION_COOKIE]
        token = jwt_for(web)
        claims = jwt_claims(token)
        me = api.get("/api/me", headers=bearer(token))
        assert me.status_code == 200, me.text
        assert me.json() == {
            "user_id": claims["sub"],
            "email": carol.user.email,
            "name": carol.user.name,
        }

        sign_out(web, app)
        deadline = time.monotonic() + _REVOCATION_DEADLINE_SECONDS
        while (after := api.get("/api/me", headers=bearer(token))).status_code == 200:
            assert time.monotonic() < deadline, "the token outlived its session"
            time.sleep(0.02)
        assert after.status_code == 401, after.text
        assert 'error="invalid_token"' in after.headers["WWW-Authenticate"]

    # The old cookie is dead too: no new token, nothing through the proxy.
    with client(app.web_url) as stale:
        stale.cookies.set(SESSION_COOKIE, cookie)
        assert stale.get("/api/auth/token").status_code == 401
        assert stale.get("/api/tasks", headers=same_origin(app)).status_code == 401
    # Other sessions of the same person are untouched.
    assert carol.web.get("/api/auth/token").status_code == 200


def test_a_signed_out_session_is_refused_by_every_proxy_that_cached_it(
    stack: Stack, app: Pair, carol: SignedIn
) -> None:
    """Each Next.js server caches its proxy's session lookups (session-cache.ts). Sign-out drops
    the entry on the server that signed out; on any other server, the API refuses the cached
    session's token (its `sid` is gone) and that proxy asks Better Auth again. Either way the
    old cookie is refused at once."""
    replica = stack.start_web("web-replica", like=app, env={})
    try:
        with (
            client(app.web_url, forwarded_for=distinct_address()) as web,
            client(replica) as elsewhere,
        ):
            sign_in(web, app, carol.user)  # a session of its own, so carol's stays signed in
            cookie = web.cookies[SESSION_COOKIE]
            elsewhere.cookies.set(SESSION_COOKIE, cookie)
            for proxy in (web, elsewhere):
                assert proxy.get("/api/tasks", headers=same_origin(app)).status_code == 200
            sign_out(web, app)

        for url in (app.web_url, replica):
            with client(url) as stale:
                stale.cookies.set(SESSION_COOKIE, cookie)
                refused = stale.get("/api/tasks", headers=same_origin(app))
                assert refused.status_code == 401, (url, refused.text)
                assert refused.json()["code"] == "not_authenticated"
    finally:
        stack.stop("web-replica")
    assert carol.web.get("/api/tasks", headers=same_origin(app)).status_code == 200


def test_hs256_mode_end_to_end(stack: Stack, app: Pair, carol: SignedIn) -> None:
    """A second pair with JWT_ALGORITHM=HS256 and a shared JWT_SECRET on both sides."""
    pair = stack.hs256()
    with client(pair.web_url) as web, client(pair.api_url) as api:
        user = new_user("Dmitri Volkov")
        sign_up(web, pair, user)
        token = jwt_for(web)
        assert jwt_header(token) == {"alg": "HS256", "typ": "JWT"}
        claims = jwt_claims(token)
        assert claims["iss"] == pair.web_url
        assert claims["aud"] == "tandem-api"
        assert claims["exp"] - claims["iat"] == JWT_LIFETIME_SECONDS
        assert claims["email"] == user.email
        user_id = claims["sub"]
        # No public keys in this mode.
        assert web.get("/api/auth/jwks").status_code == 404

        # Straight to FastAPI with the token, as an external client would.
        me = api.get("/api/me", headers=bearer(token))
        assert me.status_code == 200, me.text
        assert me.json()["user_id"] == user_id
        direct = api.post(
            f"/api/{user_id}/tasks", json={"title": "Made with the token"}, headers=bearer(token)
        )
        assert direct.status_code == 201, direct.text

        # Through the proxy, which signs its own HS256 token for the session.
        proxied = web.post(
            "/api/tasks", json={"title": "Made through the proxy"}, headers=same_origin(pair)
        )
        assert proxied.status_code == 201, proxied.text

        expected = ["Made through the proxy", "Made with the token"]
        listed = api.get(f"/api/{user_id}/tasks", headers=bearer(token))
        assert [task["title"] for task in listed.json()["items"]] == expected
        via_proxy = web.get("/api/tasks", headers=same_origin(pair))
        assert [task["title"] for task in via_proxy.json()["items"]] == expected

        # Each API accepts only its own kind of token.
        with client(app.api_url) as eddsa_api:
            assert eddsa_api.get("/api/me", headers=bearer(token)).status_code == 401
        assert api.get("/api/me", headers=bearer(jwt_for(carol.web))).status_code == 401


# -- duplicate session cookies -----------------------------------------------------------

# Short-lived tokens, so that a session's JWT goes stale in the proxy's token cache well within
# the session cache's minute (frontend/src/lib/server/token-cache.ts refreshes a third of a
# lifetime before `exp`): the state in which two cookies could once cross two sessions.
_SHORT_JWT_SECONDS = 3
_STALE_AFTER_SECONDS = _SHORT_JWT_SECONDS * 2 / 3 + 0.5
_DUPLICATE = {"detail": "More than one session cookie", "code": "duplicate_session_cookie"}


@pytest.fixture(scope="module")
def short_jwt_web(stack: Stack, app: Pair) -> Iterator[str]:
    url = stack.start_web(
        "web-short-jwt", like=app, env={"JWT_LIFETIME_SECONDS": str(_SHORT_JWT_SECONDS)}
    )
    yield url
    stack.stop("web-short-jwt")


def _task_titles(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [task["title"] for task in response.json()["items"]]


def test_two_session_cookies_are_refused_and_cross_no_sessions(
    short_jwt_web: str, app: Pair
) -> None:
    """Better Auth reads the first of two same-named cookies, the proxy's parser the last. The
    proxy refuses such a request before anything else, so neither session's cached session or
    token can be filed under the other's cookie."""
    people: list[tuple[str, str]] = []  # (session cookie, the title of their one task)
    for name in ("Ada Twocookies", "Ben Twocookies"):
        with client(short_jwt_web, forwarded_for=distinct_address()) as web:
            sign_up(web, app, new_user(name))
            title = f"{name}'s own task"
            created = web.post("/api/tasks", json={"title": title}, headers=same_origin(app))
            assert created.status_code == 201, created.text
            assert _task_titles(web.get("/api/tasks", headers=same_origin(app))) == [title]
            people.append((web.cookies[SESSION_COOKIE], title))
    (first, first_title), (second, second_title) = people
    # Both sessions are in the proxy's session cache; their tokens are now due for renewal.
    time.sleep(_STALE_AFTER_SECONDS)

    with client(short_jwt_web) as raw:
        for cookies in ((first, second), (second, first)):
            header = "; ".join(f"{SESSION_COOKIE}={value}" for value in cookies)
            headers = same_origin(app) | {"Cookie": header}
            for method, body in (("GET", None), ("POST", {"title": "Filed under two sessions"})):
                response = raw.request(method, "/api/tasks", json=body, headers=headers)
                assert response.status_code == 400, (method, response.text)
                assert response.json() == _DUPLICATE
                assert response.headers["Cache-Control"] == "no-store"
        (event, *_) = wait_for_events(
            partial(audit_events, "web-short-jwt"),
            with_request_id(response.headers["X-Request-ID"]),
        )
        assert event["event"] == "proxy.duplicate_session_cookie"
        assert event["status"] == 400

        # Each cookie alone still means its own session, and nothing was created.
        for cookie, title in ((first, first_title), (second, second_title)):
            alone = same_origin(app) | {"Cookie": f"{SESSION_COOKIE}={cookie}"}
            assert _task_titles(raw.get("/api/tasks", headers=alone)) == [title]
