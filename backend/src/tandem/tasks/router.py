"""``/api/{user_id}/tasks``: the caller's own tasks, and nobody else's."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from tandem.deps import OwnSession
from tandem.errors import COMMON_ERROR_RESPONSES, ErrorBody
from tandem.tasks import service
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
    responses={**COMMON_ERROR_RESPONSES, 404: {"model": ErrorBody, "description": "No such task"}},
)
TaskId = Annotated[uuid.UUID, "The task's id"]


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


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a task")
async def create_task(user_id: str, body: TaskCreate, session: OwnSession) -> Task:
    task = await service.create_task(
        session, user_id=user_id, title=body.title, description=body.description
    )
    return Task.model_validate(task)


@router.get("/{task_id}", summary="Read one task")
async def get_task(user_id: str, task_id: TaskId, session: OwnSession) -> Task:
    return Task.model_validate(await service.get_task(session, user_id=user_id, task_id=task_id))


@router.put("/{task_id}", summary="Replace a task's title, description and completed flag")
async def replace_task(
    user_id: str, task_id: TaskId, body: TaskReplace, session: OwnSession
) -> Task:
    task = await service.update_task(
        session, user_id=user_id, task_id=task_id, changes=body.model_dump()
    )
    return Task.model_validate(task)


@router.patch("/{task_id}", summary="Change some of a task's fields")
async def patch_task(user_id: str, task_id: TaskId, body: TaskPatch, session: OwnSession) -> Task:
    task = await service.update_task(
        session, user_id=user_id, task_id=task_id, changes=body.model_dump(exclude_unset=True)
    )
    return Task.model_validate(task)


@router.patch("/{task_id}/complete", summary="Toggle whether a task is completed")
async def toggle_complete(user_id: str, task_id: TaskId, session: OwnSession) -> Task:
    task = await service.toggle_completed(session, user_id=user_id, task_id=task_id)
    return Task.model_validate(task)


@router.delete("/{task_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a task")
async def delete_task(user_id: str, task_id: TaskId, session: OwnSession) -> Response:
    await service.delete_task(session, user_id=user_id, task_id=task_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
