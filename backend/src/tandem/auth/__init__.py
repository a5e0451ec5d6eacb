"""Verify Better Auth JWTs in any FastAPI service.

This package imports nothing from the rest of Tandem. To protect your own
service with it::

    from contextlib import asynccontextmanager
    from typing import Annotated

    from fastapi import Depends, FastAPI
    from tandem.auth import (
        AuthError, BearerAuth, JWKSCache, Principal, TokenVerifier, VerifierSettings,
        auth_error_response,
    )

    verifier = TokenVerifier(
        VerifierSettings(algorithm="EdDSA", issuer="https://app.example", audience="my-api"),
        JWKSCache("https://app.example/api/auth/jwks"),
    )
    bearer = BearerAuth(lambda _request: verifier)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        async with verifier:  # loads the keys, then refreshes them in the background
            yield

    app = FastAPI(lifespan=lifespan)
    app.add_exception_handler(AuthError, lambda _req, exc: auth_error_response(exc))

    @app.get("/whoami")
    async def whoami(principal: Annotated[Principal, Depends(bearer)]) -> dict[str, str]:
        return {"user_id": principal.sub}

For HS256, pass ``SharedSecrets(current, previous)`` instead of ``JWKSCache``
and ``algorithm="HS256"``. Revocation (the ``sid`` claim) needs access to
Better Auth's ``session`` table, so it lives with the database code.
"""

from tandem.auth.dependencies import BearerAuth, auth_error_response, log_auth_event, require_user
from tandem.auth.errors import (
    AuthError,
    ExpiredToken,
    InvalidRequest,
    InvalidToken,
    KeySourceUnavailable,
    MissingCredentials,
    RevokedSession,
    UserMismatch,
)
from tandem.auth.jwks import JWKSCache
from tandem.auth.keys import KeySource, SharedSecrets
from tandem.auth.principal import Principal
from tandem.auth.verifier import TokenVerifier, VerifierSettings

__all__ = [
    "AuthError",
    "BearerAuth",
    "ExpiredToken",
    "InvalidRequest",
    "InvalidToken",
    "JWKSCache",
    "KeySource",
    "KeySourceUnavailable",
    "MissingCredentials",
    "Principal",
    "RevokedSession",
    "SharedSecrets",
    "TokenVerifier",
    "UserMismatch",
    "VerifierSettings",
    "auth_error_response",
    "log_auth_event",
    "require_user",
]
