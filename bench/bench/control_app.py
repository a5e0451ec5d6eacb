"""The benchmark's control app: the task routes' database work on bare asyncpg, and nothing else.

Started by the control benchmarks (`list_control`, `create_control`, `round_trips`) as
`uvicorn bench.control_app:create_app --factory --app-dir bench`, in the back end's
own environment, so that it runs on the same uvicorn, uvloop, httptools, FastAPI,
asyncpg and orjson as the API. It is never part of the product.

No authentication, no SQLAlchemy, no Pydantic, no rate limit, no logging: the user is
the path's, and that user's session id comes from `BENCH_CONTROL_SESSIONS`. What is
left is the database work the API's task routes must do, and the encoding:

- `GET /same-shape/{user_id}/tasks`: BEGIN; one statement that sets the role and
  `app.user_id` (both transaction-local) and checks the session; the first page
  (50 rows, newest first); COMMIT. Four round trips, as the API's.
- `GET /one-statement/{user_id}/tasks`: the same page as one statement, on a
  connection whose role and `app.user_id` were set once when it was opened (for the
  user `BENCH_CONTROL_PRESET_USER`), with no explicit transaction and no session
  check. One round trip: the floor for this query over HTTP on this stack.
- `POST /same-shape/{user_id}/tasks`: BEGIN; the same context statement; one
  `INSERT … RETURNING`; COMMIT.

Responses carry the API's shapes (a page: `items` and `next_cursor`, the cursor
encoded as the API encodes it; a task, with its `ETag`), encoded with orjson
straight from the rows, so that a benchmark can check they match the API's.

Both pools hold 10 connections (the API's default `DB_POOL_SIZE`) with the API's
`plan_cache_mode`, and return connections without asyncpg's reset query: nothing
outlives the transaction in the first pool, and the second's settings must survive.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
from fastapi import FastAPI, Request, Response

SESSIONS_VARIABLE = "BENCH_CONTROL_SESSIONS"
"""JSON object: user id → the session id the context statement checks."""
PRESET_USER_VARIABLE = "BENCH_CONTROL_PRESET_USER"
"""The user the one-statement pool's connections are set up for."""
APPLICATION_NAME = "bench-control"
SAME_SHAPE = "/same-shape"
ONE_STATEMENT = "/one-statement"
POOL_SIZE = 10  # the API's default DB_POOL_SIZE
PAGE_SIZE = 50  # the API's default limit
SORT = "-created_at"  # the API's default sort
PLAN_CACHE_MODE = "force_custom_plan"  # as the API's connections run (tandem/db.py)

_COLUMNS = ("id", "title", "description", "completed", "created_at", "updated_at")
_SELECTED = ", ".join(_COLUMNS)
_CONTEXT = """
SELECT set_config('role', 'tandem_app', true), set_config('app.user_id', $1, true),
       (SELECT "expiresAt" FROM session
        WHERE id = $2 AND "userId" = $1 AND "expiresAt" > now()) AS live_until
"""
_PRESET = "SELECT set_config('role', 'tandem_app', false), set_config('app.user_id', $1, false)"
_FIRST_PAGE = f"""
SELECT {_SELECTED} FROM task WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2
"""
_INSERT = f"""
INSERT INTO task (user_id, title, description) VALUES ($1, $2, $3) RETURNING {_SELECTED}
"""
_JSON_OPTIONS = orjson.OPT_UTC_Z
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_UNAUTHORIZED = b'{"code":"session_ended"}'
_INVALID = b'{"code":"validation_error"}'


def _encode_other(value: object) -> str:
    if isinstance(value, uuid.UUID):  # asyncpg's own UUID type, unknown to orjson
        return str(value)
    raise TypeError(type(value).__name__)


def _dumps(content: object) -> bytes:
    return orjson.dumps(content, default=_encode_other, option=_JSON_OPTIONS)


