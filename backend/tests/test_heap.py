"""The collector's settings while the API serves (``tandem/heap.py``)."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import weakref

from fastapi import FastAPI

from tandem.heap import YOUNG_GENERATION_THRESHOLD, settled_heap

# In a process of its own: this test session's apps have frozen the heap already.
_FRESH_PROCESS = textwrap.dedent(
    """
    import gc
    from tandem.heap import YOUNG_GENERATION_THRESHOLD, settled_heap

    def tracked(thing):  # gc.get_objects() leaves out the frozen
        return any(candidate is thing for candidate in gc.get_objects())

    made_before = [object()]
    before = gc.get_threshold()
    with settled_heap():
        assert not tracked(made_before), "not frozen"
        assert gc.get_threshold() == (YOUNG_GENERATION_THRESHOLD, *before[1:])
        made_inside = [object()]
        with settled_heap():
            assert not tracked(made_inside)
        assert not tracked(made_before), "an inner block thawed the outer's freeze"
    assert tracked(made_before), "not thawed"
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before
    """
)


def test_the_block_freezes_what_exists_and_restores_the_collector_when_it_ends() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _FRESH_PROCESS], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_a_cycle_made_while_settled_is_collected_without_being_asked() -> None:
    collected: list[bool] = []
    with settled_heap():
        cycle = _Node()
        cycle.next = cycle
        weakref.finalize(cycle, collected.append, True)
        del cycle
        # Enough new objects, kept alive, for the young generation to be scanned.
        kept: list[list[object]] = [[] for _ in range(3 * YOUNG_GENERATION_THRESHOLD)]
    assert collected == [True]
    assert len(kept) == 3 * YOUNG_GENERATION_THRESHOLD


class _Node:
    next: _Node | None = None


async def test_the_running_app_serves_on_the_settled_heap(eddsa_app: FastAPI) -> None:
    assert gc.get_threshold()[0] == YOUNG_GENERATION_THRESHOLD
    assert gc.get_freeze_count() > 0
