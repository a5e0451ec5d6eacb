"""Server processes under test: each in its own process group, output to a log file, and
stopped by its PID (the whole group) however the run ends.

Output goes straight to a file rather than through a pipe that this process would
have to drain: on two cores, relaying the API's log lines would steal CPU from it.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import TracebackType

from tandem_stack.processes import stop_group
from tandem_stack.readiness import LOCALHOST, http_ok
from tandem_stack.throwaway import free_port

_STOP_GRACE_SECONDS = 10.0
_POLL_SECONDS = 0.1

log = logging.getLogger("bench.servers")

# Settings of Tandem's processes (DESIGN.md §3 and the API's Settings): none may leak
# in from the caller's shell, since each server gets exactly the values the benchmark sets.
_TANDEM_VARIABLES = (
    "DATABASE_URL",
    "API_DATABASE_URL",
    "BETTER_AUTH_URL",
    "BETTER_AUTH_SECRET",
    "BETTER_AUTH_SECRETS",
    "JWKS_URL",
    "API_URL",
    "WEB_PORT",
    "API_PORT",
    "TRUSTED_PROXIES",
    "TRUSTED_ORIGINS",
    "MAX_BODY_BYTES",
    "VIRTUAL_ENV",
)
_TANDEM_PREFIXES = ("JWT_", "RATE_LIMIT_", "DB_")


class ServerFailed(RuntimeError):
    pass


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any Tandem setting, plus `settings`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _TANDEM_VARIABLES and not k.startswith(_TANDEM_PREFIXES)
    }
    env.update(settings)
    env["PYTHONUNBUFFERED"] = "1"
    env["NEXT_TELEMETRY_DISABLED"] = "1"
    return env


class Server:
    """One long-running child; use as a context manager, or call start/wait_ready/stop."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        log_dir: Path,
        ready_url: str,
        ready_timeout: float = 90.0,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.cwd = cwd
        self.env = dict(env)
        self.log_path = log_dir / f"{name}.log"
        self.ready_url = ready_url
        self.ready_timeout = ready_timeout
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log.debug("starting %s: %s", self.name, " ".join(self.argv))
        with self.log_path.open("ab") as output:
            self._process = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                process_group=0,  # Ctrl-C reaches only the harness, which stops us in order
            )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while not http_ok(self.ready_url, timeout=2.0):
            if self._process is None or self._process.poll() is not None:
                raise ServerFailed(f"{self.name} exited before it was ready\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise ServerFailed(
                    f"{self.name} was not ready within {self.ready_timeout:.0f} s "
                    f"({self.ready_url})\n{self.log_tail()}"
                )
            time.sleep(_POLL_SECONDS)

    @property
    def pid(self) -> int | None:
        """The PID of the process started (`uv run`, whose child is the server), or None."""
        return None if self._process is None else self._process.pid

    def stop(self) -> None:
        if self._process is None:
            return
        stop_group(self._process.pid, grace=_STOP_GRACE_SECONDS, name=self.name)
        self._process.wait()
        self._process = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return f"(no log at {self.log_path})"
        return "\n".join(f"  [{self.name}] {line}" for line in text.splitlines()[-lines:])

    def __enter__(self) -> Server:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


@contextmanager
def serving(*servers: Server) -> Iterator[None]:
    """Start the servers together (they boot in parallel), wait for each, stop all on exit."""
    with ExitStack() as running:
        for server in servers:
            running.callback(server.stop)
            server.start()
        for server in servers:
            server.wait_ready()
        yield


def base_url(port: int) -> str:
    return f"http://{LOCALHOST}:{port}"


__all__ = ["LOCALHOST", "Server", "ServerFailed", "base_url", "clean_env", "free_port", "serving"]
