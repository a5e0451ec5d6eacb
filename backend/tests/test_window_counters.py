"""The in-process rate-limit counters: fixed windows, and expired keys that do not pile up."""

from __future__ import annotations

import asyncio

from limits import parse
from limits.aio.strategies import FixedWindowRateLimiter

from tandem.window_counters import WindowCounters


async def test_a_window_admits_its_limit_then_refuses_until_it_ends() -> None:
    counters = WindowCounters()
    limiter = FixedWindowRateLimiter(counters)
    limit = parse("3/second")

    admitted = [await limiter.hit(limit, "user", "alice") for _ in range(4)]
    other = await limiter.hit(limit, "user", "bob")
    stats = await limiter.get_window_stats(limit, "user", "alice")

    assert admitted == [True, True, True, False]
    assert other is True  # each key has its own window
    assert stats.remaining == 0
    for _ in range(30):  # the window ends within a second
        if not await counters.get(limit.key_for("user", "alice")):
            break
        await asyncio.sleep(0.05)
    assert await limiter.hit(limit, "user", "alice") is True


async def test_a_key_touched_after_its_window_starts_a_new_one() -> None:
    counters = WindowCounters()

    counts = [await counters.incr("k", 0.05) for _ in range(3)]
    await asyncio.sleep(0.1)

    assert counts == [1, 2, 3]
    assert await counters.get("k") == 0
    assert await counters.incr("k", 0.05) == 1


async def test_expired_keys_are_swept_as_the_table_grows() -> None:
    counters = WindowCounters()
    for n in range(5000):
        await counters.incr(f"old-{n}", 0.05)
    await asyncio.sleep(0.1)

    for n in range(5000):
        await counters.incr(f"new-{n}", 60)

    assert len(counters) == 5000  # only the live keys are left
    assert await counters.get("new-0") == 1
    assert await counters.get("old-0") == 0
