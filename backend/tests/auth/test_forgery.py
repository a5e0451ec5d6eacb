"""SECURITY.md "Token forgery": tokens that look right but were not signed by a trusted key.

Each attack starts from a token the app accepts (the control, asserted too)
and changes one thing.
"""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa, x25519
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from tests.auth.conftest import AuthLog, StartApp
from tests.auth.expect import ME, assert_accepted, assert_invalid_token, bearer
from tests.auth.forge import (
    ED25519_ORDER,
    b64url_decode,
    claims_of,
    decoded_claims,
    encode_part,
    header_for,
    sign_hmac,
    sign_raw,
    split,
    token_for,
    with_signature,
)
from tests.conftest import User
from tests.support.tokens import SigningKey, b64url, sign_hs256

# --- alg none ------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize(
    ("signature", "reason"), [("empty", "malformed"), ("kept", "alg_not_allowed")]
)
async def test_alg_none_is_refused(
    client, alice: User, auth_log: AuthLog, alg: str, signature: str, reason: str
) -> None:
    await assert_accepted(client, alice.token, alice)
    _, payload, original_signature = split(alice.token)
    header = encode_part({"alg": alg, "kid": "test-key-1"})
    forged = f"{header}.{payload}.{original_signature if signature == 'kept' else ''}"

    response = await client.get(ME, headers=bearer(forged))

    assert_invalid_token(response, token=forged, claims=decoded_claims(alice.token))
    assert auth_log.last_reason == reason


# --- HS256 with a key the attacker knows ------------------------------------------------------


def _public_key_forms(key: SigningKey) -> dict[str, bytes]:
    public = key.private.public_key()
    return {
        "raw": key.public_bytes(),
        "pem": public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
        "der": public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo),
        "jwk_text": json.dumps(key.jwk()).encode(),
        "jwk_text_compact": json.dumps(key.jwk(), separators=(",", ":")).encode(),
        "x_base64url": key.jwk()["x"].encode(),
    }


@pytest.mark.parametrize(
    "form", ["raw", "pem", "der", "jwk_text", "jwk_text_compact", "x_base64url"]
)
async def test_hs256_signed_with_the_public_key_is_refused(
    client, alice: User, signing_key: SigningKey, auth_log: AuthLog, form: str
) -> None:
    claims = claims_of(alice)
    await assert_accepted(client, sign_raw(header_for(signing_key), claims, signing_key), alice)
    secret = _public_key_forms(signing_key)[form]
    forged = sign_hmac(header_for(signing_key, alg="HS256"), claims, secret)

    response = await client.get(ME, headers=bearer(forged))

    assert_invalid_token(response, token=forged, claims=claims)
    assert auth_log.last_reason == "alg_not_allowed"


WEAK_SECRETS = [b"", b"secret", b"password", b"changeme", b"your-secret-key-here", b"\x00" * 32]


@pytest.mark.parametrize("secret", WEAK_SECRETS, ids=lambda s: repr(s)[:16])
async def test_hs256_with_a_weak_secret_is_refused_in_hs256_mode(
    hs256_client, alice: User, auth_log: AuthLog, secret: bytes
) -> None:
    claims = claims_of(alice)
    accepted = await hs256_client.get(ME, headers=bearer(sign_hs256(claims)))
    assert accepted.status_code == 200, accepted.text
    forged = sign_hmac({"alg": "HS256", "typ": "JWT"}, claims, secret)

    response = await hs256_client.get(ME, headers=bearer(forged))

    assert_invalid_token(response, token=forged, claims=claims)
    assert auth_log.last_reason == "bad_signature"


@pytest.mark.parametrize("secret", WEAK_SECRETS, ids=lambda s: repr(s)[:16])
async def test_hs256_with_a_weak_secret_is_refused_in_eddsa_mode(
    client, alice: User, signing_key: SigningKey, auth_log: AuthLog, secret: bytes
) -> None:
    claims = claims_of(alice)
    forged = sign_hmac(header_for(signing_key, alg="HS256"), claims, secret)

    response = await client.get(ME, headers=bearer(forged))

    assert_invalid_token(response, token=forged, claims=claims)
    assert auth_log.last_reason == "alg_not_allowed"


# --- signature surgery --------------------------------------------------------------------


def _strip_keep_dot(token: str) -> str:
    header, payload, _ = split(token)
    return f"{header}.{payload}."


def _strip_two_segments(token: str) -> str:
    header, payload, _ = split(token)
    return f"{header}.{payload}"


def _all_zero(token: str) -> str:
    return with_signature(token, bytes(64))


def _truncated_bytes(token: str) -> str:
    return with_signature(token, b64url_decode(split(token)[2])[:63])


