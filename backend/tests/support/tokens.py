"""Tokens signed with keys the verifier under test really trusts.

A security test changes exactly one thing about an otherwise valid token, so
only the check it names can reject it.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ISSUER = "http://localhost:3000"
AUDIENCE = "tandem-api"
HS256_SECRET = "test-hs256-secret-that-is-long-enough-0123456789"


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()  # pass as a claim value to leave that claim out


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class SigningKey:
    kid: str
    private: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    def public_bytes(self) -> bytes:
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def jwk(self, **overrides: Any) -> dict[str, Any]:
        """The public JWK as Better Auth publishes it."""
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "alg": "EdDSA",
            "x": b64url(self.public_bytes()),
            "kid": self.kid,
            **overrides,
        }


def claims_for(sub: str, sid: str | None = None, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": sub,
        "iat": now,
        "exp": now + 900,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "email": "someone@example.test",
        "name": "Someone",
    }
    if sid is not None:
        claims["sid"] = sid
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not MISSING}


def sign_eddsa(claims: dict[str, Any], key: SigningKey, **header: Any) -> str:
    headers = {"kid": key.kid, **header}
    return jwt.encode(claims, key.private, algorithm="EdDSA", headers=headers)


def sign_hs256(claims: dict[str, Any], secret: str = HS256_SECRET, **header: Any) -> str:
    return jwt.encode(claims, secret, algorithm="HS256", headers=header or None)


def compact(header: Any, payload: Any, signature: bytes = b"sig") -> str:
    """Assemble a token by hand: header/payload as JSON-able values or raw bytes."""

    def part(value: Any) -> str:
        return b64url(value if isinstance(value, bytes) else json.dumps(value).encode())

    return f"{part(header)}.{part(payload)}.{b64url(signature)}"


def resign_eddsa(header: dict[str, Any], payload: dict[str, Any], key: SigningKey) -> str:
    """Sign an arbitrary header and payload (which PyJWT's encode would refuse)."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64url(key.private.sign(signing_input.encode()))}"
