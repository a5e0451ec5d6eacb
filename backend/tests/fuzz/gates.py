"""The fuzz gates, and how a Schemathesis case reaches the app.

Gates (issue 4): no 5xx; no response that ignores auth; invalid input
rejected; nothing still served after a delete. Each is a plain assertion
here, so a failure names the request that broke it.
"""

from __future__ import annotations

from typing import Any

import httpx
from schemathesis import Case

from tests.fuzz.conftest import Caller
from tests.fuzz.threaded import ThreadedClient
from tests.support.tokens import SigningKey, claims_for, sign_eddsa

# What the stack refuses before the auth dependency runs: an unparsable or
# oversized body (FastAPI parses JSON before it solves dependencies, and the
# size cap is middleware), and a path that matches no route.
PRE_AUTH_REFUSALS = frozenset({400, 404, 405, 413, 415, 422})


def send(client: ThreadedClient, case: Case, authorization: str | None) -> httpx.Response:
    """Send ``case`` as generated, with ``authorization`` in place of any generated one."""
    kwargs: dict[str, Any] = case.as_transport_kwargs(base_url=client.base_url)
    headers = {k: v for k, v in kwargs.pop("headers").items() if k.lower() != "authorization"}
    if authorization is not None:
        headers["Authorization"] = authorization
    kwargs.pop("auth", None)
    cookies = kwargs.pop("cookies", None)
    assert not cookies, "the API takes no cookies; Schemathesis should generate none"
    data = kwargs.pop("data", None)
    if data is not None:
        kwargs["content"] = data if isinstance(data, bytes) else str(data).encode()
    return client.request(headers=_latin1(headers), **kwargs)


def _latin1(headers: dict[str, Any]) -> dict[str, bytes]:
    """Header values as the bytes a client sends (httpx encodes str values as ASCII only)."""
    return {k: str(v).encode("latin-1", errors="replace") for k, v in headers.items()}


def describe(case: Case, response: httpx.Response) -> str:
    return f"{case.method} {response.request.url} -> {response.status_code} {response.text[:300]}"


def assert_no_server_error(case: Case, response: httpx.Response) -> None:
    assert response.status_code < 500, describe(case, response)


def assert_auth_enforced(
    client: ThreadedClient,
    case: Case,
    own: httpx.Response,
    *,
    other: Caller | None,
    attacker: SigningKey,
    owner: Caller,
    made_up: str | None = None,
) -> None:
    """Replay ``case`` without a token, with a forged one, with a made-up one, and as ``other``.

    ``own`` is the owner's answer on their own path. Whatever it was, no
    replay gets a 2xx or a 5xx. Where the request reached authentication
    (the replay without a token gets 401), a forged or made-up token also gets
    401, and ``other``'s valid token on the owner's path gets 403.
    """
    anonymous = send(client, case, None)
    assert_no_server_error(case, anonymous)
    assert not anonymous.is_success, describe(case, anonymous)
    if own.is_success:
        assert anonymous.status_code == 401, describe(case, anonymous)
    assert anonymous.status_code in PRE_AUTH_REFUSALS | {401}, describe(case, anonymous)
    reached_auth = anonymous.status_code == 401

    forged_token = sign_eddsa(claims_for(owner.user.id, owner.user.sid), attacker)
    replays = {"forged": f"Bearer {forged_token}"}
    if made_up is not None:
        replays["made_up"] = made_up
    for name, authorization in replays.items():
        response = send(client, case, authorization)
        assert_no_server_error(case, response)
        expected = 401 if reached_auth else anonymous.status_code
        assert response.status_code == expected, (name, describe(case, response))

    if other is not None:
        foreign = send(client, case, other.authorization())
        assert_no_server_error(case, foreign)
        expected = 403 if reached_auth else anonymous.status_code
        assert foreign.status_code == expected, ("foreign token", describe(case, foreign))
