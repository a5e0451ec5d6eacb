"""Microseconds per token: raw PyJWT ``decode`` against Tandem's verifier, cold and cached.

All three run in one process, interleaved round by round, so machine noise
hits them alike. "Cold" uses a fresh token each call (signature checked);
"cached" presents the same token again.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tandem.auth import SharedSecrets, TokenVerifier, VerifierSettings
from tandem.auth.keys import VerificationKey

ISSUER = "http://localhost:3000"
AUDIENCE = "tandem-api"
SECRET = "bench-secret-bench-secret-bench-secret-0123"


@dataclass(frozen=True)
class Sample:
    name: str
    per_call_us: list[float]  # one median per round

    @property
    def median(self) -> float:
        return statistics.median(self.per_call_us)


class _StaticKeys:
    """A key source holding one Ed25519 key: the JWKS cache minus the HTTP fetch."""

    def __init__(self, kid: str, key: VerificationKey) -> None:
        self._kid, self._key = kid, key

    @property
    def ready(self) -> bool:
        return True

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def keys_for(self, kid: str | None) -> Sequence[VerificationKey]:
        return (self._key,) if kid == self._kid else ()

    def on_keys_removed(self, listener: Callable[[frozenset[str]], None]) -> None:
        return None


def _tokens(count: int, sign: Callable[[dict[str, Any]], str]) -> list[str]:
    now = int(time.time())
    return [
        sign({"sub": f"user{i:028d}", "sid": f"sess{i:028d}", "iat": now, "exp": now + 900,
              "iss": ISSUER, "aud": AUDIENCE})
        for i in range(count)
    ]


def _time_per_call(calls: int, run: Callable[[], None]) -> float:
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) / calls * 1e6


def measure(algorithm: str, *, rounds: int, per_round: int) -> list[Sample]:
    """Interleave the three contenders ``rounds`` times over ``per_round`` tokens each."""
    if algorithm == "EdDSA":
        private = Ed25519PrivateKey.generate()
        public: VerificationKey = private.public_key()
        tokens = _tokens(per_round * rounds, lambda c: jwt.encode(c, private, "EdDSA", headers={"kid": "k1"}))
        keys: Any = _StaticKeys("k1", public)
    else:
        public = SECRET.encode()
        tokens = _tokens(per_round * rounds, lambda c: jwt.encode(c, SECRET, "HS256"))
        keys = SharedSecrets(SECRET)
    settings = VerifierSettings(algorithm=algorithm, issuer=ISSUER, audience=AUDIENCE)  # type: ignore[arg-type]
    verifier = TokenVerifier(settings, keys)
    loop = asyncio.new_event_loop()
    raw, cold, cached = Sample("pyjwt.decode", []), Sample("tandem cold", []), Sample("tandem cached", [])
    warm = tokens[0]
    loop.run_until_complete(verifier.verify(warm))
    for r in range(rounds):
        batch = tokens[r * per_round : (r + 1) * per_round]

        def run_raw() -> None:
            for t in batch:
                jwt.decode(t, public, algorithms=[algorithm], audience=AUDIENCE, issuer=ISSUER)

        async def run_cold_async() -> None:
            for t in batch:
                await verifier.verify(t)

        async def run_cached_async() -> None:
            for _ in batch:
                await verifier.verify(warm)

        raw.per_call_us.append(_time_per_call(len(batch), run_raw))
        cold.per_call_us.append(_time_per_call(len(batch), lambda: loop.run_until_complete(run_cold_async())))
        cached.per_call_us.append(_time_per_call(len(batch), lambda: loop.run_until_complete(run_cached_async())))
    loop.close()
    return [raw, cold, cached]


if __name__ == "__main__":
    for alg in ("EdDSA", "HS256"):
        samples = measure(alg, rounds=15, per_round=400)
        base = samples[0].median
        for s in samples:
            print(f"{alg:6} {s.name:15} {s.median:8.2f} us  ({s.median / base:.3f}x)  min {min(s.per_call_us):.2f} max {max(s.per_call_us):.2f}")  # noqa: T201
