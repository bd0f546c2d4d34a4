"""Dependency levels that line up the costly operations of many plans (for :meth:`tasm_env.batch.Schedule.build`).

A schedule evaluates one group per (level, kind): a Tip5 permutation costs about the same numpy calls for 3
rows as for 300, so with every plan's operations at their earliest level (the plans' own ``level``) a batch of
hundreds of small plans pays one permutation call per level holding one. Here each operation's level is
recomputed from its inputs' (one more than the latest of them), and an operation of a costly kind
(:data:`ALIGNED`) waits until the next multiple of its kind's stride (:data:`STRIDES`): the operations of that
kind of different plans that fell on neighbouring levels share one group. The costlier a kind's group, the
longer its stride (a Tip5 call costs ~0.6 ms even for one row of 8 lanes, an extension-field product ~0.1 ms,
a RAM read ~0.05 ms); a long stride also makes the batch deeper, so more groups of the cheap kinds. Every
operation still comes after every operation whose result it reads, so every value is the same (the
evaluation is a pure dataflow: only the grouping changes).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

import numpy as np

from .level_order import N_OUT, level_order
from .plan import OPERATIONS, OUTPUTS

__all__ = ["ALIGNED", "STRIDES", "aligned_levels"]

STRIDES: Mapping[str, int] = MappingProxyType({
    **{name: 4 for name in OPERATIONS if OUTPUTS[name] >= 3},  # the extension-field operations: a dozen numpy calls
    "permute": 12, "merkle": 12,  # Tip5: ~500 numpy calls a group, whatever its size
    "mem_read": 2})
"""The stride of each kind whose operations wait for a shared level (the others run at their earliest):
chosen by measurement (``benchmarks/reward_phases.py``'s evaluation time; docs/envs.md)."""
ALIGNED = frozenset(OPERATIONS.index(name) for name in STRIDES)
"""Kind codes whose operations wait for a shared level."""
_STRIDE = np.ones(len(OPERATIONS), dtype=np.int64)
_STRIDE[[OPERATIONS.index(name) for name in STRIDES]] = list(STRIDES.values())


def aligned_levels(level: np.ndarray, kind: np.ndarray, start: np.ndarray, n_in: np.ndarray, ids: np.ndarray,
                   out: np.ndarray, strides: np.ndarray = _STRIDE) -> np.ndarray:
    """(operations,) new levels of the operations of many plans, flattened: each one's ``level`` (its plan's:
    every operation a result of which it reads has a lower one), ``kind``, inputs ``ids[start:start + n_in]``
    (global rows) and results at rows ``out, out + 1, ...``. A row no operation writes is a source (level 0).
    An operation's new level is one more than the latest new level of its inputs, raised to the next multiple
    of its kind's stride (``strides``, by kind code: :data:`STRIDES`, 1 for the others)."""
    total = len(level)
    if not total:
        return level.copy()
    size = int(max(ids.max(initial=0), (out + N_OUT[kind]).max())) + 1
    row_level = np.zeros(size, dtype=np.int64)  # the new level of the operation writing each row (0: a source)
    new = np.empty(total, dtype=np.int64)
    order, bounds, ins, outs, slots, written, slot_at, out_at = level_order(level, kind, start, n_in, ids, out)
    stride = strides[kind[order]]
    for a, b in zip(bounds[:-1], bounds[1:]):
        latest = np.zeros(b - a, dtype=np.int64)
        has = ins[a:b] > 0
        if has.any():
            values = row_level[slots[slot_at[a]:slot_at[b]]]
            latest[has] = np.maximum.reduceat(values, slot_at[a:b][has] - slot_at[a])
        every = stride[a:b]
        mine = -(-(latest + 1) // every) * every
        new[order[a:b]] = mine
        row_level[written[out_at[a]:out_at[b]]] = np.repeat(mine, outs[a:b])
    return new
