"""Liveness, readiness, and who the token says you are."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from tandem.deps import LivePrincipal, database
from tandem.errors import COMMON_ERROR_RESPONSES, RETRY_AFTER_SECONDS

router = APIRouter()
_READY_TIMEOUT_SECONDS = 2.0


class Me(BaseModel):
    user_id: str
    email: str | None
    name: str | None


@router.get("/health", summary="Liveness: the process is up")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: the database and the token keys are usable")
async def ready(request: Request) -> JSONResponse:
    database_ok = await _database_reachable(request)
    keys_ok = request.app.state.verifier.keys.ready
    body = {
        "database": "ok" if database_ok else "unavailable",
        "keys": "ok" if keys_ok else "unavailable",
    }
    if database_ok and keys_ok:
        return JSONResponse({"status": "ok", **body})
    return JSONResponse(
        {"status": "unavailable", **body},
        status_code=503,
        headers={"Retry-After": RETRY_AFTER_SECONDS, "Cache-Control": "no-store"},
    )


async def _database_reachable(request: Request) -> bool:
    try:
        async with asyncio.timeout(_READY_TIMEOUT_SECONDS):
            await database(request).ping()
    except Exception:  # any failure means "not ready"; /ready must never 500
        return False
    return True


@router.get(
    "/api/me", tags=["me"], summary="Who the token says you are", responses=COMMON_ERROR_RESPONSES
)
async def me(principal: LivePrincipal) -> Me:
    return Me(user_id=principal.sub, email=principal.email, name=principal.name)
