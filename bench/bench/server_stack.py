"""Server stack: the same app under each ASGI server, event loop and HTTP parser on offer.

`/api/me` with one token reused, 32 connections, one worker each, all on one database:
the route where the server's own cost per request weighs most. The shipped stack
(uvicorn with uvloop and httptools, as `uvicorn[standard]` installs it) against uvicorn
on asyncio's own loop, uvicorn with the pure-Python h11 parser, and Granian (a server
written in Rust) on uvloop. Granian runs from the benchmark's own environment, the only
one that installs it; the others from the back end's. The choices and their numbers
are recorded in `bench/README.md`.
"""

from __future__ import annotations

from bench.budget import Budget
from bench.context import Benchmark, Context, fill_ratio, record_runs, socket_error_note
from bench.load import Contender, Request, alternate, steps
from bench.results import BenchResult
from bench.servers import LOCALHOST, serving
from bench.stack import APP

SHIPPED = "uvicorn, uvloop, httptools (shipped)"
ASYNCIO = "uvicorn, asyncio loop, httptools"
H11 = "uvicorn, uvloop, h11"
GRANIAN = "granian, uvloop"


def run(ctx: Context) -> BenchResult:
    budget, stack = ctx.budget, ctx.stack
    shipped = stack.main_api
    bench_project = str(ctx.root / "bench")

    def granian(port: int) -> list[str]:
        return [
            "uv", "run", "--project", bench_project, "--frozen",
            "granian", "--interface", "asgi", "--factory", "--loop", "uvloop",
            "--host", LOCALHOST, "--port", str(port), "--workers", "1", APP,
        ]  # fmt: skip

    others = {
        ASYNCIO: stack.api(
            "api-asyncio", database=shipped.database, server_args=["--loop", "asyncio"]
        ),
        H11: stack.api("api-h11", database=shipped.database, server_args=["--http", "h11"]),
        GRANIAN: stack.api("api-granian", database=shipped.database, command=granian),
    }
    probe = stack.population.probe
    bearer = {"Authorization": f"Bearer {stack.key.token(probe)}"}
    connections = budget.throughput_connections
    result = BenchResult(
        "server_stack",
        "Server stack: ASGI server, event loop and HTTP parser",
        f"`GET /api/me` with one token reused under {connections} connections, one worker per "
        "server, on one database: uvicorn as shipped (uvloop, httptools), uvicorn on asyncio's "
        "own loop, uvicorn with the h11 parser, and Granian on uvloop.",
    )
    ctx.progress.status("server stack: starting the other servers")
    with serving(*(api.server for api in others.values())):
        apis = {SHIPPED: shipped, **others}
        contenders = [
            Contender(label, Request(f"{api.url}/api/me", headers=bearer), connections)
            for label, api in apis.items()
        ]
        runs = alternate(contenders, budget=budget, progress=ctx.progress, name="server stack")
    rates = record_runs(result, runs)
    for label in others:
        fill_ratio(
            result.add_ratio(f"{label} ÷ shipped"), rates[label].values, rates[SHIPPED].values
        )
    result.notes.extend(socket_error_note(runs))
    return result


def _steps(budget: Budget) -> int:
    return steps(4, budget)


BENCHMARK = Benchmark("server_stack", _steps, run)
