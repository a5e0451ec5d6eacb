"""Reading what the stack's children logged: their output and their audit files (AUDIT_LOG)."""

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support.paths import LOGS

Event = dict[str, Any]
_POLL_SECONDS = 0.05


def audit_file(child: str) -> Path:
    return LOGS / f"audit-{child}.jsonl"


def audit_events(child: str) -> list[Event]:
    """Every event in a child's audit file, in order (nothing yet: an empty list)."""
    path = audit_file(child)
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    complete = text[: text.rfind("\n") + 1]  # the API writes in batches: skip a line in progress
    return [json.loads(line) for line in complete.splitlines() if line]


def output_events(child: str) -> list[Event]:
    """The JSON lines of a child's output (`[child] {...}`); other lines are skipped."""
    prefix = f"[{child}] "
    events = []
    for line in (LOGS / f"{child}.log").read_text(encoding="utf-8", errors="replace").splitlines():
        body = line.removeprefix(prefix)
        if body.startswith("{"):
            try:
                events.append(json.loads(body))
            except json.JSONDecodeError:
                continue  # something else's output that happens to start with a brace
    return events


def with_request_id(request_id: str) -> Callable[[Event], bool]:
    return lambda event: event.get("request_id") == request_id


def wait_for_events(
    read: Callable[[], list[Event]], match: Callable[[Event], bool], *, timeout: float = 5.0
) -> list[Event]:
    """The matching events, once there is at least one (the API writes from a queue)."""
    deadline = time.monotonic() + timeout
    while not (found := [event for event in read() if match(event)]):
        if time.monotonic() > deadline:
            raise AssertionError("no matching event was logged")
        time.sleep(_POLL_SECONDS)
    return found
