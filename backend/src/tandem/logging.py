"""JSON logs, one object per line, written off the request path.

Records go through a ``QueueHandler`` so a request never waits on stdout; a
``QueueListener`` thread formats them and writes them in batches, one write
per batch rather than per line. The request id is stamped onto each record
when it is made, before it crosses the queue. JSON encoding escapes CR and
LF, so no value can forge a log line.

Every authenticated request logs an event, so the per-record cost is paid on
every request: the request side does as little as it can (no caller lookup,
no copy of the record), and the listener encodes with orjson
(``bench/README.md`` has the numbers).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import logging.handlers
import queue
import sys
import time
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import orjson

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Attributes every LogRecord has; anything else came from ``extra=`` and is logged.
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        event.update({k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS})
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        return json_line(event)


def json_line(event: Mapping[str, object]) -> str:
    """The event as one line of ASCII JSON.

    ASCII, so that a reader splitting on Unicode line breaks (U+2028, NEL) sees
    one event per line too. orjson writes UTF-8 and is about three times faster
    than ``json``; the rare line that is not ASCII, or that orjson cannot encode
    (an integer beyond 64 bits), is encoded again by ``json`` with escapes.
    """
    with contextlib.suppress(orjson.JSONEncodeError):
        line = orjson.dumps(event, default=str)
        if line.isascii():
            return line.decode("ascii")
    return json.dumps(event, default=str, ensure_ascii=True)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class InPlaceQueueHandler(logging.handlers.QueueHandler):
    """Merges the message into the record itself instead of into a copy.

    The standard ``prepare`` formats and copies every record so that other
    handlers still see the original; the queue is the only handler here, so
    the copy is pure cost. A record with a traceback takes the standard path,
    which renders the traceback before the record crosses to the other thread.
    """

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        if record.exc_info or record.stack_info:
            prepared: logging.LogRecord = super().prepare(record)
            return prepared
        record.message = record.msg = record.getMessage()
        record.args = None
        return record


class LineWriter(logging.Handler):
    """Formats records into lines and writes them in batches.

    ``emit`` only formats; ``flush`` writes everything pending with one write
    and one flush. The listener flushes whenever its queue runs dry, so a line
    waits only while more records are arriving, and never more than
    ``max_pending`` lines.
    """

    def __init__(self, stream: TextIO, *, owns_stream: bool = False, max_pending: int = 256):
        super().__init__()
        self._stream = stream
        self._owns_stream = owns_stream
        self._max_pending = max_pending
        self._pending: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._pending.append(self.format(record))
        except Exception:
            self.handleError(record)
            return
        if len(self._pending) >= self._max_pending:
            self.flush()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]  # Handler.__init__ always creates it
            if not self._pending:
                return
            lines, self._pending = self._pending, []
            try:
                self._stream.write("\n".join(lines) + "\n")
                self._stream.flush()
            except (OSError, ValueError):
                failed = logging.makeLogRecord({"msg": f"{len(lines)} log lines not written"})
                self.handleError(failed)

    def close(self) -> None:
        self.flush()
        if self._owns_stream:
            self._stream.close()
        super().close()


class BatchingListener(logging.handlers.QueueListener):
    """A ``QueueListener`` that works in batches: its handlers write whenever the queue
    runs dry, and it then lingers before waiting for the next record.

    Waking the thread costs the request side far more than queueing a record: the
    woken thread must take the GIL from the event loop. Lingering lets a burst
    collect in the queue, so under load the thread wakes a few times a second
    rather than once per record. The first record after a quiet spell is written
    at once; the rest of a burst within ``linger_seconds``.
    """

    def __init__(
        self,
        records: queue.SimpleQueue[logging.LogRecord],
        *handlers: logging.Handler,
        linger_seconds: float = 0.05,
    ) -> None:
        super().__init__(records, *handlers, respect_handler_level=True)
        self._records = records
        self._linger_seconds = linger_seconds

    def dequeue(self, block: bool) -> logging.LogRecord:
        if block and self._records.empty():
            self._flush_handlers()
            time.sleep(self._linger_seconds)
        record: logging.LogRecord = super().dequeue(block)
        return record

    def stop(self) -> None:
        super().stop()  # handles every queued record, then joins the thread
        self._flush_handlers()

    def _flush_handlers(self) -> None:
        for handler in self.handlers:
            handler.flush()


# Security events: authentication outcomes, key-set refreshes, rate limits. The
# session listener's connection events (tandem_auth.postgres) are operations, not audit.
AUDIT_LOGGERS = frozenset({"tandem_auth", "tandem_auth.jwks", "tandem.audit"})
_listener: BatchingListener | None = None


class _AuditOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name in AUDIT_LOGGERS


class _NoQueryString(logging.Filter):
    """uvicorn's access log writes each path with its query string, where a client may have
    put a token (``?access_token=``, refused with 401 but logged all the same) or private
    search words. The path stays; the query string is replaced by a marker."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn: '%s - "%s %s HTTP/%s" %d' % (client, method, path with query, version, status)
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            path, question, _query = args[2].partition("?")
            if question:
                record.args = (*args[:2], f"{path}?[query omitted]", *args[3:])
        return True


def lean_log_records() -> None:
    """Records skip collecting what the JSON lines never carry (the logging HOWTO,
    "Optimization"): no stack walk to find the caller, no thread or process lookups."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def configure_logging(*, audit_log: Path | None = None, level: int = logging.INFO) -> None:
    """Route every logger (uvicorn's too) through one queue to JSON on stdout.

    Security events (``AUDIT_LOGGERS``) also go to ``audit_log``
    when it is set. Runs once per process; the listener thread flushes at exit, and
    ``flush_logs`` writes what is queued before a signal ends the process.
    """
    global _listener
    if _listener is not None:
        return
    lean_log_records()
    log_queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    queue_handler = InPlaceQueueHandler(log_queue)
    queue_handler.addFilter(_RequestIdFilter())
    formatter = JsonFormatter()
    handlers: list[logging.Handler] = [LineWriter(sys.stdout)]
    if audit_log is not None:
        audit_handler = LineWriter(audit_log.open("a", encoding="utf-8"), owns_stream=True)
        audit_handler.addFilter(_AuditOnly())
        handlers.append(audit_handler)
    for handler in handlers:
        handler.setFormatter(formatter)

    root = logging.getLogger()
    root.handlers[:] = [queue_handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if name == "uvicorn.access" and not logger.handlers and not logger.propagate:
            continue  # ``uvicorn --no-access-log`` turned it off: keep it off
        logger.handlers.clear()
        logger.propagate = True
    # On the logger itself: the queue handler formats a record before it is queued.
    logging.getLogger("uvicorn.access").addFilter(_NoQueryString())
    _listener = BatchingListener(log_queue, *handlers)
    _listener.start()
    atexit.register(_listener.stop)


def flush_logs() -> None:
    """Write every record queued so far, before returning.

    After a shutdown caused by SIGTERM or SIGINT, uvicorn re-raises the signal,
    which ends the process without running ``atexit`` handlers: whatever the
    listener thread has not written yet (the last requests' audit events too)
    would be lost. The lifespan calls this last.
    """
    if _listener is not None:
        _listener.stop()  # drains the queue and joins the thread
        _listener.start()
