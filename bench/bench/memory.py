"""Memory: the resident size of one API process after many distinct tokens, against its size at
rest after warm-up.

A fresh API process (uvicorn, one worker) on the main database. Warm-up: `/api/me`
with one token and the task list, each for a second, then a pause; its RSS then is
"at rest". Then distinct tokens, each valid (signed with the benchmark's key, for a
user whose session exists) and sent once, to `/api/me` by wrk at 32 connections, in
segments: each segment's tokens are signed, then sent, then the RSS is read. The
stream ends at `memory_tokens` or when `memory_seconds` (signing included) runs out,
whichever comes first; the count sent is reported. After a pause the RSS is read
again: the target is that size ÷ the size at rest.

The tokens cycle through the population's users, so the verified-token cache (a
new entry per token) and the live-session cache (one entry per session) both fill
and then stay at their bounds, if they are bounded.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.budget import Budget
from bench.context import Benchmark, Context, fill_ratio
from bench.load import Request, warm_up
from bench.results import BenchResult, Target

_REST_SECONDS = 2.0
_SEGMENT_SECONDS = 30
_SMOKE_SEGMENT_SECONDS = 3
_FIRST_RATE = 500.0  # distinct tokens per second guessed for the first segment
_MARGIN = 1.3  # tokens signed per segment beyond what the last rate would send


def server_process(pid: int) -> int:
    """The Python process among `pid` (`uv run`) and its descendants: the API itself."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    pending, found = [pid], []
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(children.get(current, []))
    for candidate in found:
        try:
            executable = os.readlink(f"/proc/{candidate}/exe")
        except OSError:
            continue
        if Path(executable).name.startswith("python"):
            return candidate
    raise RuntimeError(f"no Python process under PID {pid}")


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no {field} for PID {pid}")


def rss_mb(pid: int) -> float:
    return _status_mb(pid, "VmRSS")


def run(ctx: Context) -> BenchResult:
    budget, stack = ctx.budget, ctx.stack
    population = stack.population
    connections = budget.throughput_connections
    api = stack.api("api-memory", database=stack.main_database)
    probe = population.probe
    bearer = {"Authorization": f"Bearer {stack.key.token(probe)}"}
    result = BenchResult(
        "memory",
        "Memory: RSS of one API process after distinct tokens",
        "One fresh API process (uvicorn, one worker). RSS at rest: after a warm-up (one "
        "second each of `/api/me` with one token and of the task list, at "
        f"{connections} connections) and a {_REST_SECONDS:.0f} s pause. Then up to "
        f"{budget.memory_tokens:,} distinct valid tokens, each sent once to `/api/me` by wrk "
        f"({connections} connections), for at most {budget.memory_seconds} s including the "
        f"signing, cycling through {population.users:,} users' sessions; RSS after each "
        f"segment, and after a {_REST_SECONDS:.0f} s pause at the end.",
    )
    segment_seconds = _SMOKE_SEGMENT_SECONDS if budget.smoke else _SEGMENT_SECONDS
    ctx.progress.status("memory: starting a fresh API")
    with api.server:
        assert api.server.pid is not None
        pid = server_process(api.server.pid)
        me = f"{api.url}/api/me"
        warm = max(budget.warmup_seconds, 1)
        warm_up(Request(me, headers=bearer), connections=connections, seconds=warm)
        tasks = f"{api.url}/api/{probe.user_id}/tasks"
        warm_up(Request(tasks, headers=bearer), connections=connections, seconds=warm)
        time.sleep(_REST_SECONDS)
        at_rest = rss_mb(pid)
        ctx.progress.step("memory: at rest")
        deadline = time.monotonic() + budget.memory_seconds
        sent, rate = 0, _FIRST_RATE
        checkpoints: list[tuple[int, float]] = []
        path = ctx.scratch / "memory-tokens.txt"
        while sent < budget.memory_tokens and (left := deadline - time.monotonic()) >= 1:
            wanted = budget.memory_tokens - sent
            seconds = max(1, min(segment_seconds, int(left), int(wanted / rate) + 1))
            cap = min(wanted, int(rate * seconds * _MARGIN) + connections)
            ctx.progress.status(f"memory: signing {cap + connections:,} tokens ({sent:,} sent)")
            stack.key.distinct_tokens(population, cap + connections, path)
            seconds = max(1, min(seconds, int(deadline - time.monotonic())))
            ctx.progress.status(f"memory: sending up to {cap:,} tokens ({sent:,} sent)")
            done = warm_up(
                Request(me, tokens=path), connections=connections, seconds=seconds, cap=cap
            )
            sent += done
            rate = max(done / seconds, 50.0)
            checkpoints.append((sent, rss_mb(pid)))
        path.unlink(missing_ok=True)
        ctx.progress.status("memory: at rest again")
        time.sleep(_REST_SECONDS)
        after = rss_mb(pid)
        peak = _status_mb(pid, "VmHWM")
    ctx.progress.step("memory: done")
    group = "RSS (MB)"
    result.add_series("at rest after warm-up", "MB", group).values.append(at_rest)
    step = max(1, len(checkpoints) // 8)
    for count, size in checkpoints[step - 1 :: step]:
        result.add_series(f"after {count:,} distinct tokens", "MB", group).values.append(size)
    result.add_series(f"after all {sent:,} tokens, at rest", "MB", group).values.append(after)
    result.add_series("peak (VmHWM)", "MB", group).values.append(peak)
    fill_ratio(
        result.add_ratio(f"RSS after {sent:,} distinct tokens ÷ at rest", target=Target("<=", 1.5)),
        [after],
        [at_rest],
    )
    ended = (
        f"the time bound ({budget.memory_seconds} s) ended the stream first"
        if sent < budget.memory_tokens
        else "every token was sent"
    )
    result.notes.append(
        f"{sent:,} of {budget.memory_tokens:,} distinct tokens were sent: {ended}. "
        f"RSS {at_rest:.1f} MB at rest, {after:.1f} MB after (peak {peak:.1f} MB). One "
        "process, measured once: the table's min and max are that one value."
    )
    return result


def _steps(_budget: Budget) -> int:
    return 2


BENCHMARK = Benchmark("memory", _steps, run)
