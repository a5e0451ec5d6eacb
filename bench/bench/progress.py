"""A text progress bar on stderr, and a log handler that writes above it.

On a terminal the bar redraws in place; elsewhere (CI, `make test` logs) each step
is one plain line, so the output stays readable.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

_WIDTH = 28


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s"


class Progress:
    """Counts steps towards an estimated total; the estimate may grow, never the bar past 100%."""

    def __init__(self, total: int, *, stream: TextIO | None = None) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.label = "starting"
        self.started = time.monotonic()
        self._stream = stream or sys.stderr
        self._live = self._stream.isatty()

    def step(self, label: str, count: int = 1) -> None:
        """Mark `count` steps done, and say what runs next."""
        self.done += count
        self.total = max(self.total, self.done)
        self.label = label
        self._draw()

    def status(self, label: str) -> None:
        """Say what runs now without counting a step (shown only on a terminal)."""
        self.label = label
        if self._live:
            self._draw()

    def line(self, text: str) -> None:
        """Write a whole line above the bar."""
        if self._live:
            self._stream.write("\r\033[K")
        self._stream.write(text + "\n")
        if self._live:
            self._draw()
        else:
            self._stream.flush()

    def finish(self) -> None:
        if self._live:
            self._stream.write("\n")
            self._stream.flush()

    def _draw(self) -> None:
        fraction = min(self.done / self.total, 1.0)
        filled = round(fraction * _WIDTH)
        elapsed = time.monotonic() - self.started
        text = (
            f"[{'#' * filled}{'-' * (_WIDTH - filled)}] {fraction:4.0%} "
            f"{_clock(elapsed)}  {self.label}"
        )
        if self._live:
            self._stream.write("\r\033[K" + text[:200])
        else:
            self._stream.write(text + "\n")
        self._stream.flush()


class ProgressLogHandler(logging.Handler):
    """Log records as lines above the bar."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.progress.line(self.format(record))
        except Exception:  # logging must never break the run
            self.handleError(record)
