"""Auth overhead: `/api/me` against `/health` on the same server (uvicorn, one worker).

Three contenders per round: `/health`, `/api/me` with one token reused, and
`/api/me` with a token never sent before on every request (more tokens than
requests, so the verified-token cache never hits). Beside them, the physical
ceiling for distinct tokens: what `/api/me` would reach if each request cost
`/health`'s time plus one bare Ed25519 verification, both measured in the round.

The distinct tokens belong to the population's users, whose sessions are primed
first: a session outlives many tokens (Better Auth's last days, a token 15
minutes), so in steady state a new token's session is already in the API's
live-session cache. A session's first request costs one database round trip,
which is not what this benchmark measures.
"""

from __future__ import annotations

import base64
import logging
import statistics
import time

from bench.budget import Budget
from bench.context import (
    Benchmark,
    Context,
    fill_ratio,
    record_runs,
    socket_error_note,
)
from bench.load import LoadResult, Request, in_round_order, run_wrk, warm_up
from bench.results import BenchResult, Target
from bench.tokens import SigningKey

log = logging.getLogger("bench.auth_overhead")

HEALTH = "/health"
ONE = "/api/me one token"
DISTINCT = "/api/me distinct tokens"
_VERIFY_BATCHES = 5
_MIN_CAP = 500
_PRIME_SESSIONS_PER_SECOND = 200  # cold session lookups; slower than this machine at its worst


def bare_ed25519_us(key: SigningKey, token: str, calls: int) -> float:
    """µs for one `Ed25519PublicKey.verify` of a token's signature: the median of batches."""
    signing_input, _, signature_b64 = token.rpartition(".")
    signature = base64.urlsafe_b64decode(signature_b64 + "=" * (-len(signature_b64) % 4))
    message = signing_input.encode()
    batches = []
    for _ in range(_VERIFY_BATCHES):
        start = time.perf_counter()
        for _ in range(calls):
            key.public.verify(signature, message)
        batches.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(batches)


def run(ctx: Context) -> BenchResult:
    budget, stack = ctx.budget, ctx.stack
    api = stack.main_api
    token = stack.key.token(stack.population.probe)
    bearer = {"Authorization": f"Bearer {token}"}
    health = Request(f"{api.url}/health", headers=bearer)
    me_one = Request(f"{api.url}/api/me", headers=bearer)
    connections = budget.throughput_connections
    result = BenchResult(
        "auth_overhead",
        "Auth overhead: /api/me against /health",
        f"Throughput of one API process (uvicorn, 1 worker) under {connections} connections: "
        "`/health` (no auth), `/api/me` with one token reused, and `/api/me` with a distinct "
        "token on every request. The ceiling is t_health / (t_health + t_ed25519), where "
        "t_health = 1 / throughput(/health) and t_ed25519 is one bare "
        "`Ed25519PublicKey.verify`, both from the same round. The distinct tokens are new "
        "to the verified-token cache, but their sessions are already in the live-session "
        "cache, as in steady state: each user's session was primed once beforehand.",
    )
    runs: dict[str, list[LoadResult]] = {HEALTH: [], ONE: [], DISTINCT: []}
    ed25519_us: list[float] = []

    def distinct_tokens(cap: int) -> Request:
        """A request that sends each of `cap` + `connections` new tokens at most once."""
        ctx.progress.status(f"auth overhead: signing {cap + connections} tokens")
        path = ctx.scratch / "tokens.txt"
        stack.key.distinct_tokens(stack.population, cap + connections, path)
        return Request(me_one.url, tokens=path)

    ctx.progress.status("auth overhead: priming every user's session")
    users = stack.population.users
    # A token for each user, plus one per connection still in flight when the cap is hit.
    primers = stack.key.distinct_tokens(
        stack.population, users + connections, ctx.scratch / "prime.txt"
    )
    primed = warm_up(
        Request(me_one.url, tokens=primers),
        connections=connections,
        seconds=2 + users // _PRIME_SESSIONS_PER_SECOND,
        cap=users,
    )
    if primed < users:
        log.warning("primed %d of %d sessions; the first round looks the rest up", primed, users)
    if budget.warmup_seconds:
        ctx.progress.status("auth overhead: warm-up")
        for request in (health, me_one, distinct_tokens(_MIN_CAP)):
            warm_up(request, connections=connections, seconds=budget.warmup_seconds, cap=_MIN_CAP)
    verify_calls = 50 if budget.smoke else 1000

    def measure(label: str) -> LoadResult:
        if label != DISTINCT:
            request = health if label == HEALTH else me_one
            return run_wrk(request, connections=connections, seconds=budget.seconds)
        # /api/me does more than /health, so it cannot outrun it: with three times as many
        # tokens as /health's best rate allows (a margin for noise between rounds), no token
        # is ever sent twice, and the cap stops wrk before the tokens run out.
        rate = max(r.rps for r in runs[HEALTH])
        cap = max(int(3 * rate * budget.seconds), _MIN_CAP)
        request = distinct_tokens(cap)
        return run_wrk(request, connections=connections, seconds=budget.seconds, cap=cap)

    for round_index in range(budget.rounds):
        # Round 0 starts with /health: the distinct-token run needs its rate.
        for label in in_round_order(list(runs), round_index):
            ctx.progress.status(f"auth overhead: {label} (round {round_index + 1})")
            runs[label].append(measure(label))
            ctx.progress.step(f"auth overhead: {label} done")
        ed25519_us.append(bare_ed25519_us(stack.key, token, verify_calls))

    rates = record_runs(result, runs, percentiles=("p50",))
    verify_series = result.add_series("bare Ed25519 verify", "µs", "Ed25519 (µs per verify)")
    verify_series.values.extend(ed25519_us)
    health_rates = rates[HEALTH].values
    fill_ratio(
        result.add_ratio("/api/me one token ÷ /health", target=Target(">=", 0.8)),
        rates[ONE].values,
        health_rates,
    )
    distinct_ratio = fill_ratio(
        result.add_ratio("/api/me distinct tokens ÷ /health"),
        rates[DISTINCT].values,
        health_rates,
    )
    ceiling = result.add_ratio("ceiling for distinct tokens")
    for rate, us in zip(health_rates, ed25519_us, strict=True):
        t_health = 1 / rate
        ceiling.values.append(t_health / (t_health + us / 1e6))
    fill_ratio(
        result.add_ratio("distinct tokens ÷ ceiling", target=Target(">=", 0.85)),
        distinct_ratio.values,
        ceiling.values,
    )
    result.notes.extend(socket_error_note(runs))
    return result


def _steps(budget: Budget) -> int:
    return 3 * budget.rounds


BENCHMARK = Benchmark("auth_overhead", _steps, run)
