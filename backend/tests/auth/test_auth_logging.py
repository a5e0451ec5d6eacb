"""SECURITY.md "Logging": one structured event per auth result, and nothing secret in any log.

The tap sits on the root logger after the app's ``QueueHandler``, so each
record already carries the request id the app stamps on it, and is
formatted by the app's own ``JsonFormatter``.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tandem.logging import JsonFormatter
from tests.auth.expect import ME, assert_invalid_token
from tests.auth.forge import claims_of, header_for, sign_raw, split, token_for
from tests.conftest import MakeUser, User
from tests.support.tokens import SigningKey


class JsonTap(logging.Handler):
    """Every record the app logs, as the JSON line the app would write."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("httpx") and "http://testserver" in record.getMessage():
            return  # the test client's own request log, not the app's
        self.lines.append(self.format(record))

    def events(self, logger: str = "tandem_auth") -> list[dict[str, Any]]:
        parsed = [json.loads(line) for line in self.lines]
        return [event for event in parsed if event["logger"] == logger]

    def clear(self) -> None:
        self.lines.clear()


@pytest.fixture
def tap(client) -> Iterator[JsonTap]:
    root = logging.getLogger()
    assert isinstance(root.handlers[0], logging.handlers.QueueHandler)  # the app's, stamps ids
    handler = JsonTap()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


def request_id() -> str:
    return f"req-{secrets.token_hex(6)}"


