"""Log event: µs per authentication event, on the request's side and on the writer's.

An authenticated request logs one event, so its cost is paid on every request. The
request side makes the record and queues it: the standard library's `QueueHandler`,
set up as usual, against Tandem's (lean records, merged in place). The writer side
encodes the event as a JSON line: the standard library's `json` against Tandem's
`json_line` (orjson). In-process, interleaved round by round.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import queue
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from tandem.logging import InPlaceQueueHandler, json_line, lean_log_records

from bench.budget import Budget
from bench.context import Benchmark, Context, fill_ratio
from bench.results import BenchResult

EXTRA = {
    "event": "auth.accepted",
    "reason": "ok",
    "status": None,
    "sub": "pu000000000000000000000000000000",
    "kid": "bench-key-1",
    "route": "/api/me",
}
LINE = {
    "time": "2026-11-27T12:00:00.000+00:00",
    "level": "info",
    "logger": "tandem_auth",
    "message": "auth.accepted",
    **EXTRA,
    "request_id": "0123456789abcdef0123456789abcdef",
}
STDLIB_QUEUE = "stdlib QueueHandler"
TANDEM_QUEUE = "Tandem queue handler"
STDLIB_JSON = "json.dumps"
TANDEM_JSON = "Tandem json_line (orjson)"
_LOGGER = "bench.log_event"
_REQUEST_SIDE = "Request side (µs per event)"
_WRITER_SIDE = "Writer side (µs per line)"
_GROUPS = {
    STDLIB_QUEUE: _REQUEST_SIDE,
    TANDEM_QUEUE: _REQUEST_SIDE,
    STDLIB_JSON: _WRITER_SIDE,
    TANDEM_JSON: _WRITER_SIDE,
}


@contextmanager
def _record_settings(lean: bool) -> Iterator[None]:
    """The logging module's record settings, lean or as shipped, restored on exit."""
    saved = (logging._srcfile, logging.logThreads, logging.logProcesses)
    saved_multiprocessing = logging.logMultiprocessing
    if lean:
        lean_log_records()
    try:
        yield
    finally:
        logging._srcfile, logging.logThreads, logging.logProcesses = saved
        logging.logMultiprocessing = saved_multiprocessing


def _request_side_us(handler: logging.Handler, *, lean: bool, events: int) -> float:
    logger = logging.getLogger(_LOGGER)
    logger.handlers[:] = [handler]
    with _record_settings(lean):
        start = time.perf_counter()
        for _ in range(events):
            logger.info("auth.accepted", extra=EXTRA)
        return (time.perf_counter() - start) / events * 1e6


def _writer_side_us(encode: Callable[[Mapping[str, object]], str], events: int) -> float:
    start = time.perf_counter()
    for _ in range(events):
        encode(LINE)
    return (time.perf_counter() - start) / events * 1e6


def _stdlib_json(event: Mapping[str, object]) -> str:
    return json.dumps(event, default=str, ensure_ascii=True)


def run(ctx: Context) -> BenchResult:
    budget = ctx.budget
    events = 200 if budget.smoke else 5000
    result = BenchResult(
        "log_event",
        "Log event: µs per authentication event",
        "The request side (make the record, queue it) and the writer side (encode the "
        f"JSON line), standard library against Tandem; {budget.verify_rounds} interleaved "
        f"rounds of {events} events.",
    )
    values: dict[str, list[float]] = {name: [] for name in _GROUPS}
    logger = logging.getLogger(_LOGGER)
    logger.propagate = False  # the events stay in their queues, never in the run's output
    logger.setLevel(logging.INFO)
    ctx.progress.status("log event: measuring")
    for r in range(budget.verify_rounds):
        records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        queue_sides = [
            (STDLIB_QUEUE, logging.handlers.QueueHandler(records), False),
            (TANDEM_QUEUE, InPlaceQueueHandler(records), True),
        ]
        json_sides = [(STDLIB_JSON, _stdlib_json), (TANDEM_JSON, json_line)]
        if r % 2:
            queue_sides.reverse()
            json_sides.reverse()
        for name, handler, lean in queue_sides:
            values[name].append(_request_side_us(handler, lean=lean, events=events))
        for name, encode in json_sides:
            values[name].append(_writer_side_us(encode, events))
    logger.handlers.clear()
    for name, per_event in values.items():
        result.add_series(name, "µs", _GROUPS[name]).values.extend(per_event)
    fill_ratio(
        result.add_ratio("request side: Tandem ÷ stdlib"),
        values[TANDEM_QUEUE],
        values[STDLIB_QUEUE],
    )
    fill_ratio(
        result.add_ratio("writer side: orjson ÷ json"), values[TANDEM_JSON], values[STDLIB_JSON]
    )
    ctx.progress.step("log event: done")
    return result


def _steps(_budget: Budget) -> int:
    return 1


BENCHMARK = Benchmark("log_event", _steps, run, needs_stack=False)
