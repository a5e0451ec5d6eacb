"""``/ready`` is unauthenticated, so it must cost the database almost nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event


@pytest.fixture
def pings(eddsa_app: FastAPI) -> Iterator[list[str]]:
    """Every ``SELECT 1`` the app's engine sends to PostgreSQL."""
    sent: list[str] = []
    engine = eddsa_app.state.database.engine.sync_engine

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.strip() == "SELECT 1":
            sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine, "before_cursor_execute", record)


async def test_a_flood_of_ready_probes_the_database_at_most_once_a_second(
    client: httpx.AsyncClient, pings: list[str]
) -> None:
    await asyncio.sleep(1.05)  # whatever an earlier test left cached has expired
    answers = await asyncio.gather(*(client.get("/ready") for _ in range(200)))
    assert {answer.status_code for answer in answers} == {200}
    assert len(pings) == 1

    await asyncio.sleep(1.05)
    answers = await asyncio.gather(*(client.get("/ready") for _ in range(50)))
    assert {answer.json()["database"] for answer in answers} == {"ok"}
    assert len(pings) == 2
