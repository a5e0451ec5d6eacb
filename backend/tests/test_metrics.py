"""Prometheus metrics on their own listener: scraped for real, each family seen to move.

Each test starts its own app (so its counts start at zero) with ``METRICS_PORT``
on a free port, does the thing a family counts, and scrapes again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from tandem_auth import InvalidToken
from tandem_stack.throwaway import free_port

from tandem.config import Settings
from tandem.db import Database
from tests.conftest import User, make_settings
from tests.support.apps import serving
from tests.support.database import MigratedDatabase
from tests.support.jwks_server import JWKSServer
from tests.support.redis_server import redis_server

TASKS_ROUTE = "/api/{user_id}/tasks"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class Scraper:
    def __init__(self, url: str) -> None:
        self.url = url

    async def samples(self) -> Samples:
        async with httpx.AsyncClient() as http:
            response = await http.get(self.url)
        assert response.status_code == 200
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        }

    async def value(self, name: str, **labels: str) -> float:
        return (await self.samples()).get((name, frozenset(labels.items())), 0.0)


@asynccontextmanager
async def metered(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, Scraper]]:
    port = free_port()
    async with serving(settings.model_copy(update={"metrics_port": port})) as (app, http):
        yield app, http, Scraper(f"http://127.0.0.1:{port}/metrics")


@pytest.fixture
def settings(database: MigratedDatabase, jwks: JWKSServer) -> Settings:
    return make_settings(database, jwks_url=jwks.url)


async def test_metrics_are_off_by_default(settings: Settings) -> None:
    assert settings.metrics_port is None
    async with serving(settings) as (app, _http):
        assert app.state.metrics is None


async def test_metrics_listen_on_loopback_on_their_own_port_not_the_apis(
    settings: Settings, alice: User
) -> None:
    async with metered(settings) as (_app, http, scraper):
        assert scraper.url.startswith("http://127.0.0.1:")
        assert "tandem_http_requests_total" not in (await http.get("/metrics")).text
        assert await scraper.samples()


async def test_requests_are_counted_and_timed_by_route_template_and_status(
    settings: Settings, alice: User
) -> None:
    async with metered(settings) as (_app, http, scraper):
        ok = {"route": TASKS_ROUTE, "method": "GET", "status": "200"}
        before = await scraper.value("tandem_http_requests_total", **ok)
        for _ in range(3):
            assert (await http.get(alice.tasks_url, headers=alice.headers)).status_code == 200
        await http.get("/no/such/path")
        await http.request("BREW", "/health")
        samples = await scraper.samples()

    def value(name: str, **labels: str) -> float:
        return samples.get((name, frozenset(labels.items())), 0.0)

    assert value("tandem_http_requests_total", **ok) == before + 3
    timed = {"route": TASKS_ROUTE, "method": "GET"}
    assert value("tandem_http_request_duration_seconds_count", **timed) == before + 3
    assert value("tandem_http_request_duration_seconds_sum", **timed) > 0
    assert value("tandem_http_requests_total", route="none", method="GET", status="404") == 1
    assert value("tandem_http_requests_total", route="/health", method="other", status="405") == 1
    # Templates only: no label holds a user id or any other raw path.
    labels = {value for _name, pairs in samples for _key, value in pairs}
    assert alice.id not in " ".join(labels)


async def test_auth_outcomes_are_counted_by_reason(settings: Settings, alice: User) -> None:
    async with metered(settings) as (_app, http, scraper):
        await http.get("/api/me", headers=alice.headers)
        await http.get("/api/me", headers=alice.headers)  # from the token cache
        await http.get("/api/me", headers={"Authorization": "Bearer not.a.token"})
        await http.get(f"/api/{'x' * 32}/tasks", headers=alice.headers)
        samples = await scraper.samples()

    def outcome(event: str, reason: str) -> float:
        return samples.get(
            ("tandem_auth_outcomes_total", frozenset({("event", event), ("reason", reason)})), 0
        )

    assert outcome("auth.accepted", "ok") == 2
    assert outcome("auth.rejected", "malformed") == 1
    assert outcome("auth.forbidden", "user_mismatch") == 1


async def test_cache_hits_and_misses_are_counted(settings: Settings, alice: User) -> None:
    async with metered(settings) as (app, http, scraper):
        await app.state.sessions.cache.wait_listening()
        first = await http.get("/api/me", headers=alice.headers)
        after_first = await scraper.samples()
        second = await http.get("/api/me", headers=alice.headers)
        after_second = await scraper.samples()

    def lookups(samples: Samples, cache: str, result: str) -> float:
        return samples[(f"tandem_{cache}_lookups_total", frozenset({("result", result)}))]

    assert first.status_code == second.status_code == 200
    for cache in ("token_cache", "live_session_cache"):
        assert lookups(after_first, cache, "miss") == 1
        assert lookups(after_first, cache, "hit") == 0
        assert lookups(after_second, cache, "miss") == 1
        assert lookups(after_second, cache, "hit") == 1


async def test_the_key_sets_age_grows_until_the_next_fetch(settings: Settings) -> None:
    async with metered(settings) as (app, _http, scraper):
        first = await scraper.value("tandem_jwks_age_seconds")
        await asyncio.sleep(0.2)
        later = await scraper.value("tandem_jwks_age_seconds")
        with pytest.raises(InvalidToken):  # asks for a fetch
            await app.state.verifier.keys.keys_for("a-kid-nobody-published")
        fetched = await scraper.value("tandem_jwks_age_seconds")
        keys = await scraper.value("tandem_jwks_keys")
    assert 0 <= first < later
    assert fetched < later
    assert keys == 1


async def test_pool_use_is_reported(settings: Settings) -> None:
    async with metered(settings) as (app, _http, scraper):
        database: Database = app.state.database
        assert await scraper.value("tandem_db_pool_size") == settings.db_pool_size
        async with database.app_role_transaction():
            in_use = await scraper.value("tandem_db_pool_connections", state="in_use")
        after = await scraper.value("tandem_db_pool_connections", state="in_use")
        idle = await scraper.value("tandem_db_pool_connections", state="idle")
    assert in_use == 1
    assert after == 0
    assert idle >= 1


async def test_rate_limit_rejections_are_counted_by_kind(
    database: MigratedDatabase, jwks: JWKSServer, alice: User
) -> None:
    settings = make_settings(
        database, jwks_url=jwks.url, rate_limit_api="2/minute", trusted_proxies=["127.0.0.1"]
    )
    async with metered(settings) as (_app, http, scraper):
        for n in range(3):  # three addresses: only alice's own count refuses the third
            headers = {**alice.headers, "X-Forwarded-For": f"10.7.0.{n}"}
            await http.get(alice.tasks_url, headers=headers)
        for _ in range(3):  # one address, no token: its count refuses the third
            await http.get("/api/me", headers={"X-Forwarded-For": "10.8.0.1"})
        user = await scraper.value("tandem_rate_limit_rejections_total", kind="user")
        address = await scraper.value("tandem_rate_limit_rejections_total", kind="address")
    assert (user, address) == (1, 1)


async def test_the_redis_fallback_is_reported(
    database: MigratedDatabase, jwks: JWKSServer, alice: User, tmp_path: Path
) -> None:
    with redis_server(tmp_path / "redis") as redis:
        settings = make_settings(database, jwks_url=jwks.url, rate_limit_storage_url=redis.url)
        async with metered(settings) as (_app, http, scraper):
            healthy = await scraper.value("tandem_rate_limit_degraded")
            redis.stop()
            assert (await http.get(alice.tasks_url, headers=alice.headers)).status_code == 200
            degraded = await scraper.value("tandem_rate_limit_degraded")
            outages = await scraper.value("tandem_rate_limit_redis_outages_total")
    assert (healthy, degraded, outages) == (0, 1, 1)
