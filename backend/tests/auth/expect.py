"""Assertions on auth responses (SECURITY.md: what "401" means), and how to send a token."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

ME = "/api/me"
REALM_CHALLENGE = 'Bearer realm="tandem"'
# Every description the verifier may send: fixed strings, never built from input.
FIXED_DESCRIPTIONS = frozenset(
    {
        "The access token is invalid",
        "The access token has expired",
        "The session behind the access token has ended",
    }
)
_DESCRIPTION = re.compile(r'error_description="([^"]*)"')


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def assert_accepted(
    client: httpx.AsyncClient, token: str, user: Any, *, scheme: str = "Bearer"
) -> None:
    """The control: ``/api/me`` accepts ``token`` and names ``user``."""
    response = await client.get(ME, headers={"Authorization": f"{scheme} {token}"})
    assert response.status_code == 200, response.text
    assert response.json()["user_id"] == user.id


def _secrets_in(token: str | None, claims: Mapping[str, Any] | None) -> list[str]:
    """Strings that must never be echoed: the token, its segments, and every claim value."""
    found: list[str] = []
    if token:
        found.append(token)
        found.extend(segment for segment in token.split(".") if len(segment) >= 8)
    for value in _leaves(claims or {}):
        if isinstance(value, str) and len(value) >= 4:
            found.append(value)
    return found


def _leaves(value: Any) -> Iterable[Any]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def assert_echoes_nothing(
    response: httpx.Response, token: str | None, claims: Mapping[str, Any] | None
) -> None:
    exposed = response.text + " ".join(f"{k}: {v}" for k, v in response.headers.items())
    for secret in _secrets_in(token, claims):
        assert secret not in exposed, "the response echoes the token or a claim"


def assert_error_body(response: httpx.Response, code: str) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"detail", "code"}, body
    assert body["code"] == code
    assert isinstance(body["detail"], str)
    assert response.headers.get("cache-control") == "no-store"
    return dict(body)


def assert_invalid_token(
    response: httpx.Response,
    *,
    token: str | None = None,
    claims: Mapping[str, Any] | None = None,
    description_contains: str | None = None,
) -> str:
    """SECURITY.md "401": status, challenge, fixed description, no echo, no-store.

    Returns the ``error_description`` so callers can check which fixed text it was.
    """
    assert response.status_code == 401, (response.status_code, response.text)
    challenge = response.headers.get("www-authenticate", "")
    assert challenge.startswith(REALM_CHALLENGE), challenge
    assert 'error="invalid_token"' in challenge, challenge
    match = _DESCRIPTION.search(challenge)
    assert match is not None, challenge
    description = match.group(1)
    assert description in FIXED_DESCRIPTIONS, description
    body = assert_error_body(response, "invalid_token")
    assert body["detail"] == description
    if description_contains is not None:
        assert description_contains in description, description
    assert_echoes_nothing(response, token, claims)
    return description


def assert_missing_credentials(response: httpx.Response) -> None:
    """RFC 6750 §3.1: no credentials, so a bare challenge with no error code."""
    assert response.status_code == 401, (response.status_code, response.text)
    assert response.headers.get("www-authenticate") == REALM_CHALLENGE
    assert_error_body(response, "not_authenticated")


def assert_invalid_request(
    response: httpx.Response, *, token: str | None = None, claims: Mapping[str, Any] | None = None
) -> None:
    """400 for more than one credential (RFC 6750 §2, §3.1)."""
    assert response.status_code == 400, (response.status_code, response.text)
    challenge = response.headers.get("www-authenticate", "")
    assert challenge.startswith(REALM_CHALLENGE), challenge
    assert 'error="invalid_request"' in challenge, challenge
    assert_error_body(response, "invalid_request")
    assert_echoes_nothing(response, token, claims)


def assert_unavailable(response: httpx.Response) -> None:
    """503 with ``Retry-After`` when no key can verify the token."""
    assert response.status_code == 503, (response.status_code, response.text)
    retry_after = response.headers.get("retry-after", "")
    assert retry_after.isdigit(), retry_after
    assert int(retry_after) > 0
    assert_error_body(response, "key_source_unavailable")
