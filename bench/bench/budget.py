"""How much each benchmark runs: the full budget for `make bench`, a tiny one for `--smoke`."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Budget:
    smoke: bool
    rounds: int
    """A/B rounds per benchmark; each round runs every contender once."""
    seconds: int
    """Length of one wrk run (wrk's -d)."""
    warmup_seconds: int
    """An unrecorded run per contender before the first round; 0 skips it."""
    verify_rounds: int
    verify_tokens_per_round: int
    users: int
    """Background users, each with a live session (the scale benchmark spreads tasks over them)."""
    main_tasks: int
    """Background tasks in the database most benchmarks share."""
    probe_tasks: int
    """Tasks of the user whose list is measured (more than the deep page needs)."""
    scale_sizes: tuple[int, ...]
    deep_page: int
    """Which page the scale benchmark reads by cursor (1 is the first page)."""
    connections: tuple[int, ...]
    """Concurrency levels of the real-route benchmark."""
    throughput_connections: int
    """Concurrency of the throughput comparisons (auth overhead, auth on the route, workers)."""
    search_tasks: int
    """Tasks in all in the search benchmark's database."""
    search_heavy_tasks: int
    """Tasks of the search benchmark's heavy user (the light user has 50)."""
    memory_tokens: int
    """Distinct tokens the memory benchmark sends, unless `memory_seconds` ends first."""
    memory_seconds: int
    """The memory benchmark's time bound for signing and sending its tokens."""
    counted_requests: int
    """Requests per route and round whose round trips the round-trip benchmark counts."""

    def with_rounds(self, rounds: int | None) -> Budget:
        return self if rounds is None else replace(self, rounds=rounds)


PAGE_SIZE = 50  # the API's default `limit`: the "first page" of the issue

FULL = Budget(
    smoke=False,
    rounds=5,
    seconds=4,
    warmup_seconds=1,
    verify_rounds=15,
    verify_tokens_per_round=400,
    users=10_000,
    main_tasks=10_000,
    probe_tasks=5_100,
    scale_sizes=(1_000, 100_000, 1_000_000),
    deep_page=100,
    connections=(1, 32, 128),
    throughput_connections=32,
    search_tasks=1_000_000,
    search_heavy_tasks=5_000,
    memory_tokens=1_000_000,
    memory_seconds=300,
    counted_requests=10,
)

SMOKE = Budget(
    smoke=True,
    rounds=1,
    seconds=1,
    warmup_seconds=0,
    verify_rounds=2,
    verify_tokens_per_round=20,
    users=200,
    main_tasks=500,
    probe_tasks=160,
    scale_sizes=(100, 3_000),
    deep_page=3,
    connections=(1, 8, 32),
    throughput_connections=8,
    search_tasks=3_000,
    search_heavy_tasks=500,
    memory_tokens=3_000,
    memory_seconds=15,
    counted_requests=2,
)
