"""Create against a control: the real `POST /api/{user_id}/tasks` (no `Idempotency-Key`)
against the same insert on bare asyncpg, in the benchmark's control app.

Two contenders, one worker each, 32 connections, on the main database, both as the
writer (so the probed list never changes): the API as shipped (real authentication,
one token reused, the body validated by Pydantic) and the control doing the API's
transaction (BEGIN, role + `app.user_id` + session check in one statement, one
`INSERT … RETURNING`, COMMIT), answering with orjson. After every run the writer's
tasks are deleted and the table vacuumed, so each run starts from the same table and
the table never grows past one run's inserts.
"""

from __future__ import annotations

import json

from bench import control_app
from bench.budget import Budget
from bench.context import Benchmark, Context, fill_ratio, record_runs, socket_error_note
from bench.load import LoadResult, Request, in_round_order, run_wrk, warm_up
from bench.results import BenchResult, Target
from bench.stack import BenchStack

TANDEM = "Tandem create, real auth"
CONTROL = "control, same shape (4 round trips)"
BODY = json.dumps({"title": "A task from the benchmark", "description": None}).encode()
_JSON = {"Content-Type": "application/json"}


def clear_writer(stack: BenchStack) -> int:
    """Delete the writer's tasks, then vacuum; returns how many there were."""
    database, writer = stack.main_database, stack.population.writer
    count: int = stack.cluster.value(
        database, "SELECT count(*) FROM task WHERE user_id = $1", writer.user_id
    )
    stack.cluster.execute(database, "DELETE FROM task WHERE user_id = $1", writer.user_id)
    stack.cluster.execute(database, "VACUUM task")
    return count


def run(ctx: Context) -> BenchResult:
    budget, stack = ctx.budget, ctx.stack
    api, control = stack.main_api, stack.main_control
    writer = stack.population.writer
    bearer = {"Authorization": f"Bearer {stack.key.token(writer)}"}
    requests = {
        TANDEM: Request(
            f"{api.url}/api/{writer.user_id}/tasks",
            method="POST",
            headers={**bearer, **_JSON},
            body=BODY,
        ),
        CONTROL: Request(
            f"{control.url}{control_app.SAME_SHAPE}/{writer.user_id}/tasks",
            method="POST",
            headers=_JSON,
            body=BODY,
        ),
    }
    connections = budget.throughput_connections
    result = BenchResult(
        "create_control",
        "Create against a control: POST /api/{user_id}/tasks on bare asyncpg",
        f"`POST` a new task (no `Idempotency-Key`) under {connections} connections, one worker "
        "each, as one user: the API as shipped (real authentication, one token reused) and "
        "the benchmark's control app doing the same transaction (BEGIN, role, `app.user_id` "
        "and the session check in one statement, `INSERT … RETURNING`, COMMIT) with orjson. "
        "After every run the user's tasks are deleted and the table vacuumed.",
    )
    ctx.progress.status("create against a control: clearing the writer's tasks")
    clear_writer(stack)
    if budget.warmup_seconds:
        for label, request in requests.items():
            ctx.progress.status(f"create against a control: warm-up {label}")
            warm_up(request, connections=connections, seconds=budget.warmup_seconds)
            clear_writer(stack)
    runs: dict[str, list[LoadResult]] = {label: [] for label in requests}
    inserted = 0
    for round_index in range(budget.rounds):
        for label in in_round_order(list(requests), round_index):
            ctx.progress.status(f"create against a control: {label} (round {round_index + 1})")
            runs[label].append(
                run_wrk(requests[label], connections=connections, seconds=budget.seconds)
            )
            inserted = max(inserted, clear_writer(stack))
            ctx.progress.step(f"create against a control: {label} done")
    rates = record_runs(result, runs)
    fill_ratio(
        result.add_ratio("Tandem create ÷ same-shape control", target=Target(">=", 0.8)),
        rates[TANDEM].values,
        rates[CONTROL].values,
    )
    result.notes.append(f"At most {inserted:,} tasks were inserted by one run before its cleanup.")
    result.notes.extend(socket_error_note(runs))
    return result


def _steps(budget: Budget) -> int:
    return 2 * budget.rounds


BENCHMARK = Benchmark("create_control", _steps, run)
