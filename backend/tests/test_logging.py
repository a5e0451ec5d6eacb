"""The log pipeline: every event written, in order, in batches, as ASCII JSON lines."""

from __future__ import annotations

import io
import json
import logging
import queue
import time

from tandem.logging import BatchingListener, JsonFormatter, LineWriter


class CountingStream(io.StringIO):
    """A text stream that remembers how many times it was written to."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def record(n: int, **extra: object) -> logging.LogRecord:
    made = logging.makeLogRecord(
        {"name": "tandem.audit", "msg": f"event {n}", "levelno": logging.INFO, **extra}
    )
    made.levelname = "INFO"
    return made


def writer(stream: CountingStream, *, max_pending: int = 256) -> LineWriter:
    handler = LineWriter(stream, max_pending=max_pending)
    handler.setFormatter(JsonFormatter())
    return handler


def test_a_backlog_is_written_whole_in_order_and_in_few_writes() -> None:
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    for n in range(600):
        records.put(record(n))
    stream = CountingStream()
    listener = BatchingListener(records, writer(stream, max_pending=256))

    listener.start()
    listener.stop()

    lines = stream.getvalue().splitlines()
    assert [json.loads(line)["message"] for line in lines] == [f"event {n}" for n in range(600)]
    assert stream.writes == 3  # 256 + 256 + the 88 left when the queue ran dry


def test_a_record_after_a_quiet_spell_is_written_without_waiting_for_more() -> None:
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    stream = CountingStream()
    listener = BatchingListener(records, writer(stream))
    listener.start()
    try:
        records.put(record(1))
        deadline = time.monotonic() + 5
        while not stream.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert json.loads(stream.getvalue())["message"] == "event 1"
    finally:
        listener.stop()


def test_lines_stay_ascii_json_whatever_the_values() -> None:
    stream = CountingStream()
    handler = writer(stream)
    for extra in ({"kid": "caf\u00e9\u2028"}, {"count": 2**70}, {"route": "/api/me"}):
        handler.handle(record(0, **extra))
    handler.flush()

    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert all(line.isascii() for line in lines)
    assert json.loads(lines[0])["kid"] == "caf\u00e9\u2028"
    assert json.loads(lines[1])["count"] == 2**70  # beyond orjson's 64 bits: json's path
