"""Task queries and changes on the request's driver connection. Services never commit:
the request's transaction does.

Every query also filters by ``user_id`` explicitly; row-level security is the
net under that filter, not a replacement for it. Rows come back as the
driver's records; the router turns them into JSON directly, so a row is
validated by the database schema and encoded once.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NoReturn, cast

import asyncpg
from sqlalchemy import (
    ARRAY,
    TIMESTAMP,
    ColumnElement,
    Table,
    Text,
    any_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    not_,
    or_,
    select,
    tuple_,
    update,
)

from tandem.errors import NotFound
from tandem.tasks.cursor import decode_cursor, encode_cursor, sort_column
from tandem.tasks.etag import PreconditionFailed
from tandem.tasks.models import TaskRow
from tandem.tasks.schemas import TaskSort, TaskStatus
from tandem.tasks.statements import Compiled, compile_statement

_LIKE_ESCAPES = str.maketrans({"\\": "\\\\", "%": "\\%", "_": "\\_"})
_TASK = cast(Table, TaskRow.__table__)
# What a task response carries: every column but the owner's id and the folded search text.
TASK_COLUMNS = tuple(column for column in _TASK.c if column.name not in {"user_id", "search_text"})
TASK_FIELDS = tuple(column.name for column in TASK_COLUMNS)
_VERSIONS = bindparam("versions", type_=ARRAY(TIMESTAMP(timezone=True)))
# A client may change these; any other key in ``changes`` is a bug, not input.
_CHANGEABLE = frozenset({"title", "description", "completed"})


def _owned() -> tuple[ColumnElement[bool], ...]:
    return (_TASK.c.id == bindparam("task_id"), _TASK.c.user_id == bindparam("user_id"))


def _version_matches(checked: bool) -> tuple[ColumnElement[bool], ...]:
    return (_TASK.c.updated_at == any_(_VERSIONS),) if checked else ()


@functools.cache
def _list_statement(status: TaskStatus, searched: bool, sort: TaskSort, paged: bool) -> Compiled:
    column = _TASK.c[sort_column(sort)]
    descending = sort.startswith("-")
    query = select(*TASK_COLUMNS).where(_TASK.c.user_id == bindparam("user_id"))
    if status != "all":
        query = query.where(_TASK.c.completed.is_(status == "completed"))
    if searched:
        pattern = bindparam("pattern", type_=Text)
        # A plain LIKE over the stored folded text rules most rows out; the exact ILIKE then
        # runs on the few left. No index can serve either under RLS (migration 0008).
        query = query.where(
            _TASK.c.search_text.like(func.lower(pattern), escape="\\"),
            or_(
                _TASK.c.title.ilike(pattern, escape="\\"),
                _TASK.c.description.ilike(pattern, escape="\\"),
            ),
        )
    if paged:
        position = tuple_(column, _TASK.c.id)
        after = tuple_(bindparam("after_value"), bindparam("after_id"))
        query = query.where(position < after if descending else position > after)
    order = (column.desc(), _TASK.c.id.desc()) if descending else (column.asc(), _TASK.c.id.asc())
    return compile_statement(query.order_by(*order).limit(bindparam("limit")))


async def list_tasks(
    connection: asyncpg.Connection,
    *,
    user_id: str,
    status: TaskStatus,
    q: str | None,
    sort: TaskSort,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[asyncpg.Record], str | None]:
    """One page in ``sort`` order, and the cursor of the next page if there is one."""
    statement = _list_statement(status, q is not None, sort, cursor is not None)
    values: dict[str, Any] = {"user_id": user_id, "limit": limit + 1}
    if q is not None:
        values["pattern"] = f"%{q.translate(_LIKE_ESCAPES)}%"
    if cursor is not None:
        values["after_value"], values["after_id"] = decode_cursor(cursor, sort)
    rows = await connection.fetch(statement.sql, *statement.args(**values))
    if len(rows) > limit:
        last = rows[limit - 1]
        return rows[:limit], encode_cursor(sort, last[sort_column(sort)], last["id"])
    return rows, None


_CREATE = compile_statement(
    insert(_TASK)
    .values(
        user_id=bindparam("user_id"), title=bindparam("title"), description=bindparam("description")
    )
    .returning(*TASK_COLUMNS)
)
_GET = compile_statement(select(*TASK_COLUMNS).where(*_owned()))
_EXISTS = compile_statement(select(exists().where(*_owned())))


async def create_task(
    connection: asyncpg.Connection, *, user_id: str, title: str, description: str | None
) -> asyncpg.Record:
    # One statement: RETURNING brings back the id and timestamps the database filled in.
    row: asyncpg.Record = await connection.fetchrow(
        _CREATE.sql, *_CREATE.args(user_id=user_id, title=title, description=description)
    )
    return row


async def get_task(
    connection: asyncpg.Connection, *, user_id: str, task_id: uuid.UUID
) -> asyncpg.Record:
    task: asyncpg.Record | None = await connection.fetchrow(
        _GET.sql, *_GET.args(user_id=user_id, task_id=task_id)
    )
    if task is None:
        raise NotFound()
    return task


@functools.cache
def _update_statement(fields: frozenset[str], toggles: bool, checked: bool) -> Compiled:
    values: dict[str, Any] = {name: bindparam(name) for name in sorted(fields)}
    if toggles:
        values["completed"] = not_(_TASK.c.completed)
    return compile_statement(
        update(_TASK)
        .where(*_owned(), *_version_matches(checked))
        .values(**values, updated_at=func.clock_timestamp())
        .returning(*TASK_COLUMNS)
    )


async def update_task(
    connection: asyncpg.Connection,
    *,
    user_id: str,
    task_id: uuid.UUID,
    changes: dict[str, Any],
    if_match: list[datetime] | None = None,
) -> asyncpg.Record:
    """Apply ``changes`` (already validated) and move ``updated_at``, the task's version.

    With ``if_match``, the row changes only if its version is one of those: the
    check and the write are one statement, so two writers cannot both pass it.
    """
    assert _CHANGEABLE.issuperset(changes), "only validated fields reach the database"
    statement = _update_statement(frozenset(changes), False, if_match is not None)
    return await _changed(connection, statement, user_id, task_id, if_match, changes)


async def toggle_completed(
    connection: asyncpg.Connection,
    *,
    user_id: str,
    task_id: uuid.UUID,
    if_match: list[datetime] | None,
) -> asyncpg.Record:
    statement = _update_statement(frozenset(), True, if_match is not None)
    return await _changed(connection, statement, user_id, task_id, if_match, {})


async def _changed(
    connection: asyncpg.Connection,
    statement: Compiled,
    user_id: str,
    task_id: uuid.UUID,
    if_match: list[datetime] | None,
    changes: dict[str, Any],
) -> asyncpg.Record:
    values = {**changes, "user_id": user_id, "task_id": task_id, "versions": if_match}
    task: asyncpg.Record | None = await connection.fetchrow(
        statement.sql, *statement.args(**values)
    )
    if task is None:
        await _raise_missing_or_changed(connection, user_id=user_id, task_id=task_id)
    return task


@functools.cache
def _delete_statement(checked: bool) -> Compiled:
    return compile_statement(
        delete(_TASK).where(*_owned(), *_version_matches(checked)).returning(_TASK.c.id)
    )


async def delete_task(
    connection: asyncpg.Connection,
    *,
    user_id: str,
    task_id: uuid.UUID,
    if_match: list[datetime] | None,
) -> None:
    statement = _delete_statement(if_match is not None)
    values = {"user_id": user_id, "task_id": task_id, "versions": if_match}
    if await connection.fetchval(statement.sql, *statement.args(**values)) is None:
        await _raise_missing_or_changed(connection, user_id=user_id, task_id=task_id)


async def _raise_missing_or_changed(
    connection: asyncpg.Connection, *, user_id: str, task_id: uuid.UUID
) -> NoReturn:
    """After a write matched no row: 412 if the task exists (so its version differed), else 404."""
    if await connection.fetchval(_EXISTS.sql, *_EXISTS.args(user_id=user_id, task_id=task_id)):
        raise PreconditionFailed()
    raise NotFound()
