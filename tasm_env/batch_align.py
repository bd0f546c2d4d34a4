"""Dependency levels that line up the costly operations of many plans (for :meth:`tasm_env.batch.Schedule.build`).

A schedule evaluates one group per (level, kind): a Tip5 permutation costs about the same numpy calls for 3
rows as for 300, so with every plan's operations at their earliest level (the plans' own ``level``) a batch of
hundreds of small plans pays one permutation call per level holding one. Here each operation's level is
recomputed from its inputs' (one more than the latest of them), and an operation of a costly kind
(:data:`ALIGNED`) waits until the next multiple of :data:`EVERY`: the permutations of different plans that
fell on neighbouring levels share one group. Every operation still comes after every operation whose result
it reads, so every value is the same (the evaluation is a pure dataflow: only the grouping changes).
"""

from __future__ import annotations

import numpy as np

from .level_order import N_OUT, level_order
from .plan import OPERATIONS, OUTPUTS

__all__ = ["ALIGNED", "EVERY", "aligned_levels"]

ALIGNED = frozenset(code for code, name in enumerate(OPERATIONS) if OUTPUTS[name] >= 3)
"""Kind codes whose operations wait for an aligned level: those with three results or more (the Tip5
permutations and the extension-field operations, whose evaluators make the most numpy calls)."""
EVERY = 4
"""Costly operations run on levels that are multiples of this."""
_IS_ALIGNED = np.isin(np.arange(len(OPERATIONS)), sorted(ALIGNED))


def aligned_levels(level: np.ndarray, kind: np.ndarray, start: np.ndarray, n_in: np.ndarray, ids: np.ndarray,
                   out: np.ndarray, every: int = EVERY) -> np.ndarray:
    """(operations,) new levels of the operations of many plans, flattened: each one's ``level`` (its plan's:
    every operation a result of which it reads has a lower one), ``kind``, inputs ``ids[start:start + n_in]``
    (global rows) and results at rows ``out, out + 1, ...``. A row no operation writes is a source (level 0).
    An operation's new level is one more than the latest new level of its inputs, raised to the next multiple
    of ``every`` for the kinds of :data:`ALIGNED`."""
    total = len(level)
    if not total:
        return level.copy()
    size = int(max(ids.max(initial=0), (out + N_OUT[kind]).max())) + 1
    row_level = np.zeros(size, dtype=np.int64)  # the new level of the operation writing each row (0: a source)
    new = np.empty(total, dtype=np.int64)
    order, bounds, ins, outs, slots, written, slot_at, out_at = level_order(level, kind, start, n_in, ids, out)
    aligned = _IS_ALIGNED[kind[order]]
    for a, b in zip(bounds[:-1], bounds[1:]):
        latest = np.zeros(b - a, dtype=np.int64)
        has = ins[a:b] > 0
        if has.any():
            values = row_level[slots[slot_at[a]:slot_at[b]]]
            latest[has] = np.maximum.reduceat(values, slot_at[a:b][has] - slot_at[a])
        mine = latest + 1
        mine = np.where(aligned[a:b], -(-mine // every) * every, mine)
        new[order[a:b]] = mine
        row_level[written[out_at[a]:out_at[b]]] = np.repeat(mine, outs[a:b])
    return new
