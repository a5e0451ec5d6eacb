"""The real route: GET /api/{user_id}/tasks (first page, 50 items) and POST, at several
concurrency levels, against the API as shipped (uvicorn, one worker)."""

from __future__ import annotations

import json

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

BODY = json.dumps({"title": "A task from the benchmark", "description": None}).encode()


def _label(method: str, connections: int) -> str:
    return f"{method} c={connections}"


def run(ctx: Context) -> BenchResult:
    budget, stack = ctx.budget, ctx.stack
    api = stack.main_api
    probe, writer = stack.population.probe, stack.population.writer
    get = Request(
        f"{api.url}/api/{probe.user_id}/tasks",
        headers={"Authorization": f"Bearer {stack.key.token(probe)}"},
    )
    post = Request(
        f"{api.url}/api/{writer.user_id}/tasks",
        method="POST",
        headers={
            "Authorization": f"Bearer {stack.key.token(writer)}",
            "Content-Type": "application/json",
        },
        body=BODY,
    )
    result = BenchResult(
        "route",
        "The real route: list and create",
        "GET the first page (50 tasks) of one user's list, and POST a new task as another "
        "user (so the list stays the same), one token reused each, at "
        f"{', '.join(str(c) for c in budget.connections)} connections. "
        "All six contenders alternate within each round.",
    )
    contenders = [
        Contender(_label(method, c), request, c)
        for c in budget.connections
        for method, request in (("GET", get), ("POST", post))
    ]
    runs = alternate(contenders, budget=budget, progress=ctx.progress, name="route")
    rates = record_runs(result, runs)
    low, middle, high = budget.connections
    fill_ratio(
        result.add_ratio(f"POST ÷ GET throughput, c={middle}"),
        rates[_label("POST", middle)].values,
        rates[_label("GET", middle)].values,
    )
    fill_ratio(
        result.add_ratio(f"GET throughput, c={middle} ÷ c={low}"),
        rates[_label("GET", middle)].values,
        rates[_label("GET", low)].values,
    )
    for method in ("GET", "POST"):
        label = _label(method, high)
        fill_ratio(
            result.add_ratio(f"{method} p99 ÷ p50, c={high}"),
            [r.p99_ms for r in runs[label]],
            [r.p50_ms for r in runs[label]],
        )
    result.notes.extend(socket_error_note(runs))
    return result


def _steps(budget: Budget) -> int:
    return steps(2 * len(budget.connections), budget)


BENCHMARK = Benchmark("route", _steps, run)
