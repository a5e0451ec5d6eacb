"""Every algorithm Better Auth's jwt plugin signs with, and the keys each may use."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed448
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import OKPAlgorithm, get_default_algorithms

from tandem_auth import (
    ConfigurationError,
    InvalidToken,
    JWKSCache,
    KeySourceUnavailable,
    SharedSecrets,
    TokenVerifier,
    VerifierSettings,
)
from tests.conftest import KeyServer, StartVerifier
from tests.signers import (
    ASYMMETRIC,
    AUDIENCE,
    ISSUER,
    JWKS_URL,
    SECRET,
    claims,
    sign_hs256,
    signer,
)


@pytest.mark.parametrize("algorithm", ASYMMETRIC)
async def test_each_algorithm_verifies_its_own_tokens(
    algorithm: str, key_server: KeyServer, start_verifier: StartVerifier
) -> None:
    key = signer(algorithm)
    key_server.publish(key.jwk())
    async with start_verifier(algorithm) as verifier:
        principal = await verifier.verify(key.sign(claims("alice", "s-1")))
    assert (principal.sub, principal.sid, principal.kid) == ("alice", "s-1", key.kid)


async def test_hs256_verifies_with_the_current_and_previous_secrets() -> None:
    previous = "an-older-hs256-secret-still-accepted-for-now"
    verifier = TokenVerifier(
        VerifierSettings(algorithm="HS256", issuer=ISSUER, audience=AUDIENCE),
        SharedSecrets(SECRET, [previous]),
    )
    assert (await verifier.verify(sign_hs256(claims("a")))).sub == "a"
    assert (await verifier.verify(sign_hs256(claims("b"), previous))).sub == "b"
    with pytest.raises(InvalidToken) as refused:
        await verifier.verify(sign_hs256(claims("c"), "a-third-secret-that-nobody-ever-configured"))
    assert refused.value.reason == "bad_signature"


@pytest.mark.parametrize(
    ("configured", "signed_with"),
    [
        (configured, other)
        for configured in ASYMMETRIC
        for other in ASYMMETRIC
        if other != configured
    ],
)
async def test_a_token_of_another_algorithm_is_refused_before_any_key_is_used(
    configured: str, signed_with: str, key_server: KeyServer, start_verifier: StartVerifier
) -> None:
    key = signer(signed_with)
    key_server.publish(signer(configured).jwk(), key.jwk())
    async with start_verifier(configured) as verifier:
        with pytest.raises(InvalidToken) as refused:
            await verifier.verify(key.sign(claims()))
    assert refused.value.reason == "alg_not_allowed"


@pytest.mark.parametrize("algorithm", ASYMMETRIC)
async def test_hs256_signed_with_the_public_key_is_refused(
    algorithm: str, key_server: KeyServer, start_verifier: StartVerifier
) -> None:
    key = signer(algorithm)
    key_server.publish(key.jwk())
    public_pem = key.private.public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
    )
    forged = _hmac_token(claims(), public_pem, kid=key.kid)
    async with start_verifier(algorithm) as verifier:
        with pytest.raises(InvalidToken) as refused:
            await verifier.verify(forged)
    assert refused.value.reason == "alg_not_allowed"


def _hmac_token(payload: dict[str, Any], secret: bytes, *, kid: str) -> str:
    """PyJWT refuses PEM text as an HMAC secret: sign by hand, as an attacker would."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    signing_input = f"{part({'alg': 'HS256', 'kid': kid})}.{part(payload)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


# Each case publishes the right key under the token's kid, altered in one way only.
_UNUSABLE_KEYS: list[tuple[str, str, dict[str, Any]]] = [
    ("EdDSA", "wrong kty", {"kty": "EC"}),
    ("EdDSA", "Ed448 curve", {"crv": "Ed448"}),
    ("ES256", "P-521 curve for ES256", {"crv": "P-521"}),
    ("ES512", "P-256 curve for ES512", {"crv": "P-256"}),
    ("ES256", "key alg disagrees", {"alg": "ES512"}),
    ("RS256", "key alg PS256 for RS256", {"alg": "PS256"}),
    ("PS256", "key alg RS256 for PS256", {"alg": "RS256"}),
    ("EdDSA", "an encryption key", {"use": "enc"}),
    ("ES256", "key_ops without verify", {"key_ops": ["sign"]}),
]


@pytest.mark.parametrize(
    ("algorithm", "change"),
    [(algorithm, change) for algorithm, _, change in _UNUSABLE_KEYS],
    ids=[name for _, name, _ in _UNUSABLE_KEYS],
)
async def test_a_key_that_disagrees_with_the_algorithm_is_never_used(
    algorithm: str, change: dict[str, Any], key_server: KeyServer, start_verifier: StartVerifier
) -> None:
    key = signer(algorithm)
    key_server.publish(key.jwk(**change))
    async with start_verifier(algorithm) as verifier:
        assert not verifier.keys.ready
        with pytest.raises(KeySourceUnavailable):
            await verifier.verify(key.sign(claims()))


async def test_a_real_ed448_key_never_verifies_eddsa_tokens(
    key_server: KeyServer, start_verifier: StartVerifier
) -> None:
    """``EdDSA`` names Ed448 as well; only Ed25519 is Better Auth's, and only it is trusted."""
    ed448_key = ed448.Ed448PrivateKey.generate()
    jwk = {
        **OKPAlgorithm.to_jwk(ed448_key.public_key(), as_dict=True),
        "kid": "ed448",
        "alg": "EdDSA",
    }
    key_server.publish(signer("EdDSA").jwk(), jwk)
    forged = jwt.encode(claims(), ed448_key, algorithm="EdDSA", headers={"kid": "ed448"})
    async with start_verifier("EdDSA") as verifier:
        with pytest.raises(InvalidToken) as refused:
            await verifier.verify(forged)
    assert refused.value.reason == "unknown_kid"


# PyJWT warns as it signs with the weak key: that is the attacker's side of the test.
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_an_rsa_key_under_2048_bits_is_never_used(
    key_server: KeyServer, start_verifier: StartVerifier
) -> None:
    weak = signer("RS256", "weak-rsa", rsa_bits=1024)
    strong = signer("RS256")
    key_server.publish(weak.jwk(), strong.jwk())
    async with start_verifier("RS256") as verifier:
        assert isinstance(verifier.keys, JWKSCache)
        assert verifier.keys.kids == {strong.kid}
        with pytest.raises(InvalidToken) as refused:
            await verifier.verify(weak.sign(claims()))
    assert refused.value.reason == "unknown_kid"


@pytest.mark.parametrize("algorithm", ASYMMETRIC)
async def test_a_published_private_key_is_never_used(
    algorithm: str, key_server: KeyServer, start_verifier: StartVerifier
) -> None:
    key = signer(algorithm)
    private_jwk: dict[str, Any] = get_default_algorithms()[algorithm].to_jwk(
        key.private,  # type: ignore[arg-type]
        as_dict=True,
    )
    assert "d" in private_jwk
    key_server.publish({**private_jwk, "kid": key.kid, "alg": algorithm})
    async with start_verifier(algorithm) as verifier:
        assert not verifier.keys.ready


def test_the_key_source_must_hold_keys_of_the_configured_algorithm() -> None:
    with pytest.raises(ConfigurationError, match="JWT_ALGORITHM"):
        TokenVerifier(
            VerifierSettings(algorithm="ES256", issuer=ISSUER, audience=AUDIENCE),
            JWKSCache(JWKS_URL, algorithm="EdDSA"),
        )
    with pytest.raises(ConfigurationError, match="JWT_ALGORITHM"):
        TokenVerifier(
            VerifierSettings(algorithm="HS256", issuer=ISSUER, audience=AUDIENCE),
            JWKSCache(JWKS_URL, algorithm="EdDSA"),
        )
    with pytest.raises(ConfigurationError):
        JWKSCache(JWKS_URL, algorithm="HS256")
