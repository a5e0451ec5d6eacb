"""SECURITY.md "Claims": validly signed tokens whose claims must not be trusted.

Every token here is signed with the trusted test key, so only the claim
check under test can refuse it. The audit log's reason code shows which
check did.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.auth.conftest import AuthLog, InsertUser, StartApp
from tests.auth.expect import ME, assert_accepted, assert_invalid_token, bearer
from tests.auth.forge import claims_of, header_for, sign_hmac, sign_raw, token_for
from tests.conftest import MakeUser, User
from tests.support.jwks_server import JWKSServer
from tests.support.tokens import (
    AUDIENCE,
    HS256_SECRET,
    ISSUER,
    MISSING,
    SigningKey,
)

SESSION_ENDED = "The session behind the access token has ended"


async def me(client: Any, token: str) -> Any:
    return await client.get(ME, headers=bearer(token))


def now() -> int:
    return int(time.time())


# --- exp, iat, nbf ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "seconds_past", [31, 60, 900, 86_400], ids=["just_past_leeway", "1m", "15m", "1d"]
)
async def test_expired_token_is_refused_as_expired(
    client, alice: User, signing_key: SigningKey, auth_log: AuthLog, seconds_past: int
) -> None:
    exp = now() - seconds_past
    claims = claims_of(alice, iat=exp - 900, exp=exp)
    token = sign_raw(header_for(signing_key), claims, signing_key)

    response = await me(client, token)

    assert_invalid_token(response, token=token, claims=claims, description_contains="expired")
    assert auth_log.last_reason == "expired"


@pytest.mark.parametrize("seconds_past", [0, 10, 25])
async def test_exp_within_the_leeway_is_accepted(
    client, alice: User, signing_key: SigningKey, seconds_past: int
) -> None:
    exp = now() - seconds_past
    await assert_accepted(client, token_for(alice, signing_key, iat=exp - 900, exp=exp), alice)


async def test_a_cached_token_is_not_served_past_exp_plus_leeway(
    client, alice: User, signing_key: SigningKey, auth_log: AuthLog
) -> None:
    exp = now() - 28  # accepted now, out of the leeway two seconds from now
    token = token_for(alice, signing_key, iat=exp - 900, exp=exp)
    await assert_accepted(client, token, alice)  # and remembered by the verifier's cache

    await asyncio.sleep(max(0.0, exp + 30 - time.time()) + 0.1)
    response = await me(client, token)

    assert_invalid_token(response, token=token, description_contains="expired")
    assert auth_log.last_reason == "expired"


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "aud", "sub"])
async def test_missing_required_claim_is_refused(
    client, alice: User, signing_key: SigningKey, auth_log: AuthLog, claim: str
) -> None:
    await assert_accepted(client, token_for(alice, signing_key), alice)
    claims = claims_of(alice, **{claim: MISSING})
    token = sign_raw(header_for(signing_key), claims, signing_key)

    response = await me(client, token)

    assert_invalid_token(response, token=token, claims=claims)
    assert auth_log.last_reason == "missing_claim"


def _exp_variants() -> dict[str, tuple[Any, str]]:
    exp = now() + 900
    return {
        "digit_string": (str(exp), "bad_claim_type"),
        "float_string": (f"{exp}.0", "malformed"),
        "true": (True, "expired"),
        "false": (False, "expired"),
        "null": (None, "missing_claim"),
        "list": ([exp], "malformed"),
        "object": ({"value": exp}, "malformed"),
        "huge_float_1e20": (1e20, "bad_lifetime"),
        "huge_int_10_30": (10**30, "bad_lifetime"),
        "infinity": (float("inf"), "malformed"),
        "nan": (float("nan"), "malformed"),
    }


@pytest.mark.parametrize("variant", list(_exp_variants()))
async def test_exp_of_the_wrong_type_or_size_is_refused(
    client, alice: User, signing_key: SigningKey, auth_log: AuthLog, variant: str
) -> None:
    value, reason = _exp_variants()[variant]
    claims = claims_of(alice, exp=value)
    token = sign_raw(header_for(signing_key), claims, signing_key)

    response = await me(client, token)

    assert_invalid_token(response, token=token, claims=claims)
    assert auth_log.last_reason == reason


def _iat_variants() -> dict[str, tuple[Any, str]]:
    iat = now()
    return {
        "digit_string": (str(iat), "bad_claim_type"),
        "true": (True, "bad_claim_type"),
        "null": (None, "missing_claim"),
        "list": ([iat], "bad_iat"),
        "nan": (float("nan"), "bad_iat"),
    }


@pytest.mark.parametrize("variant", list(_iat_variants()))
async def test_iat_of_the_wrong_type_is_refused(
    client, alice: User, signing_key: SigningKey, auth_log: AuthLog, variant: str
) -> None:
    value, reason = _iat_variants()[variant]
    claims = claims_of(alice, iat=value)
    token = sign_raw(header_for(signing_key), claims, signing_key)

    response = await me(client, token)

    assert_invalid_token(response, token=token, claims=claims)
    assert auth_log.last_reason == reason


@pytest.mark.parametrize("claim", ["nbf", "iat"])
@pytest.mark.parametrize("seconds_ahead", [31, 120, 86_400])
async def test_nbf_or_iat_in_the_future_beyond_the_leeway_is_refused(
    client, alice: User, signing_key: SigningKey, auth_log: AuthLog, claim: str, seconds_ahead: int
) -> None:
    future = now() + seconds_ahead + 1
    overrides: dict[str, Any] = {claim: future}
    if claim == "iat":
        overrides["exp"] = future + 900
    claims = claims_of(alice, **overrides)
    token = sign_raw(header_for(signing_key), claims, signing_key)

    response = await me(client, token)

    assert_invalid_token(response, token=token, claims=claims)
    assert auth_log.last_reason == "not_yet_valid"


@pytest.mark.parametrize("claim", ["nbf", "iat"])
async def test_nbf_or_iat_in_the_future_within_the_leeway_is_accepted(
    client, alice: User, signing_key: SigningKey, claim: str
) -> None:
    future = now() + 10
    overrides: dict[str, Any] = {claim: future}
    if claim == "iat":
        overrides["exp"] = future + 900
    await assert_accepted(client, token_for(alice, signing_key, **overrides), alice)


@pytest.mark.parametrize(
    ("lifetime", "accepted"),
    [(900, True), (901, False), (3600, False), (86_400 * 365, False), (0, False), (-5, False)],
)
async def test_lifetime_longer_than_better_auths_default_or_not_positive_is_refused(
    client,
    alice: User,
    signing_key: SigningKey,
    auth_log: AuthLog,
    lifetime: int,
    accepted: bool,
) -> None:
    # A non-positive lifetime puts iat in the future, but within the leeway.
    iat = now() - 5 if lifetime > 0 else now() + 25
    claims = claims_of(alice, iat=iat, exp=iat + lifetime)
    token = sign_raw(header_for(signing_key), claims, signing_key)

    response = await me(client, token)

    if accepted:
        assert response.status_code == 200, response.text
    else:
        assert_invalid_token(response, token=token, claims=claims)
        assert auth_log.last_reason == "bad_lifetime"


# --- aud and iss -----------------------------------------------------------------------------

AUD_VARIANTS: dict[str, tuple[Any, str]] = {
    "wrong": ("other-api", "bad_audience"),
    "empty": ("", "missing_claim"),
    "empty_list": ([], "missing_claim"),
    "null": (None, "missing_claim"),
    "others_in_a_list": (["billing-api", "other-api"], "bad_audience"),
    "upper_case": (AUDIENCE.upper(), "bad_audience"),
    "ours_with_space": (f"{AUDIENCE} ", "bad_audience"),
    "number": (1, "bad_audience"),
    # Better Auth's default aud is its base URL: a token minted for the front end.
    "the_issuer": (ISSUER, "bad_audience"),
}


@pytest.mark.parametrize("audience", [[AUDIENCE], ["billing-api", AUDIENCE]])
async def test_a_list_of_audiences_that_contains_ours_is_accepted(
    client, alice: User, signing_key: SigningKey, audience: list[str]
) -> None:
    """RFC 7519 §4.1.3: ``aud`` may be a list; the token is for us if it names us."""
    claims = claims_of(alice, aud=audience)
    await assert_accepted(client, sign_raw(header_for(signing_key), claims, signing_key), alice)


@pytest.mark.parametrize("variant", list(AUD_VARIANTS))
async def test_wrong_audience_is_refused(
    client, alice: User, signing_key: SigningKey, auth_log: AuthLog, variant: str
) -> None:
    value, reason = AUD_VARIANTS[variant]
    await assert_accepted(client, token_for(alice, signing_key, aud=AUDIENCE), alice)
    claims = claims_of(alice, aud=value)
    token = sign_raw(header_for(signing_key), claims, signing_key)

    response = await me(client, token)

    assert_invalid_token(response, token=token, claims=claims)
    assert auth_log.last_reason == reason


ISS_VARIANTS: dict[str, Any] = {
    "wrong": "https://evil.example",
    "prefix": ISSUER[:-1],
    "host_only": "http://localhost",
    "trailing_slash": f"{ISSUER}/",
    "longer": f"{ISSUER}.evil.example",
    "upper_case": ISSUER.upper(),
    "in_a_list": [ISSUER],
    "ours_and_another": [ISSUER, "https://evil.example"],
    "empty": "",
    "number": 3000,
}


@pytest.mark.parametrize("variant", list(ISS_VARIANTS))
async def test_wrong_issuer_is_refused(
    client, alice: User, signing_key: SigningKey, auth_log: AuthLog, variant: str
) -> None:
    await assert_accepted(client, token_for(alice, signing_key, iss=ISSUER), alice)
    claims = claims_of(alice, iss=ISS_VARIANTS[variant])
    token = sign_raw(header_for(signing_key), claims, signing_key)

    response = await me(client, token)

    assert_invalid_token(response, token=token, claims=claims)
    assert auth_log.last_reason == "bad_issuer"


# --- sub -------------------------------------------------------------------------------------

# Each odd id is a real user with a live session, so nothing but the format check refuses it.
ODD_SUBJECTS: dict[str, str] = {
    "empty": "",
    "too_long_65": "a" * 65,
    "too_long_1000": "b" * 1000,
    "newline": "alice\nadmin",
    "carriage_return": "alice\radmin",
    "tab": "alice\tadmin",
    "control_01": "alice\x01",
    "delete_7f": "alice\x7f",
    "escape": "\x1b[31malice",
    "line_separator": "alice\u2028",
    "space": "alice admin",
    "sql": "a' OR '1'='1",
    "path": "../bob",
    "fullwidth": "\uff41\uff4c\uff49\uff43\uff45",
}


@pytest.mark.parametrize("variant", list(ODD_SUBJECTS))
async def test_malformed_sub_is_refused_even_for_a_real_user(
    client, insert_user: InsertUser, signing_key: SigningKey, auth_log: AuthLog, variant: str
) -> None:
    user = await insert_user(ODD_SUBJECTS[variant])
    claims = claims_of(user)
    token = sign_raw(header_for(signing_key), claims, signing_key)

    response = await me(client, token)

    assert_invalid_token(response, token=token, claims=claims)
    assert auth_log.last_reason == "bad_subject"


async def test_sub_of_64_safe_characters_is_accepted(
    client, insert_user: InsertUser, signing_key: SigningKey
) -> None:
    user = await insert_user("A-z_9" * 12 + "abcd")
    assert len(user.id) == 64
    await assert_accepted(client, token_for(user, signing_key), user)


async def test_sub_as_a_number_is_refused(
    client, insert_user: InsertUser, signing_key: SigningKey, auth_log: AuthLog
) -> None:
    user = await insert_user(str(time.time_ns()))
    await assert_accepted(client, token_for(user, signing_key), user)
    claims = claims_of(user, sub=int(user.id))
    token = sign_raw(header_for(signing_key), claims, signing_key)

    response = await me(client, token)

    assert_invalid_token(response, token=token, claims=claims)
    assert auth_log.last_reason == "bad_subject"  # PyJWT: "Subject must be a string"


@pytest.mark.parametrize("sub", [None, ["x"], {"id": "x"}, True])
async def test_sub_of_another_type_is_refused(
    client, alice: User, signing_key: SigningKey, sub: Any
) -> None:
    claims = claims_of(alice, sub=sub)
    token = sign_raw(header_for(signing_key), claims, signing_key)
    assert_invalid_token(await me(client, token), token=token, claims=claims)


# --- identity is sub alone -------------------------------------------------------------------


def _extra_claims(victim: User) -> dict[str, Any]:
    return {
        "role": "admin",
        "roles": ["admin"],
        "scope": "tasks:* admin",
        "user_id": victim.id,
        "userId": victim.id,
        "uid": victim.id,
        "id": victim.id,
        "admin": True,
        "is_superuser": True,
    }


async def test_extra_claims_grant_nothing(
    client, alice: User, bob: User, signing_key: SigningKey
) -> None:
    token = token_for(alice, signing_key, **_extra_claims(bob))

    who = await me(client, token)
    assert who.status_code == 200, who.text
    assert who.json()["user_id"] == alice.id
    for method in ("GET", "POST"):
        body = {"title": "planted"} if method == "POST" else None
        foreign = await client.request(method, bob.tasks_url, headers=bearer(token), json=body)
        assert foreign.status_code == 403, foreign.text
    own = await client.get(alice.tasks_url, headers=bearer(token))
    assert own.status_code == 200, own.text
    listed = await client.get(bob.tasks_url, headers=bob.headers)
    assert listed.status_code == 200
    assert listed.json()["items"] == []


async def test_sid_of_another_user_is_refused(
    client, alice: User, bob: User, signing_key: SigningKey
) -> None:
    token = token_for(alice, signing_key, sid=bob.sid)

    response = await me(client, token)

    description = assert_invalid_token(response, token=token)
    assert description == SESSION_ENDED


# --- tokens that are not access tokens for this API ------------------------------------------


def _session_data_cookie(user: User) -> dict[str, Any]:
    """The payload of Better Auth's ``session_data`` cookie cache in its "jwt" strategy."""
    issued = now()
    return {
        "session": {
            "id": user.sid,
            "userId": user.id,
            "token": "opaque-session-token-0123456789",
            "expiresAt": "2099-01-01T00:00:00.000Z",
            "createdAt": "2025-01-01T00:00:00.000Z",
            "updatedAt": "2025-01-01T00:00:00.000Z",
            "ipAddress": "127.0.0.1",
            "userAgent": "test",
        },
        "user": {
            "id": user.id,
            "email": f"{user.id}@example.test",
            "name": "Test",
            "emailVerified": False,
            "createdAt": "2025-01-01T00:00:00.000Z",
            "updatedAt": "2025-01-01T00:00:00.000Z",
        },
        "updatedAt": issued * 1000,
        "iat": issued,
        "exp": issued + 300,
    }


