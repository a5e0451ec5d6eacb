"""JWT_ALGORITHM with the real Better Auth, for each algorithm its `jwt` plugin signs with.

EdDSA (OKP) is the main pair. ES256 and ES512 (EC), RS256 and PS256 (RSA) take turns on one
more pair (`Stack.pair_for`), restarted with each algorithm on the main pair's database. That
database already holds the other algorithms' keys, so each server must sign with a key of its
own algorithm and publish only those (frontend/src/lib/server/jwt-plugin.ts, `keysOf`). An
unknown JWT_ALGORITHM stops Next.js at start-up.
"""

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from support.http import (
    bearer,
    client,
    distinct_address,
    jwt_claims,
    jwt_for,
    jwt_header,
    same_origin,
    sign_up,
)
from support.stack import Pair, Stack, StackFailed
from support.users import User, new_user

# The key each algorithm's tokens need: kty, curve (None for RSA) and the public members' sizes.
KEYS: dict[str, tuple[str, str | None]] = {
    "EdDSA": ("OKP", "Ed25519"),
    "ES256": ("EC", "P-256"),
    "ES512": ("EC", "P-521"),
    "RS256": ("RSA", None),
    "PS256": ("RSA", None),
}
COORDINATE_BYTES = {"Ed25519": 32, "P-256": 32, "P-521": 66}
MIN_RSA_BITS = 2048  # what the back end accepts, and what the web app generates
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


@dataclass(frozen=True)
class Member:
    """Someone signed up on the pair for one algorithm, with the session that did it."""

    algorithm: str
    pair: Pair
    user: User
    web: httpx.Client


@pytest.fixture(scope="module", params=list(KEYS))
def member(request: pytest.FixtureRequest, stack: Stack) -> Iterator[Member]:
    """Module-scoped, so pytest runs every test of one algorithm before the pair restarts."""
    algorithm: str = request.param
    pair = stack.pair_for(algorithm)
    with client(pair.web_url, forwarded_for=distinct_address()) as web:
        user = new_user("Ines Ferreira")
        sign_up(web, pair, user)
        yield Member(algorithm, pair, user, web)


@pytest.fixture(scope="module")
def eddsa_web(app: Pair) -> Iterator[httpx.Client]:
    """A session on the main (EdDSA) pair, for tokens of the other kind."""
    with client(app.web_url, forwarded_for=distinct_address()) as web:
        sign_up(web, app, new_user("Jonas Berg"))
        yield web


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _published(pair: Pair) -> list[dict[str, Any]]:
    with client(pair.web_url) as web:
        response = web.get("/api/auth/jwks")
    assert response.status_code == 200, response.text
    keys: list[dict[str, Any]] = response.json()["keys"]
    return keys


def _check_public_key(key: dict[str, Any], algorithm: str) -> None:
    kty, crv = KEYS[algorithm]
    assert (key["kty"], key.get("crv"), key["alg"]) == (kty, crv, algorithm), key
    assert not PRIVATE_MEMBERS & key.keys(), "the JWKS leaks a private key member"
    if crv is None:
        assert len(_b64decode(key["n"])) * 8 >= MIN_RSA_BITS
        assert _b64decode(key["e"]) == b"\x01\x00\x01"
    else:
        assert len(_b64decode(key["x"])) == COORDINATE_BYTES[crv]
        if kty == "EC":
            assert len(_b64decode(key["y"])) == COORDINATE_BYTES[crv]


def test_the_token_and_the_jwks_use_the_configured_algorithm(
    stack: Stack, app: Pair, member: Member, eddsa_web: httpx.Client
) -> None:
    token = jwt_for(member.web)
    header = jwt_header(token)
    assert header == {"alg": member.algorithm, "kid": header["kid"]}
    keys = _published(member.pair)
    for key in keys:
        _check_public_key(key, member.algorithm)
    assert header["kid"] in {key["kid"] for key in keys}

    # The database holds both algorithms' keys, and the main pair goes on with its own.
    live = """SELECT DISTINCT alg FROM jwks WHERE "expiresAt" IS NULL OR "expiresAt" > now()"""
    assert {"EdDSA", member.algorithm} <= set(stack.sql(live).split())
    assert jwt_header(jwt_for(eddsa_web))["alg"] == "EdDSA"
    for key in _published(app):
        _check_public_key(key, "EdDSA")


def test_the_api_takes_the_token_directly(member: Member) -> None:
    token = jwt_for(member.web)
    user_id = jwt_claims(token)["sub"]
    with client(member.pair.api_url) as api:
        me = api.get("/api/me", headers=bearer(token))
        assert me.status_code == 200, me.text
        assert me.json() == {
            "user_id": user_id,
            "email": member.user.email,
            "name": member.user.name,
        }
        title = f"Signed with {member.algorithm}"
        created = api.post(f"/api/{user_id}/tasks", json={"title": title}, headers=bearer(token))
        assert created.status_code == 201, created.text
        listed = api.get(f"/api/{user_id}/tasks", headers=bearer(token))
        assert listed.status_code == 200, listed.text
        assert created.json() in listed.json()["items"]
    # The proxy signs its own token for the session, with the same algorithm.
    proxied = member.web.get("/api/tasks", headers=same_origin(member.pair))
    assert proxied.status_code == 200, proxied.text
    assert created.json() in proxied.json()["items"]


def _with_claim(token: str, name: str, value: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(_b64decode(payload)) | {name: value}
    return ".".join((header, _b64encode(json.dumps(claims).encode()), signature))


def _with_flipped_signature(token: str) -> str:
    signing_input, _, signature = token.rpartition(".")
    flipped = bytearray(_b64decode(signature))
    flipped[0] ^= 0x01  # the first byte: the last character's spare bits would change nothing
    return f"{signing_input}.{_b64encode(bytes(flipped))}"


def test_a_tampered_token_is_refused(member: Member) -> None:
    token = jwt_for(member.web)
    tampered = {
        "claim": _with_claim(token, "name", "Mallory"),
        "signature": _with_flipped_signature(token),
    }
    with client(member.pair.api_url) as api:
        assert api.get("/api/me", headers=bearer(token)).status_code == 200
        for what, forged in tampered.items():
            refused = api.get("/api/me", headers=bearer(forged))
            assert refused.status_code == 401, (what, refused.text)
            assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"], what


def test_each_api_takes_only_its_own_algorithm(
    app: Pair, member: Member, eddsa_web: httpx.Client
) -> None:
    """An EdDSA token on this pair's API, and this pair's token on the EdDSA API."""
    expected = 200 if member.algorithm == "EdDSA" else 401
    with client(member.pair.api_url) as api, client(app.api_url) as eddsa_api:
        assert api.get("/api/me", headers=bearer(jwt_for(eddsa_web))).status_code == expected
        assert eddsa_api.get("/api/me", headers=bearer(jwt_for(member.web))).status_code == expected


def test_an_unknown_algorithm_stops_the_web_app_at_start_up(stack: Stack, app: Pair) -> None:
    try:
        with pytest.raises(StackFailed, match="exited") as failed:
            stack.start_web("web-bad-algorithm", like=app, env={"JWT_ALGORITHM": "HS512"})
    finally:
        stack.stop("web-bad-algorithm")  # a dead child would fail every later test's check
    message = 'JWT_ALGORITHM must be one of EdDSA, ES256, ES512, RS256, PS256, HS256, not "HS512"'
    assert message in str(failed.value)
