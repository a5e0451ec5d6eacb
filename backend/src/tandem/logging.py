"""JSON logs, one object per line, written off the request path.

Records go through a ``QueueHandler`` so a request never waits on stdout; a
``QueueListener`` thread formats and writes them. The request id is stamped
onto each record when it is made, before it crosses the queue. JSON encoding
escapes CR and LF, so no value can forge a log line.
"""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import queue
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path

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
        return json.dumps(event, default=str, ensure_ascii=True)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


AUDIT_LOGGERS = ("tandem.auth", "tandem.audit")
_listener: logging.handlers.QueueListener | None = None


class _AuditOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.startswith(AUDIT_LOGGERS)


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


def configure_logging(*, audit_log: Path | None = None, level: int = logging.INFO) -> None:
    """Route every logger (uvicorn's too) through one queue to JSON on stdout.

    Security events (``tandem.auth*``, ``tandem.audit``) also go to ``audit_log``
    when it is set. Runs once per process; the listener thread flushes at exit, and
    ``flush_logs`` writes what is queued before a signal ends the process.
    """
    global _listener
    if _listener is not None:
        return
    log_queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    queue_handler = logging.handlers.QueueHandler(log_queue)
    queue_handler.addFilter(_RequestIdFilter())
    formatter = JsonFormatter()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if audit_log is not None:
        audit_handler = logging.FileHandler(audit_log, encoding="utf-8")
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
    _listener = logging.handlers.QueueListener(log_queue, *handlers, respect_handler_level=True)
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
