"""What every benchmark receives, what it declares, and the helpers that turn wrk runs
into the report's series."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.budget import Budget
from bench.load import LoadResult
from bench.progress import Progress
from bench.results import BenchResult, Ratio, Series
from bench.stack import BenchStack


@dataclass
class Context:
    budget: Budget
    progress: Progress
    stack: BenchStack
    root: Path
    """The repository root."""
    scratch: Path
    """A directory for this run's temporary files (token lists, logs)."""


@dataclass(frozen=True)
class Benchmark:
    name: str
    steps: Callable[[Budget], int]
    """Progress steps the benchmark takes (an estimate for the bar)."""
    run: Callable[[Context], BenchResult]
    needs_stack: bool = True


def record_throughput(
    result: BenchResult, label: str, runs: Sequence[LoadResult], group: str = "Throughput"
) -> Series:
    series = result.add_series(label, "req/s", group)
    series.values.extend(run.rps for run in runs)
    return series


def record_latency(
    result: BenchResult,
    label: str,
    runs: Sequence[LoadResult],
    percentile: str,
    group: str | None = None,
) -> Series:
    """`percentile` is a LoadResult field prefix: p50, p90, p95 or p99."""
    series = result.add_series(label, "ms", group or f"Latency {percentile}")
    series.values.extend(getattr(run, f"{percentile}_ms") for run in runs)
    return series


def record_runs(
    result: BenchResult,
    runs: Mapping[str, Sequence[LoadResult]],
    percentiles: Sequence[str] = ("p50", "p99"),
) -> dict[str, Series]:
    """Every contender's throughput, then its latency at each percentile; the throughputs."""
    rates = {label: record_throughput(result, label, r) for label, r in runs.items()}
    for percentile in percentiles:
        for label, r in runs.items():
            record_latency(result, label, r, percentile)
    return rates


def fill_ratio(ratio: Ratio, numerators: Sequence[float], denominators: Sequence[float]) -> Ratio:
    """Round r's ratio is numerators[r] / denominators[r]: both sides from the same round."""
    ratio.values.extend(n / d for n, d in zip(numerators, denominators, strict=True))
    return ratio


def fill_difference(ratio: Ratio, minuends: Sequence[float], subtrahends: Sequence[float]) -> Ratio:
    ratio.values.extend(a - b for a, b in zip(minuends, subtrahends, strict=True))
    return ratio


def socket_error_note(runs: dict[str, list[LoadResult]]) -> list[str]:
    return [
        f"{label}: {errors} socket errors or timeouts over all rounds"
        for label, results in runs.items()
        if (errors := sum(r.socket_errors for r in results))
    ]
