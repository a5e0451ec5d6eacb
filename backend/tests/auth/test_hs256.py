"""HS256 mode (DESIGN.md §2): one shared secret, previous ones kept for rotation.

The HS256 app and the EdDSA app never accept each other's tokens, and a
secret that is not configured verifies nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from tandem_auth import SharedSecrets

from tests.auth.conftest import AuthLog, StartApp
from tests.auth.expect import ME, assert_invalid_token, bearer
from tests.auth.forge import claims_of, header_for, sign_hmac, sign_raw
from tests.conftest import MakeUser, User, make_settings
from tests.support.database import MigratedDatabase
from tests.support.tokens import HS256_SECRET, MISSING, SigningKey, sign_hs256

NEW_SECRET = "the-new-hs256-secret-after-rotation-0123456789"
OLDER_SECRET = "an-older-hs256-secret-still-honoured-0123456789"
UNKNOWN_SECRET = "a-long-secret-that-nobody-configured-0123456789"


async def test_token_signed_with_the_secret_is_accepted(hs256_client, make_user: MakeUser) -> None:
    user = await make_user(hs256=True)

    who = await hs256_client.get(ME, headers=user.headers)
    tasks = await hs256_client.get(user.tasks_url, headers=user.headers)

    assert who.status_code == 200, who.text
    assert who.json()["user_id"] == user.id
    assert tasks.status_code == 200, tasks.text


async def test_previous_secrets_verify_and_unknown_ones_do_not(
    start_app: StartApp, alice: User, auth_log: AuthLog
) -> None:
    claims = claims_of(alice)
    async with start_app(
        jwt_algorithm="HS256",
        jwt_secret=NEW_SECRET,
        jwt_previous_secrets=f"{HS256_SECRET}, {OLDER_SECRET}",
    ) as (_app, client):
        for secret in (NEW_SECRET, HS256_SECRET, OLDER_SECRET):
            response = await client.get(ME, headers=bearer(sign_hs256(claims, secret)))
            assert response.status_code == 200, response.text

        token = sign_hs256(claims, UNKNOWN_SECRET)
        response = await client.get(ME, headers=bearer(token))
        assert_invalid_token(response, token=token, claims=claims)
        assert auth_log.last_reason == "bad_signature"


async def test_a_secret_that_is_not_configured_is_refused(
    hs256_client, alice: User, auth_log: AuthLog
) -> None:
    claims = claims_of(alice)
    assert (await hs256_client.get(ME, headers=bearer(sign_hs256(claims)))).status_code == 200
    token = sign_hs256(claims, UNKNOWN_SECRET)

    response = await hs256_client.get(ME, headers=bearer(token))

    assert_invalid_token(response, token=token, claims=claims)
    assert auth_log.last_reason == "bad_signature"


async def test_eddsa_token_is_refused_by_the_hs256_app(
    hs256_client, client, alice: User, auth_log: AuthLog
) -> None:
    assert (await client.get(ME, headers=alice.headers)).status_code == 200

    response = await hs256_client.get(ME, headers=alice.headers)

    assert_invalid_token(response, token=alice.token)
    assert auth_log.last_reason == "alg_not_allowed"


async def test_hs256_token_is_refused_by_the_eddsa_app(
    hs256_client, client, alice: User, auth_log: AuthLog
) -> None:
    token = sign_hs256(claims_of(alice))
    assert (await hs256_client.get(ME, headers=bearer(token))).status_code == 200

    response = await client.get(ME, headers=bearer(token))

    assert_invalid_token(response, token=token)
    assert auth_log.last_reason == "alg_not_allowed"


@pytest.mark.parametrize("alg", ["HS384", "HS512", "hs256", "none"])
async def test_other_hmac_algorithms_with_the_right_secret_are_refused(
    hs256_client, alice: User, auth_log: AuthLog, alg: str
) -> None:
    claims = claims_of(alice)
    token = sign_hmac({"alg": alg, "typ": "JWT"}, claims, HS256_SECRET.encode())

    response = await hs256_client.get(ME, headers=bearer(token))

    assert_invalid_token(response, token=token, claims=claims)
    assert auth_log.last_reason == "alg_not_allowed"


CLAIM_CHECKS: dict[str, tuple[dict[str, Any], str]] = {
    "expired": ({"exp": 1_000_000_000, "iat": 999_999_100}, "expired"),
    "wrong_audience": ({"aud": "other-api"}, "bad_audience"),
    "wrong_issuer": ({"iss": "https://evil.example"}, "bad_issuer"),
    "no_sub": ({"sub": MISSING}, "missing_claim"),
    "too_long_lived": ({"exp": 4_000_000_000}, "bad_lifetime"),
}


@pytest.mark.parametrize("variant", list(CLAIM_CHECKS))
async def test_claim_checks_also_hold_in_hs256_mode(
    hs256_client, alice: User, auth_log: AuthLog, variant: str
) -> None:
    overrides, reason = CLAIM_CHECKS[variant]
    claims = claims_of(alice, **overrides)
    token = sign_hs256(claims)

    response = await hs256_client.get(ME, headers=bearer(token))

    assert_invalid_token(response, token=token, claims=claims)
    assert auth_log.last_reason == reason


@pytest.mark.parametrize(("kid", "accepted"), [(MISSING, True), ("v1", True), ("../x", False)])
async def test_kid_is_optional_but_checked_in_hs256_mode(
    hs256_client, alice: User, kid: Any, accepted: bool
) -> None:
    header = {k: v for k, v in {"alg": "HS256", "kid": kid}.items() if v is not MISSING}
    token = sign_hmac(header, claims_of(alice), HS256_SECRET.encode())

    response = await hs256_client.get(ME, headers=bearer(token))

    if accepted:
        assert response.status_code == 200, response.text
    else:
        assert_invalid_token(response, token=token)


async def test_eddsa_signature_under_an_hs256_header_is_refused(
    hs256_client, alice: User, signing_key: SigningKey, auth_log: AuthLog
) -> None:
    token = sign_raw(header_for(signing_key, alg="HS256"), claims_of(alice), signing_key)

    response = await hs256_client.get(ME, headers=bearer(token))

    assert_invalid_token(response, token=token)
    assert auth_log.last_reason == "bad_signature"


@pytest.mark.parametrize("secret", ["", "short", "x" * 31])
def test_short_secrets_are_refused_at_startup(secret: str) -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        SharedSecrets(secret)
    with pytest.raises(ValueError, match="at least 32 bytes"):
        SharedSecrets(HS256_SECRET, [secret])


@pytest.mark.parametrize("placeholder", ["secret", "changeme", "your-secret-key-here"])
def test_placeholder_secrets_are_refused_by_settings(
    database: MigratedDatabase, placeholder: str
) -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        make_settings(database, jwt_algorithm="HS256", jwt_secret=placeholder)