async def test_better_auth_session_data_cookie_jwt_is_refused_by_both_apps(
    client, hs256_client, alice: User, auth_log: AuthLog
) -> None:
    payload = _session_data_cookie(alice)
    # Signed with the very secret the HS256 app trusts (JWT_SECRET falls back to it).
    token = sign_hmac({"alg": "HS256"}, payload, HS256_SECRET.encode())

    in_hs256_mode = await me(hs256_client, token)
    assert_invalid_token(in_hs256_mode, token=token, claims=payload)
    assert auth_log.last_reason == "missing_claim"

    in_eddsa_mode = await me(client, token)
    assert_invalid_token(in_eddsa_mode, token=token, claims=payload)
    assert auth_log.last_reason == "alg_not_allowed"


# --- revocation ------------------------------------------------------------------------------

# DESIGN.md §2: routes that touch the database check the session in their own
# transaction, so a revocation holds on the very next request. /api/me trusts
# a per-process cache of live sessions that PostgreSQL NOTIFY clears: "at
# once, or within 100 ms". (SECURITY.md says "immediately" for both.)
CACHED_ROUTE_GRACE_SECONDS = 0.1


async def _run(engine: AsyncEngine, sql: str, **params: Any) -> float:
    """Run one statement in its own transaction; return when it committed."""
    async with engine.begin() as connection:
        await connection.execute(text(sql), params)
    return time.monotonic()


