"""Which operations of many plans a caller needs evaluated (for :meth:`tasm_env.batch.Schedule.build`).

The screen (:mod:`tasm_env.emission.screen`) reads of each candidate only its crash codes and the values of its
final stack, public output and sponge. A random block computes much that it then pops: an operation that cannot
crash and whose results reach none of those values (through any chain of operations that do) changes nothing
the screen reads, so it need not run. Every operation that can crash (:data:`CRASHING`) is kept with everything
it reads, so every lane's first crash is the same; so is every observed value (the evaluation is a pure
dataflow: a value depends on the operations of its inputs' cone only).
"""

from __future__ import annotations

import numpy as np

from . import isa
from .level_order import N_OUT, level_order
from .plan import OPERATIONS

__all__ = ["CRASHING", "live_operations"]

_NOT_INSTRUCTIONS = {"permute": False, "mem_read": False, "u32_check": True, "merkle": True}
"""The operation kinds that are not instructions of their own, and whether their evaluators can report a crash
(a u32 check of ``merkle_step``'s node index, and the merkle step itself; the permutation and the RAM read never
crash)."""
CRASHING = frozenset(code for code, name in enumerate(OPERATIONS)
                     if (_NOT_INSTRUCTIONS[name] if name in _NOT_INSTRUCTIONS else isa.BY_NAME[name].can_crash))
"""Kind codes whose evaluators may report a crash on some values (tests/test_batch_live.py checks every
evaluator against it)."""
_IS_CRASHING = np.isin(np.arange(len(OPERATIONS)), sorted(CRASHING))


def live_operations(level: np.ndarray, kind: np.ndarray, start: np.ndarray, n_in: np.ndarray, ids: np.ndarray,
                    out: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """(operations,) bool: the operations of many plans (flattened, as :func:`tasm_env.batch_align.aligned_levels`
    takes them: plan ``level``\\ s, where every operation's inputs have lower levels than it, ``kind``, inputs
    ``ids[start:start + n_in]`` and results at rows ``out, out + 1, ...``, all global rows) that can crash or
    whose results reach a row of ``observed``. Walks the levels from the highest down: an operation is live if
    it can crash or a live operation (or the caller) reads one of its results."""
    total = len(level)
    if not total:
        return np.zeros(0, dtype=bool)
    size = int(max(ids.max(initial=0), (out + N_OUT[kind]).max(), observed.max(initial=0))) + 1
    needed = np.zeros(size, dtype=bool)
    needed[observed] = True
    order, bounds, ins, outs, slots, written, slot_at, out_at = level_order(level, kind, start, n_in, ids, out,
                                                                            descending=True)
    live = _IS_CRASHING[kind[order]]
    for a, b in zip(bounds[:-1], bounds[1:]):
        mine = live[a:b]
        has = outs[a:b] > 0
        if has.any():
            read = needed[written[out_at[a]:out_at[b]]]
            mine[has] |= np.logical_or.reduceat(read, out_at[a:b][has] - out_at[a])
        if mine.any():
            needed[slots[slot_at[a]:slot_at[b]][np.repeat(mine, ins[a:b])]] = True
    result = np.empty(total, dtype=bool)
    result[order] = live
    return result
