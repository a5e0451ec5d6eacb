"""Token verification: DESIGN.md §4 steps 2 to 6, in that order.

The verifier trusts exactly one algorithm and one key source. It returns a
``Principal`` or raises an ``AuthError``; it never returns a partial result.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import jwt

from tandem.auth.errors import AuthError, ExpiredToken, InvalidToken
from tandem.auth.keys import KeySource, VerificationKey
from tandem.auth.principal import Principal
from tandem.auth.token_cache import VerifiedTokenCache
from tandem.auth.token_shape import vetted_kid

Algorithm = Literal["EdDSA", "HS256"]
# Better Auth ids are random 32-character alphanumerics; this also admits UUIDs.
_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]
# PyJWT's own failures, mapped to the reason codes our logs use.
_PYJWT_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.InvalidSignatureError, "bad_signature"),
    (jwt.MissingRequiredClaimError, "missing_claim"),
    (jwt.InvalidAudienceError, "bad_audience"),
    (jwt.InvalidIssuerError, "bad_issuer"),
    (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.InvalidIssuedAtError, "bad_iat"),
)


@dataclass(frozen=True, slots=True)
class VerifierSettings:
    algorithm: Algorithm
    issuer: str
    audience: str
    leeway_seconds: int = 30
    max_lifetime_seconds: int = 3600
    cache_entries: int = 10_000


class TokenVerifier:
    """Verifies Better Auth JWTs; use as an async context manager to load keys."""

    def __init__(self, settings: VerifierSettings, keys: KeySource) -> None:
        self.settings = settings
        self.keys = keys
        self._cache = VerifiedTokenCache(
            max_entries=settings.cache_entries, leeway_seconds=settings.leeway_seconds
        )
        keys.on_keys_removed(self._cache.forget_kids)
        self._decode_options: Any = {"require": _REQUIRED_CLAIMS, "strict_aud": True}

    async def __aenter__(self) -> TokenVerifier:
        await self.keys.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.keys.close()

    async def verify(self, token: str) -> Principal:
        """Return the token's principal, or raise ``InvalidToken``/``KeySourceUnavailable``."""
        cached = self._cache.get(token)
        if cached is not None:
            return cached
        kid = vetted_kid(
            token,
            algorithm=self.settings.algorithm,
            require_kid=self.settings.algorithm == "EdDSA",
        )
        try:
            claims = self._decode(token, await self.keys.keys_for(kid))
            principal = self._principal_from(claims, kid=kid)
        except AuthError as exc:
            exc.kid = kid
            raise
        self._cache.put(token, principal)
        return principal

    def _decode(self, token: str, keys: Sequence[VerificationKey]) -> dict[str, Any]:
        for key in keys:
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    key,
                    algorithms=[self.settings.algorithm],
                    audience=self.settings.audience,
                    issuer=self.settings.issuer,
                    leeway=self.settings.leeway_seconds,
                    options=self._decode_options,
                )
            except jwt.InvalidSignatureError:
                continue  # a rotated-out secret may still match; try the next key
            except jwt.ExpiredSignatureError as exc:
                raise ExpiredToken("expired") from exc
            except Exception as exc:  # any failure at all means "not a valid token"
                raise InvalidToken(_reason_for(exc)) from exc
            return claims
        raise InvalidToken("bad_signature")

    def _principal_from(self, claims: dict[str, Any], *, kid: str | None) -> Principal:
        """Step 6: the checks PyJWT leaves to us."""
        exp, iat = claims["exp"], claims["iat"]
        if not (_is_json_number(exp) and _is_json_number(iat)):
            raise InvalidToken("bad_claim_type")
        if not iat < exp <= iat + self.settings.max_lifetime_seconds:
            raise InvalidToken("bad_lifetime")
        sub, sid = claims["sub"], claims.get("sid")
        if not (isinstance(sub, str) and _ID_PATTERN.fullmatch(sub)):
            raise InvalidToken("bad_subject")
        if sid is not None and not (isinstance(sid, str) and _ID_PATTERN.fullmatch(sid)):
            raise InvalidToken("bad_session_id")
        return Principal(
            sub=sub,
            sid=sid,
            email=_optional_str(claims.get("email")),
            name=_optional_str(claims.get("name")),
            kid=kid,
            expires_at=float(exp),
        )


def _reason_for(exc: Exception) -> str:
    for error_type, reason in _PYJWT_REASONS:
        if isinstance(exc, error_type):
            return reason
    return "malformed"


def _is_json_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _optional_str(value: object) -> str | None:
    """A display claim, or None when it is not text that a JSON response can carry.

    A JSON escape such as ``\\ud800`` decodes to a lone surrogate, which UTF-8
    cannot encode: echoing it from ``/api/me`` would be a 500.
    """
    if not isinstance(value, str):
        return None
    if value.isascii():
        return value  # no surrogates in ASCII: skip the trial encoding
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value
