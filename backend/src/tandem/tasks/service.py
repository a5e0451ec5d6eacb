"""TaskRow queries and changes. Services never commit: the request's transaction does.

Every query also filters by ``user_id`` explicitly; row-level security is the
net under that filter, not a replacement for it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, NoReturn

from sqlalchemy import (
    ColumnElement,
    Select,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.errors import NotFound
from tandem.tasks.cursor import decode_cursor, encode_cursor, sort_column
from tandem.tasks.etag import PreconditionFailed
from tandem.tasks.models import TaskRow
from tandem.tasks.schemas import TaskSort, TaskStatus

_LIKE_ESCAPES = str.maketrans({"\\": "\\\\", "%": "\\%", "_": "\\_"})


async def list_tasks(
    session: AsyncSession,
    *,
    user_id: str,
    status: TaskStatus,
    q: str | None,
    sort: TaskSort,
    limit: int,
    cursor: str | None,
) -> tuple[list[TaskRow], str | None]:
    """One page in ``sort`` order, and the cursor of the next page if there is one."""
    column = getattr(TaskRow, sort_column(sort))
    descending = sort.startswith("-")
    query: Select[TaskRow] = select(TaskRow).where(TaskRow.user_id == user_id)
    if status != "all":
        query = query.where(TaskRow.completed.is_(status == "completed"))
    if q is not None:
        pattern = f"%{q.translate(_LIKE_ESCAPES)}%"
        query = query.where(
            or_(
                TaskRow.title.ilike(pattern, escape="\\"),
                TaskRow.description.ilike(pattern, escape="\\"),
            )
        )
    if cursor is not None:
        position = tuple_(column, TaskRow.id)
        after: ColumnElement[bool] = (
            position < tuple_(*decode_cursor(cursor, sort))
            if descending
            else position > tuple_(*decode_cursor(cursor, sort))
        )
        query = query.where(after)
    order = (column.desc(), TaskRow.id.desc()) if descending else (column.asc(), TaskRow.id.asc())
    rows = list((await session.scalars(query.order_by(*order).limit(limit + 1))).all())
    if len(rows) > limit:
        return rows[:limit], encode_cursor(sort, rows[limit - 1])
    return rows, None


async def create_task(
    session: AsyncSession, *, user_id: str, title: str, description: str | None
) -> TaskRow:
    # One statement: RETURNING brings back the id and timestamps the database filled in.
    inserted = await session.scalars(
        insert(TaskRow)
        .values(user_id=user_id, title=title, description=description)
        .returning(TaskRow)
    )
    return inserted.one()


def _owned(user_id: str, task_id: uuid.UUID) -> tuple[ColumnElement[bool], ...]:
    return (TaskRow.id == task_id, TaskRow.user_id == user_id)


async def get_task(session: AsyncSession, *, user_id: str, task_id: uuid.UUID) -> TaskRow:
    task = await session.scalar(select(TaskRow).where(*_owned(user_id, task_id)))
    if task is None:
        raise NotFound()
    return task


async def update_task(
    session: AsyncSession,
    *,
    user_id: str,
    task_id: uuid.UUID,
    changes: dict[str, Any],
    if_match: list[datetime] | None = None,
) -> TaskRow:
    """Apply ``changes`` (already validated) and move ``updated_at``, the task's version.

    With ``if_match``, the row changes only if its version is one of those: the
    check and the write are one statement, so two writers cannot both pass it.
    """
    task: TaskRow | None = await session.scalar(
        update(TaskRow)
        .where(*_owned(user_id, task_id), *_version_in(if_match))
        .values(**changes, updated_at=func.clock_timestamp())
        .returning(TaskRow)
    )
    if task is None:
        await _raise_missing_or_changed(session, user_id=user_id, task_id=task_id)
    return task


async def toggle_completed(
    session: AsyncSession, *, user_id: str, task_id: uuid.UUID, if_match: list[datetime] | None
) -> TaskRow:
    return await update_task(
        session,
        user_id=user_id,
        task_id=task_id,
        changes={"completed": ~TaskRow.completed},
        if_match=if_match,
    )


async def delete_task(
    session: AsyncSession, *, user_id: str, task_id: uuid.UUID, if_match: list[datetime] | None
) -> None:
    deleted = await session.scalar(
        delete(TaskRow)
        .where(*_owned(user_id, task_id), *_version_in(if_match))
        .returning(TaskRow.id)
    )
    if deleted is None:
        await _raise_missing_or_changed(session, user_id=user_id, task_id=task_id)


def _version_in(if_match: list[datetime] | None) -> tuple[ColumnElement[bool], ...]:
    return () if if_match is None else (TaskRow.updated_at.in_(if_match),)


async def _raise_missing_or_changed(
    session: AsyncSession, *, user_id: str, task_id: uuid.UUID
) -> NoReturn:
    """After a write matched no row: 412 if the task exists (so its version differed), else 404."""
    if await session.scalar(select(exists().where(*_owned(user_id, task_id)))):
        raise PreconditionFailed()
    raise NotFound()