async def assert_revoked(client: Any, user: User, token: str, *, committed_at: float) -> None:
    response = await client.get(user.tasks_url, headers=bearer(token))
    assert assert_invalid_token(response, token=token) == SESSION_ENDED
    while (response := await me(client, token)).status_code == 200:
        waited = time.monotonic() - committed_at
        assert waited < CACHED_ROUTE_GRACE_SECONDS, "/api/me still accepts a revoked session"
        await asyncio.sleep(0.005)
    assert assert_invalid_token(response, token=token) == SESSION_ENDED


async def test_token_of_a_deleted_user_is_refused(
    client, make_user: MakeUser, superuser_engine: AsyncEngine
) -> None:
    user = await make_user()
    await assert_accepted(client, user.token, user)  # also remembered by the verifier's cache
    assert (await client.get(user.tasks_url, headers=bearer(user.token))).status_code == 200

    committed_at = await _run(superuser_engine, 'DELETE FROM "user" WHERE id = :id', id=user.id)

    await assert_revoked(client, user, user.token, committed_at=committed_at)


async def test_token_without_sid_is_refused_unless_sid_is_optional(
    client,
    start_app: StartApp,
    jwks: JWKSServer,
    make_user: MakeUser,
    signing_key: SigningKey,
    auth_log: AuthLog,
) -> None:
    user = await make_user()
    token = token_for(user, signing_key, sid=MISSING)
    assert_invalid_token(await me(client, token), token=token)
    assert auth_log.last_reason == "missing_sid"

    async with start_app(jwt_require_sid=False, jwks_url=jwks.url) as (_app, optional_sid):
        await assert_accepted(optional_sid, token, user)


