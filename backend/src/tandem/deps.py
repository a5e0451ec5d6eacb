"""Dependency aliases that routes declare: who is calling, and their transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
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


class Caller:
    """A verified caller whose token names the path's user: what a task route gets."""

    __slots__ = ("_request", "principal")

    def __init__(self, principal: Principal, request: Request) -> None:
        self.principal = principal
        self._request = request

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A transaction confined to the caller, which commits when the block ends.

        Its first statement finds the session live, or the request ends 401. Only
        then does the caller count against their rate limit: a revoked token spends
        only its address's budget. A route answers after the block, so a 2xx always
        means its write is durable.
        """
        principal, request = self.principal, self._request
        with _logging_revocation(principal, request):
            async with database(request).user_transaction(principal) as connection:
                await _count_user(principal, request)
                yield connection


class _PathOwner(BearerAuth):
    """For the task routes: verify, then refuse (403) a path that names another user.

    The session is checked inside the route's own transaction (``Caller``), so this
    has no session check of its own. One plain dependency, and the route opens the
    transaction itself: each dependency level, and most of all one that yields, costs
    FastAPI tens of µs on every request (bench/README.md, "task routes' dependencies").
    """

    async def __call__(self, request: Request) -> Caller:  # type: ignore[override]
        principal = await super().__call__(request)
        require_user(principal, request.path_params["user_id"], request)
        return Caller(principal, request)


path_owner = _PathOwner(_verifier, realm=REALM)


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


OwnCaller = Annotated[Caller, Depends(path_owner)]
LivePrincipal = Annotated[
    Principal, Depends(_LiveBearer(_verifier, sessions=_sessions, realm=REALM))
]