def _truncated_half(token: str) -> str:
    return with_signature(token, b64url_decode(split(token)[2])[:32])


def _truncated_one_char(token: str) -> str:
    return token[:-1]


def _one_bit_flipped(token: str) -> str:
    signature = bytearray(b64url_decode(split(token)[2]))
    signature[10] ^= 0x01
    return with_signature(token, bytes(signature))


SURGERY = {
    "stripped_h.p.": (_strip_keep_dot, "malformed"),
    "stripped_h.p": (_strip_two_segments, "malformed"),
    "all_zero_bytes": (_all_zero, "bad_signature"),
    "truncated_63_bytes": (_truncated_bytes, "bad_signature"),
    "truncated_32_bytes": (_truncated_half, "bad_signature"),
    "truncated_one_char": (_truncated_one_char, "malformed"),
    "one_bit_flipped": (_one_bit_flipped, "bad_signature"),
}


@pytest.mark.parametrize("name", list(SURGERY))
async def test_tampered_signature_is_refused_and_the_original_still_works(
    client, alice: User, auth_log: AuthLog, name: str
) -> None:
    surgery, reason = SURGERY[name]
    await assert_accepted(client, alice.token, alice)
    forged = surgery(alice.token)
    assert forged != alice.token

    response = await client.get(ME, headers=bearer(forged))

    assert_invalid_token(response, token=forged, claims=decoded_claims(alice.token))
    assert auth_log.last_reason == reason
    await assert_accepted(client, alice.token, alice)


async def test_payload_changed_to_another_user_with_the_old_signature_is_refused(
    client, alice: User, bob: User, auth_log: AuthLog
) -> None:
    await assert_accepted(client, bob.token, bob)
    header, _, signature = split(alice.token)
    claims = decoded_claims(alice.token)
    claims.update(sub=bob.id, sid=bob.sid)
    forged = f"{header}.{encode_part(claims)}.{signature}"

    response = await client.get(ME, headers=bearer(forged))

    assert_invalid_token(response, token=forged, claims=claims)
    assert auth_log.last_reason == "bad_signature"
    tasks = await client.get(bob.tasks_url, headers=bearer(forged))
    assert_invalid_token(tasks, token=forged, claims=claims)
    await assert_accepted(client, alice.token, alice)


async def test_attacker_ed25519_key_under_the_real_kid_is_refused(
    client, alice: User, signing_key: SigningKey, auth_log: AuthLog
) -> None:
    attacker = SigningKey(kid=signing_key.kid)  # same kid, a key the JWKS never published
    claims = claims_of(alice)
    await assert_accepted(client, sign_raw(header_for(signing_key), claims, signing_key), alice)
    forged = sign_raw(header_for(attacker), claims, attacker)

    response = await client.get(ME, headers=bearer(forged))

    assert_invalid_token(response, token=forged, claims=claims)
    assert auth_log.last_reason == "bad_signature"


async def test_non_canonical_ed25519_signature_is_refused(
    client, alice: User, auth_log: AuthLog
) -> None:
    await assert_accepted(client, alice.token, alice)
    signature = b64url_decode(split(alice.token)[2])
    r, s = signature[:32], int.from_bytes(signature[32:], "little")
    assert s < ED25519_ORDER
    malleated = r + (s + ED25519_ORDER).to_bytes(32, "little")  # same point, S not reduced
    forged = with_signature(alice.token, malleated)

    response = await client.get(ME, headers=bearer(forged))

    assert_invalid_token(response, token=forged, claims=decoded_claims(alice.token))
    assert auth_log.last_reason == "bad_signature"


async def test_es256_with_r_and_s_zero_is_refused(
    client, alice: User, signing_key: SigningKey, auth_log: AuthLog
) -> None:
    claims = decoded_claims(alice.token)
    header = encode_part(header_for(signing_key, alg="ES256"))
    forged = f"{header}.{encode_part(claims)}.{b64url(bytes(64))}"

    response = await client.get(ME, headers=bearer(forged))

    assert_invalid_token(response, token=forged, claims=claims)
    assert auth_log.last_reason == "alg_not_allowed"