def bearer_with_id(token: str, rid: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Request-ID": rid}


def _scenarios(alice: User, key: SigningKey) -> dict[str, tuple[Any, dict[str, Any]]]:
    """Name → (how to send it, the auth event it must log)."""
    attacker = SigningKey(kid=key.kid)
    return {
        "accepted": (
            {"token": alice.token},
            {"event": "auth.accepted", "reason": "ok", "sub": alice.id, "kid": key.kid},
        ),
        "bad_signature": (
            {"token": token_for(alice, attacker)},
            {"event": "auth.rejected", "reason": "bad_signature", "sub": None, "kid": key.kid},
        ),
        "expired": (
            {"token": token_for(alice, key, iat=1_000_000_000, exp=1_000_000_900)},
            {"event": "auth.rejected", "reason": "expired", "sub": None, "kid": key.kid},
        ),
        "unknown_kid": (
            {"token": token_for(alice, SigningKey(kid="not-published"))},
            {"event": "auth.rejected", "reason": "unknown_kid", "kid": "not-published"},
        ),
        "bad_kid": (
            {"token": sign_raw(header_for(key, kid="../x"), claims_of(alice), key)},
            {"event": "auth.rejected", "reason": "bad_kid", "sub": None, "kid": None},
        ),
        "malformed": (
            {"raw": "Bearer not-a-token"},
            {"event": "auth.rejected", "reason": "malformed", "kid": None, "status": 401},
        ),
        "missing": (
            {},
            {"event": "auth.rejected", "reason": "missing_token", "status": 401},
        ),
        "bad_scheme": (
            {"raw": f"Basic {alice.token}"},
            {"event": "auth.rejected", "reason": "bad_scheme", "status": 401},
        ),
        "two_credentials": (
            {"token": alice.token, "query": alice.token},
            {"event": "auth.rejected", "reason": "multiple_credentials", "status": 400},
        ),
        "token_in_query": (
            {"query": alice.token},
            {"event": "auth.rejected", "reason": "token_in_query", "status": 401},
        ),
    }


SCENARIOS = [
    "accepted",
    "bad_signature",
    "expired",
    "unknown_kid",
    "bad_kid",
    "malformed",
    "missing",
    "bad_scheme",
    "two_credentials",
    "token_in_query",
]


async def _send(client: Any, how: dict[str, Any], rid: str) -> Any:
    headers = {"X-Request-ID": rid}
    if "token" in how:
        headers["Authorization"] = f"Bearer {how['token']}"
    if "raw" in how:
        headers["Authorization"] = how["raw"]
    params = {"access_token": how["query"]} if "query" in how else None
    return await client.get(ME, headers=headers, params=params)


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_each_auth_result_is_one_structured_event(
    client, tap: JsonTap, alice: User, signing_key: SigningKey, scenario: str
) -> None:
    how, expected = _scenarios(alice, signing_key)[scenario]
    rid = request_id()

    response = await _send(client, how, rid)

    assert response.headers["x-request-id"] == rid
    events = tap.events()
    assert len(events) == 1, events
    event = events[0]
    assert {k: event.get(k) for k in expected} == expected
    assert event["route"] == ME
    assert event["request_id"] == rid
    assert event["time"].endswith("+00:00")  # UTC
    assert event["status"] == (None if scenario == "accepted" else response.status_code)


async def test_a_forbidden_user_path_is_logged_with_the_caller(
    client, tap: JsonTap, alice: User, bob: User
) -> None:
    rid = request_id()

    response = await client.get(bob.tasks_url, headers=bearer_with_id(alice.token, rid))

    assert response.status_code == 403
    events = tap.events()
    assert [e["event"] for e in events] == ["auth.accepted", "auth.forbidden"]
    forbidden = events[-1]
    assert forbidden["reason"] == "user_mismatch"
    assert forbidden["sub"] == alice.id
    assert forbidden["status"] == 403
    assert forbidden["route"] == "/api/{user_id}/tasks"
    assert forbidden["request_id"] == rid
    assert bob.id not in "\n".join(tap.lines)  # the path's user id is not logged either


async def test_a_signed_out_session_is_logged_as_a_rejection(
    client, tap: JsonTap, alice: User, superuser_engine: AsyncEngine
) -> None:
    async with superuser_engine.begin() as connection:
        await connection.execute(text("DELETE FROM session WHERE id = :sid"), {"sid": alice.sid})
    rid = request_id()

    response = await client.get(ME, headers=bearer_with_id(alice.token, rid))

    assert_invalid_token(response, token=alice.token)
    events = tap.events()
    assert [e["reason"] for e in events][-1] == "session_revoked"
    assert events[-1]["event"] == "auth.rejected"
    assert events[-1]["status"] == 401


async def test_no_token_header_email_or_claims_in_any_log(
    client, tap: JsonTap, make_user: MakeUser, signing_key: SigningKey, superuser_engine
) -> None:
    user = await make_user()
    email = f"private-{secrets.token_hex(4)}@mail.example"
    name = f"Private Name {secrets.token_hex(4)}"
    marker_claim = f"marker-{secrets.token_hex(4)}"
    claims = {"email": email, "name": name, "role": marker_claim}
    good = token_for(user, signing_key, **claims)
    forged = token_for(user, SigningKey(kid=signing_key.kid), **claims)
    expired = token_for(user, signing_key, iat=1_000_000_000, exp=1_000_000_900, **claims)
    sent = [good, forged, expired]

    for token in sent:
        await client.get(ME, headers={"Authorization": f"Bearer {token}"})
        await client.get(user.tasks_url, headers={"Authorization": f"Bearer {token}"})
    await client.get(ME, headers={"Authorization": f"Basic {good}"})
    await client.get(ME, params={"access_token": good})
    await client.get(ME, headers={"Authorization": f"Bearer {good}"}, params={"access_token": good})
    await client.post(
        user.tasks_url, headers={"Authorization": f"Bearer {good}"}, json={"title": marker_claim}
    )
    async with superuser_engine.begin() as connection:
        await connection.execute(text("DELETE FROM session WHERE id = :sid"), {"sid": user.sid})
    await client.get(ME, headers={"Authorization": f"Bearer {good}"})

    logged = "\n".join(tap.lines)
    assert tap.events(), "the tap saw no auth events"
    assert "eyJ" not in logged
    assert "Bearer" not in logged
    assert "Basic" not in logged
    assert "authorization" not in logged.lower()
    for token in sent:
        for segment in split(token):
            assert segment not in logged
    for value in (email, name, marker_claim, user.sid, "Someone", "someone@example.test"):
        assert value not in logged


async def test_crlf_in_a_kid_or_user_agent_cannot_forge_a_log_line(
    client, tap: JsonTap, alice: User, signing_key: SigningKey
) -> None:
    forged_line = '{"event": "auth.accepted", "reason": "ok", "sub": "admin"}'
    kid = f"k\r\n{forged_line}\n"
    token = sign_raw(header_for(signing_key, kid=kid), claims_of(alice), signing_key)

    user_agent = f"probe\r\n{forged_line}".encode()
    headers = [("Authorization", f"Bearer {token}"), ("User-Agent", user_agent)]

    response = await client.get(ME, headers=headers)

    assert_invalid_token(response, token=token)
    events = tap.events()
    assert [(e["event"], e["reason"]) for e in events] == [("auth.rejected", "bad_kid")]
    for line in tap.lines:
        assert "\n" not in line
        assert "\r" not in line
        json.loads(line)
    assert "admin" not in "\n".join(tap.lines)


def test_json_formatter_escapes_cr_and_lf_in_any_value() -> None:
    kid = 'k\r\n{"event": "auth.accepted"}\u2028\u0085'
    record = logging.makeLogRecord(
        {"name": "tandem_auth", "msg": "auth.rejected", "levelno": logging.INFO, "kid": kid}
    )
    record.levelname = "INFO"

    line = JsonFormatter().format(record)

    assert line.count("\n") == line.count("\r") == 0
    assert line.isascii()
    assert json.loads(line)["kid"] == kid
