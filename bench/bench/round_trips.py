"""Round trips: each route's round trips to PostgreSQL counted on the wire, and the list's latency
with the database 1 ms away.

One API process and one control app (bench/control_app.py), both on the main
database through a relay in the harness (bench/bench/relay.py). First the relay
counts: each route is called one request at a time (after two uncounted calls, which
open the connection and prepare the statements), and every chunk a pool connection
sends is one round trip. Then the relay delays every chunk, both ways, by 1 ms, so
each round trip costs 2 ms more, and wrk measures the list one request at a time:
Tandem's, with and without the delay, and the two controls' with it.
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from bench import control_app
from bench.budget import Budget
from bench.context import (
    Benchmark,
    Context,
    fill_difference,
    fill_ratio,
    record_latency,
    socket_error_note,
)
from bench.load import Contender, LoadResult, Request, in_round_order, run_wrk, warm_up
from bench.relay import Relay
from bench.results import BenchResult
from bench.servers import serving

API_NAME = "tandem-api"  # the application_name of the API's pool (tandem/db.py)
DELAY_SECONDS = 0.001
CONNECTIONS = 1
_WARM_CALLS = 2

TANDEM_NEAR = "Tandem list, through the relay, no delay"
TANDEM_FAR = "Tandem list, 1 ms each way"
SAME_SHAPE_FAR = "control, same shape, 1 ms each way"
ONE_STATEMENT_FAR = "control, one statement, 1 ms each way"


@dataclass(frozen=True)
class _Route:
    label: str
    application_name: str
    call: Callable[[httpx.Client, int], httpx.Response]
    """Makes the `n`th request (uncounted set-up first, if any) and returns its response."""
    prepare: Callable[[httpx.Client, int], None] | None = None


def _count(relay: Relay, client: httpx.Client, route: _Route, first: int, requests: int) -> float:
    """Mean round trips per request over `requests` requests, numbered from `first`."""
    total = 0
    for n in range(first, first + requests):
        if route.prepare is not None:
            route.prepare(client, n)
        before = relay.round_trips(route.application_name)
        response = route.call(client, n)
        if response.status_code >= 300:
            raise RuntimeError(f"{route.label}: {response.status_code} {response.text[:200]}")
        total += relay.round_trips(route.application_name) - before
    return total / requests


def run(ctx: Context) -> BenchResult:
    budget, stack = ctx.budget, ctx.stack
    probe = stack.population.probe
    database = stack.main_database
    result = BenchResult(
        "round_trips",
        "Round trips: counted on the wire, and priced with the database 1 ms away",
        "One API process and the control app, both reaching PostgreSQL through a relay in "
        f"the harness. Counted: {budget.counted_requests} requests per route and round, one "
        "at a time, after two uncounted ones; each chunk a pool connection sends is one "
        f"round trip. Priced: the list one request at a time (wrk), the relay delaying every "
        f"chunk by {DELAY_SECONDS * 1000:g} ms each way (2 ms more per round trip), against "
        "the same API through the relay without delay and the two controls with it.",
    )
    with Relay(stack.cluster.owner_url(database)) as relay:
        api = stack.api("api-relay", database=database, database_url=relay.url)
        control = stack.control("control-relay", database=database, database_url=relay.url)
        ctx.progress.status("round trips: starting the API and the control behind the relay")
        with serving(api.server, control.server):
            counts = _count_routes(ctx, relay, api.url, control.url)
            ctx.progress.step("round trips: counted")
            near = {"Authorization": f"Bearer {stack.key.token(probe)}"}
            tasks = f"/api/{probe.user_id}/tasks"
            contenders = {
                TANDEM_NEAR: (
                    Contender(TANDEM_NEAR, Request(api.url + tasks, headers=near), CONNECTIONS),
                    0.0,
                ),
                TANDEM_FAR: (
                    Contender(TANDEM_FAR, Request(api.url + tasks, headers=near), CONNECTIONS),
                    DELAY_SECONDS,
                ),
                SAME_SHAPE_FAR: (
                    Contender(
                        SAME_SHAPE_FAR,
                        Request(f"{control.url}{control_app.SAME_SHAPE}/{probe.user_id}/tasks"),
                        CONNECTIONS,
                    ),
                    DELAY_SECONDS,
                ),
                ONE_STATEMENT_FAR: (
                    Contender(
                        ONE_STATEMENT_FAR,
                        Request(f"{control.url}{control_app.ONE_STATEMENT}/{probe.user_id}/tasks"),
                        CONNECTIONS,
                    ),
                    DELAY_SECONDS,
                ),
            }
            runs: dict[str, list[LoadResult]] = {label: [] for label in contenders}
            for label, (contender, delay) in contenders.items():
                if budget.warmup_seconds:
                    ctx.progress.status(f"round trips: warm-up {label}")
                    relay.delay_seconds = delay
                    warm_up(
                        contender.request, connections=CONNECTIONS, seconds=budget.warmup_seconds
                    )
            for round_index in range(budget.rounds):
                for label in in_round_order(list(contenders), round_index):
                    contender, delay = contenders[label]
                    relay.delay_seconds = delay
                    ctx.progress.status(f"round trips: {label} (round {round_index + 1})")
                    runs[label].append(
                        run_wrk(contender.request, connections=CONNECTIONS, seconds=budget.seconds)
                    )
                    ctx.progress.step(f"round trips: {label} done")
            relay.delay_seconds = 0.0
    group = "Round trips per request (counted on the wire)"
    for label, per_round in counts.items():
        result.add_series(label, "round trips", group).values.extend(per_round)
    for percentile in ("p50", "p99"):
        for label, r in runs.items():
            record_latency(result, label, r, percentile, f"List latency {percentile}")
    added = fill_difference(
        result.add_ratio("Tandem list p50 added by the delay (1 ms each way)", unit="ms"),
        [r.p50_ms for r in runs[TANDEM_FAR]],
        [r.p50_ms for r in runs[TANDEM_NEAR]],
    )
    list_trips = statistics.median(counts[LIST])
    per_trip = result.add_ratio("p50 added per counted round trip of the list", unit="ms")
    per_trip.values.extend(value / list_trips for value in added.values)
    for label, other in (("same-shape", SAME_SHAPE_FAR), ("one-statement", ONE_STATEMENT_FAR)):
        fill_ratio(
            result.add_ratio(f"Tandem list ÷ {label} control, p50 at 1 ms each way"),
            [r.p50_ms for r in runs[TANDEM_FAR]],
            [r.p50_ms for r in runs[other]],
        )
    result.notes.extend(socket_error_note(runs))
    return result


LIST = "GET /api/{user_id}/tasks (list)"


def _count_routes(ctx: Context, relay: Relay, api: str, control: str) -> dict[str, list[float]]:
    """Each route's round trips per request, one value per round."""
    budget, stack = ctx.budget, ctx.stack
    population = stack.population
    probe, writer = population.probe, population.writer
    as_probe = {"Authorization": f"Bearer {stack.key.token(probe)}"}
    as_writer = {"Authorization": f"Bearer {stack.key.token(writer)}"}
    probe_tasks = f"{api}/api/{probe.user_id}/tasks"
    writer_tasks = f"{api}/api/{writer.user_id}/tasks"
    body = {"title": "A task from the round-trip count", "description": None}
    with httpx.Client(trust_env=False, timeout=30) as client:
        first_task = client.get(probe_tasks, headers=as_probe).json()["items"][0]["id"]
        patched = client.post(writer_tasks, headers=as_writer, json=body).json()["id"]
        doomed: dict[int, str] = {}

        def create_doomed(c: httpx.Client, n: int) -> None:
            doomed[n] = c.post(writer_tasks, headers=as_writer, json=body).json()["id"]

        def first_session(c: httpx.Client, n: int) -> httpx.Response:
            # A user this process has not seen: its session is not in the live cache yet.
            who = population.background(n % population.users)
            return c.get(
                f"{api}/api/me", headers={"Authorization": f"Bearer {stack.key.token(who)}"}
            )

        routes = [
            _Route(LIST, API_NAME, lambda c, n: c.get(probe_tasks, headers=as_probe)),
            _Route(
                "GET /api/{user_id}/tasks?q= (search)",
                API_NAME,
                lambda c, n: c.get(probe_tasks, params={"q": "number 1"}, headers=as_probe),
            ),
            _Route(
                "GET /api/{user_id}/tasks/{id}",
                API_NAME,
                lambda c, n: c.get(f"{probe_tasks}/{first_task}", headers=as_probe),
            ),
            _Route(
                "POST /api/{user_id}/tasks",
                API_NAME,
                lambda c, n: c.post(writer_tasks, headers=as_writer, json=body),
            ),
            _Route(
                "POST /api/{user_id}/tasks with Idempotency-Key",
                API_NAME,
                lambda c, n: c.post(
                    writer_tasks,
                    headers={**as_writer, "Idempotency-Key": f"bench-{uuid.uuid4()}"},
                    json=body,
                ),
            ),
            _Route(
                "PATCH /api/{user_id}/tasks/{id}",
                API_NAME,
                lambda c, n: c.patch(
                    f"{writer_tasks}/{patched}", headers=as_writer, json={"completed": n % 2 == 0}
                ),
            ),
            _Route(
                "DELETE /api/{user_id}/tasks/{id}",
                API_NAME,
                lambda c, n: c.delete(f"{writer_tasks}/{doomed.pop(n)}", headers=as_writer),
                prepare=create_doomed,
            ),
            _Route(
                "GET /api/me, live session cached",
                API_NAME,
                lambda c, n: c.get(f"{api}/api/me", headers=as_probe),
            ),
            _Route("GET /api/me, a session's first request", API_NAME, first_session),
            _Route(
                "control: list, same shape",
                control_app.APPLICATION_NAME,
                lambda c, n: c.get(f"{control}{control_app.SAME_SHAPE}/{probe.user_id}/tasks"),
            ),
            _Route(
                "control: list, one statement",
                control_app.APPLICATION_NAME,
                lambda c, n: c.get(f"{control}{control_app.ONE_STATEMENT}/{probe.user_id}/tasks"),
            ),
            _Route(
                "control: create, same shape",
                control_app.APPLICATION_NAME,
                lambda c, n: c.post(
                    f"{control}{control_app.SAME_SHAPE}/{writer.user_id}/tasks", json=body
                ),
            ),
        ]
        counts: dict[str, list[float]] = {route.label: [] for route in routes}
        ctx.progress.status("round trips: counting")
        numbered = 0
        for route in routes:  # connect and prepare, uncounted
            _count(relay, client, route, numbered, _WARM_CALLS)
            numbered += _WARM_CALLS
        for _round in range(budget.rounds):
            for route in routes:
                counts[route.label].append(
                    _count(relay, client, route, numbered, budget.counted_requests)
                )
                numbered += budget.counted_requests
    return counts


def _steps(budget: Budget) -> int:
    return 1 + 4 * budget.rounds


BENCHMARK = Benchmark("round_trips", _steps, run)
