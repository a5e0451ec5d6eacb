"""How long FastAPI takes to refuse the JWTs of a session that has just ended.

A test ends sessions through the app, then polls FastAPI directly with a JWT from each ended
session, on a route that uses the database and on `/api/me` (which uses the API's cache of live
sessions), until both refuse it. The time that counts is when the first refused request was
sent, from the moment the app answered that the session had ended: from then on FastAPI refuses
the token. (A request's own round trip is not revocation delay; on a loaded machine it can
exceed 100 ms by itself.) The times are written to artifacts/revocation-times.json, with the
time the refusal arrived beside them.
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


def _record(flow: str, sent: float, answered: float) -> None:
    times: dict[str, list[dict[str, float]]] = (
        json.loads(_RECORD.read_text()) if _RECORD.exists() else {}
    )
    entry = {
        "refused_request_sent_ms": round(sent * 1000, 1),
        "refusal_arrived_ms": round(answered * 1000, 1),
    }
    times.setdefault(flow, []).append(entry)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _RECORD.write_text(json.dumps(times, indent=2) + "\n")


def _until_refused(
    api: httpx.Client, tokens: list[str], started: float
) -> dict[str, tuple[float, float]]:
    """Polls both route kinds with every token, in turn, until each pair has answered 401.
    Returns, per token, for the later of its two routes, when the first refused request was
    sent and when the refusal arrived (seconds since `started`)."""
    pending = {(token, route) for token in tokens for route in _routes(token)}
    refused: dict[tuple[str, str], tuple[float, float]] = {}
    while pending:
        for token, route in sorted(pending):
            sent = time.monotonic()
            status = api.get(route, headers=bearer(token)).status_code
            if status == 401:
                refused[token, route] = (sent - started, time.monotonic() - started)
                pending.discard((token, route))
            else:
                assert status == 200, (route, status)
        assert time.monotonic() - started < _GIVE_UP_SECONDS, "a token outlived its session"
    # Once refused, always refused.
    for token, route in refused:
        assert api.get(route, headers=bearer(token)).status_code == 401, route
    return {token: max(v for (t, _), v in refused.items() if t == token) for token in tokens}


def _routes(token: str) -> tuple[str, str]:
    return ("/api/me", f"/api/{jwt_claims(token)['sub']}/tasks")


def assert_refused_at_once(flow: str, api: httpx.Client, tokens: list[str], started: float) -> None:
    """Every token is refused on both route kinds within the deadline, counted from `started`."""
    for sent, answered in _until_refused(api, tokens, started).values():
        _record(flow, sent, answered)
        assert sent <= DEADLINE_SECONDS, f"{flow}: still accepted {sent * 1000:.1f} ms after"


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
