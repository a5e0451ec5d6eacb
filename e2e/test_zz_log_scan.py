"""SECURITY.md "Logging", over the whole run: named to run last, after every other test.

1. The audit trails hold the events they must, from both sides: the web app's (sign-up,
   sign-in and its failure, sign-out, a rate-limit hit, a CSRF refusal, an unreachable API)
   and the API's (tokens
   accepted and rejected, with their reasons). This test makes each of them itself, from a
   user and addresses of its own, so that it holds however much of the suite ran before it.
2. One request id follows a task request from the web app's log to the API's.
3. Every line of every audit file is one JSON object with the fields an event needs.
4. No line of any log written during the run (every child's output and audit file, and
   PostgreSQL's log) holds a JWT (`eyJ`), a test user's email or password, a session cookie, a
   token, or one of the stack's secrets (support/sensitive.py collected them all).
"""

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from support.http import (
    SESSION_COOKIE,
    bearer,
    client,
    distinct_address,
    jwt_claims,
    jwt_for,
    same_origin,
    sign_in,
    sign_out,
    sign_up,
)
from support.logs import Event, audit_events, output_events, wait_for_events
from support.paths import LOGS
from support.sensitive import remembered
from support.stack import Pair, Stack, closed_port_url
from support.users import new_user

JWT_PREFIX = "eyJ"
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
SIGN_IN_LIMIT = 10  # frontend/src/lib/auth.ts


@pytest.fixture(scope="module")
def exercised(stack: Stack, app: Pair) -> dict[str, Any]:
    """Every kind of event, made once: what the tests below expect to find."""
    user = new_user("Lena Fischer")
    facts: dict[str, Any] = {}
    with (
        client(app.web_url, forwarded_for=distinct_address()) as web,
        client(app.api_url) as api,
    ):
        sign_up(web, app, user)
        token = jwt_for(web)
        facts["sub"] = jwt_claims(token)["sub"]
        sign_out(web, app)
        wrong = {"email": user.email, "password": f"{user.password}-wrong"}
        failed = web.post("/api/auth/sign-in/email", json=wrong, headers={"Origin": app.origin})
        assert failed.status_code == 401, failed.text
        sign_in(web, app, user)

        listed = web.get("/api/tasks", headers=same_origin(app))
        assert listed.status_code == 200, listed.text
        facts["task_request_id"] = listed.headers["X-Request-ID"]
        # The same session, on a Next.js server whose API cannot be reached.
        stranded = stack.start_web("web-no-api", like=app, env={"API_URL": closed_port_url()})
        try:
            with client(stranded) as cut_off:
                cut_off.cookies.set(SESSION_COOKIE, web.cookies[SESSION_COOKIE])
                unavailable = cut_off.get("/api/tasks", headers=same_origin(app))
                assert unavailable.status_code == 503, unavailable.text
        finally:
            stack.stop("web-no-api")
        refused = web.post(
            "/api/tasks", json={"title": "x"}, headers={"Origin": "https://evil.example"}
        )
        assert refused.status_code == 403, refused.text

        # The API: a valid token, a garbled one, and a real one in the query string (refused,
        # and it must not reach the access log either).
        token = jwt_for(web)
        assert api.get("/api/me", headers=bearer(token)).status_code == 200
        assert api.get("/api/me", headers=bearer("not-a-token")).status_code == 401
        assert api.get("/api/me", params={"access_token": token}).status_code == 401

    with client(app.web_url, forwarded_for=distinct_address()) as guesser:
        for _ in range(SIGN_IN_LIMIT + 1):
            last = guesser.post(
                "/api/auth/sign-in/email", json=wrong, headers={"Origin": app.origin}
            )
        assert last.status_code == 429, last.text
    return facts


def _events(child: str, event: str, **fields: object) -> list[Event]:
    return wait_for_events(
        lambda: audit_events(child),
        lambda e: e["event"] == event and all(e.get(k) == v for k, v in fields.items()),
    )


