"""Whether a cluster's server runs: its `postmaster.pid`, PID reuse, and the lock files a
killed server leaves behind."""

import logging
import os
from pathlib import Path

from tandem_stack.pidfiles import ProcessId, is_alive

log = logging.getLogger(__name__)


def _is_postmaster_of(pid: int, data_dir: Path) -> bool:
    if not is_alive(ProcessId(pid, None)):
        return False
    if not Path("/proc/self").exists():
        return True  # no way to tell a reused PID apart here
    try:
        # The postmaster works in its data directory; a reused PID almost never does.
        return Path(os.readlink(f"/proc/{pid}/cwd")) == data_dir
    except PermissionError:
        pass
    except OSError:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"postgres" in cmdline or b"postmaster" in cmdline


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []


def postmaster_pid(data_dir: Path) -> int | None:
    """The PID of the server running on `data_dir` (an absolute, resolved path), or None."""
    lines = _lines(data_dir / "postmaster.pid")
    if not lines or not lines[0].strip().isdigit():
        return None
    pid = int(lines[0])
    return pid if _is_postmaster_of(pid, data_dir) else None


def postmaster_port(data_dir: Path) -> int | None:
    """The port recorded by the running server (line 4 of postmaster.pid)."""
    lines = _lines(data_dir / "postmaster.pid")
    return int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None


def remove_stale_locks(data_dir: Path, socket_dir: Path) -> None:
    """Delete lock files whose server is gone (after a kill -9 or a reboot); left in
    place, they would stop the next start."""
    pidfile = data_dir / "postmaster.pid"
    if pidfile.exists() and postmaster_pid(data_dir) is None:
        log.warning("removing %s: the PostgreSQL that wrote it is not running", pidfile)
        pidfile.unlink(missing_ok=True)
    for lock in socket_dir.glob(".s.PGSQL.*.lock"):
        lines = _lines(lock)
        pid = int(lines[0]) if lines and lines[0].strip().isdigit() else 0
        if pid <= 0 or not _is_postmaster_of(pid, data_dir):
            lock.unlink(missing_ok=True)
