"""Small steps the task tests share: create through the API, check an error's shape."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import User

TASK_FIELDS = {"id", "title", "description", "completed", "created_at", "updated_at"}


async def create_task(
    client: httpx.AsyncClient, user: User, title: str = "a task", **fields: Any
) -> dict[str, Any]:
    """Create a task through the API; fail the test unless it answers 201."""
    response = await client.post(
        user.tasks_url, headers=user.headers, json={"title": title, **fields}
    )
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


def error_body(response: httpx.Response) -> dict[str, Any]:
    """The JSON error body, after checking it has the contract's ``detail`` and ``code``."""
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body: dict[str, Any] = response.json()
    assert isinstance(body.get("detail"), str), body
    assert isinstance(body.get("code"), str), body
    return body
