"""Request and response bodies. Requests are strict: exact types, no unknown fields."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

TaskStatus = Literal["all", "pending", "completed"]
TaskSort = Literal["created_at", "-created_at", "title", "-title", "updated_at", "-updated_at"]


def storable_text(value: str) -> str:
    """PostgreSQL text holds neither NUL nor lone surrogates; refuse them as 422, not 500."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode text") from exc
    return value


def _single_line(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    if any(ch in value for ch in "\r\n"):
        raise ValueError("must be a single line")
    return value


Title = Annotated[
    str,
    Field(min_length=1, max_length=200),
    AfterValidator(storable_text),
    AfterValidator(_single_line),
]
Description = Annotated[str, Field(max_length=2000), AfterValidator(storable_text)]
SearchText = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(storable_text)]


class TaskListQuery(BaseModel):
    """The list's query string, validated as one model: one pass instead of one per
    parameter (bench/README.md, "task routes' dependencies"). Unknown parameters are ignored."""

    status: TaskStatus = "all"
    q: SearchText | None = Field(None, description="Text in the title or description")
    sort: TaskSort = "-created_at"
    limit: int = Field(50, ge=1, le=100)
    cursor: str | None = Field(None, max_length=1024)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class TaskCreate(_Request):
    title: Title
    description: Description | None = None


class TaskReplace(_Request):
    """PUT: every client-settable field, replaced together."""

    title: Title
    description: Description | None
    completed: bool


class TaskPatch(_Request):
    """PATCH: only the fields present change."""

    title: Title | None = None
    description: Description | None = None
    completed: bool | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> TaskPatch:
        if not self.model_fields_set:
            raise ValueError("send at least one of title, description, completed")
        if "title" in self.model_fields_set and self.title is None:
            raise ValueError("title cannot be null")
        if "completed" in self.model_fields_set and self.completed is None:
            raise ValueError("completed cannot be null")
        return self


class Task(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    description: str | None
    completed: bool
    created_at: datetime
    updated_at: datetime


class TaskList(BaseModel):
    items: list[Task]
    next_cursor: str | None
