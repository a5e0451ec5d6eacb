"""The garbage collector's settings while the API serves.

CPython's cyclic collector runs when tracked objects made since its last run
outnumber their frees by ``threshold0`` (700 by default). A request keeps a few
hundred alive (rows, dicts, coroutines), so with 32 in flight the young
generation fills with live objects and is scanned about a hundred times a
second, finding nearly nothing: reference counting frees a request's objects
when it ends. What survives those scans is promoted, and every few seconds a full
collection walks the whole heap, about 130,000 objects that start-up made and
that live as long as the process (modules, the schema, the routes). Together
that was 60 to 100 µs of CPU per list request, about a seventh of it
(bench/README.md, "garbage collector").

So, once start-up is done: collect what it left behind, freeze the rest out of
every later collection (``gc.freeze``, which is what it is for), and let the
young generation grow to ``YOUNG_GENERATION_THRESHOLD`` before it is scanned. Cycles
are still collected, a little later; the young generation's cap bounds what
they can hold.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_GENERATION_THRESHOLD = 10_000


@contextmanager
def settled_heap() -> Iterator[None]:
    """While the block runs: what exists at its start frozen, the young generation larger.

    Both are process-wide. When the block ends the threshold is restored, and the
    frozen objects are thawed unless something had frozen objects before it (an
    enclosing block, a pre-forking server), whose freeze it leaves alone.
    """
    previous = gc.get_threshold()
    outermost = gc.get_freeze_count() == 0
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        if outermost:
            gc.unfreeze()
