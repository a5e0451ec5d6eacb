"""Liveness, readiness, and who the token says you are."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from tandem.deps import LivePrincipal
from tandem.errors import COMMON_ERROR_RESPONSES, RETRY_AFTER_SECONDS

router = APIRouter()
_READY_TIMEOUT_SECONDS = 2.0


class ReadinessProbe:
    """The database's readiness, probed at most once per ``interval_seconds``.

    ``/ready`` needs no credentials, so a flood of it must not be a flood of
    database work: callers within the interval get the last answer, and callers
    that arrive while a probe runs wait for that one probe.
    """

    def __init__(
        self, ping: Callable[[], Awaitable[None]], *, interval_seconds: float = 1.0
    ) -> None:
        self._ping = ping
        self._interval = interval_seconds
        self._lock = asyncio.Lock()
        self._answer = False
        self._answered_at = float("-inf")

    async def database_ok(self) -> bool:
        async with self._lock:
            if time.monotonic() - self._answered_at >= self._interval:
                self._answer = await self._probe()
                self._answered_at = time.monotonic()
            return self._answer

    async def _probe(self) -> bool:
        try:
            async with asyncio.timeout(_READY_TIMEOUT_SECONDS):
                await self._ping()
        except Exception:  # any failure means "not ready"; /ready must never 500
            return False
        return True


class Me(BaseModel):
    user_id: str
    email: str | None
    name: str | None


@router.get("/health", summary="Liveness: the process is up")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: the database and the token keys are usable")
async def ready(request: Request) -> JSONResponse:
    readiness: ReadinessProbe = request.app.state.readiness
    database_ok = await readiness.database_ok()
    keys_ok = request.app.state.verifier.keys.ready
    body = {
        "database": "ok" if database_ok else "unavailable",
        "keys": "ok" if keys_ok else "unavailable",
        # Counting in this process while Redis is away is degraded, not unready: the
        # limits still hold per process, so /ready stays 200 for it.
        "rate_limits": request.app.state.rate_limiter.storage_state(),
    }
    if database_ok and keys_ok:
        return JSONResponse({"status": "ok", **body})
    return JSONResponse(
        {"status": "unavailable", **body},
        status_code=503,
        headers={"Retry-After": RETRY_AFTER_SECONDS, "Cache-Control": "no-store"},
    )


@router.get(
    "/api/me",
    tags=["me"],
    summary="Who the token says you are",
    response_model=Me,
    responses=COMMON_ERROR_RESPONSES,
)
async def me(principal: LivePrincipal) -> Response:
    # Encoded here, as the task routes encode: ``Me`` documents the shape, and returning it
    # would have FastAPI validate it once more and serialize it (bench/README.md,
    # "`/api/me`'s response").
    body = {"user_id": principal.sub, "email": principal.email, "name": principal.name}
    return Response(orjson.dumps(body), media_type="application/json")
