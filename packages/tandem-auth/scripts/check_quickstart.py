"""Run the README's quickstart, unchanged, from the installed wheel, and check what it answers.

Runs in a fresh virtual environment that holds only the wheel, FastAPI and
uvicorn (``make test-wheel`` makes it). It starts a local key server on
127.0.0.1, serves the README's first Python block with ``uvicorn app:app``,
and checks three answers: a valid token (200), a forged one (401), and a key
server outage (503). It also checks that the wheel brought in no database
packages. Exits non-zero, with the reason, on the first failure.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

README = Path(__file__).resolve().parent.parent / "README.md"
AUDIENCE = "quickstart-api"
KID = "quickstart-key"
FORBIDDEN_DISTRIBUTIONS = ("sqlalchemy", "asyncpg", "alembic", "psycopg", "psycopg2")


def quickstart_module() -> str:
    """The README's first Python code block."""
    match = re.search(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    if match is None:
        sys.exit(f"no Python code block in {README}")
    return match.group(1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def key_server(jwk: dict[str, Any], port: int) -> Iterator[None]:
    """Better Auth's JWKS endpoint, at the path Better Auth serves it on."""
    body = json.dumps({"keys": [jwk]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = 200 if self.path == "/api/auth/jwks" else 404
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def quickstart(app_dir: Path, *, issuer: str) -> Iterator[str]:
    """``uvicorn app:app`` from the README, configured only by the environment."""
    port = free_port()
    env = {**os.environ, "BETTER_AUTH_URL": issuer, "JWT_AUDIENCE": AUDIENCE}
    process = subprocess.Popen(  # noqa: S603  # this interpreter, fixed arguments
        [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=app_dir,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                sys.exit(f"uvicorn app:app exited with {process.returncode}")
            with contextlib.suppress(httpx.TransportError):
                httpx.get(f"{url}/docs", timeout=1)
                break
            if time.monotonic() > deadline:
                sys.exit("uvicorn app:app did not start within 30 s")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def token(key: Ed25519PrivateKey, issuer: str) -> str:
    now = int(time.time())
    claims = {"sub": "user-42", "sid": "session-7", "iat": now, "exp": now + 900}
    return jwt.encode(
        {**claims, "iss": issuer, "aud": AUDIENCE}, key, algorithm="EdDSA", headers={"kid": KID}
    )


def expect(response: httpx.Response, status: int, what: str) -> None:
    if response.status_code != status:
        sys.exit(f"{what}: expected {status}, got {response.status_code} {response.text}")
    print(f"ok  {what}: {status}")  # noqa: T201  # this script's report


def main() -> None:
    installed = {d.metadata["Name"].lower() for d in importlib.metadata.distributions()}
    if pulled_in := sorted(installed.intersection(FORBIDDEN_DISTRIBUTIONS)):
        sys.exit(f"the wheel pulled in database packages: {pulled_in}")
    key, attacker = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    jwk = {**OKPAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": KID, "alg": "EdDSA"}
    keys_port = free_port()
    issuer = f"http://127.0.0.1:{keys_port}"
    with tempfile.TemporaryDirectory() as app_dir:
        (Path(app_dir) / "app.py").write_text(quickstart_module(), encoding="utf-8")
        with key_server(jwk, keys_port), quickstart(Path(app_dir), issuer=issuer) as url:
            valid = httpx.get(
                f"{url}/me", headers={"Authorization": f"Bearer {token(key, issuer)}"}
            )
            expect(valid, 200, "a valid token")
            if valid.json() != {"user_id": "user-42"}:
                sys.exit(f"a valid token: unexpected body {valid.text}")
            forged = token(attacker, issuer)  # the right kid, the wrong key
            expect(
                httpx.get(f"{url}/me", headers={"Authorization": f"Bearer {forged}"}),
                401,
                "a forged token",
            )
        # The key server is down now, and a new process has no key cached.
        with quickstart(Path(app_dir), issuer=issuer) as url:
            outage = httpx.get(
                f"{url}/me", headers={"Authorization": f"Bearer {token(key, issuer)}"}
            )
            expect(outage, 503, "a key server outage")
            if not outage.headers.get("retry-after", "").isdigit():
                sys.exit("a key server outage: no Retry-After")


if __name__ == "__main__":
    main()
