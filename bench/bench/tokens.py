"""The benchmark's own signing key: a JWKS served on loopback, and tokens signed with PyJWT.

The API under test is pointed at this JWKS (`JWKS_URL`), so it trusts these tokens
exactly as it trusts Better Auth's: same algorithm, same checks, same claims.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bench.population import Identity, Population

HOST = "127.0.0.1"
ISSUER = "http://bench.tandem.invalid"
AUDIENCE = "tandem-api"
LIFETIME_SECONDS = 3600  # a full run fits in it; the bench's API allows it (bench.stack)
KID = "bench-key-1"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class SigningKey:
    """An Ed25519 key pair whose public half is published as a JWKS."""

    def __init__(self) -> None:
        self.private = Ed25519PrivateKey.generate()
        self.public = self.private.public_key()
        self._issued: tuple[int, int] | None = None
        """The oldest and the newest `iat` of the distinct tokens issued so far."""

    @property
    def jwks(self) -> bytes:
        x = _b64url(self.public.public_bytes(Encoding.Raw, PublicFormat.Raw))
        key = {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": KID, "alg": "EdDSA", "use": "sig"}
        return json.dumps({"keys": [key]}).encode()

    def token(self, who: Identity, *, issued_at: int | None = None) -> str:
        iat = int(time.time()) if issued_at is None else issued_at
        claims = {
            "sub": who.user_id,
            "sid": who.session_id,
            "iat": iat,
            "exp": iat + LIFETIME_SECONDS,
            "iss": ISSUER,
            "aud": AUDIENCE,
        }
        return jwt.encode(claims, self.private, algorithm="EdDSA", headers={"kid": KID})

    def distinct_tokens(self, population: Population, count: int, path: Path) -> Path:
        """Write `count` tokens never issued before in this run, one per line.

        They cycle through the population's users; within one call a token differs
        from every other by its user or by its `iat` (one second earlier per lap).
        Each call's `iat`s are all newer than every earlier call's, or else all older,
        so that two calls never issue the same token, however close together they run.
        """
        laps = -(-count // population.users)
        newest = int(time.time())
        if self._issued is not None and newest - laps < self._issued[1]:
            newest = self._issued[0] - 1  # below everything issued: a few seconds older
        with path.open("w", encoding="ascii") as out:
            for n in range(count):
                lap, index = divmod(n, population.users)
                who = population.background(index)
                out.write(self.token(who, issued_at=newest - lap) + "\n")
        oldest = newest - laps + 1
        low, high = self._issued or (oldest, newest)
        self._issued = (min(low, oldest), max(high, newest))
        return path


class _JwksHandler(BaseHTTPRequestHandler):
    document = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.document)))
        self.end_headers()
        self.wfile.write(self.document)

    def log_message(self, format: str, *args: object) -> None:
        return None  # quiet: the API fetches on start and every few minutes


@contextmanager
def jwks_server(key: SigningKey) -> Iterator[str]:
    """Serve `key`'s JWKS on a free loopback port; yields its URL, and stops on exit."""
    handler = type("JwksHandler", (_JwksHandler,), {"document": key.jwks})
    server = ThreadingHTTPServer((HOST, 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="jwks", daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}/jwks"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
