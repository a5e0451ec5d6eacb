"""A child process: its own process group, its output relayed line by line behind a
`[name] ` prefix, and a stop that leaves none of its processes behind."""

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, BinaryIO

from tandem_stack.errors import ChildFailed
from tandem_stack.pidfiles import remove_pidfile, write_pidfile

DEFAULT_GRACE = 10.0

log = logging.getLogger(__name__)

# One writer at a time, so lines from different children never interleave mid-line.
_OUTPUT_LOCK = threading.Lock()


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in a process group.

    Orphaned zombies are skipped: where PID 1 does not reap them they would otherwise look
    like a group that never stops.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def stop_group(pgid: int, *, grace: float = DEFAULT_GRACE, name: str = "process group") -> None:
    """SIGTERM the whole group, give it `grace` seconds, then SIGKILL what is left."""
    if not group_members(pgid):
        return
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while group_members(pgid):
        if time.monotonic() >= deadline:
            log.warning("%s did not stop within %.0f s; killing it", name, grace)
            _signal_group(pgid, signal.SIGKILL)
            break
        time.sleep(0.05)


class Child:
    """A process started in a new process group, whose output goes to `output` prefixed."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        pidfile: Path | None = None,
        output: BinaryIO | None = None,
        grace: float = DEFAULT_GRACE,
    ) -> None:
        """`grace` is how long `stop` waits after SIGTERM before it sends SIGKILL."""
        self.name = name
        self.argv = list(argv)
        self.cwd = cwd
        self.env = dict(env)
        self.pidfile = pidfile
        self._output = output
        self.grace = grace
        self._process: subprocess.Popen[bytes] | None = None
        self._relay: threading.Thread | None = None

    def start(self) -> None:
        log.debug("starting %s in %s: %s", self.name, self.cwd, " ".join(self.argv))
        try:
            self._process = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                # A group of its own: Ctrl-C reaches only the runner, which stops children
                # in order, and a stop can reach every process the child spawned.
                process_group=0,
            )
        except OSError as error:
            raise ChildFailed(f"could not start {self.name} ({self.argv[0]}): {error}") from error
        if self.pidfile is not None:
            write_pidfile(self.pidfile, self._process.pid)
        if self._process.stdout is not None:
            self._relay = threading.Thread(
                target=self._relay_output,
                args=(self._process.stdout,),
                name=f"relay-{self.name}",
                daemon=True,
            )
            self._relay.start()

    def _relay_output(self, stream: IO[bytes]) -> None:
        output = self._output or sys.stdout.buffer
        prefix = f"[{self.name}] ".encode()
        with stream:  # closed once the child's end is: every process in the group has exited
            for line in iter(stream.readline, b""):
                if not line.endswith(b"\n"):
                    line += b"\n"
                try:
                    with _OUTPUT_LOCK:
                        output.write(prefix + line)
                        output.flush()
                except (OSError, ValueError):
                    pass  # our stdout is gone; keep draining so the child never blocks

    @property
    def pid(self) -> int:
        """The child's process id, which is also its process group's."""
        if self._process is None:
            raise RuntimeError(f"{self.name} has not been started")
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code, or None if the child still runs after `timeout` seconds."""
        if self._process is None:
            raise RuntimeError(f"{self.name} has not been started")
        try:
            return self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> int | None:
        """Stop the child and everything in its process group; returns its exit code."""
        if self._process is None:
            return None
        stop_group(self._process.pid, grace=self.grace, name=self.name)
        code = self._process.wait()
        if self._relay is not None:
            self._relay.join(timeout=2.0)
        if self.pidfile is not None:
            remove_pidfile(self.pidfile, self._process.pid)
        return code
