"""A real ``redis-server`` (Debian's) for one test: a free port, a temporary directory, its PID.

    with redis_server(tmp_path) as redis:
        redis.url            # redis://127.0.0.1:<port>/0
        redis.stop()         # SIGKILL, as a crash would
        redis.start()        # again, on the same port and with nothing persisted
        redis.pause()        # SIGSTOP: a hung server; redis.resume() continues it

Nothing is saved to disk, so a restarted server has forgotten every counter.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tandem_stack.throwaway import free_port

HOST = "127.0.0.1"
_START_SECONDS = 10.0
_START_ATTEMPTS = 3


class RedisServer:
    def __init__(self, directory: Path, port: int) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is missing: run `make deps-redis`")
        self._binary = binary
        self._directory = directory
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)
        log = (self._directory / "redis.log").open("ab")
        argv = [
            self._binary, "--bind", HOST, "--port", str(self.port), "--dir", str(self._directory),
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
        ]  # fmt: skip
        self._process = subprocess.Popen(argv, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + _START_SECONDS
        while not self.answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start; see {self._directory}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Kill the server by its PID (SIGKILL: no chance to save or say goodbye)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None

    def pause(self) -> None:
        """SIGSTOP: the server keeps its port and accepts connections, but never answers."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def answers(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=0.5) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False


@contextmanager
def redis_server(directory: Path) -> Iterator[RedisServer]:
    """A started server; a port taken by someone else between the choice and the start is
    chosen again."""
    for attempt in range(_START_ATTEMPTS):
        server = RedisServer(directory, free_port())
        try:
            server.start()
            break
        except RuntimeError:
            if attempt == _START_ATTEMPTS - 1:
                raise
    try:
        yield server
    finally:
        server.stop()
