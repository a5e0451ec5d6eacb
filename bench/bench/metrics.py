"""Metrics: the request path with Prometheus metrics on (``METRICS_PORT``) against off.

Two instances of the API on one database, identical but for ``METRICS_PORT``:
`/api/me` with one token (the cheapest authenticated route, where a fixed cost
per request weighs most) and the list route, 32 connections, alternating. The
issue's budget: metrics on may cost at most 5% of throughput.

On two shared cores, round-to-round noise in those throughputs is larger than
the cost measured, so the benchmark also times the cost itself: µs per request
through the whole ASGI app in this process, on `/health` (no database, no
token), metrics on and off, interleaved; and that difference as a share of a
request of each route served over HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from typing import Any

from tandem.config import Settings
from tandem.main import create_app

from bench.budget import Budget
from bench.context import Benchmark, Context, fill_ratio, record_runs, socket_error_note
from bench.load import Contender, Request, alternate, steps
from bench.results import BenchResult, Target
from bench.servers import free_port, serving

ROUTES = ("/api/me", "list")
_HEALTH_SCOPE: dict[str, Any] = {
    "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
    "scheme": "http", "path": "/health", "raw_path": b"/health", "query_string": b"",
    "root_path": "", "headers": [], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
}  # fmt: skip


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(_message: Any) -> None:
    return None


async def _per_request_us(app: Any, requests: int) -> float:
    start = time.perf_counter()
    for _ in range(requests):
        await app(dict(_HEALTH_SCOPE), _receive, _send)
    return (time.perf_counter() - start) / requests * 1e6


def _in_process(ctx: Context, rounds: int, requests: int) -> dict[bool, list[float]]:
    """µs per `/health` request through the app, metrics off and on, rounds interleaved.
    No lifespan runs: `/health` needs neither the database nor the keys."""
    off = Settings(
        database_url="postgresql://bench@127.0.0.1:1/unused",
        jwks_url=ctx.stack.jwks_url,
        rate_limit_api="1000000/second",
    )
    # create_app sends every log record to the API's JSON lines; the benchmark keeps its own.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        apps = {
            False: create_app(off),
            True: create_app(off.model_copy(update={"metrics_port": free_port()})),
        }
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)

    async def measure() -> dict[bool, list[float]]:
        values: dict[bool, list[float]] = {False: [], True: []}
        for metrics in (False, True):
            await _per_request_us(apps[metrics], requests)  # warm-up
        for r in range(rounds):
            for metrics in (False, True) if r % 2 == 0 else (True, False):
                values[metrics].append(await _per_request_us(apps[metrics], requests))
        return values

    return asyncio.run(measure())


def _label(route: str, on: bool) -> str:
    return f"{route}, metrics {'on' if on else 'off'}"


def run(ctx: Context) -> BenchResult:
    budget, stack = ctx.budget, ctx.stack
    # Two fresh instances, started together: neither has served anything before.
    database = stack.main_api.database
    off = stack.api("api-metrics-off", database=database)
    on = stack.api(
        "api-metrics-on", database=database, extra_env={"METRICS_PORT": str(free_port())}
    )
    probe = stack.population.probe
    paths = {"/api/me": "/api/me", "list": f"/api/{probe.user_id}/tasks"}
    bearer = {"Authorization": f"Bearer {stack.key.token(probe)}"}
    connections = budget.throughput_connections
    result = BenchResult(
        "metrics",
        "Metrics: the request path with Prometheus metrics on and off",
        f"`GET /api/me` with one token and `GET` the first page of the list (50 tasks), "
        f"{connections} connections, from two API instances on one database that differ "
        "only in `METRICS_PORT` (requests counted and timed per route, auth outcomes "
        "counted; everything else is read at scrape time). Nothing scrapes during the run.",
    )
    ctx.progress.status("metrics: starting the two instances")
    with serving(off.server, on.server):
        contenders = [
            Contender(
                _label(route, metrics),
                Request((on if metrics else off).url + paths[route], headers=bearer),
                connections,
            )
            for route in ROUTES
            for metrics in (False, True)
        ]
        runs = alternate(contenders, budget=budget, progress=ctx.progress, name="metrics")
    rates = record_runs(result, runs)
    for route in ROUTES:
        fill_ratio(
            result.add_ratio(f"{route}: metrics on ÷ off throughput", target=Target(">=", 0.95)),
            rates[_label(route, True)].values,
            rates[_label(route, False)].values,
        )
    ctx.progress.status("metrics: in-process, /health")
    per_request = _in_process(ctx, budget.verify_rounds, 500 if budget.smoke else 20_000)
    for metrics in (False, True):
        label = f"/health in-process, metrics {'on' if metrics else 'off'}"
        result.add_series(label, "µs", "In-process µs per request").values.extend(
            per_request[metrics]
        )
    added = [on - off for on, off in zip(per_request[True], per_request[False], strict=True)]
    result.add_series("added by metrics", "µs", "In-process µs per request").values.extend(added)
    for route in ROUTES:
        # The added µs as a share (%) of one request of the route over HTTP (1e6 / req/s,
        # metrics off), round by round: the cost the throughput ratio cannot resolve.
        result.add_ratio(f"{route}: added µs ÷ µs per request", unit="%").values.extend(
            statistics.median(added) * rate / 1e4 for rate in rates[_label(route, False)].values
        )
    ctx.progress.step("metrics: in-process done")
    result.notes.extend(socket_error_note(runs))
    return result


def _steps(budget: Budget) -> int:
    return steps(2 * len(ROUTES), budget) + 1


BENCHMARK = Benchmark("metrics", _steps, run)
