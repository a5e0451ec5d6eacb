"""Token verification: DESIGN.md §4 steps 2 to 6, in that order.

The verifier trusts exactly one algorithm and one key source. It returns a
``Principal`` or raises an ``AuthError``; it never returns a partial result.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, Final

import jwt
from jwt.exceptions import InvalidSubjectError

from tandem_auth.algorithms import SHARED_SECRET_ALGORITHM
from tandem_auth.errors import AuthError, ConfigurationError, ExpiredToken, InvalidToken
from tandem_auth.keys import KeySource, VerificationKey
from tandem_auth.principal import Principal
from tandem_auth.settings import VerifierSettings
from tandem_auth.stats import CacheStats
from tandem_auth.token_cache import VerifiedTokenCache
from tandem_auth.token_shape import vetted_kid

# Better Auth ids are random 32-character alphanumerics; this also admits UUIDs.
_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_REQUIRED_CLAIMS: Final = ["exp", "iat", "iss", "aud", "sub"]
# PyJWT's own failures, mapped to the reason codes the logs use.
_PYJWT_REASONS: Final[tuple[tuple[type[Exception], str], ...]] = (
    (jwt.InvalidSignatureError, "bad_signature"),
    (jwt.MissingRequiredClaimError, "missing_claim"),
    (jwt.InvalidAudienceError, "bad_audience"),
    (jwt.InvalidIssuerError, "bad_issuer"),
    (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.InvalidIssuedAtError, "bad_iat"),
    (InvalidSubjectError, "bad_subject"),
)


class TokenVerifier:
    """Verifies Better Auth JWTs; use as an async context manager to load the keys."""

    def __init__(self, settings: VerifierSettings, keys: KeySource) -> None:
        if keys.algorithm != settings.algorithm:
            raise ConfigurationError(
                f"JWT_ALGORITHM is {settings.algorithm}, but the key source holds"
                f" {keys.algorithm} keys"
            )
        self.settings = settings
        self.keys = keys
        self._require_kid = settings.algorithm != SHARED_SECRET_ALGORITHM
        self._cache = VerifiedTokenCache(
            max_entries=settings.cache_entries, leeway_seconds=settings.leeway_seconds
        )
        keys.on_keys_removed(self._cache.forget_kids)
        # No strict_aud: RFC 7519 §4.1.3 lets ``aud`` be a list that contains ours.
        self._decode_options: Any = {"require": _REQUIRED_CLAIMS}

    async def __aenter__(self) -> TokenVerifier:
        await self.keys.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.keys.close()

    @property
    def cached_tokens(self) -> int:
        """How many verified tokens are remembered right now."""
        return len(self._cache)

    @property
    def token_cache_stats(self) -> CacheStats:
        """Hits and misses of the verified-token cache (``cached`` and ``verify``)."""
        return self._cache.stats

    def cached(self, token: str) -> Principal | None:
        """The principal of a token verified earlier and not yet expired, else None."""
        return self._cache.get(token)

    async def verify(self, token: str) -> Principal:
        """Return the token's principal, or raise ``InvalidToken``/``KeySourceUnavailable``."""
        return self.cached(token) or await self.verify_uncached(token)

    async def verify_uncached(self, token: str) -> Principal:
        """``verify`` without the cache lookup, for a caller whose ``cached`` just missed."""
        kid = vetted_kid(token, algorithm=self.settings.algorithm, require_kid=self._require_kid)
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
            outcome = self._try_decode(token, key)
            if isinstance(outcome, dict):
                return outcome
            if outcome != "bad_signature":
                # Raised here, outside PyJWT's except block: the error holds no part of
                # the token, not even through __context__.
                raise ExpiredToken() if outcome == "expired" else InvalidToken(outcome)
        raise InvalidToken("bad_signature")  # a rotated-out secret may match; none did

    def _try_decode(self, token: str, key: VerificationKey) -> dict[str, Any] | str:
        """The token's claims, or the reason code of the failure."""
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
        except jwt.ExpiredSignatureError:
            return "expired"
        except Exception as exc:  # any failure at all means "not a valid token"
            return _reason_for(exc)
        return claims

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
        if sid is None:
            if self.settings.require_sid:
                raise InvalidToken("missing_sid")
        elif not (isinstance(sid, str) and _ID_PATTERN.fullmatch(sid)):
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
    cannot encode: echoing it from an endpoint would be a 500.
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
