"""Rate limit: µs per counted request, `limits`' async memory storage against Tandem's.

Both count with `limits`' fixed-window strategy in this process, interleaved round by
round, with 10, 1 thousand and 10 thousand other keys live (one key per recent user and
per client address in the API). Each hit yields to the event loop once, as a request
does, so the work `limits`' storage schedules on every hit is measured with it.
"""

from __future__ import annotations

import asyncio
import time

from limits import parse
from limits.aio.storage import Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.storage import storage_from_string
from tandem.window_counters import WindowCounters

from bench.budget import Budget
from bench.context import Benchmark, Context, fill_ratio
from bench.results import BenchResult

LIVE_KEYS = (10, 1_000, 10_000)
LIMIT = parse("100/minute")  # the API's default per-minute limit: keys live a minute
LIMITS = "limits memory storage"
TANDEM = "Tandem WindowCounters"


def _limits_storage() -> Storage:
    storage = storage_from_string("async+memory://")
    assert isinstance(storage, Storage)
    return storage


async def _per_hit_us(limiter: FixedWindowRateLimiter, hits: int) -> float:
    start = time.perf_counter()
    for _ in range(hits):
        await limiter.hit(LIMIT, "user", "probe")
        await asyncio.sleep(0)  # a request's turn of the event loop
    return (time.perf_counter() - start) / hits * 1e6


async def _measure(live: int, *, rounds: int, hits: int) -> dict[str, list[float]]:
    limiters = {
        LIMITS: FixedWindowRateLimiter(_limits_storage()),
        TANDEM: FixedWindowRateLimiter(WindowCounters()),
    }
    for limiter in limiters.values():
        for n in range(live):
            await limiter.hit(LIMIT, "user", f"other-{n}")
    values: dict[str, list[float]] = {name: [] for name in limiters}
    for r in range(rounds):
        order = list(limiters) if r % 2 == 0 else list(reversed(limiters))
        for name in order:
            values[name].append(await _per_hit_us(limiters[name], hits))
    return values


def run(ctx: Context) -> BenchResult:
    budget = ctx.budget
    hits = 200 if budget.smoke else 2000
    result = BenchResult(
        "rate_limit",
        "Rate limit: µs per counted request",
        "`limits`' fixed-window strategy over its own async memory storage and over "
        "Tandem's `WindowCounters`, in-process, with other keys live; "
        f"{budget.verify_rounds} interleaved rounds of {hits} hits, each followed by one "
        "turn of the event loop.",
    )
    for live in LIVE_KEYS:
        ctx.progress.status(f"rate limit: {live:,} live keys")
        values = asyncio.run(_measure(live, rounds=budget.verify_rounds, hits=hits))
        group = f"{live:,} live keys (µs per hit)"
        for name, per_hit in values.items():
            result.add_series(f"{name}, {live:,} keys", "µs", group).values.extend(per_hit)
        fill_ratio(
            result.add_ratio(f"Tandem ÷ limits, {live:,} live keys"),
            values[TANDEM],
            values[LIMITS],
        )
        ctx.progress.step(f"rate limit: {live:,} live keys done")
    return result


def _steps(_budget: Budget) -> int:
    return len(LIVE_KEYS)


BENCHMARK = Benchmark("rate_limit", _steps, run, needs_stack=False)
