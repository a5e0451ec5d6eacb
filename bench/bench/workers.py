"""Workers: one against two uvicorn worker processes on this machine, on the list route."""

from __future__ import annotations

import os

from bench.budget import Budget
from bench.context import (
    Benchmark,
    Context,
    fill_ratio,
    record_runs,
    socket_error_note,
)
from bench.load import Contender, Request, alternate, steps
from bench.results import BenchResult

ONE = "1 worker"
TWO = "2 workers"


def run(ctx: Context) -> BenchResult:
    budget, stack = ctx.budget, ctx.stack
    one = stack.main_api
    two = stack.api("api-2-workers", database=one.database, workers=2)
    probe = stack.population.probe
    path = f"/api/{probe.user_id}/tasks"
    bearer = {"Authorization": f"Bearer {stack.key.token(probe)}"}
    connections = budget.throughput_connections
    result = BenchResult(
        "workers",
        "Workers: 1 against 2 API worker processes",
        f"GET the first page (50 tasks) under {connections} connections from the API with one "
        f"uvicorn worker and from a second instance with two (same database), on a machine "
        f"with {os.cpu_count()} CPUs shared with PostgreSQL and wrk.",
    )
    ctx.progress.status("workers: starting the two-worker instance")
    with two.server:
        contenders = [
            Contender(ONE, Request(one.url + path, headers=bearer), connections),
            Contender(TWO, Request(two.url + path, headers=bearer), connections),
        ]
        runs = alternate(contenders, budget=budget, progress=ctx.progress, name="workers")
    rates = record_runs(result, runs)
    fill_ratio(
        result.add_ratio("2 workers ÷ 1 worker throughput"),
        rates[TWO].values,
        rates[ONE].values,
    )
    result.notes.extend(socket_error_note(runs))
    return result


def _steps(budget: Budget) -> int:
    return steps(2, budget)


BENCHMARK = Benchmark("workers", _steps, run)
