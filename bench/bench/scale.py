"""Scale: list latency as the task table grows, on the first page and a page deep by cursor.

One database per size, each with the same 10 thousand users and the same probed
user (whose tasks are spread evenly through the heap), and one API process per
database, so the sizes alternate side by side in every round like any other
contenders. The query plans are recorded, as the API's service builds the query.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import ExitStack
from typing import Any, cast

import httpx
from tandem.tasks import service

from bench.budget import PAGE_SIZE, Budget
from bench.context import Benchmark, Context, fill_ratio, record_latency, socket_error_note
from bench.load import Contender, Request, alternate, steps
from bench.results import BenchResult, Target
from bench.stack import Api

CONNECTIONS = 1  # latency of one request at a time: the query's cost, not queueing


def _size(n: int) -> str:
    for bound, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= bound and n % bound == 0:
            return f"{n // bound}{suffix}"
    return str(n)


class _CapturingConnection:
    """Stands in for the request's connection: keeps the statement the service runs."""

    statement: tuple[str, tuple[Any, ...]] = ("", ())

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        self.statement = (sql, args)
        return []


def list_sql(user_id: str, cursor: str | None, q: str | None = None) -> tuple[str, tuple[Any, ...]]:
    """The SQL and arguments `GET /api/{user_id}/tasks` runs for this page (and search)."""
    capture = _CapturingConnection()
    asyncio.run(
        service.list_tasks(
            cast(Any, capture),
            user_id=user_id,
            status="all",
            q=q,
            sort="-created_at",
            limit=PAGE_SIZE,
            cursor=cursor,
        )
    )
    return capture.statement


def cursor_for_page(url: str, token: str, page: int) -> str:
    """Walk the list once, page by page, and return the cursor that opens `page`."""
    cursor: str | None = None
    with httpx.Client(trust_env=False, timeout=30) as client:
        for _ in range(page - 1):
            params = {"cursor": cursor} if cursor else {}
            response = client.get(url, params=params, headers={"Authorization": f"Bearer {token}"})
            response.raise_for_status()
            cursor = response.json()["next_cursor"]
            if cursor is None:
                raise RuntimeError(f"the list at {url} has fewer than {page} pages")
    assert cursor is not None
    return cursor


def run(ctx: Context) -> BenchResult:
    budget, stack = ctx.budget, ctx.stack
    cluster, probe = stack.cluster, stack.population.probe
    result = BenchResult(
        "scale",
        "Scale: list latency against table size",
        f"GET the first page and page {budget.deep_page} (by cursor) of one user's list, "
        f"{PAGE_SIZE} tasks a page, one request at a time, with "
        f"{', '.join(f'{s:,}' for s in budget.scale_sizes)} tasks spread over "
        f"{stack.population.users:,} users. The probed user has {budget.probe_tasks:,} more "
        "tasks of its own in every size, interleaved through the table. Each size has its own "
        "database and API process (one worker); all the contenders alternate in each round.",
    )
    token = stack.key.token(probe)
    bearer = {"Authorization": f"Bearer {token}"}
    plans: list[str] = []
    with ExitStack() as running:
        apis: dict[int, Api] = {}
        for size in budget.scale_sizes:
            cluster.create_database(f"bench_scale_{size}")
            apis[size] = stack.api(f"api-scale-{_size(size)}", database=f"bench_scale_{size}")
            # The APIs boot while the tables fill: neither waits for the other.
            running.callback(apis[size].server.stop)
            apis[size].server.start()
        for size, api in apis.items():
            ctx.progress.status(f"scale: seeding {size:,} tasks")
            started = time.monotonic()
            cluster.seed(
                api.database,
                population=stack.population,
                tasks=size,
                probe_tasks=budget.probe_tasks,
            )
            result.notes.append(f"Seeding {size:,} tasks took {time.monotonic() - started:.0f} s.")
            ctx.progress.step(f"scale: seeded {size:,} tasks")
        ctx.progress.status("scale: waiting for the APIs")
        for api in apis.values():
            api.server.wait_ready()
        first: list[Contender] = []
        deep: list[Contender] = []
        for size, api in apis.items():
            url = f"{api.url}/api/{probe.user_id}/tasks"
            cursor = cursor_for_page(url, token, budget.deep_page)
            first.append(
                Contender(f"{_size(size)} first page", Request(url, headers=bearer), CONNECTIONS)
            )
            deep.append(
                Contender(
                    f"{_size(size)} page {budget.deep_page}",
                    Request(f"{url}?cursor={cursor}", headers=bearer),
                    CONNECTIONS,
                )
            )
            for page, page_cursor in (("first page", None), (f"page {budget.deep_page}", cursor)):
                sql, args = list_sql(probe.user_id, page_cursor)
                plan = cluster.explain(api.database, sql, *args, user_id=probe.user_id)
                plans.append(f"#### {size:,} tasks, {page}\n\n```\n{plan}\n```\n")
        runs = alternate([*first, *deep], budget=budget, progress=ctx.progress, name="scale")
    for percentile in ("p50", "p99"):
        for label, r in runs.items():
            group = "first page" if "first" in label else f"page {budget.deep_page}"
            record_latency(result, label, r, percentile, f"{group}, {percentile}")
    small, large = _size(budget.scale_sizes[0]), _size(budget.scale_sizes[-1])
    for page in ("first page", f"page {budget.deep_page}"):
        fill_ratio(
            result.add_ratio(f"p99 {page}, {large} ÷ {small}", target=Target("<=", 1.5)),
            [r.p99_ms for r in runs[f"{large} {page}"]],
            [r.p99_ms for r in runs[f"{small} {page}"]],
        )
    for page in ("first page", f"page {budget.deep_page}"):
        # The median is steadier than the tail on a shared machine: context for the p99.
        fill_ratio(
            result.add_ratio(f"p50 {page}, {large} ÷ {small}"),
            [r.p50_ms for r in runs[f"{large} {page}"]],
            [r.p50_ms for r in runs[f"{small} {page}"]],
        )
    result.details = (
        "EXPLAIN (ANALYZE, BUFFERS) of the list query the service builds, run as the API "
        "runs it (role `tandem_app`, row-level security on, `app.user_id` set), warm. The API "
        "sends the same query with bind parameters.\n\n" + "\n".join(plans)
    )
    result.notes.extend(socket_error_note(runs))
    return result


def _steps(budget: Budget) -> int:
    return len(budget.scale_sizes) + steps(2 * len(budget.scale_sizes), budget)


BENCHMARK = Benchmark("scale", _steps, run)
