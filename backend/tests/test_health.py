"""``/ready`` is unauthenticated, so it must cost the database almost nothing."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI

from tandem.health import ReadinessProbe


async def test_a_flood_of_readiness_checks_probes_the_database_at_most_once_a_second(
    eddsa_app: FastAPI,
) -> None:
    probes = 0
    ping = eddsa_app.state.database.ping  # the real probe, against the real database

    async def counted_ping() -> None:
        nonlocal probes
        probes += 1
        await ping()

    readiness = ReadinessProbe(counted_ping)
    assert all(await asyncio.gather(*(readiness.database_ok() for _ in range(200))))
    assert probes == 1

    await asyncio.sleep(1.05)
    assert all(await asyncio.gather(*(readiness.database_ok() for _ in range(50))))
    assert probes == 2


async def test_the_ready_route_answers_from_the_shared_probe(client: httpx.AsyncClient) -> None:
    answers = await asyncio.gather(*(client.get("/ready") for _ in range(100)))
    assert {answer.status_code for answer in answers} == {200}
    assert {answer.json()["database"] for answer in answers} == {"ok"}
