"""The value state's facts of many prefixes of one task at once, as arrays (the batched twin of
``TaskProbes.facts`` in :mod:`tasm_env.emission.values`, which stays the reference: a property test checks
that both agree on random prefixes of random suite tasks).

The stacks of the prefixes are stacked bottom-aligned into one (n, depth, K) array padded with zeros; every
fact is then a few array operations: ``slot_nodes`` compares the top 16 slots with every TIR node's values,
``outputs_ready`` the output heights with the baseline's final stack, ``lost`` and ``pop_loses`` compare the
pairs of probe lanes the baseline tells apart (the stack's rows cumulated from the bottom, so that ``pop n``
is one lookup), and ``eos_ok`` is decided exactly (RAM included) for the few prefixes whose crash pattern,
shapes and stack already match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .. import batch
from .probe_runs import Run, final_ram

__all__ = ["MAX_POP", "SLOT_WINDOW", "FactArrays", "facts_of_runs"]

SLOT_WINDOW = 16
"""Slots ``slot_nodes`` reports (the reach of ``dup``/``swap``)."""
MAX_POP = 5
"""The largest ``pop`` argument."""


@dataclass(frozen=True)
class FactArrays:
    """The facts of n prefixes: ``slot_nodes`` (n, 16), ``outputs_ready`` (n, arity), ``lost`` (n,),
    ``eos_ok`` (n,), ``pop_loses`` (n, MAX_POP + 1)."""

    slot_nodes: np.ndarray
    outputs_ready: np.ndarray
    lost: np.ndarray
    eos_ok: np.ndarray
    pop_loses: np.ndarray


def _padded(parts: Sequence[np.ndarray | None], lanes: int) -> np.ndarray:
    """(n, longest, K) the parts (rows, K) stacked, zero-padded (absent parts are all padding)."""
    longest = max((0 if p is None else p.shape[0] for p in parts), default=0)
    out = np.zeros((len(parts), longest, lanes), dtype=np.uint64)
    for b, part in enumerate(parts):
        if part is not None and len(part):
            out[b, :part.shape[0]] = part
    return out


def facts_of_runs(probes, runs: Sequence[Run]) -> FactArrays:
    """The facts of the prefixes whose runs on ``probes`` (a :class:`~tasm_env.emission.values.TaskProbes`)
    are ``runs``, as ``probes.facts(probes.outcome(run))`` gives them one by one."""
    K, bottom, base, arity = probes.k, probes.bottom, probes.base, probes.arity
    n = len(runs)
    stacks = [run.V[run.plan.stack] for run in runs]
    depths = np.array([s.shape[0] for s in stacks], dtype=np.int64)
    base_depth = base.stack.shape[0]
    D = max(int(depths.max(initial=0)), base_depth, 1)
    S = np.zeros((n, D, K), dtype=np.uint64)
    for b, s in enumerate(stacks):
        S[b, :s.shape[0]] = s
    crashed = np.array([run.crash != batch.NO_CRASH for run in runs]).reshape(n, K)
    live = depths - bottom
    rows = np.arange(n)[:, None]

    # slot nodes: the top window, st0 first
    slot = np.arange(SLOT_WINDOW)
    valid = slot[None] < np.clip(live, 0, SLOT_WINDOW)[:, None]
    top = S[rows, np.clip(depths[:, None] - 1 - slot[None], 0, D - 1)]  # (n, 16, K)
    slot_nodes = np.full((n, SLOT_WINDOW), -1, dtype=np.int64)
    if len(probes.node_of):
        lanes_ok = ~crashed[:, None, :] & probes.node_known[None]  # (n, R, K)
        equal = (top[:, :, None, :] == probes.node_values[None, None]) | ~lanes_ok[:, None]
        match = equal.all(-1) & lanes_ok.any(-1)[:, None, :]  # (n, 16, R)
        hit = match.any(-1) & valid
        slot_nodes = np.where(hit, probes.node_of[match.argmax(-1)], -1)

    # outputs ready
    both = ~crashed & ~base.crashed[None]
    heights = bottom + arity - 1 - np.arange(arity)
    same = (S[:, heights] == base.stack[heights][None]) | ~both[:, None, :]
    ready = (heights[None] < depths[:, None]) & same.all(-1) & both.any(-1)[:, None]

    # EOS: crash pattern, shapes and stack first, the rest exactly for the few candidates
    runs_ok = ~base.crashed
    outputs = [run.V[run.plan.output].reshape(-1, K) for run in runs]
    candidate = (crashed == base.crashed[None]).all(-1) & (depths == base_depth) \
        & ((S[:, :base_depth] == base.stack[None]) | ~runs_ok[None, None]).all((1, 2)) \
        & np.array([o.shape == base.output.shape for o in outputs], dtype=bool) \
        & np.array([(run.plan.sponge is None) == (base.sponge is None) for run in runs], dtype=bool)
    eos_ok = np.zeros(n, dtype=bool)
    for b in np.flatnonzero(candidate):
        eos_ok[b] = probes.matches(probes.outcome(runs[b]))

    # lost and pop_loses: some pair the baseline tells apart left in identical states
    lost = (crashed & ~base.crashed[None]).any(-1)
    pop_loses = np.zeros((n, 1 + MAX_POP), dtype=bool)
    i, j = probes.pairs
    if len(i):
        c_i, c_j = crashed[:, i], crashed[:, j]
        both_crashed = c_i & c_j
        rest = c_i == c_j
        sponges = [None if run.plan.sponge is None else run.V[run.plan.sponge] for run in runs]
        written = [_written(run, probes.inputs, K) for run in runs]
        for part in (_padded(outputs, K), _padded(sponges, K), _padded(written, K)):
            if part.shape[1]:
                rest &= both_crashed | (part[:, :, i] == part[:, :, j]).all(1)
        below = np.logical_and.accumulate(S[:, :, i] == S[:, :, j], axis=1)  # rows 0..h all equal

        def merged(popped: int) -> np.ndarray:
            h = depths - popped - 1
            stack_same = np.where((h >= 0)[:, None], below[np.arange(n), np.maximum(h, 0)], True)
            return (rest & (both_crashed | stack_same)).any(-1)

        lost |= merged(0)
        for p in range(1, MAX_POP + 1):
            pop_loses[:, p] = merged(p) & (p <= live)
    return FactArrays(slot_nodes, ready, lost, eos_ok, pop_loses)


def _written(run: Run, inputs: batch.Inputs, K: int) -> np.ndarray:
    """(2w, K): address, final contents, ... of every write (as ``TaskProbes.outcome`` gives them)."""
    plan = run.plan
    if not plan.writes:
        return np.zeros((0, K), np.uint64)
    writes = run.V[plan.writes]
    written = np.empty_like(writes)
    written[0::2] = writes[0::2]
    written[1::2] = final_ram(run, inputs, writes[0::2])
    return written
