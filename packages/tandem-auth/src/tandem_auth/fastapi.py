"""FastAPI glue: read the one bearer credential, verify it, check its session, log it.

``BearerAuth`` is a security dependency, so OpenAPI shows a Bearer scheme
and ``/docs`` can authorize. It reads only the ``Authorization`` header:
never a cookie, a query parameter or a body. Install with the ``fastapi``
extra: ``pip install "tandem-auth[fastapi]"``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from fastapi import FastAPI, Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.responses import JSONResponse
from fastapi.security.base import SecurityBase

from tandem_auth.environment import verifier_from_env
from tandem_auth.errors import (
    AuthError,
    InvalidRequest,
    InvalidToken,
    MissingCredentials,
    UserMismatch,
)
from tandem_auth.principal import Principal
from tandem_auth.sessions import SessionCheck
from tandem_auth.token_shape import MAX_TOKEN_LENGTH
from tandem_auth.verifier import TokenVerifier

logger = logging.getLogger("tandem_auth")
DEFAULT_REALM: Final = "tandem_auth"
_MAX_HEADER_LENGTH: Final = len("Bearer ") + MAX_TOKEN_LENGTH
_NO_STORE: Final = {"Cache-Control": "no-store"}
T = TypeVar("T")

VerifierSource = TokenVerifier | Callable[[Request], TokenVerifier]
SessionSource = SessionCheck | Callable[[Request], SessionCheck | None]


@dataclass(frozen=True, slots=True)
class AuthOutcome:
    """How authentication ended for one request: the event as logged (``auth.accepted``,
    ``auth.rejected`` or ``auth.forbidden``) and its reason code (``ok``, ``expired``, ...)."""

    event: str
    reason: str


# Where the request's outcome is kept: its state, which Starlette keeps in the ASGI scope.
_OUTCOME = "tandem_auth_outcome"
_ACCEPTED: Final = AuthOutcome("auth.accepted", "ok")


def auth_outcome(scope: Mapping[str, Any]) -> AuthOutcome | None:
    """The last authentication outcome of the request with this ASGI scope, or None.

    For metrics or access logs: a pure ASGI middleware can read it once the app has
    answered. Every request that passed ``BearerAuth`` has one, cache hits included
    (they are not logged again); a later refusal (``require_user``, a revoked
    session) replaces it.
    """
    state = scope.get("state")
    outcome = state.get(_OUTCOME) if isinstance(state, dict) else None
    return outcome if isinstance(outcome, AuthOutcome) else None


class BearerAuth(SecurityBase):
    """The dependency that turns a request into a verified, live ``Principal``.

    ``verifier`` and ``sessions`` are the objects themselves, or functions that
    find them for a request (an app factory may keep them on ``app.state``).
    ``sessions`` is asked about every token: by its ``sid``, or, for a token
    without one (``require_sid=False``), by its ``sub``.
    """

    def __init__(
        self,
        verifier: VerifierSource,
        *,
        sessions: SessionSource | None = None,
        realm: str = DEFAULT_REALM,
    ) -> None:
        self.model = HTTPBearerModel(
            bearerFormat="JWT", description="A Better Auth JWT from GET /api/auth/token"
        )
        self.scheme_name = "BetterAuthJWT"
        self.realm = realm
        self._verifier = verifier
        self._sessions = sessions
        # Resolved once here: a Protocol isinstance check costs microseconds per request.
        self._verifier_for: Callable[[Request], TokenVerifier] = (
            _constant(verifier) if isinstance(verifier, TokenVerifier) else verifier
        )
        self._sessions_for: Callable[[Request], SessionCheck | None] = (
            _constant(sessions)
            if sessions is None or isinstance(sessions, SessionCheck)
            else sessions
        )

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        sessions: SessionSource | None = None,
        realm: str = DEFAULT_REALM,
    ) -> BearerAuth:
        """A ``BearerAuth`` whose verifier reads ``tandem_auth.environment``'s variables."""
        return cls(verifier_from_env(environ), sessions=sessions, realm=realm)

    async def __call__(self, request: Request) -> Principal:
        principal: Principal | None = None
        try:
            principal = await self._verified(request)
            await self._ensure_live(principal, request)
        except AuthError as exc:
            kid = principal.kid if principal else exc.kid
            log_auth_event(
                request,
                "auth.rejected",
                reason=exc.reason,
                status=exc.status_code,
                principal=principal,
                kid=kid,
            )
            raise
        request.state.principal = principal
        setattr(request.state, _OUTCOME, _ACCEPTED)
        return principal

    def lifespan(self, _app: FastAPI | None = None) -> AbstractAsyncContextManager[None]:
        """Load the keys (and start the session check) for as long as the app runs.

        Pass it as ``FastAPI(lifespan=auth.lifespan)``, or enter it from your own.
        """
        return self._running()

    def install(self, app: FastAPI) -> None:
        """Answer every ``AuthError`` with its RFC 6750 response."""
        app.add_exception_handler(AuthError, self._handle)

    async def _handle(self, _request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AuthError)
        return auth_error_response(exc, realm=self.realm)

    @asynccontextmanager
    async def _running(self) -> AsyncIterator[None]:
        if not isinstance(self._verifier, TokenVerifier):
            raise TypeError("lifespan() needs a TokenVerifier, not a function that finds one")
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(self._verifier)
            if isinstance(self._sessions, AbstractAsyncContextManager):
                await stack.enter_async_context(self._sessions)
            yield

    async def _verified(self, request: Request) -> Principal:
        token = _bearer_token(request)
        verifier = self._verifier_for(request)
        principal = verifier.cached(token)
        if principal is None:
            principal = await verifier.verify_uncached(token)
            # Once per token and process: a cache hit repeats a verdict already logged.
            log_auth_event(request, "auth.accepted", reason="ok", status=None, principal=principal)
        return principal

    async def _ensure_live(self, principal: Principal, request: Request) -> None:
        sessions = self._sessions_for(request)
        if sessions is not None:
            await sessions.ensure_live(principal)


def _constant(value: T) -> Callable[[Request], T]:
    return lambda _request: value


def _bearer_token(request: Request) -> str:
    """DESIGN.md §4 step 1: exactly one credential, a Bearer token in ``Authorization``."""
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
    return token


def auth_error_response(exc: AuthError, *, realm: str = DEFAULT_REALM) -> JSONResponse:
    """The response to an auth failure: ``{"detail", "code"}``, echoing nothing from the request."""
    return JSONResponse(
        {"detail": exc.description, "code": exc.code},
        status_code=exc.status_code,
        headers={**exc.headers(realm), **_NO_STORE},
    )


def require_user(principal: Principal, user_id: str, request: Request) -> None:
    """Refuse (403) a path that names another user than the token's ``sub``."""
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
    """One structured event per outcome, also kept for ``auth_outcome``. Never the token,
    the header, or the claims."""
    setattr(request.state, _OUTCOME, AuthOutcome(event, reason))
    route: Any = request.scope.get("route")
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
