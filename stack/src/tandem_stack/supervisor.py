"""Runs the stack's services in order, stops them in reverse order, and decides when to
stop: on Ctrl-C, SIGTERM or SIGHUP, or as soon as any service dies, except the services it
restarts (`spawn_restarting`: the cluster's instances), which it starts again with backoff.

It also owns `.data/run/`: a lock file naming the runner (one runner per checkout) and a
PID file per child, so the next runner finds and stops children that a runner killed
outright (kill -9) left behind.
"""

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, BinaryIO, Protocol

from tandem_stack.errors import ChildFailed, ConfigError, Interrupted
from tandem_stack.pidfiles import is_alive, live_process, read_pidfile, write_pidfile
from tandem_stack.processes import DEFAULT_GRACE, Child, group_members, stop_group
from tandem_stack.readiness import http_ok
from tandem_stack.restarts import Backoff, Restarting

RUNNER_PIDFILE = "stack.pid"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_POLL = 0.2

log = logging.getLogger(__name__)

_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


class Service(Protocol):
    """Anything the supervisor keeps running: a child process, the embedded database."""

    @property
    def name(self) -> str: ...

    def alive(self) -> bool: ...

    def stop(self) -> object: ...


class Supervisor:
    """Use as a context manager: leaving it stops every service, in reverse order."""

    def __init__(
        self, run_dir: Path, *, grace: float = DEFAULT_GRACE, output: BinaryIO | None = None
    ) -> None:
        self.run_dir = run_dir
        self.grace = grace
        self.stop_requested = threading.Event()
        self.signal_received: signal.Signals | None = None
        self._output = output
        self._services: list[Service] = []
        self._previous_handlers: dict[signal.Signals, _Handler] = {}

    # -- entering and leaving ------------------------------------------------------------

    def __enter__(self) -> "Supervisor":
        self._claim_run_dir()
        self._install_signal_handlers()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self.shutdown()
        finally:
            self._restore_signal_handlers()
            (self.run_dir / RUNNER_PIDFILE).unlink(missing_ok=True)

    def _claim_run_dir(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        lock = self.run_dir / RUNNER_PIDFILE
        for _ in range(3):
            try:
                write_pidfile(lock, os.getpid(), exclusive=True)
                break
            except FileExistsError:
                if (other := live_process(lock)) is not None:
                    raise ConfigError(
                        f"another stack runner is active (pid {other.pid}); stop it first"
                    ) from None
                lock.unlink(missing_ok=True)
        else:
            raise ConfigError(f"could not claim {lock}")
        for pidfile in sorted(self.run_dir.glob("*.pid")):
            if pidfile != lock:
                self._stop_leftover(pidfile)

    def _stop_leftover(self, pidfile: Path) -> None:
        if (recorded := read_pidfile(pidfile)) is not None:
            members = group_members(recorded.pid)
            # A group whose leader died is still that child's group: the kernel never
            # reuses a PID as long as a process group carries it.
            if is_alive(recorded) or (members and recorded.pid not in members):
                log.warning(
                    "stopping %s (pid %d), left running by an earlier run",
                    pidfile.stem,
                    recorded.pid,
                )
                stop_group(recorded.pid, grace=self.grace, name=pidfile.stem)
        pidfile.unlink(missing_ok=True)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Only record it: the main loop does the stopping, outside the signal handler.
        if self.signal_received is None:
            self.signal_received = signal.Signals(signum)
        self.stop_requested.set()

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may handle signals; the caller handles them
        for sig in STOP_SIGNALS:
            self._previous_handlers[sig] = signal.signal(sig, self._on_signal)

    def _restore_signal_handlers(self) -> None:
        for sig, handler in self._previous_handlers.items():
            signal.signal(sig, handler)
        self._previous_handlers.clear()

    # -- running things ------------------------------------------------------------------

    def check(self) -> None:
        """Raise Interrupted if a stop was requested."""
        if self.stop_requested.is_set():
            raise Interrupted

    def add(self, service: Service) -> None:
        """Keep `service` watched and stop it on shutdown (after everything added later)."""
        self._services.append(service)

    def _child(self, name: str, argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> Child:
        return Child(
            name,
            argv,
            cwd=cwd,
            env=env,
            pidfile=self.run_dir / f"{name}.pid",
            output=self._output,
            grace=self.grace,
        )

    def spawn(self, name: str, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> Child:
        """Start a long-running child, watched until shutdown."""
        self.check()
        child = self._child(name, argv, cwd, env)
        self.add(child)
        child.start()
        return child

    def spawn_restarting(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        backoff: Backoff,
    ) -> Restarting:
        """Start a long-running child that `watch` starts again whenever it exits."""
        self.check()
        service = Restarting(name, lambda: self._child(name, argv, cwd, env), backoff)
        self.add(service)
        service.start()
        return service

    def run_task(
        self, name: str, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]
    ) -> None:
        """Run a child to completion (an install, a build, the migrations); raise
        ChildFailed if it fails, and stop it if the runner is asked to stop."""
        self.check()
        log.info("%s: %s", name, " ".join(argv))
        child = self._child(name, argv, cwd, env)
        child.start()
        try:
            while (code := child.wait(_POLL)) is None:
                self.check()
        finally:
            child.stop()
        if code != 0:
            raise ChildFailed(f"{name} failed (exit code {code})")

    def wait_ready(self, child: Child, url: str, *, timeout: float) -> None:
        """Wait until GET `url` succeeds; fail if the child exits or `timeout` passes."""
        self.wait_for(
            child, url, lambda remaining: http_ok(url, timeout=remaining), timeout=timeout
        )

    def wait_for(
        self, child: Child, what: str, probe: Callable[[float], bool], *, timeout: float
    ) -> None:
        """Wait until `probe(seconds_left)` is true; fail if the child exits or `timeout` passes."""
        log.info("waiting for %s at %s", child.name, what)
        started = time.monotonic()
        while True:
            self.check()
            if not child.alive():
                raise ChildFailed(
                    f"{child.name} exited (code {child.returncode}) before it was ready"
                )
            remaining = timeout - (time.monotonic() - started)
            if remaining <= 0:
                raise ChildFailed(f"{child.name} was not ready within {timeout:.0f} s ({what})")
            if probe(min(5.0, remaining)):
                log.info("%s is ready (%.1f s)", child.name, time.monotonic() - started)
                return
            self.stop_requested.wait(_POLL)

    def watch(self) -> None:
        """Block until a stop is requested; restart what restarts, and raise ChildFailed if
        any other service dies first."""
        while not self.stop_requested.wait(_POLL):
            for service in self._services:
                if isinstance(service, Restarting):
                    service.tend()
                elif not service.alive():
                    code = service.returncode if isinstance(service, Child) else None
                    detail = "" if code is None else f" (exit code {code})"
                    raise ChildFailed(f"{service.name} stopped unexpectedly{detail}")

    def shutdown(self) -> None:
        """Stop every service, the most recently started first."""
        if self.signal_received is not None:
            log.info("received %s; stopping", self.signal_received.name)
        while self._services:
            service = self._services.pop()
            try:
                service.stop()
            except Exception as error:  # one failure must not leave the rest running
                log.error("could not stop %s: %s", service.name, error)
