"""Keys the verifier under test really trusts, for every algorithm, and tokens they sign.

A test changes one thing about an otherwise valid token, so only the check it
names can refuse it.
"""

from __future__ import annotations

import base64
import functools
import json
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.api_jws import PyJWS

ISSUER = "https://auth.example.test"
AUDIENCE = "orders-api"
JWKS_URL = "https://auth.example.test/api/auth/jwks"
SECRET = "a-shared-hs256-secret-of-at-least-32-bytes"
ASYMMETRIC = ("EdDSA", "ES256", "ES512", "RS256", "PS256")

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class Signer:
    """One algorithm's private key, published under ``kid``."""

    algorithm: str
    kid: str
    private: PrivateKey

    def jwk(self, **overrides: Any) -> dict[str, Any]:
        """The public JWK as Better Auth publishes it; ``None`` drops a member."""
        public = self.private.public_key()
        kind = {"OKP": OKPAlgorithm, "EC": ECAlgorithm, "RSA": RSAAlgorithm}[_kty(public)]
        data: dict[str, Any] = kind.to_jwk(public, as_dict=True)  # type: ignore[arg-type]
        data.update({"kid": self.kid, "alg": self.algorithm, **overrides})
        return {k: v for k, v in data.items() if v is not None}

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        return jwt.encode(
            claims, self.private, algorithm=self.algorithm, headers={"kid": self.kid, **header}
        )

    def sign_json(self, payload: Any, **header: Any) -> str:
        """Sign any JSON payload, including claims that ``jwt.encode`` refuses to write."""
        return PyJWS().encode(
            json.dumps(payload).encode(),
            self.private,
            algorithm=self.algorithm,
            headers={"kid": self.kid, **header},
        )


def _kty(public: object) -> str:
    if isinstance(public, ed25519.Ed25519PublicKey):
        return "OKP"
    return "EC" if isinstance(public, ec.EllipticCurvePublicKey) else "RSA"


@functools.cache
def signer(algorithm: str, kid: str | None = None, *, rsa_bits: int = 2048) -> Signer:
    """A signer per (algorithm, kid), made once per test run (RSA keys are slow to make)."""
    private: PrivateKey
    if algorithm == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    elif algorithm in ("ES256", "ES512"):
        private = ec.generate_private_key(
            ec.SECP256R1() if algorithm == "ES256" else ec.SECP521R1()
        )
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    return Signer(algorithm, kid or f"{algorithm.lower()}-key", private)


def claims(sub: str = "user-1", sid: str | None = "session-1", **overrides: Any) -> dict[str, Any]:
    """Better Auth's claims with ``definePayload``; a value of ``None`` drops a claim."""
    now = int(time.time())
    values: dict[str, Any] = {
        "sub": sub,
        "sid": sid,
        "email": "someone@example.test",
        "name": "Someone",
        "iat": now,
        "exp": now + 900,
        "iss": ISSUER,
        "aud": AUDIENCE,
        **overrides,
    }
    return {k: v for k, v in values.items() if v is not None}


def sign_hs256(payload: dict[str, Any], secret: str = SECRET, **header: Any) -> str:
    return jwt.encode(payload, secret, algorithm="HS256", headers=header or None)


def key_set(*jwks: dict[str, Any]) -> bytes:
    return json.dumps({"keys": list(jwks)}).encode()
