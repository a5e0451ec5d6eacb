"""The API's settings, read once from the environment (names as in DESIGN.md §3)."""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import Annotated, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from tandem_auth import Algorithm
from tandem_auth.settings import (
    DEFAULT_LEEWAY_SECONDS,
    DEFAULT_MAX_LIFETIME_SECONDS,
    MAX_LEEWAY_SECONDS,
)

logger = logging.getLogger("tandem.config")

# Values copied from examples and never changed; refused rather than trusted.
_PLACEHOLDER_SECRETS = frozenset(
    {"your-secret-key-here", "changeme", "change-me", "secret", "replace-me"}
)
CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    web_port: int = 3000
    api_port: int = 8000
    database_url: str
    api_database_url: str | None = None
    better_auth_url: str | None = None
    better_auth_secret: SecretStr | None = None

    jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str = "tandem-api"
    jwt_algorithm: Algorithm = "EdDSA"
    jwt_secret: SecretStr | None = None
    jwt_previous_secrets: CommaList = Field(default_factory=list)
    jwt_leeway_seconds: int = Field(default=DEFAULT_LEEWAY_SECONDS, ge=0, le=MAX_LEEWAY_SECONDS)
    jwt_max_lifetime_seconds: int = Field(default=DEFAULT_MAX_LIFETIME_SECONDS, ge=1)
    jwt_require_sid: bool = True

    rate_limit_api: str = "100/second;3000/minute"
    # Unset: REDIS_URL when that is set (shared limits), else memory:// (per process).
    rate_limit_storage_url: str | None = None
    redis_url: str | None = None
    trusted_proxies: CommaList = Field(default_factory=list)

    # Prometheus metrics on 127.0.0.1:METRICS_PORT; unset, no metrics are kept or served.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)

    db_pool_size: int = Field(default=10, ge=1)
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0)
    db_statement_timeout_ms: int = Field(default=5000, ge=100)
    max_body_bytes: int = 64 * 1024
    audit_log: Path | None = None

    @field_validator("jwt_previous_secrets", "trusted_proxies", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Self:
        for name in ("better_auth_secret", "jwt_secret"):
            secret: SecretStr | None = getattr(self, name)
            if secret is not None and secret.get_secret_value().lower() in _PLACEHOLDER_SECRETS:
                raise ValueError(f"{name.upper()} is a placeholder; set a real secret")
        if self.jwt_algorithm == "HS256" and self.hs256_secret is None:
            raise ValueError("JWT_ALGORITHM=HS256 needs JWT_SECRET (or BETTER_AUTH_SECRET)")
        return self

    @property
    def auth_base_url(self) -> str:
        return self.better_auth_url or f"http://localhost:{self.web_port}"

    @property
    def issuer(self) -> str:
        return self.jwt_issuer or self.auth_base_url

    @property
    def rate_limit_storage(self) -> str:
        return self.rate_limit_storage_url or self.redis_url or "memory://"

    @property
    def jwks_source(self) -> str:
        return self.jwks_url or f"{self.auth_base_url}/api/auth/jwks"

    @cached_property
    def hs256_secret(self) -> str | None:
        """JWT_SECRET, or BETTER_AUTH_SECRET in its place (as in the brief), with a warning."""
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        if self.better_auth_secret is not None:
            logger.warning(
                "JWT_SECRET is unset; verifying HS256 tokens with BETTER_AUTH_SECRET",
                extra={"event": "config.hs256_secret_fallback"},
            )
            return self.better_auth_secret.get_secret_value()
        return None
