"""``/api/{user_id}/tasks``: the caller's own tasks, and nobody else's.

Responses are encoded straight from the driver's rows with orjson: the
declared response models document the shapes in OpenAPI, and the rows, typed
by the database, need no second validation on the way out.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Response, status

from tandem.deps import OwnCaller
from tandem.errors import COMMON_ERROR_RESPONSES, ErrorBody, NotFound
from tandem.tasks import idempotency, service
from tandem.tasks.etag import etag_for, versions_matching
from tandem.tasks.schemas import (
    Task,
    TaskCreate,
    TaskList,
    TaskListQuery,
    TaskPatch,
    TaskReplace,
)

router = APIRouter(
    prefix="/api/{user_id}/tasks",
    tags=["tasks"],
    responses={
        **COMMON_ERROR_RESPONSES,
        404: {"model": ErrorBody, "description": "No such task"},
        412: {"model": ErrorBody, "description": "If-Match named an older version"},
    },
)
TaskId = Annotated[uuid.UUID, "The task's id"]
IfMatch = Annotated[
    str | None,
    Header(description="An ETag from an earlier response; a stale one gets 412", max_length=1024),
]
# RFC 3339 with "Z", as Pydantic writes UTC instants.
_JSON_OPTIONS = orjson.OPT_UTC_Z


def _encode_other(value: object) -> str:
    """asyncpg's own UUID type, which orjson does not know as a UUID."""
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(type(value).__name__)


def _dumps(content: object) -> bytes:
    return orjson.dumps(content, default=_encode_other, option=_JSON_OPTIONS)


def _task(row: Mapping[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in service.TASK_FIELDS}


def _json(
    body: bytes, *, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(body, status_code=status_code, media_type="application/json", headers=headers)


def _one(row: Mapping[str, Any], *, status_code: int = 200) -> Response:
    body = _dumps(_task(row))
    return _json(body, status_code=status_code, headers={"ETag": etag_for(row["updated_at"])})


def _page(rows: Iterable[Mapping[str, Any]], next_cursor: str | None) -> Response:
    page = {"items": [_task(row) for row in rows], "next_cursor": next_cursor}
    return _json(_dumps(page))


@router.get("", summary="List your tasks, a page at a time", response_model=TaskList)
async def list_tasks(
    user_id: str, caller: OwnCaller, query: Annotated[TaskListQuery, Query()]
) -> Response:
    async with caller.transaction() as connection:
        rows, next_cursor = await service.list_tasks(
            connection,
            user_id=user_id,
            status=query.status,
            q=query.q,
            sort=query.sort,
            limit=query.limit,
            cursor=query.cursor,
        )
    return _page(rows, next_cursor)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Task,
    summary="Create a task",
    description="With an `Idempotency-Key`, retries of the same request create one task and "
    "replay its response for 24 hours; the same key with another body gets 422.",
)
async def create_task(
    user_id: str,
    body: TaskCreate,
    caller: OwnCaller,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Response:
    async with caller.transaction() as connection:
        if idempotency_key is not None:
            replay = await idempotency.claim(
                connection,
                user_id=user_id,
                key=idempotency_key,
                request_hash=idempotency.request_fingerprint(body.model_dump(mode="json")),
            )
            if replay is not None:
                if replay.status_code == status.HTTP_404_NOT_FOUND:
                    raise NotFound()  # the task this key created has been deleted since
                updated_at = datetime.fromisoformat(orjson.loads(replay.body)["updated_at"])
                return _json(
                    replay.body.encode(),
                    status_code=replay.status_code,
                    headers={"ETag": etag_for(updated_at), "Idempotent-Replayed": "true"},
                )
        row = await service.create_task(
            connection, user_id=user_id, title=body.title, description=body.description
        )
        created = _one(row, status_code=status.HTTP_201_CREATED)
        if idempotency_key is not None:
            await idempotency.record(
                connection,
                user_id=user_id,
                key=idempotency_key,
                status_code=status.HTTP_201_CREATED,
                body=bytes(created.body),
            )
        return created


@router.get("/{task_id}", summary="Read one task", response_model=Task)
async def get_task(user_id: str, task_id: TaskId, caller: OwnCaller) -> Response:
    async with caller.transaction() as connection:
        row = await service.get_task(connection, user_id=user_id, task_id=task_id)
    return _one(row)


@router.put(
    "/{task_id}",
    summary="Replace a task's title, description and completed flag",
    response_model=Task,
)
async def replace_task(
    user_id: str,
    task_id: TaskId,
    body: TaskReplace,
    caller: OwnCaller,
    if_match: IfMatch = None,
) -> Response:
    async with caller.transaction() as connection:
        row = await service.update_task(
            connection,
            user_id=user_id,
            task_id=task_id,
            changes=body.model_dump(),
            if_match=versions_matching(if_match),
        )
    return _one(row)


@router.patch("/{task_id}", summary="Change some of a task's fields", response_model=Task)
async def patch_task(
    user_id: str,
    task_id: TaskId,
    body: TaskPatch,
    caller: OwnCaller,
    if_match: IfMatch = None,
) -> Response:
    async with caller.transaction() as connection:
        row = await service.update_task(
            connection,
            user_id=user_id,
            task_id=task_id,
            changes=body.model_dump(exclude_unset=True),
            if_match=versions_matching(if_match),
        )
    return _one(row)


@router.patch(
    "/{task_id}/complete", summary="Toggle whether a task is completed", response_model=Task
)
async def toggle_complete(
    user_id: str, task_id: TaskId, caller: OwnCaller, if_match: IfMatch = None
) -> Response:
    async with caller.transaction() as connection:
        row = await service.toggle_completed(
            connection, user_id=user_id, task_id=task_id, if_match=versions_matching(if_match)
        )
    return _one(row)


@router.delete("/{task_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a task")
async def delete_task(
    user_id: str, task_id: TaskId, caller: OwnCaller, if_match: IfMatch = None
) -> Response:
    async with caller.transaction() as connection:
        await service.delete_task(
            connection, user_id=user_id, task_id=task_id, if_match=versions_matching(if_match)
        )
        await idempotency.forget_task(connection, user_id=user_id, task_id=str(task_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
