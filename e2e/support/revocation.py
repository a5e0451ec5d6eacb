"""How long FastAPI takes to refuse the JWTs of a session that has just ended.

A test ends sessions through the app, then polls FastAPI directly with a JWT from each ended
session, on a route that uses the database and on `/api/me` (which uses the API's cache of live
sessions), until both refuse it. The times are written to artifacts/revocation-times.json.
"""

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from playwright.sync_api import Page

from support.http import bearer, jwt_claims
from support.paths import ARTIFACTS

# DESIGN.md §2: at once, or within 100 ms.
DEADLINE_SECONDS = 0.1
_GIVE_UP_SECONDS = 2.0
_RECORD = ARTIFACTS / "revocation-times.json"


def _record(flow: str, milliseconds: float) -> None:
    times: dict[str, list[float]] = json.loads(_RECORD.read_text()) if _RECORD.exists() else {}
    times.setdefault(flow, []).append(round(milliseconds, 1))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _RECORD.write_text(json.dumps(times, indent=2) + "\n")


def seconds_until_refused(api: httpx.Client, token: str, started: float) -> float:
    """Polls both route kinds with `token` until each has answered 401; the later of the two."""
    routes = {"/api/me", f"/api/{jwt_claims(token)['sub']}/tasks"}
    refused_at: dict[str, float] = {}
    while len(refused_at) < len(routes):
        for route in routes - refused_at.keys():
            status = api.get(route, headers=bearer(token)).status_code
            if status == 401:
                refused_at[route] = time.monotonic() - started
            else:
                assert status == 200, (route, status)
        assert time.monotonic() - started < _GIVE_UP_SECONDS, "the token outlived its session"
    return max(refused_at.values())


def assert_refused_at_once(flow: str, api: httpx.Client, tokens: list[str], started: float) -> None:
    """Every token is refused on both route kinds within the deadline, counted from `started`."""
    for token in tokens:
        elapsed = seconds_until_refused(api, token, started)
        _record(flow, elapsed * 1000)
        assert elapsed <= DEADLINE_SECONDS, f"{flow}: refused after {elapsed * 1000:.1f} ms"


def assert_accepted(api: httpx.Client, token: str) -> None:
    sub = jwt_claims(token)["sub"]
    for route in ("/api/me", f"/api/{sub}/tasks"):
        response = api.get(route, headers=bearer(token))
        assert response.status_code == 200, (route, response.text)


@contextmanager
def server_action(page: Page) -> Iterator[list[float]]:
    """Waits for the server action the block triggers to answer; yields a list that then holds
    the moment (time.monotonic) the answer arrived."""
    answered: list[float] = []
    with page.expect_response(
        lambda response: (
            response.request.method == "POST"
            and response.request.headers.get("next-action") is not None
        )
    ):
        yield answered
    answered.append(time.monotonic())
