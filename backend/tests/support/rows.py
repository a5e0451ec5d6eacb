"""Arrange and inspect rows as a role that bypasses row-level security.

Tests use these only to set up state the API cannot create (fixed timestamps)
and to check what really reached the table; never to stand in for the API.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def insert_user(engine: AsyncEngine) -> tuple[str, str]:
    """A Better Auth user with a live session; returns ``(user_id, session_id)``."""
    user_id, sid = secrets.token_hex(16), secrets.token_hex(16)
    async with engine.begin() as connection:
        await connection.execute(
            text(
                'INSERT INTO "user" (id, name, email, "emailVerified") '
                "VALUES (:id, 'Test', :email, false)"
            ),
            {"id": user_id, "email": f"{user_id}@example.test"},
        )
        await connection.execute(
            text(
                'INSERT INTO session (id, "expiresAt", token, "updatedAt", "userId") '
                "VALUES (:sid, now() + interval '1 day', :token, now(), :id)"
            ),
            {"sid": sid, "token": secrets.token_hex(16), "id": user_id},
        )
    return user_id, sid


async def insert_task(
    engine: AsyncEngine,
    *,
    user_id: str,
    title: str,
    description: str | None = None,
    completed: bool = False,
    created_at: datetime | None = None,
    updated_at: datetime | None = None,
) -> uuid.UUID:
    """A task row with chosen timestamps (``now()`` when not given)."""
    async with engine.begin() as connection:
        task_id: uuid.UUID = await connection.scalar(
            text(
                "INSERT INTO task (user_id, title, description, completed, created_at, updated_at) "
                "VALUES (:user_id, :title, :description, :completed, "
                "        coalesce(:created_at, now()), coalesce(:updated_at, now())) "
                "RETURNING id"
            ),
            {
                "user_id": user_id,
                "title": title,
                "description": description,
                "completed": completed,
                "created_at": created_at,
                "updated_at": updated_at,
            },
        )
    return task_id


async def task_row(engine: AsyncEngine, task_id: uuid.UUID | str) -> dict[str, Any] | None:
    """Every column of one task, or None when it does not exist."""
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text("SELECT * FROM task WHERE id = :id"), {"id": uuid.UUID(str(task_id))}
            )
        ).one_or_none()
    return None if row is None else dict(row._mapping)


async def task_rows_of(engine: AsyncEngine, user_id: str) -> list[dict[str, Any]]:
    """Every task of one user, oldest first."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT * FROM task WHERE user_id = :user_id ORDER BY created_at, id"),
            {"user_id": user_id},
        )
        return [dict(row._mapping) for row in rows]
