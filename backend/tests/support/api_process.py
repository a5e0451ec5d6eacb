"""The API as a real server process: uvicorn on a free loopback port, stopped by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from tandem_stack.throwaway import free_port

from tests.support.tokens import AUDIENCE, ISSUER

BACKEND_DIR = Path(__file__).resolve().parents[2]


@contextmanager
def api_process(*, database_url: str, jwks_url: str, log_path: Path, **env: str) -> Iterator[str]:
    """Yield the base URL of a running API; SIGTERM it (then SIGKILL) on exit."""
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "JWKS_URL": jwks_url,
        "BETTER_AUTH_URL": ISSUER,
        "JWT_AUDIENCE": AUDIENCE,
        "RATE_LIMIT_API": "1000000/second",
        **env,
    }
    argv = [
        sys.executable, "-m", "uvicorn", "tandem.main:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--timeout-graceful-shutdown", "10",
    ]  # fmt: skip
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            argv, cwd=BACKEND_DIR, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base_url, process)
        yield base_url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(base_url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API exited with {process.returncode} before it was ready")
        try:
            if httpx.get(f"{base_url}/ready", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"the API at {base_url} was not ready within {timeout} s")