def test_both_audit_trails_hold_every_kind_of_event(exercised: dict[str, Any]) -> None:
    sub = exercised["sub"]
    _events("web", "auth.sign_up", reason="ok", sub=sub)
    _events("web", "auth.sign_in", reason="ok", sub=sub)
    _events("web", "auth.sign_out", reason="ok", sub=sub)
    _events("web", "auth.sign_in_failed", reason="invalid_email_or_password")
    _events("web", "auth.rate_limited", reason="too_many_requests", route="/sign-in/email")
    _events("web", "proxy.csrf_refused", reason="untrusted_origin", route="/api/tasks")
    _events("web-no-api", "proxy.upstream_unavailable", reason="unreachable", sub=sub)

    _events("api", "auth.accepted", reason="ok", sub=sub)
    _events("api", "auth.rejected", reason="malformed")
    _events("api", "auth.rejected", reason="token_in_query")
    _events("api", "jwks.refreshed", reason="startup")


def test_a_task_request_has_one_id_from_the_web_app_to_the_api(
    exercised: dict[str, Any],
) -> None:
    request_id = exercised["task_request_id"]
    (forwarded,) = [e for e in output_events("web") if e.get("request_id") == request_id]
    assert forwarded["event"] == "proxy.forwarded"
    assert forwarded["route"] == "/api/tasks"
    assert forwarded["status"] == 200
    assert forwarded["sub"] == exercised["sub"]
    (accepted,) = _events("api", "auth.accepted", request_id=request_id)
    assert accepted["sub"] == exercised["sub"]
    assert accepted["route"] == "/api/{user_id}/tasks"


def _utc(value: object) -> datetime:
    assert isinstance(value, str)
    moment = datetime.fromisoformat(value)
    assert moment.utcoffset() == timedelta(0), value
    return moment.astimezone(UTC)


def _check_event(event: object, where: str) -> None:
    assert isinstance(event, dict), where
    _utc(event.get("time"))
    assert isinstance(event.get("event"), str), where
    assert isinstance(event.get("reason"), str), where
    assert "request_id" in event, where
    if event["request_id"] is None:
        # Only what no request caused: the API's key-set fetches at startup and on schedule.
        assert event["event"].startswith("jwks."), where
        assert event["reason"] in {"startup", "scheduled"} or "trigger" in event, where
    else:
        assert REQUEST_ID.fullmatch(event["request_id"]), where
    if event["event"].startswith(("auth.", "rate_limit.")):
        assert "sub" in event, where  # the user id when known, else null


def test_every_audit_line_is_one_json_event_with_the_required_fields(
    exercised: dict[str, Any],
) -> None:
    files = sorted(LOGS.glob("audit-*.jsonl"))
    assert {path.name for path in files} >= {"audit-web.jsonl", "audit-api.jsonl"}
    counted = 0
    for path in files:
        lines = path.read_text(encoding="utf-8").split("\n")
        assert lines[-1] == "", f"{path.name} does not end with a newline"
        for number, line in enumerate(lines[:-1], start=1):
            where = f"{path.name}:{number}"
            assert line.isascii(), where
            assert line.isprintable(), where
            _check_event(json.loads(line), where)
            counted += 1
    assert counted >= 20


def _log_files(stack: Stack) -> list[Path]:
    files = sorted(path for path in LOGS.iterdir() if path.is_file())
    return [*files, stack.postgres_log]


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8", errors="replace") as log:
        yield from enumerate(log, start=1)


def test_no_token_secret_email_password_or_cookie_in_any_log(
    stack: Stack, exercised: dict[str, Any]
) -> None:
    secrets = remembered()
    kinds = {kind.split(" ")[0] for kind in secrets.values()}
    # Enough was collected for the scan to mean something.
    assert {"email", "password", "cookie", "JWT", "BETTER_AUTH_SECRET"} <= kinds, kinds
    assert any(SESSION_COOKIE in kind for kind in secrets.values())

    pattern = re.compile("|".join(re.escape(value) for value in [JWT_PREFIX, *secrets]))
    files = _log_files(stack)
    found: list[str] = []
    scanned = 0
    for path in files:
        for number, line in _lines(path):
            scanned += 1
            found.extend(
                f"{path.name}:{number}: {secrets.get(match.group(), JWT_PREFIX)}"
                for match in pattern.finditer(line)
            )
    assert scanned > 200, f"only {scanned} lines in {[path.name for path in files]}"
    assert not found, "\n".join(found[:20])
