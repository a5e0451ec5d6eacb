"""`python -m bench`: run the benchmarks and write the report.

python -m bench                  # everything; writes bench/results/latest.md and charts
python -m bench --only scale     # one benchmark (repeatable); writes bench/results/tmp/
python -m bench --smoke          # a tiny budget, to prove the code runs; keeps nothing
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from tandem_stack.paths import find_root

from bench import (
    auth_overhead,
    auth_route,
    balancer,
    create_control,
    driver,
    list_control,
    log_event,
    memory,
    metrics,
    proxy,
    rate_limit,
    round_trips,
    route,
    scale,
    search,
    server_stack,
    verify,
    workers,
)
from bench.budget import FULL, SMOKE, Budget
from bench.context import Benchmark, Context
from bench.load import wrk_path
from bench.progress import Progress, ProgressLogHandler
from bench.report import RunInfo, write
from bench.results import BenchResult
from bench.stack import SETUP_STEPS, BenchStack

BENCHMARKS: tuple[Benchmark, ...] = (
    verify.BENCHMARK,
    auth_overhead.BENCHMARK,
    rate_limit.BENCHMARK,
    log_event.BENCHMARK,
    auth_route.BENCHMARK,
    route.BENCHMARK,
    list_control.BENCHMARK,
    create_control.BENCHMARK,
    driver.BENCHMARK,
    workers.BENCHMARK,
    balancer.BENCHMARK,
    server_stack.BENCHMARK,
    scale.BENCHMARK,
    search.BENCHMARK,
    round_trips.BENCHMARK,
    memory.BENCHMARK,
    metrics.BENCHMARK,
    proxy.BENCHMARK,
)

log = logging.getLogger("bench")


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    names = [b.name for b in BENCHMARKS]
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a tiny budget; writes no results")
    parser.add_argument(
        "--only",
        action="append",
        choices=names,
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(names)}",
    )
    parser.add_argument("--rounds", type=int, help="A/B rounds per benchmark")
    parser.add_argument("--output", type=Path, help="where to write the report")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs")
    args = parser.parse_args(argv)
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def _git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def _machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} × {model}, {platform.system()} {platform.release()}"


def _mode(budget: Budget, args: argparse.Namespace) -> str:
    if budget.smoke:
        return "Smoke budget: this run proves the code works; its numbers mean nothing."
    only = f" Only: {', '.join(args.only)}." if args.only else ""
    return (
        f"Full budget: {budget.rounds} rounds of {budget.seconds} s per contender "
        f"(wrk, one thread), after a {budget.warmup_seconds} s warm-up.{only}"
    )


def _raise_interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _output_dir(args: argparse.Namespace, root: Path, scratch: Path) -> Path:
    if args.output is not None:
        return Path(args.output).resolve()
    if args.smoke:
        return scratch / "results"
    return root / "bench" / "results" / ("tmp" if args.only else "")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    budget = (SMOKE if args.smoke else FULL).with_rounds(args.rounds)
    selected = [b for b in BENCHMARKS if not args.only or b.name in args.only]
    root = find_root()
    needs_stack = any(b.needs_stack for b in selected)
    total = sum(b.steps(budget) for b in selected) + (SETUP_STEPS if needs_stack else 0)
    progress = Progress(total)
    logging.basicConfig(level=logging.INFO, handlers=[ProgressLogHandler(progress)], force=True)
    for chatty in ("httpx", "tandem"):  # the verify benchmark runs Tandem's code in-process
        logging.getLogger(chatty).setLevel(logging.WARNING)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_interrupt)  # so that every `finally` runs and stops its process
    if needs_stack:
        wrk_path()
    scratch = Path(tempfile.mkdtemp(prefix="tandem-bench-"))
    log_dir = scratch / "logs"
    log_dir.mkdir()
    started = time.monotonic()
    started_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    results: list[BenchResult] = []
    failed = False
    try:
        with ExitStack() as exits:
            stack = BenchStack(
                budget=budget, root=root, log_dir=log_dir, progress=progress, exits=exits
            )
            ctx = Context(budget=budget, progress=progress, stack=stack, root=root, scratch=scratch)
            for benchmark in selected:
                progress.status(benchmark.name)
                try:
                    results.append(benchmark.run(ctx))
                except Exception as error:
                    failed = True
                    log.exception("%s failed; server logs are in %s", benchmark.name, log_dir)
                    results.append(
                        BenchResult(benchmark.name, benchmark.name, "", skipped=f"failed: {error}")
                    )
            progress.status("stopping the stack")
        dirty = " (with uncommitted changes)" if _git(root, "status", "--porcelain") else ""
        info = RunInfo(
            started=started_at,
            commit=_git(root, "rev-parse", "--short", "HEAD") + dirty,
            machine=_machine(),
            mode=_mode(budget, args),
            wall_seconds=time.monotonic() - started,
        )
        latest = write(results, info, _output_dir(args, root, scratch))
        progress.finish()
        for result in results:
            if result.skipped:
                log.warning("%s: %s", result.name, result.skipped)
        log.info("report: %s (%.0f s)", latest, info.wall_seconds)
    except KeyboardInterrupt:
        progress.finish()
        log.error("interrupted; every process this run started has been stopped")
        return 130
    finally:
        if failed or args.keep_logs:
            log.log(logging.ERROR if failed else logging.INFO, "logs kept in %s", log_dir)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