async def test_token_without_sid_of_a_deleted_user_is_refused_when_sid_is_optional(
    start_app: StartApp,
    jwks: JWKSServer,
    make_user: MakeUser,
    superuser_engine: AsyncEngine,
    signing_key: SigningKey,
) -> None:
    user = await make_user()
    token = token_for(user, signing_key, sid=MISSING)
    async with start_app(jwt_require_sid=False, jwks_url=jwks.url) as (_app, client):
        await assert_accepted(client, token, user)
        assert (await client.get(user.tasks_url, headers=bearer(token))).status_code == 200

        committed_at = await _run(superuser_engine, 'DELETE FROM "user" WHERE id = :id', id=user.id)

        await assert_revoked(client, user, token, committed_at=committed_at)


async def test_token_of_a_signed_out_session_is_refused_at_once(
    client, alice: User, superuser_engine: AsyncEngine, signing_key: SigningKey
) -> None:
    other_sid = secrets.token_hex(16)
    await _run(
        superuser_engine,
        'INSERT INTO session (id, "expiresAt", token, "updatedAt", "userId") '
        "VALUES (:sid, now() + interval '1 day', :token, now(), :uid)",
        sid=other_sid,
        token=f"t-{other_sid}",
        uid=alice.id,
    )
    other_device = token_for(alice, signing_key, sid=other_sid)
    await assert_accepted(client, alice.token, alice)
    await assert_accepted(client, other_device, alice)

    committed_at = await _run(
        superuser_engine, "DELETE FROM session WHERE id = :sid", sid=alice.sid
    )

    await assert_revoked(client, alice, alice.token, committed_at=committed_at)
    await assert_accepted(client, other_device, alice)  # only that session ended


async def test_token_of_an_expired_session_is_refused(
    client, alice: User, superuser_engine: AsyncEngine
) -> None:
    await assert_accepted(client, alice.token, alice)

    committed_at = await _run(
        superuser_engine,
        "UPDATE session SET \"expiresAt\" = now() - interval '1 second' WHERE id = :sid",
        sid=alice.sid,
    )

    await assert_revoked(client, alice, alice.token, committed_at=committed_at)
