"""FastAPI glue: read the one bearer credential, verify it, log the outcome.

``BearerAuth`` is a security dependency, so OpenAPI shows a Bearer scheme
and ``/docs`` can authorize. It reads only the ``Authorization`` header.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.responses import JSONResponse
from fastapi.security.base import SecurityBase

from tandem.auth.errors import (
    AuthError,
    InvalidRequest,
    InvalidToken,
    MissingCredentials,
    UserMismatch,
)
from tandem.auth.principal import Principal
from tandem.auth.token_shape import MAX_TOKEN_LENGTH
from tandem.auth.verifier import TokenVerifier

logger = logging.getLogger("tandem.auth")
_MAX_HEADER_LENGTH = len("Bearer ") + MAX_TOKEN_LENGTH


class BearerAuth(SecurityBase):
    """Resolve the request's ``Principal``; ``verifier_for`` finds the verifier to use."""

    def __init__(self, verifier_for: Callable[[Request], TokenVerifier]) -> None:
        self.model = HTTPBearerModel(
            bearerFormat="JWT", description="A Better Auth JWT from GET /api/auth/token"
        )
        self.scheme_name = "BetterAuthJWT"
        self._verifier_for = verifier_for

    async def __call__(self, request: Request) -> Principal:
        try:
            principal = await self._verify(request)
        except AuthError as exc:
            log_auth_event(
                request, "auth.rejected", reason=exc.reason, status=exc.status_code, kid=exc.kid
            )
            raise
        request.state.principal = principal
        log_auth_event(request, "auth.accepted", reason="ok", status=None, principal=principal)
        return principal

    async def _verify(self, request: Request) -> Principal:
        credentials = request.headers.getlist("authorization")
        if len(credentials) > 1 or (credentials and "access_token" in request.query_params):
            raise InvalidRequest()  # RFC 6750 §2: exactly one method per request
        if not credentials:
            if "access_token" in request.query_params:
                raise InvalidToken("token_in_query")
            raise MissingCredentials()
        header = credentials[0]
        if len(header) > _MAX_HEADER_LENGTH:
            raise InvalidToken("too_long")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise InvalidToken("bad_scheme")
        return await self._verifier_for(request).verify(token)


def require_user(principal: Principal, user_id: str, request: Request) -> None:
    """DESIGN.md §4 step 7: the path's user must be the token's ``sub``."""
    if user_id != principal.sub:
        error = UserMismatch()
        log_auth_event(
            request, "auth.forbidden", reason=error.reason, status=403, principal=principal
        )
        raise error


def log_auth_event(
    request: Request,
    event: str,
    *,
    reason: str,
    status: int | None,
    principal: Principal | None = None,
    kid: str | None = None,
) -> None:
    """One structured event per outcome. Never the token, the header, or the claims."""
    route = request.scope.get("route")
    logger.info(
        event,
        extra={
            "event": event,
            "reason": reason,
            "status": status,
            "sub": principal.sub if principal else None,
            "kid": principal.kid if principal else kid,
            "route": getattr(route, "path", None),
        },
    )


def auth_error_response(exc: AuthError) -> JSONResponse:
    """The error body shared by every auth failure; it echoes nothing from the request."""
    return JSONResponse(
        {"detail": exc.description, "code": exc.code},
        status_code=exc.status_code,
        headers={**exc.headers(), "Cache-Control": "no-store"},
    )
