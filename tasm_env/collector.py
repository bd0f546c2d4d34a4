"""Python's cyclic garbage collector paused while a big batch is computed: one home for the pause.

    with collector_paused(len(new) >= PAUSE_AT):
        compute(new)                      # tens of thousands of small objects, freed by reference counting

A batch of new prefixes or blocks (plans, runs, facts, screens) allocates tens of thousands of small objects.
With the collector on, they trigger collections all along the batch (one of generation 0 per 700 net
allocations, one of generation 1 per ten of those), and now and then a full one over every object of the
process (torch, the task suite, the caches: ~240 ms in the native vector env). Paused, the objects are still
freed by reference counting as they die; one collection of the young generations at the end walks the batch's
survivors once, in the call that made them (left to the next allocations, it would land in whatever code
runs next). Cycles made inside the batch are collected by that collection, so memory is bounded as before.

Pause only batches large enough: for a small one the closing collection costs more than the collections it
saves. The thresholds live beside their callers (:data:`tasm_env.emission.values.PAUSE_AT`,
:data:`tasm_env.emission.reward.PAUSE_AT`), measured there.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator

__all__ = ["collector_paused"]


@contextmanager
def collector_paused(pause: bool) -> Iterator[None]:
    """Python's cyclic garbage collector off inside (if ``pause`` and it was on), then on again after one
    collection of generations 0 and 1, also when the body raises. If the collector was off already (an outer
    pause, or the caller's own ``gc.disable()``), nothing changes: it stays off and no collection runs."""
    was_on = pause and gc.isenabled()
    if was_on:
        gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
            gc.collect(1)
