"""TaskRow queries and changes. Services never commit: the request's transaction does.

Every query also filters by ``user_id`` explicitly; row-level security is the
net under that filter, not a replacement for it.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.errors import NotFound
from tandem.tasks.cursor import decode_cursor, encode_cursor, sort_column
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
    task = TaskRow(user_id=user_id, title=title, description=description)
    session.add(task)
    await session.flush()
    await session.refresh(task)
    return task


async def get_task(session: AsyncSession, *, user_id: str, task_id: uuid.UUID) -> TaskRow:
    task = await session.scalar(
        select(TaskRow).where(TaskRow.id == task_id, TaskRow.user_id == user_id)
    )
    if task is None:
        raise NotFound()
    return task


async def update_task(
    session: AsyncSession, *, user_id: str, task_id: uuid.UUID, changes: dict[str, Any]
) -> TaskRow:
    """Apply ``changes`` (already validated) and bump ``updated_at``."""
    task: TaskRow | None = await session.scalar(
        update(TaskRow)
        .where(TaskRow.id == task_id, TaskRow.user_id == user_id)
        .values(**changes, updated_at=func.now())
        .returning(TaskRow)
    )
    if task is None:
        raise NotFound()
    return task


async def toggle_completed(session: AsyncSession, *, user_id: str, task_id: uuid.UUID) -> TaskRow:
    return await update_task(
        session, user_id=user_id, task_id=task_id, changes={"completed": ~TaskRow.completed}
    )


async def delete_task(session: AsyncSession, *, user_id: str, task_id: uuid.UUID) -> None:
    deleted = await session.scalar(
        delete(TaskRow)
        .where(TaskRow.id == task_id, TaskRow.user_id == user_id)
        .returning(TaskRow.id)
    )
    if deleted is None:
        raise NotFound()
