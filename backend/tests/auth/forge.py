"""Token surgery: build headers and payloads by hand, then sign them with a trusted key.

PyJWT's ``encode`` refuses most malformed inputs, so these helpers sign raw
bytes. Each attack changes one thing and signs the result properly, so only
the check under test can reject it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from tests.conftest import User
from tests.support.tokens import MISSING, SigningKey, b64url, claims_for

# The order of the Ed25519 group (RFC 8032 §5.1): a canonical S is below it.
ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493


def encode_part(value: Any) -> str:
    """bytes are taken as they are; anything else is compact JSON (NaN and Infinity allowed)."""
    if isinstance(value, bytes):
        return b64url(value)
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def header_for(key: SigningKey, **overrides: Any) -> dict[str, Any]:
    """Better Auth's header: ``alg`` and ``kid``, no ``typ``; ``MISSING`` drops a member."""
    header = {"alg": "EdDSA", "kid": key.kid, **overrides}
    return {k: v for k, v in header.items() if v is not MISSING}


def sign_raw(header: Any, payload: Any, key: SigningKey) -> str:
    """A compact JWS over any header and payload, signed with Ed25519."""
    signing_input = f"{encode_part(header)}.{encode_part(payload)}"
    return f"{signing_input}.{b64url(key.private.sign(signing_input.encode()))}"


def sign_hmac(header: Any, payload: Any, secret: bytes) -> str:
    """A compact JWS signed with HMAC-SHA256 under any secret, weak or empty ones included."""
    signing_input = f"{encode_part(header)}.{encode_part(payload)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def claims_of(user: User, **overrides: Any) -> dict[str, Any]:
    """The claims of ``user``'s token as Better Auth mints it; any claim may be overridden."""
    claims = {**claims_for(user.id, user.sid), **overrides}
    return {k: v for k, v in claims.items() if v is not MISSING}


def token_for(user: User, key: SigningKey, *, header: Any = None, **overrides: Any) -> str:
    """A token for ``user`` as Better Auth mints it, with claim overrides."""
    payload = claims_of(user, **overrides)
    return sign_raw(header_for(key) if header is None else header, payload, key)


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def split(token: str) -> tuple[str, str, str]:
    header, payload, signature = token.split(".")
    return header, payload, signature


def with_signature(token: str, signature: bytes | str) -> str:
    header, payload, _ = split(token)
    encoded = signature if isinstance(signature, str) else b64url(signature)
    return f"{header}.{payload}.{encoded}"


def decoded_claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = json.loads(b64url_decode(split(token)[1]))
    return claims
