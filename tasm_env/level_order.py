"""Many plans' operations grouped by level, for the passes over them that go one level at a time
(:mod:`tasm_env.batch_align` upwards, :mod:`tasm_env.batch_live` downwards).

The operations come flattened, as those modules take them: each one's plan ``level`` (every operation a result
of which it reads has a lower one), ``kind``, inputs ``ids[start:start + n_in]`` and results at rows ``out,
out + 1, ...`` (global rows).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .plan import OPERATIONS, OUTPUTS

__all__ = ["N_OUT", "LevelOrder", "level_order", "segments"]

N_OUT = np.array([OUTPUTS[name] for name in OPERATIONS], dtype=np.int64)
"""Results each operation kind writes, by kind code."""


def segments(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The indices ``starts[i] .. starts[i] + lengths[i] - 1`` of every ``i``, concatenated."""
    total = int(lengths.sum())
    first = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    return first + np.arange(total)


class LevelOrder(NamedTuple):
    """The operations in level ``order``; ``bounds[j]:bounds[j + 1]`` is one level's run of it. ``ins`` /
    ``outs``: each ordered operation's input and result counts; ``slots[slot_at[i]:slot_at[i + 1]]`` its input
    rows and ``written[out_at[i]:out_at[i + 1]]`` its result rows."""

    order: np.ndarray
    bounds: list[int]
    ins: np.ndarray
    outs: np.ndarray
    slots: np.ndarray
    written: np.ndarray
    slot_at: np.ndarray
    out_at: np.ndarray


def level_order(level: np.ndarray, kind: np.ndarray, start: np.ndarray, n_in: np.ndarray, ids: np.ndarray,
                out: np.ndarray, *, descending: bool = False) -> LevelOrder:
    """The operations grouped by level, the lowest first (the highest first with ``descending``), stable within
    a level."""
    order = np.argsort(-level if descending else level, kind="stable")
    lv = level[order]
    bounds = [0, *(np.flatnonzero(lv[1:] != lv[:-1]) + 1).tolist(), len(level)]
    ins, outs = n_in[order], N_OUT[kind][order]
    return LevelOrder(order, bounds, ins, outs, ids[segments(start[order], ins)], segments(out[order], outs),
                      np.concatenate(([0], np.cumsum(ins))), np.concatenate(([0], np.cumsum(outs))))
