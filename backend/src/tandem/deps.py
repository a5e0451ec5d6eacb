"""Dependency aliases that routes declare: who is calling, and their transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from tandem_auth import Principal, RevokedSession, TokenVerifier
from tandem_auth.fastapi import BearerAuth, log_auth_event, require_user
from tandem_auth.postgres import PostgresSessionCheck

from tandem.db import Database
from tandem.errors import REALM
from tandem.rate_limit import RateLimiter


def _verifier(request: Request) -> TokenVerifier:
    verifier: TokenVerifier = request.app.state.verifier
    return verifier


def _sessions(request: Request) -> PostgresSessionCheck:
    sessions: PostgresSessionCheck = request.app.state.sessions
    return sessions


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


async def _count_user(principal: Principal, request: Request) -> None:
    """Count a caller whose session is live against their own rate limit."""
    limiter: RateLimiter = request.app.state.rate_limiter
    await limiter.check_user(principal.sub)


# Task routes check the session inside their own transaction (db.py), so this one
# has no session check of its own.
bearer = BearerAuth(_verifier, realm=REALM)


async def _own_transaction(
    user_id: str, principal: Annotated[Principal, Depends(bearer)], request: Request
) -> AsyncIterator[asyncpg.Connection]:
    """403 unless the path's user is the caller; then a transaction confined to them.

    The caller counts against their rate limit only once the transaction has found
    their session live: a revoked token spends only its address's budget.
    """
    require_user(principal, user_id, request)
    with _logging_revocation(principal, request):
        async with database(request).user_transaction(principal) as connection:
            await _count_user(principal, request)
            yield connection


class _LiveBearer(BearerAuth):
    """For routes without a transaction of their own (``/api/me``): verify, require a live
    session (``tandem_auth.postgres``'s cache, else a query), then count, in one dependency.

    FastAPI spends about 15 µs per dependency level on every request, which on a
    route this small is a large part of what authentication costs (bench/README.md).
    """

    async def __call__(self, request: Request) -> Principal:
        principal = await super().__call__(request)
        await _count_user(principal, request)
        return principal


# scope="function": the transaction commits before the response is sent, so a
# 2xx always means the write is durable.
OwnConnection = Annotated[asyncpg.Connection, Depends(_own_transaction, scope="function")]
LivePrincipal = Annotated[
    Principal, Depends(_LiveBearer(_verifier, sessions=_sessions, realm=REALM))
]
