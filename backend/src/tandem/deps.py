"""Dependency aliases that routes declare: who is calling, and their transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.auth import (
    BearerAuth,
    Principal,
    RevokedSession,
    TokenVerifier,
    log_auth_event,
    require_user,
)
from tandem.db import Database
from tandem.live_sessions import LiveSessionCache
from tandem.rate_limit import RateLimiter


def _verifier(request: Request) -> TokenVerifier:
    verifier: TokenVerifier = request.app.state.verifier
    return verifier


def database(request: Request) -> Database:
    db: Database = request.app.state.database
    return db


@contextmanager
def _logging_revocation(principal: Principal, request: Request) -> Iterator[None]:
    try:
        yield
    except RevokedSession as exc:
        log_auth_event(
            request, "auth.rejected", reason=exc.reason, status=exc.status_code, principal=principal
        )
        raise


bearer = BearerAuth(_verifier)


async def _count_user(principal: Principal, request: Request) -> None:
    """Count a verified caller against their own rate limit."""
    limiter: RateLimiter = request.app.state.rate_limiter
    await limiter.check_user(principal.sub)


async def _require_live_session(principal: Principal, request: Request) -> None:
    """Refuse a revoked session: from the live-session cache, or else the database."""
    sessions: LiveSessionCache = request.app.state.live_sessions
    if principal.sid is not None and sessions.is_live(principal.sid, principal.sub):
        return
    checkpoint = sessions.checkpoint()
    with _logging_revocation(principal, request):
        live_until = await database(request).session_live_until(principal)
    if principal.sid is None:
        return  # no session to cache: such tokens are checked every time
    sessions.remember(
        principal.sid,
        principal.sub,
        live_until=min(live_until.timestamp(), principal.expires_at),
        checkpoint=checkpoint,
    )


async def _authenticated(
    principal: Annotated[Principal, Depends(bearer)], request: Request
) -> Principal:
    """The verified caller, counted against their own rate limit."""
    await _count_user(principal, request)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(_authenticated)]


async def _own_transaction(
    user_id: str, principal: CurrentPrincipal, request: Request
) -> AsyncIterator[AsyncSession]:
    """403 unless the path's user is the caller; then a transaction confined to them."""
    require_user(principal, user_id, request)
    with _logging_revocation(principal, request):
        async with database(request).user_transaction(principal) as session:
            yield session


class _LiveBearer(BearerAuth):
    """For routes without a transaction of their own (``/api/me``): verify, count, and
    require a live session, all in one dependency.

    FastAPI spends about 15 µs per dependency level on every request, which on a
    route this small is a large part of what authentication costs (bench/README.md).
    """

    async def __call__(self, request: Request) -> Principal:
        principal = await super().__call__(request)
        await _count_user(principal, request)
        await _require_live_session(principal, request)
        return principal


# scope="function": the transaction commits before the response is sent, so a
# 2xx always means the write is durable.
OwnSession = Annotated[AsyncSession, Depends(_own_transaction, scope="function")]
LivePrincipal = Annotated[Principal, Depends(_LiveBearer(_verifier))]
