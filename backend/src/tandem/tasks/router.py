"""``/api/{user_id}/tasks``: the caller's own tasks, and nobody else's."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.responses import JSONResponse

from tandem.deps import OwnSession
from tandem.errors import COMMON_ERROR_RESPONSES, ErrorBody, NotFound
from tandem.tasks import idempotency, service
from tandem.tasks.etag import etag_for, versions_matching
from tandem.tasks.models import TaskRow
from tandem.tasks.schemas import (
    SearchText,
    Task,
    TaskCreate,
    TaskList,
    TaskPatch,
    TaskReplace,
    TaskSort,
    TaskStatus,
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


@router.get("", summary="List your tasks, a page at a time")
async def list_tasks(
    user_id: str,
    session: OwnSession,
    status_filter: Annotated[TaskStatus, Query(alias="status")] = "all",
    q: Annotated[SearchText | None, Query(description="Text in the title or description")] = None,
    sort: TaskSort = "-created_at",
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> TaskList:
    items, next_cursor = await service.list_tasks(
        session, user_id=user_id, status=status_filter, q=q, sort=sort, limit=limit, cursor=cursor
    )
    return TaskList(items=[Task.model_validate(t) for t in items], next_cursor=next_cursor)


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
    session: OwnSession,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Task | JSONResponse:
    if idempotency_key is not None:
        replay = await idempotency.claim(
            session,
            user_id=user_id,
            key=idempotency_key,
            request_hash=idempotency.request_fingerprint(body.model_dump(mode="json")),
        )
        if replay is not None:
            if replay.status_code == status.HTTP_404_NOT_FOUND:
                raise NotFound()  # the task this key created has been deleted since
            version = datetime.fromisoformat(replay.body["updated_at"])
            return JSONResponse(
                replay.body,
                status_code=replay.status_code,
                headers={"ETag": etag_for(version), "Idempotent-Replayed": "true"},
            )
    task = Task.model_validate(
        await service.create_task(
            session, user_id=user_id, title=body.title, description=body.description
        )
    )
    if idempotency_key is not None:
        await idempotency.record(
            session,
            user_id=user_id,
            key=idempotency_key,
            status_code=status.HTTP_201_CREATED,
            body=task.model_dump(mode="json"),
        )
    response.headers["ETag"] = etag_for(task.updated_at)
    return task


@router.get("/{task_id}", summary="Read one task")
async def get_task(user_id: str, task_id: TaskId, session: OwnSession, response: Response) -> Task:
    task = await service.get_task(session, user_id=user_id, task_id=task_id)
    return _with_etag(task, response)


@router.put("/{task_id}", summary="Replace a task's title, description and completed flag")
async def replace_task(
    user_id: str,
    task_id: TaskId,
    body: TaskReplace,
    session: OwnSession,
    response: Response,
    if_match: IfMatch = None,
) -> Task:
    task = await service.update_task(
        session,
        user_id=user_id,
        task_id=task_id,
        changes=body.model_dump(),
        if_match=versions_matching(if_match),
    )
    return _with_etag(task, response)


@router.patch("/{task_id}", summary="Change some of a task's fields")
async def patch_task(
    user_id: str,
    task_id: TaskId,
    body: TaskPatch,
    session: OwnSession,
    response: Response,
    if_match: IfMatch = None,
) -> Task:
    task = await service.update_task(
        session,
        user_id=user_id,
        task_id=task_id,
        changes=body.model_dump(exclude_unset=True),
        if_match=versions_matching(if_match),
    )
    return _with_etag(task, response)


@router.patch("/{task_id}/complete", summary="Toggle whether a task is completed")
async def toggle_complete(
    user_id: str, task_id: TaskId, session: OwnSession, response: Response, if_match: IfMatch = None
) -> Task:
    task = await service.toggle_completed(
        session, user_id=user_id, task_id=task_id, if_match=versions_matching(if_match)
    )
    return _with_etag(task, response)


@router.delete("/{task_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a task")
async def delete_task(
    user_id: str, task_id: TaskId, session: OwnSession, if_match: IfMatch = None
) -> Response:
    await service.delete_task(
        session, user_id=user_id, task_id=task_id, if_match=versions_matching(if_match)
    )
    await idempotency.forget_task(session, user_id=user_id, task_id=str(task_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _with_etag(row: TaskRow, response: Response) -> Task:
    task = Task.model_validate(row)
    response.headers["ETag"] = etag_for(task.updated_at)
    return task
