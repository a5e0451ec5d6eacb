"""Build a verifier from the environment, with the variable names Tandem's API uses.

    JWT_ALGORITHM           EdDSA (default), ES256, ES512, RS256, PS256, or HS256
    JWT_ISSUER              the required ``iss``; default ``$BETTER_AUTH_URL``
    JWT_AUDIENCE            the required ``aud``; no default: name your service
    JWKS_URL                the key set; default ``$BETTER_AUTH_URL/api/auth/jwks`` (not HS256)
    JWT_SECRET              HS256 only; default ``$BETTER_AUTH_SECRET``, with a warning
    JWT_PREVIOUS_SECRETS    HS256 only; comma-separated secrets still accepted
    JWT_LEEWAY_SECONDS      allowed clock skew, 0 to 60; default 30
    JWT_MAX_LIFETIME_SECONDS  the longest ``exp - iat`` accepted; default 900
    JWT_REQUIRE_SID         refuse tokens without ``sid``; default true

A missing or contradictory setting raises ``ConfigurationError`` naming the variable.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import cast

from tandem_auth.algorithms import ALGORITHMS, SHARED_SECRET_ALGORITHM, Algorithm
from tandem_auth.errors import ConfigurationError
from tandem_auth.jwks import JWKSCache
from tandem_auth.keys import KeySource, SharedSecrets
from tandem_auth.settings import (
    DEFAULT_LEEWAY_SECONDS,
    DEFAULT_MAX_LIFETIME_SECONDS,
    VerifierSettings,
)
from tandem_auth.verifier import TokenVerifier

logger = logging.getLogger("tandem_auth.config")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def verifier_from_env(environ: Mapping[str, str] | None = None) -> TokenVerifier:
    """A ``TokenVerifier`` configured by the variables above (``os.environ`` by default)."""
    env = _Environment(os.environ if environ is None else environ)
    settings = VerifierSettings(
        algorithm=env.algorithm(),
        issuer=env.required("JWT_ISSUER", fallback="BETTER_AUTH_URL"),
        audience=env.required("JWT_AUDIENCE"),
        leeway_seconds=env.integer("JWT_LEEWAY_SECONDS", DEFAULT_LEEWAY_SECONDS),
        max_lifetime_seconds=env.integer("JWT_MAX_LIFETIME_SECONDS", DEFAULT_MAX_LIFETIME_SECONDS),
        require_sid=env.boolean("JWT_REQUIRE_SID", default=True),
    )
    if not settings.require_sid:
        logger.warning(
            "JWT_REQUIRE_SID=false: tokens without a session id are accepted, and cannot be"
            " revoked before they expire",
            extra={"event": "config.sid_optional"},
        )
    return TokenVerifier(settings, _key_source(env, settings.algorithm))


def _key_source(env: _Environment, algorithm: Algorithm) -> KeySource:
    if algorithm == SHARED_SECRET_ALGORITHM:
        if env.get("JWKS_URL"):
            raise ConfigurationError("JWKS_URL is set, but JWT_ALGORITHM=HS256 uses JWT_SECRET")
        return SharedSecrets(env.secret(), env.comma_list("JWT_PREVIOUS_SECRETS"))
    for name in ("JWT_SECRET", "JWT_PREVIOUS_SECRETS"):
        if env.get(name):
            raise ConfigurationError(f"{name} is set, but JWT_ALGORITHM={algorithm} uses JWKS_URL")
    base_url = env.get("BETTER_AUTH_URL")
    default_url = f"{base_url.rstrip('/')}/api/auth/jwks" if base_url else None
    return JWKSCache(env.required("JWKS_URL", default=default_url), algorithm=algorithm)


class _Environment:
    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = values

    def get(self, name: str) -> str | None:
        value = self._values.get(name, "").strip()
        return value or None

    def required(
        self, name: str, *, fallback: str | None = None, default: str | None = None
    ) -> str:
        value = self.get(name) or (self.get(fallback) if fallback else None) or default
        if value is None:
            also = f" (or {fallback})" if fallback else ""
            raise ConfigurationError(f"{name}{also} must be set")
        return value

    def algorithm(self) -> Algorithm:
        value = self.get("JWT_ALGORITHM") or "EdDSA"
        if value not in ALGORITHMS:
            raise ConfigurationError(f"JWT_ALGORITHM must be one of {', '.join(ALGORITHMS)}")
        return cast(Algorithm, value)

    def integer(self, name: str, default: int) -> int:
        value = self.get(name)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            raise ConfigurationError(f"{name} must be a whole number") from None

    def boolean(self, name: str, *, default: bool) -> bool:
        value = self.get(name)
        if value is None:
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ConfigurationError(f"{name} must be true or false")

    def comma_list(self, name: str) -> list[str]:
        return [item.strip() for item in (self.get(name) or "").split(",") if item.strip()]

    def secret(self) -> str:
        secret = self.get("JWT_SECRET")
        if secret is not None:
            return secret
        fallback = self.get("BETTER_AUTH_SECRET")
        if fallback is None:
            raise ConfigurationError("JWT_ALGORITHM=HS256 needs JWT_SECRET (or BETTER_AUTH_SECRET)")
        logger.warning(
            "JWT_SECRET is unset; verifying HS256 tokens with BETTER_AUTH_SECRET",
            extra={"event": "config.hs256_secret_fallback"},
        )
        return fallback
