"""The proxy: the latency a browser request adds by going through the Next.js proxy
(session cookie → cached JWT → FastAPI) instead of calling FastAPI directly, and the
throughput left when many requests go through it at once.

A real user signs up through Better Auth. The API instance here trusts Better
Auth's own JWKS, so both sides use the same user, session and kind of token.
"""

from __future__ import annotations

from contextlib import ExitStack

from bench.budget import PAGE_SIZE, Budget
from bench.context import (
    Benchmark,
    Context,
    fill_difference,
    fill_ratio,
    record_latency,
    record_throughput,
    socket_error_note,
)
from bench.load import Contender, Request, alternate, steps
from bench.population import Identity
from bench.results import BenchResult, Target
from bench.servers import base_url, free_port
from bench.web import build, build_problem, sign_up, web_server

CONNECTIONS = 1  # one browser tab: latency, not throughput
LOADED_CONNECTIONS = 32  # many browsers at once: throughput
PROXY = "through the Next.js proxy"
DIRECT = "FastAPI directly"
LOADED = "{label}, {connections} connections"
PERCENTILES = ("p50", "p95", "p99")


def run(ctx: Context) -> BenchResult:
    budget, stack = ctx.budget, ctx.stack
    frontend = ctx.root / "frontend"
    result = BenchResult(
        "proxy",
        "The proxy: browser path against a direct call",
        "`GET /api/tasks` on Next.js with the session cookie and `Origin` (what the browser "
        "sends) against `GET /api/{user_id}/tasks` on FastAPI with a bearer token for the same "
        f"session: the first page ({PAGE_SIZE} tasks), one request at a time for latency and "
        f"{LOADED_CONNECTIONS} connections for throughput. Next.js runs `next start`; the API one "
        "uvicorn worker.",
    )
    problem = build_problem(frontend)
    if problem is not None:
        if budget.smoke or "node_modules" in problem:
            result.skipped = f"{problem}; the smoke run never builds"
            return result
        ctx.progress.status(f"proxy: building the web app ({problem})")
        build(frontend, stack.log_dir)
    database = stack.main_database
    web_port, api_port = free_port(), free_port()
    web_url = base_url(web_port)
    web = web_server(
        frontend,
        port=web_port,
        database_url=stack.cluster.owner_url(database),
        api_url=base_url(api_port),
        log_dir=stack.log_dir,
    )
    with ExitStack() as running:
        ctx.progress.status("proxy: starting Next.js")
        running.enter_context(web)
        user = sign_up(web_url)
        stack.cluster.add_tasks(database, who=Identity(user.user_id, ""), count=2 * PAGE_SIZE)
        # Started after the sign-up, so that Better Auth has made its signing key.
        api = stack.api(
            "api-proxy",
            database=database,
            port=api_port,
            jwks_url=f"{web_url}/api/auth/jwks",
            issuer=web_url,
        )
        ctx.progress.status("proxy: starting the API")
        running.enter_context(api.server)
        requests = {
            PROXY: Request(
                f"{web_url}/api/tasks", headers={"Cookie": user.cookie, "Origin": web_url}
            ),
            DIRECT: Request(
                f"{api.url}/api/{user.user_id}/tasks",
                headers={"Authorization": f"Bearer {user.token}"},
            ),
        }
        runs = alternate(
            [Contender(label, request, CONNECTIONS) for label, request in requests.items()],
            budget=budget,
            progress=ctx.progress,
            name="proxy",
        )
        loaded = alternate(
            [
                Contender(_loaded(label), request, LOADED_CONNECTIONS)
                for label, request in requests.items()
            ],
            budget=budget,
            progress=ctx.progress,
            name="proxy",
        )
    for percentile in PERCENTILES:
        for label, r in runs.items():
            record_latency(result, label, r, percentile)
    for percentile in PERCENTILES:
        target = Target("<", 3.0) if percentile == "p50" else None
        fill_difference(
            result.add_ratio(f"added by the proxy at {percentile}", unit="ms", target=target),
            [getattr(r, f"{percentile}_ms") for r in runs[PROXY]],
            [getattr(r, f"{percentile}_ms") for r in runs[DIRECT]],
        )
    fill_ratio(
        result.add_ratio("proxy ÷ direct at p50"),
        [r.p50_ms for r in runs[PROXY]],
        [r.p50_ms for r in runs[DIRECT]],
    )
    for label, r in loaded.items():
        record_throughput(result, label, r)
    fill_ratio(
        result.add_ratio("throughput, proxy ÷ direct", target=Target(">=", 0.7)),
        [r.rps for r in loaded[_loaded(PROXY)]],
        [r.rps for r in loaded[_loaded(DIRECT)]],
    )
    result.notes.extend(socket_error_note({**runs, **loaded}))
    return result


def _loaded(label: str) -> str:
    return LOADED.format(label=label, connections=LOADED_CONNECTIONS)


def _steps(budget: Budget) -> int:
    return steps(4, budget)


BENCHMARK = Benchmark("proxy", _steps, run)
