"""The API's error responses: every one is ``{"detail": str, "code": str}``.

    AppError                 base for errors our code raises on purpose
    ├── NotFound             404: missing, or owned by someone else (no oracle)
    └── ServiceUnavailable   503 with Retry-After: the database is unreachable or busy

Auth errors come from ``tandem_auth``, answered in Tandem's realm. Framework errors (404 route, 405,
422 validation, 400 unparsable body) are reshaped here, and anything else
becomes a bare 500 whose details stay in the log. No handler echoes input.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any, ClassVar

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from tandem_auth import AuthError
from tandem_auth.fastapi import auth_error_response

from tandem.db import DATABASE_UNAVAILABLE

logger = logging.getLogger("tandem.errors")


class ErrorBody(BaseModel):
    """The shape of every error response."""

    detail: str
    code: str


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


# Documented on every per-user route, so generated clients know the error shape.
COMMON_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("More than one credential, or an unparsable body"),
    401: _error("Missing, invalid or expired token, or a signed-out session"),
    403: _error("The path names another user than the token"),
    413: _error("Body over 64 KiB"),
    422: _error("Validation failed"),
    429: _error("Rate limited; see Retry-After"),
    503: _error("Database or token keys unavailable; see Retry-After"),
}
# The realm of Tandem's WWW-Authenticate challenges (DESIGN.md §3).
REALM = "tandem"
RETRY_AFTER_SECONDS = "2"
NO_STORE = {"Cache-Control": "no-store"}
# SQLSTATEs that mean "not now" rather than "wrong": 08 connection exceptions, 53
# insufficient resources (too many connections), 57 operator intervention (statement
# timeout, shutdown, starting up), and 55P03 a lock not granted within lock_timeout.
_RETRYABLE_SQLSTATE_CLASSES = ("08", "53", "57")
_RETRYABLE_SQLSTATES = frozenset({"55P03"})


class AppError(Exception):
    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    detail: ClassVar[str] = "Internal server error"

    def headers(self) -> dict[str, str]:
        return {}


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    detail = "Task not found"


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"
    detail = "The service is temporarily unavailable; retry shortly"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": RETRY_AFTER_SECONDS}


def error_response(
    status_code: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: object
) -> JSONResponse:
    return JSONResponse(
        {"detail": detail, "code": code, **extra},
        status_code=status_code,
        headers={**NO_STORE, **(headers or {})},
    )


def app_error_response(exc: AppError) -> JSONResponse:
    """The answer to one of our own errors, for a handler or a middleware."""
    return error_response(exc.status_code, exc.code, exc.detail, exc.headers())


async def _app_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return app_error_response(exc)


async def _auth_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AuthError)
    return auth_error_response(exc, realm=REALM)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Locations and error types only: pydantic's "input" and messages may quote the request.
    fields = [{"loc": _our_location(err), "type": err["type"]} for err in exc.errors()]
    return error_response(422, "validation_error", "The request is not valid", errors=fields)


def _our_location(error: Any) -> list[str]:
    """The error's location, cut to names the API declares.

    An unknown field's location ends in the client's own key, so it stops at its parent.
    """
    loc = error["loc"][:1] if error["type"] == "extra_forbidden" else error["loc"][:2]
    return [str(part) for part in loc]


async def _database_unavailable(_request: Request, exc: BaseException) -> JSONResponse:
    logger.warning(
        "database unavailable",
        extra={"event": "db.unavailable", "error": type(exc).__name__},
    )
    return await _app_error(_request, ServiceUnavailable())


async def _asyncpg_error(request: Request, error: Exception) -> JSONResponse:
    """A PostgreSQL error raised on a request's connection: 503 when a retry can
    succeed, else a bare 500.

    The driver's own message may quote a bound value ("invalid input for query
    argument $1: '<a task's text>'"): log what failed and where, never the message.
    """
    sqlstate = str(getattr(error, "sqlstate", None) or "")
    if sqlstate[:2] in _RETRYABLE_SQLSTATE_CLASSES or sqlstate in _RETRYABLE_SQLSTATES:
        return await _database_unavailable(request, error)
    logger.error(
        "unhandled database error",
        extra={
            "event": "http.unhandled",
            "error": type(error).__name__,
            "sqlstate": sqlstate or None,
            "statement": getattr(error, "query", None),
            "stack": "".join(traceback.format_tb(error.__traceback__)),
        },
    )
    return error_response(500, "internal_error", "Internal server error")


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error", exc_info=exc, extra={"event": "http.unhandled"})
    return error_response(500, "internal_error", "Internal server error")


_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(AuthError, _auth_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for unavailable in DATABASE_UNAVAILABLE:
        app.add_exception_handler(unavailable, _database_unavailable)
    app.add_exception_handler(asyncpg.PostgresError, _asyncpg_error)
    app.add_exception_handler(Exception, _unexpected)
