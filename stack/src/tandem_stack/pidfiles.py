"""PID files that also record when their process started, so a reused PID is never
mistaken for the process the file names."""

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessId:
    """A process: its PID and its start time in clock ticks since boot (None without /proc)."""

    pid: int
    start_time: str | None


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3 onwards of /proc/<pid>/stat; the command name before them may hold spaces."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def identify(pid: int) -> ProcessId:
    fields = _stat_fields(pid)
    return ProcessId(pid, fields[19] if fields else None)


def is_alive(process: ProcessId) -> bool:
    """True while the process runs and is not a zombie, and its start time still matches."""
    try:
        os.kill(process.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists but belongs to someone else
    fields = _stat_fields(process.pid)
    if fields is None:
        return not Path("/proc/self").exists()  # only trust the kill check where /proc is absent
    if fields[0] in ("Z", "X"):
        return False
    return process.start_time is None or fields[19] == process.start_time


def write_pidfile(path: Path, pid: int, *, exclusive: bool = False) -> None:
    """Record `pid`; with `exclusive`, fail with FileExistsError if the file already exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    process = identify(pid)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    descriptor = os.open(path, flags, 0o644)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(f"{process.pid} {process.start_time or '-'}\n")


def read_pidfile(path: Path) -> ProcessId | None:
    """The process a PID file names, or None if the file is missing or unreadable."""
    try:
        parts = path.read_text(encoding="ascii").split()
        pid = int(parts[0])
    except (OSError, ValueError, IndexError, UnicodeDecodeError):
        return None
    start = parts[1] if len(parts) > 1 and parts[1] != "-" else None
    return ProcessId(pid, start) if pid > 0 else None


def live_process(path: Path) -> ProcessId | None:
    """The process the file names if it still runs, else None."""
    process = read_pidfile(path)
    return process if process is not None and is_alive(process) else None


def remove_pidfile(path: Path, pid: int) -> None:
    """Delete the file if it still names `pid` (another run may have replaced it)."""
    process = read_pidfile(path)
    if process is not None and process.pid == pid:
        path.unlink(missing_ok=True)
