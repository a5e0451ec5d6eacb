"""Dependency aliases that routes declare: who is calling, and their transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.auth import BearerAuth, Principal, TokenVerifier, require_user
from tandem.db import Database


def _verifier(request: Request) -> TokenVerifier:
    verifier: TokenVerifier = request.app.state.verifier
    return verifier


def database(request: Request) -> Database:
    db: Database = request.app.state.database
    return db


bearer = BearerAuth(_verifier)
CurrentPrincipal = Annotated[Principal, Depends(bearer)]


async def _own_transaction(
    user_id: str, principal: CurrentPrincipal, request: Request
) -> AsyncIterator[AsyncSession]:
    """403 unless the path's user is the caller; then a transaction confined to them."""
    require_user(principal, user_id, request)
    async with database(request).user_transaction(principal) as session:
        yield session


async def _live_principal(principal: CurrentPrincipal, request: Request) -> Principal:
    """The caller, after checking that their session has not been revoked."""
    async with database(request).user_transaction(principal):
        return principal


# scope="function": the transaction commits before the response is sent, so a
# 2xx always means the write is durable.
OwnSession = Annotated[AsyncSession, Depends(_own_transaction, scope="function")]
LivePrincipal = Annotated[Principal, Depends(_live_principal)]
