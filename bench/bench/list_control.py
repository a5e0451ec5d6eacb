"""List against controls: the real `GET /api/{user_id}/tasks` against the same database work
on bare asyncpg, in the benchmark's own FastAPI app (bench/bench/control_app.py).

Three contenders, one worker each, on the main database, 32 connections: the API as
shipped (real authentication, one token reused); the control doing exactly the
transaction the API does (BEGIN, role + `app.user_id` + session check in one
statement, the 50-row page, COMMIT) and answering with orjson; and the control with
one statement (the context set once per connection, no explicit transaction).
Before the first round the three pages are compared, so that the controls are known
to answer what the API answers.
"""

from __future__ import annotations

from typing import Any

import httpx

from bench import control_app
from bench.budget import PAGE_SIZE, Budget
from bench.context import Benchmark, Context, fill_ratio, record_runs, socket_error_note
from bench.load import Contender, Request, alternate, steps
from bench.results import BenchResult, Target

TANDEM = "Tandem list, real auth"
SAME_SHAPE = "control, same shape (4 round trips)"
ONE_STATEMENT = "control, one statement"


def check_same_page(requests: dict[str, Request]) -> None:
    """Every contender answers the same page; raises otherwise."""
    pages: dict[str, Any] = {}
    with httpx.Client(trust_env=False, timeout=30) as client:
        for label, request in requests.items():
            response = client.get(request.url, headers=dict(request.headers))
            response.raise_for_status()
            pages[label] = response.json()
    reference = pages[TANDEM]
    if len(reference["items"]) != PAGE_SIZE:
        raise RuntimeError(f"the API's page has {len(reference['items'])} items, not {PAGE_SIZE}")
    for label, page in pages.items():
        if page != reference:
            raise RuntimeError(f"{label} answers another page than the API")


def run(ctx: Context) -> BenchResult:
    budget, stack = ctx.budget, ctx.stack
    api, control = stack.main_api, stack.main_control
    probe = stack.population.probe
    bearer = {"Authorization": f"Bearer {stack.key.token(probe)}"}
    requests = {
        TANDEM: Request(f"{api.url}/api/{probe.user_id}/tasks", headers=bearer),
        SAME_SHAPE: Request(f"{control.url}{control_app.SAME_SHAPE}/{probe.user_id}/tasks"),
        ONE_STATEMENT: Request(f"{control.url}{control_app.ONE_STATEMENT}/{probe.user_id}/tasks"),
    }
    connections = budget.throughput_connections
    result = BenchResult(
        "list_control",
        "List against controls: GET /api/{user_id}/tasks on bare asyncpg",
        f"The first page (50 tasks) under {connections} connections, one worker each, on one "
        "database: the API as shipped (real authentication, one token reused), and the "
        "benchmark's control app (`bench/control_app.py`: FastAPI, asyncpg, orjson; no auth, "
        "no SQLAlchemy, no Pydantic) doing the same transaction (BEGIN, role, `app.user_id` "
        "and the session check in one statement, the page, COMMIT) or the page as one "
        "statement on a connection whose context was set when it opened. The three answer "
        "the same JSON (checked before the first round).",
    )
    ctx.progress.status("list against controls: comparing the pages")
    check_same_page(requests)
    contenders = [Contender(label, request, connections) for label, request in requests.items()]
    runs = alternate(contenders, budget=budget, progress=ctx.progress, name="list vs controls")
    rates = record_runs(result, runs)
    fill_ratio(
        result.add_ratio("Tandem list ÷ same-shape control", target=Target(">=", 0.8)),
        rates[TANDEM].values,
        rates[SAME_SHAPE].values,
    )
    fill_ratio(
        result.add_ratio("Tandem list ÷ one-statement control (stretch)", target=Target(">=", 0.5)),
        rates[TANDEM].values,
        rates[ONE_STATEMENT].values,
    )
    fill_ratio(
        result.add_ratio("same-shape control ÷ one-statement control"),
        rates[SAME_SHAPE].values,
        rates[ONE_STATEMENT].values,
    )
    result.notes.extend(socket_error_note(runs))
    return result


def _steps(budget: Budget) -> int:
    return steps(3, budget)


BENCHMARK = Benchmark("list_control", _steps, run)
