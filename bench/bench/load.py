"""Load from wrk, bounded in time (-d, and a process timeout) and in requests (the script's cap).

Each contender runs in its own wrk process, one after the other, alternating
A and B round by round so that machine noise falls on both sides alike.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from bench.budget import Budget
from bench.progress import Progress

SCRIPT = Path(__file__).with_name("load.lua")
# Far beyond what one Python process serves: a safety bound, never the binding limit.
MAX_REQUESTS_PER_SECOND = 50_000
_TIMEOUT_MARGIN_SECONDS = 30
_MARKER = "BENCH-RESULT "

log = logging.getLogger("bench.load")
_T = TypeVar("_T")


class LoadError(RuntimeError):
    """wrk failed, or the responses show the set-up is wrong (a status other than 2xx)."""


@dataclass(frozen=True)
class Request:
    url: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    tokens: Path | None = None
    """A file with one token per line: each request sends the next as a bearer token."""


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    socket_errors: int
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


@dataclass(frozen=True)
class Contender:
    label: str
    request: Request
    connections: int


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise LoadError("wrk is not installed (Debian: apt-get install wrk)")
    return path


def run_wrk(
    request: Request, *, connections: int, seconds: int, cap: int | None = None
) -> LoadResult:
    """One wrk run: `connections` connections on one thread for `seconds`, at most `cap`
    responses. Raises LoadError if the cap was reached (the rate would be wrong), if no
    request completed, or if any response was not 2xx."""
    result = _run(request, connections=connections, seconds=seconds, cap=cap, warmup=False)
    assert result is not None
    return result


def warm_up(request: Request, *, connections: int, seconds: int, cap: int | None = None) -> int:
    """An unrecorded run; returns how many responses came back. It may reach its cap, or
    complete nothing (many connections on a busy machine); a response other than 2xx
    still fails. wrk runs for the whole of `seconds` even once the cap stops its thread."""
    result = _run(request, connections=connections, seconds=seconds, cap=cap, warmup=True)
    return 0 if result is None else result.requests


def _run(
    request: Request, *, connections: int, seconds: int, cap: int | None, warmup: bool
) -> LoadResult | None:
    cap = cap or MAX_REQUESTS_PER_SECOND * seconds
    with tempfile.TemporaryDirectory(prefix="tandem-wrk-") as scratch:
        body = "-"
        if request.body is not None:
            body_path = Path(scratch) / "body"
            body_path.write_bytes(request.body)
            body = str(body_path)
        argv = [
            wrk_path(),
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "--latency",
            "-s",
            str(SCRIPT),
            request.url,
            "--",
            str(cap),
            request.method,
            body,
            str(request.tokens) if request.tokens else "-",
            *(f"{name}: {value}" for name, value in request.headers.items()),
        ]
        try:
            finished = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=seconds + _TIMEOUT_MARGIN_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise LoadError(f"wrk did not finish within {exc.timeout:.0f} s") from exc
    return _parse(finished, request=request, cap=cap, warmup=warmup)


def _parse(
    finished: subprocess.CompletedProcess[str], *, request: Request, cap: int, warmup: bool
) -> LoadResult | None:
    line = next((x for x in finished.stdout.splitlines() if x.startswith(_MARKER)), None)
    if finished.returncode != 0 or line is None:
        raise LoadError(
            f"wrk failed (exit {finished.returncode}) on {request.method} {request.url}: "
            f"{(finished.stderr or finished.stdout).strip()[-500:]}"
        )
    raw = json.loads(line.removeprefix(_MARKER))
    where = f"{request.method} {request.url}"
    if raw["bad_statuses"]:
        raise LoadError(
            f"{raw['bad_statuses']} of {raw['requests']} responses to {where} were not 2xx "
            f"(the first was {raw['first_bad_status']})"
        )
    if raw["requests"] == 0 and warmup:
        return None
    if raw["requests"] >= cap and not warmup:
        raise LoadError(f"{where} reached its cap of {cap} requests; raise the cap")
    if raw["requests"] == 0:
        raise LoadError(f"{where} completed no request")
    socket_errors = sum(
        raw[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
    )
    if socket_errors:
        log.warning("%s: %d socket errors or timeouts", where, socket_errors)
    return LoadResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        socket_errors=socket_errors,
        mean_ms=raw["mean_us"] / 1e3,
        p50_ms=raw["p50_us"] / 1e3,
        p90_ms=raw["p90_us"] / 1e3,
        p95_ms=raw["p95_us"] / 1e3,
        p99_ms=raw["p99_us"] / 1e3,
        max_ms=raw["max_us"] / 1e3,
    )


def alternate(
    contenders: Sequence[Contender], *, budget: Budget, progress: Progress, name: str
) -> dict[str, list[LoadResult]]:
    """Warm each contender up once, then run them in turn, round after round.

    Odd rounds run the contenders in reverse (A B, B A, A B, ...), so that a load that
    drifts during the run does not favour whichever side goes first.
    """
    runs: dict[str, list[LoadResult]] = {c.label: [] for c in contenders}
    if budget.warmup_seconds:
        for contender in contenders:
            progress.status(f"{name}: warm-up {contender.label}")
            warm_up(
                contender.request,
                connections=contender.connections,
                seconds=budget.warmup_seconds,
            )
    for round_index in range(budget.rounds):
        for contender in in_round_order(contenders, round_index):
            progress.status(f"{name}: {contender.label} (round {round_index + 1}/{budget.rounds})")
            runs[contender.label].append(
                run_wrk(
                    contender.request, connections=contender.connections, seconds=budget.seconds
                )
            )
            progress.step(f"{name}: {contender.label} done")
    return runs


def in_round_order(items: Sequence[_T], round_index: int) -> list[_T]:
    return list(items if round_index % 2 == 0 else reversed(items))


def steps(contenders: int, budget: Budget) -> int:
    """Progress steps that `alternate` takes."""
    return contenders * budget.rounds
