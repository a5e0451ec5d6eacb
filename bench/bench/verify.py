"""Verify: microseconds per token, raw PyJWT `decode` against Tandem's verifier, cold and cached.

All three run in this process, interleaved round by round, so machine noise hits
them alike. "Cold" presents a token never seen before (signature checked); "cached"
presents the same token again. EdDSA keys come from Tandem's own JWKS cache, fed
by an in-memory transport; HS256 from its shared-secret key source.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import jwt
from tandem_auth import (
    Algorithm,
    JWKSCache,
    KeySource,
    SharedSecrets,
    TokenVerifier,
    VerifierSettings,
)

from bench.budget import Budget
from bench.context import Benchmark, Context, fill_ratio
from bench.population import Population
from bench.results import BenchResult, Target
from bench.tokens import AUDIENCE, ISSUER, LIFETIME_SECONDS, SigningKey

SECRET = "bench-secret-bench-secret-bench-secret-0123"  # noqa: S105  # a throwaway key
ALGORITHMS: tuple[Algorithm, ...] = ("EdDSA", "HS256")
CONTENDERS = ("pyjwt.decode", "Tandem cold", "Tandem cached")


def _per_call_us(calls: int, run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) / calls * 1e6


def _hs256_tokens(count: int, population: Population) -> list[str]:
    now = int(time.time())
    tokens = []
    for i in range(count):
        who = population.background(i)
        claims = {
            "sub": who.user_id,
            "sid": who.session_id,
            "iat": now,
            "exp": now + 900,
            "iss": ISSUER,
            "aud": AUDIENCE,
        }
        tokens.append(jwt.encode(claims, SECRET, algorithm="HS256"))
    return tokens


def _setup(algorithm: Algorithm, count: int) -> tuple[list[str], Any, KeySource]:
    """Tokens, the key raw PyJWT decodes with, and Tandem's key source for them."""
    population = Population(users=max(count, 1))
    if algorithm == "HS256":
        return _hs256_tokens(count, population), SECRET, SharedSecrets(SECRET)
    key = SigningKey()
    tokens = [key.token(population.background(i)) for i in range(count)]
    transport = httpx.MockTransport(lambda _request: httpx.Response(200, content=key.jwks))
    return tokens, key.public, JWKSCache("https://jwks.invalid/jwks", transport=transport)


def measure(algorithm: Algorithm, *, rounds: int, per_round: int) -> dict[str, list[float]]:
    """µs per token for each contender, one value per round."""
    tokens, raw_key, keys = _setup(algorithm, per_round * rounds + 1)
    verifier = TokenVerifier(
        VerifierSettings(
            algorithm=algorithm,
            issuer=ISSUER,
            audience=AUDIENCE,
            max_lifetime_seconds=LIFETIME_SECONDS,
        ),
        keys,
    )
    warm = tokens.pop()
    values: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    loop = asyncio.new_event_loop()

    def run_async(make: Callable[[], Awaitable[None]]) -> Callable[[], None]:
        return lambda: loop.run_until_complete(make())

    try:
        loop.run_until_complete(verifier.__aenter__())
        loop.run_until_complete(verifier.verify(warm))
        for r in range(rounds):
            batch = tokens[r * per_round : (r + 1) * per_round]

            def raw(batch: list[str] = batch) -> None:
                for t in batch:
                    jwt.decode(t, raw_key, algorithms=[algorithm], audience=AUDIENCE, issuer=ISSUER)

            async def cold(batch: list[str] = batch) -> None:
                for t in batch:
                    await verifier.verify(t)

            async def cached(batch: list[str] = batch) -> None:
                for _ in batch:
                    await verifier.verify(warm)

            values["pyjwt.decode"].append(_per_call_us(len(batch), raw))
            values["Tandem cold"].append(_per_call_us(len(batch), run_async(cold)))
            values["Tandem cached"].append(_per_call_us(len(batch), run_async(cached)))
    finally:
        loop.run_until_complete(verifier.__aexit__(None, None, None))
        loop.close()
    return values


def run(ctx: Context) -> BenchResult:
    budget = ctx.budget
    result = BenchResult(
        "verify",
        "Verify: µs per token",
        "Raw PyJWT `decode` (the usual way) against Tandem's verifier on a token it has not "
        "seen (every check, signature included) and on a token it has (the verified-token "
        f"cache). In-process, {budget.verify_rounds} interleaved rounds of "
        f"{budget.verify_tokens_per_round} tokens each.",
    )
    for algorithm in ALGORITHMS:
        ctx.progress.status(f"verify: {algorithm}")
        values = measure(
            algorithm, rounds=budget.verify_rounds, per_round=budget.verify_tokens_per_round
        )
        for name in CONTENDERS:
            series = result.add_series(f"{algorithm} {name}", "µs", f"{algorithm} (µs per token)")
            series.values.extend(values[name])
        raw = values["pyjwt.decode"]
        fill_ratio(
            result.add_ratio(f"{algorithm} cold / raw decode", target=Target("<=", 1.1)),
            values["Tandem cold"],
            raw,
        )
        fill_ratio(
            result.add_ratio(f"{algorithm} cached / raw decode", target=Target("<=", 0.05)),
            values["Tandem cached"],
            raw,
        )
        ctx.progress.step(f"verify: {algorithm} done")
    return result


def _steps(_budget: Budget) -> int:
    return len(ALGORITHMS)


BENCHMARK = Benchmark("verify", _steps, run, needs_stack=False)
