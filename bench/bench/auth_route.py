"""Auth on the real route: the task list with real authentication against the same route
in the benchmark's own app, where the verifier is replaced through `dependency_overrides`
(bench/bench/override_app.py).

Three instances, one worker each, on one database: the API as shipped; the
benchmark's app with the verifier replaced by a fixed principal; and the benchmark's
app with the verifier overridden by itself. The last is the control: any override
makes FastAPI resolve every dependency again on every request, a cost the shipped
API never pays, so the replaced instance is compared with the control.
"""

from __future__ import annotations

from pathlib import Path

from bench import override_app
from bench.budget import Budget
from bench.context import (
    Benchmark,
    Context,
    fill_ratio,
    record_runs,
    socket_error_note,
)
from bench.load import Contender, Request, alternate, steps
from bench.results import BenchResult, Target
from bench.servers import serving
from bench.stack import Api, BenchStack

SHIPPED = "shipped API (no override)"
CONTROL = "override: the real verifier"
REPLACED = "override: verifier replaced"


def _override_api(stack: BenchStack, database: str, mode: str) -> Api:
    probe = stack.population.probe
    return stack.api(
        f"api-override-{mode}",
        database=database,
        app=f"{override_app.__name__}:create_app",
        app_dir=Path(override_app.__file__).parent.parent,
        extra_env={
            override_app.MODE_VARIABLE: mode,
            override_app.SUB_VARIABLE: probe.user_id,
            override_app.SID_VARIABLE: probe.session_id,
        },
    )


def run(ctx: Context) -> BenchResult:
    budget, stack = ctx.budget, ctx.stack
    shipped = stack.main_api
    probe = stack.population.probe
    control = _override_api(stack, shipped.database, "real")
    replaced = _override_api(stack, shipped.database, "replaced")
    path = f"/api/{probe.user_id}/tasks"
    bearer = {"Authorization": f"Bearer {stack.key.token(probe)}"}
    connections = budget.throughput_connections
    result = BenchResult(
        "auth_route",
        "Auth on the real route: GET /api/{user_id}/tasks",
        f"The first page (50 tasks) under {connections} connections, one token reused, from "
        "three instances of one worker on one database: the API as shipped, and the "
        "benchmark's own app (`bench/override_app.py`) with the verifier dependency "
        "overridden through `dependency_overrides`, either by a fixed principal (verifier "
        "replaced) or by itself (the control). Any override makes FastAPI resolve every "
        "dependency again on every request, so the target compares the two overridden "
        "instances, which differ by the verifier alone.",
    )
    ctx.progress.status("auth on the route: starting the overridden instances")
    with serving(control.server, replaced.server):
        contenders = [
            Contender(label, Request(api.url + path, headers=bearer), connections)
            for label, api in ((SHIPPED, shipped), (CONTROL, control), (REPLACED, replaced))
        ]
        runs = alternate(contenders, budget=budget, progress=ctx.progress, name="auth on route")
    rates = record_runs(result, runs)
    fill_ratio(
        result.add_ratio("real ÷ replaced verifier, both overridden", target=Target(">=", 0.9)),
        rates[CONTROL].values,
        rates[REPLACED].values,
    )
    fill_ratio(
        result.add_ratio("shipped ÷ replaced verifier (override cost on one side only)"),
        rates[SHIPPED].values,
        rates[REPLACED].values,
    )
    fill_ratio(
        result.add_ratio("cost of any override: control ÷ shipped"),
        rates[CONTROL].values,
        rates[SHIPPED].values,
    )
    result.notes.extend(socket_error_note(runs))
    return result


def _steps(budget: Budget) -> int:
    return steps(3, budget)


BENCHMARK = Benchmark("auth_route", _steps, run)
