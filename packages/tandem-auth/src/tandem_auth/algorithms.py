"""The algorithms Better Auth's ``jwt`` plugin signs with, and the keys each may use.

Exactly one algorithm is configured. A published key is used only when its
``kty``, its curve (or, for RSA, a modulus of at least 2048 bits) and its own
``alg``, if it names one, all agree with that algorithm (RFC 8725 §3.1), when
it is a public signing key, and when PyJWT can load it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, cast, get_args

from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.exceptions import InvalidKeyError

Algorithm = Literal["EdDSA", "ES256", "ES512", "RS256", "PS256", "HS256"]
ALGORITHMS: Final[tuple[str, ...]] = get_args(Algorithm)
SHARED_SECRET_ALGORITHM: Final = "HS256"  # noqa: S105  # a name, not a secret
MIN_RSA_BITS: Final = 2048

PublicKey = Ed25519PublicKey | EllipticCurvePublicKey | RSAPublicKey


@dataclass(frozen=True, slots=True)
class _KeyKind:
    kty: str
    crv: str | None  # None for RSA, whose strength is its modulus size
    algs: frozenset[str]  # what the key's own "alg" may say


_KEY_KINDS: Final[Mapping[str, _KeyKind]] = {
    # RFC 9864 names Ed25519 keys' fully specified algorithm "Ed25519".
    "EdDSA": _KeyKind("OKP", "Ed25519", frozenset({"EdDSA", "Ed25519"})),
    "ES256": _KeyKind("EC", "P-256", frozenset({"ES256"})),
    "ES512": _KeyKind("EC", "P-521", frozenset({"ES512"})),
    "RS256": _KeyKind("RSA", None, frozenset({"RS256"})),
    "PS256": _KeyKind("RSA", None, frozenset({"PS256"})),
}
# A JWK's private members: a key published with any of them is never trusted.
_PRIVATE_MEMBERS: Final = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")


def public_key_for(jwk: Mapping[str, Any], algorithm: str) -> PublicKey | None:
    """The JWK's public key when it may verify ``algorithm`` tokens, else None."""
    kind = _KEY_KINDS[algorithm]
    if (
        jwk.get("kty") != kind.kty
        or (kind.crv is not None and jwk.get("crv") != kind.crv)
        or jwk.get("alg", algorithm) not in kind.algs
        or jwk.get("use", "sig") != "sig"
        or any(private in jwk for private in _PRIVATE_MEMBERS)
        or not _allows_verify(jwk.get("key_ops"))
    ):
        return None
    try:
        # With kty and crv checked and no private member, PyJWT loads a public key of
        # exactly the algorithm's type.
        key = cast(PublicKey, _load(jwk, kind.kty))
    except (InvalidKeyError, ValueError, TypeError, KeyError):
        return None
    if isinstance(key, RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return None
    return key


def _allows_verify(key_ops: object) -> bool:
    return key_ops is None or (isinstance(key_ops, list) and "verify" in key_ops)


def _load(jwk: Mapping[str, Any], kty: str) -> object:
    data = dict(jwk)  # PyJWT's loaders take a dict
    if kty == "OKP":
        return OKPAlgorithm.from_jwk(data)
    if kty == "EC":
        return ECAlgorithm.from_jwk(data)
    return RSAAlgorithm.from_jwk(data)  # RS256 and PS256 keys are the same kind
