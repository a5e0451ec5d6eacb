"""Opaque keyset cursors: the last row's sort value and id, tied to one sort order."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import UTC, datetime

from tandem.errors import AppError
from tandem.tasks.schemas import TaskSort, storable_text

SortValue = str | datetime


class InvalidCursor(AppError):
    status_code = 422
    code = "invalid_cursor"
    detail = "The cursor is not valid for this query"


def sort_column(sort: TaskSort) -> str:
    return sort.removeprefix("-")


def encode_cursor(sort: TaskSort, value: SortValue, task_id: uuid.UUID) -> str:
    """The position of the page's last row: its sort value and its id."""
    encoded_value = value.isoformat() if isinstance(value, datetime) else value
    payload = json.dumps([sort, encoded_value, str(task_id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: TaskSort) -> tuple[SortValue, uuid.UUID]:
    """Return the position after which the next page starts; refuse foreign or forged cursors."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, value, task_id = json.loads(raw)
        if cursor_sort != sort or not isinstance(value, str) or not isinstance(task_id, str):
            raise InvalidCursor()
        # The value becomes a bind parameter, so it must be one PostgreSQL accepts.
        position: SortValue = storable_text(value)
        if sort_column(sort) != "title":
            position = datetime.fromisoformat(value)
            if position.tzinfo is None:
                raise InvalidCursor()
            position = position.astimezone(UTC)  # overflows here, not in the driver
        return position, uuid.UUID(task_id)
    except (binascii.Error, ValueError, TypeError, RecursionError, OverflowError) as exc:
        raise InvalidCursor() from exc