def _attacker_token(alg: str, claims: dict[str, Any], kid: str) -> str:
    key: Any
    if alg in ("RS256", "PS256"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg == "ES256":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = ed448.Ed448PrivateKey.generate()  # "EdDSA" also names Ed448 (RFC 8037)
        alg = "EdDSA"
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


@pytest.mark.parametrize(
    ("alg", "reason"),
    [
        ("RS256", "alg_not_allowed"),
        ("PS256", "alg_not_allowed"),
        ("ES256", "alg_not_allowed"),
        ("Ed448", "bad_signature"),
    ],
)
async def test_validly_signed_token_from_an_attacker_key_is_refused(
    client, alice: User, signing_key: SigningKey, auth_log: AuthLog, alg: str, reason: str
) -> None:
    claims = claims_of(alice)
    forged = _attacker_token(alg, claims, signing_key.kid)

    response = await client.get(ME, headers=bearer(forged))

    assert_invalid_token(response, token=forged, claims=claims)
    assert auth_log.last_reason == reason


# --- keys in the JWKS that must never be used -----------------------------------------------

# Each entry is a real Ed25519 public key published with exactly one thing wrong.
BAD_JWK_CHANGES: dict[str, dict[str, Any]] = {
    "use_enc": {"use": "enc"},
    "private_d": {},  # filled in with the key's own private bytes
    "crv_x25519": {"crv": "X25519"},
    "kty_ec": {"kty": "EC"},
    "kty_rsa": {"kty": "RSA"},
    "alg_es256": {"alg": "ES256"},
    "key_ops_encrypt": {"key_ops": ["encrypt"]},
    "key_ops_not_a_list": {"key_ops": "verify"},
}


def _private_d(key: SigningKey) -> str:
    raw = key.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return b64url(raw)


def _foreign_jwks() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Real non-Ed25519 keys as a JWKS would carry them, with the keys that sign for them."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
    x_public = x25519.X25519PrivateKey.generate().public_key()
    x_raw = x_public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    # EdDSA names Ed448 too: a real Ed448 key would verify "EdDSA" tokens if its crv passed.
    ed448_key = ed448.Ed448PrivateKey.generate()
    ed448_jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(ed448_key.public_key()))
    entries = [
        {**rsa_jwk, "kid": "real-rsa", "alg": "RS256", "use": "sig"},
        {**ec_jwk, "kid": "real-ec", "alg": "ES256", "use": "sig"},
        {"kty": "OKP", "crv": "X25519", "x": b64url(x_raw), "kid": "real-x25519"},
        {"kty": "oct", "k": b64url(b"an-hmac-secret-in-the-jwks-0123456789"), "kid": "real-oct"},
        {**ed448_jwk, "kid": "real-ed448", "alg": "EdDSA", "use": "sig"},
    ]
    signers = {
        "real-rsa": ("RS256", rsa_key),
        "real-ec": ("ES256", ec_key),
        "real-ed448": ("EdDSA", ed448_key),
    }
    return entries, signers


async def test_jwks_keys_that_are_not_ed25519_signing_keys_are_never_used(
    start_app: StartApp, new_jwks_server, alice: User, auth_log: AuthLog
) -> None:
    good = SigningKey(kid="good")
    bad_keys = {name: SigningKey(kid=f"bad-{name}") for name in BAD_JWK_CHANGES}
    twins = {
        name: SigningKey(kid=f"twin-{name}", private=bad_keys[name].private) for name in bad_keys
    }
    published = [good.jwk()]
    for name, key in bad_keys.items():
        change = BAD_JWK_CHANGES[name] or {"d": _private_d(key)}
        published.append(key.jwk(**change))
        published.append(twins[name].jwk())  # the same key, published correctly
    foreign, foreign_signers = _foreign_jwks()
    server = new_jwks_server(published + foreign)

    async with start_app(jwks_url=server.url) as (app, client):
        assert app.state.verifier.keys.kids == {"good"} | {t.kid for t in twins.values()}
        await assert_accepted(client, token_for(alice, good), alice)

        for name, key in bad_keys.items():
            await assert_accepted(client, token_for(alice, twins[name]), alice)
            forged = token_for(alice, key)
            response = await client.get(ME, headers=bearer(forged))
            assert_invalid_token(response, token=forged)
            assert auth_log.last_reason == "unknown_kid", name

        claims = claims_of(alice)
        for kid, (alg, private) in foreign_signers.items():
            forged = jwt.encode(claims, private, algorithm=alg, headers={"kid": kid})
            assert_invalid_token(await client.get(ME, headers=bearer(forged)), token=forged)
        for kid in ("real-x25519", "real-oct"):
            attacker = SigningKey(kid=kid)
            forged = token_for(alice, attacker)
            assert_invalid_token(await client.get(ME, headers=bearer(forged)), token=forged)
            assert auth_log.last_reason == "unknown_kid"
        oct_forged = sign_hmac(
            {"alg": "HS256", "kid": "real-oct"},
            claims,
            b"an-hmac-secret-in-the-jwks-0123456789",
        )
        assert_invalid_token(await client.get(ME, headers=bearer(oct_forged)), token=oct_forged)
        assert auth_log.last_reason == "alg_not_allowed"
