"""Children that the runner starts again when they die, as systemd or Kubernetes would: after
a pause that doubles with each quick death, so a child that cannot start does not spin.

The rest of the stack keeps serving meanwhile (the load balancer sends nothing to an instance
whose health check fails); one crash does not stop the runner.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from tandem_stack.processes import Child

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """How long to wait before each restart."""

    first: float = 0.5
    ceiling: float = 30.0
    stable_after: float = 30.0
    """A child that ran at least this long starts the next series of waits from `first`."""

    def next_delay(self, previous: float | None, ran_for: float) -> float:
        if previous is None or ran_for >= self.stable_after:
            return self.first
        return min(previous * 2, self.ceiling)


class Restarting:
    """A supervised service made of successive children from `make_child`; it stays up as a
    service (alive) until stopped, however often its child dies."""

    def __init__(self, name: str, make_child: Callable[[], Child], backoff: Backoff) -> None:
        self.name = name
        self._make_child = make_child
        self._backoff = backoff
        self._child = make_child()
        self._started_at = 0.0
        self._delay: float | None = None
        self._restart_at: float | None = None
        self._stopped = False

    @property
    def child(self) -> Child:
        """The current child (it may be dead and waiting for its restart)."""
        return self._child

    def start(self) -> None:
        self._launch()

    def _launch(self) -> None:
        self._started_at = time.monotonic()
        self._child.start()

    def tend(self) -> None:
        """Notice a death and schedule the restart; start the new child once its wait is over."""
        if self._stopped:
            return
        now = time.monotonic()
        if self._restart_at is None:
            if self._child.alive():
                return
            code = self._child.stop()  # reaps it and stops anything left in its group
            self._delay = self._backoff.next_delay(self._delay, now - self._started_at)
            self._restart_at = now + self._delay
            log.warning(
                "%s exited (code %s); restarting it in %.1f s", self.name, code, self._delay
            )
        elif now >= self._restart_at:
            self._restart_at = None
            self._child = self._make_child()
            self._launch()

    def alive(self) -> bool:
        return not self._stopped

    def stop(self) -> int | None:
        self._stopped = True
        return self._child.stop()
