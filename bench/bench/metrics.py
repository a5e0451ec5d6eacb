"""Metrics: the request path with Prometheus metrics on (``METRICS_PORT``) against off.

Two instances of the API on one database, identical but for ``METRICS_PORT``:
`/api/me` with one token (the cheapest authenticated route, where a fixed cost
per request weighs most) and the list route, 32 connections, alternating. The
issue's budget: metrics on may cost at most 5% of throughput.
"""

from __future__ import annotations

from bench.budget import Budget
from bench.context import Benchmark, Context, fill_ratio, record_runs, socket_error_note
from bench.load import Contender, Request, alternate, steps
from bench.results import BenchResult, Target
from bench.servers import free_port

ROUTES = ("/api/me", "list")


def _label(route: str, on: bool) -> str:
    return f"{route}, metrics {'on' if on else 'off'}"


def run(ctx: Context) -> BenchResult:
    budget, stack = ctx.budget, ctx.stack
    off = stack.main_api
    on = stack.api(
        "api-metrics", database=off.database, extra_env={"METRICS_PORT": str(free_port())}
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
    ctx.progress.status("metrics: starting the instance with metrics on")
    with on.server:
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
    result.notes.extend(socket_error_note(runs))
    return result


def _steps(budget: Budget) -> int:
    return steps(2 * len(ROUTES), budget)


BENCHMARK = Benchmark("metrics", _steps, run)