def _task(row: Mapping[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in _COLUMNS}


def _cursor(row: Mapping[str, Any]) -> str:
    """The API's keyset cursor for the position after `row` (tandem/tasks/cursor.py)."""
    payload = json.dumps(
        [SORT, row["created_at"].isoformat(), str(row["id"])], separators=(",", ":")
    )
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def _page(rows: list[asyncpg.Record]) -> Response:
    next_cursor = _cursor(rows[PAGE_SIZE - 1]) if len(rows) > PAGE_SIZE else None
    page = {"items": [_task(row) for row in rows[:PAGE_SIZE]], "next_cursor": next_cursor}
    return Response(_dumps(page), media_type="application/json")


def _json(body: bytes, status_code: int) -> Response:
    return Response(body, status_code=status_code, media_type="application/json")


async def _keep_state(_connection: asyncpg.Connection) -> None:
    """Instead of asyncpg's reset query (one more round trip) when a connection goes back."""


def create_app() -> FastAPI:
    dsn = os.environ["DATABASE_URL"]
    sessions: dict[str, str] = json.loads(os.environ[SESSIONS_VARIABLE])
    preset_user = os.environ[PRESET_USER_VARIABLE]
    settings = {"application_name": APPLICATION_NAME, "plan_cache_mode": PLAN_CACHE_MODE}
    pools: dict[str, asyncpg.Pool] = {}

    async def preset(connection: asyncpg.Connection) -> None:
        await connection.execute(_PRESET, preset_user)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        common: dict[str, Any] = {
            "min_size": POOL_SIZE,
            "max_size": POOL_SIZE,
            "server_settings": settings,
            "reset": _keep_state,
        }
        pools[SAME_SHAPE] = await asyncpg.create_pool(dsn, **common)
        pools[ONE_STATEMENT] = await asyncpg.create_pool(dsn, init=preset, **common)
        try:
            yield
        finally:
            for pool in pools.values():
                await pool.close()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/ready")
    async def ready() -> Response:
        return _json(b'{"status":"ok"}', 200)

    @app.get(SAME_SHAPE + "/{user_id}/tasks")
    async def list_same_shape(user_id: str) -> Response:
        session_id = sessions.get(user_id)
        async with pools[SAME_SHAPE].acquire() as connection, connection.transaction():
            context = await connection.fetchrow(_CONTEXT, user_id, session_id)
            if context["live_until"] is None:
                return _json(_UNAUTHORIZED, 401)
            rows = await connection.fetch(_FIRST_PAGE, user_id, PAGE_SIZE + 1)
        return _page(rows)

    @app.get(ONE_STATEMENT + "/{user_id}/tasks")
    async def list_one_statement(user_id: str) -> Response:
        if user_id != preset_user:
            return _json(_UNAUTHORIZED, 401)
        async with pools[ONE_STATEMENT].acquire() as connection:
            rows = await connection.fetch(_FIRST_PAGE, user_id, PAGE_SIZE + 1)
        return _page(rows)

    @app.post(SAME_SHAPE + "/{user_id}/tasks")
    async def create_same_shape(user_id: str, request: Request) -> Response:
        body = orjson.loads(await request.body())
        title, description = body.get("title"), body.get("description")
        if not isinstance(title, str) or not 1 <= len(title) <= 200:
            return _json(_INVALID, 422)
        if description is not None and not isinstance(description, str):
            return _json(_INVALID, 422)
        session_id = sessions.get(user_id)
        async with pools[SAME_SHAPE].acquire() as connection, connection.transaction():
            context = await connection.fetchrow(_CONTEXT, user_id, session_id)
            if context["live_until"] is None:
                return _json(_UNAUTHORIZED, 401)
            row = await connection.fetchrow(_INSERT, user_id, title, description)
        etag = f'"{(row["updated_at"] - _EPOCH) // _MICROSECOND}"'
        return Response(
            _dumps(_task(row)),
            status_code=201,
            media_type="application/json",
            headers={"ETag": etag},
        )

    return app
