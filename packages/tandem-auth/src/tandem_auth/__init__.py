"""Verify Better Auth JWTs in any FastAPI service.

The core (this module) needs only PyJWT and httpx. The FastAPI dependency is
in ``tandem_auth.fastapi`` (extra ``fastapi``), and revocation against
Better Auth's PostgreSQL sessions in ``tandem_auth.postgres`` (extra
``postgres``). The README has a quickstart and the security model.
"""

from tandem_auth.algorithms import ALGORITHMS, Algorithm
from tandem_auth.environment import verifier_from_env
from tandem_auth.errors import (
    AuthError,
    ConfigurationError,
    ExpiredToken,
    InvalidRequest,
    InvalidToken,
    KeySourceUnavailable,
    MissingCredentials,
    RevokedSession,
    SessionCheckUnavailable,
    TandemAuthError,
    Unavailable,
    UserMismatch,
)
from tandem_auth.jwks import JWKSCache
from tandem_auth.keys import KeySource, SharedSecrets
from tandem_auth.principal import Principal
from tandem_auth.sessions import SessionCheck
from tandem_auth.settings import VerifierSettings
from tandem_auth.stats import CacheStats
from tandem_auth.verifier import TokenVerifier

__version__ = "0.1.0"

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "AuthError",
    "CacheStats",
    "ConfigurationError",
    "ExpiredToken",
    "InvalidRequest",
    "InvalidToken",
    "JWKSCache",
    "KeySource",
    "KeySourceUnavailable",
    "MissingCredentials",
    "Principal",
    "RevokedSession",
    "SessionCheck",
    "SessionCheckUnavailable",
    "SharedSecrets",
    "TandemAuthError",
    "TokenVerifier",
    "Unavailable",
    "UserMismatch",
    "VerifierSettings",
    "__version__",
    "verifier_from_env",
]
