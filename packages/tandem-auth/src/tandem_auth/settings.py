"""What a token must look like to be accepted, checked once when the verifier is built."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from tandem_auth.algorithms import ALGORITHMS, Algorithm
from tandem_auth.errors import ConfigurationError

# Better Auth's jwt plugin issues tokens for 15 minutes unless told otherwise.
DEFAULT_MAX_LIFETIME_SECONDS: Final = 900
DEFAULT_LEEWAY_SECONDS: Final = 30
# Clock skew beyond a minute is a broken clock, and leeway extends every token's life.
MAX_LEEWAY_SECONDS: Final = 60


@dataclass(frozen=True, slots=True)
class VerifierSettings:
    """The checks' parameters; each field has an environment variable (see ``from_env``).

    ``require_sid`` refuses tokens without a session id, which no revocation
    check could ever end. ``cache_entries`` bounds the verified-token cache.
    """

    algorithm: Algorithm
    issuer: str
    audience: str
    leeway_seconds: int = DEFAULT_LEEWAY_SECONDS
    max_lifetime_seconds: int = DEFAULT_MAX_LIFETIME_SECONDS
    require_sid: bool = True
    cache_entries: int = 10_000

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ConfigurationError(f"JWT_ALGORITHM must be one of {', '.join(ALGORITHMS)}")
        if not self.issuer:
            raise ConfigurationError("JWT_ISSUER must not be empty")
        if not self.audience:
            raise ConfigurationError("JWT_AUDIENCE must not be empty")
        if not _is_int(self.leeway_seconds) or not 0 <= self.leeway_seconds <= MAX_LEEWAY_SECONDS:
            raise ConfigurationError(
                f"JWT_LEEWAY_SECONDS must be a whole number from 0 to {MAX_LEEWAY_SECONDS}"
            )
        if not _is_int(self.max_lifetime_seconds) or self.max_lifetime_seconds < 1:
            raise ConfigurationError("JWT_MAX_LIFETIME_SECONDS must be a positive whole number")
        if not _is_int(self.cache_entries) or self.cache_entries < 0:
            raise ConfigurationError("cache_entries must be a whole number, 0 or more")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
