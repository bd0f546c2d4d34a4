"""The value state's facts of many prefixes at once, as arrays (the batched twin of ``TaskProbes.facts`` in
:mod:`tasm_env.emission.values`, which stays the reference: property tests check that both agree on random
prefixes of random suite tasks, one task at a time and tasks mixed in one batch).

The stacks of the prefixes are stacked bottom-aligned into one (n, depth, K) array padded with zeros, and each
task's tables (its graph nodes' values, its baseline's final stack, its pairs of probe lanes) are padded to the
largest of the batch and gathered per prefix, so a batch mixing tasks is one set of array operations:
``slot_nodes`` compares the top 16 slots with every node of the row's task, ``outputs_ready`` the output
heights with the baseline's final stack, ``lost`` and ``pop_loses`` compare the pairs of probe lanes the
baseline tells apart (the stack's rows cumulated from the bottom, so that ``pop n`` is one lookup), and
``eos_ok`` is decided exactly (RAM included) for the few prefixes whose crash pattern, shapes and stack already
match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .. import batch
from .probe_runs import Run, final_ram

__all__ = ["MAX_POP", "SLOT_WINDOW", "FactArrays", "state_digest", "facts_of_runs", "facts_of_tasks", "node_table",
           "outputs_ready_of", "pair_losses", "slot_nodes_of"]

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


def slot_nodes_of(S: np.ndarray, depths: np.ndarray, live: np.ndarray, crashed: np.ndarray, tid: np.ndarray,
                  node_values: np.ndarray, node_known: np.ndarray, node_of: np.ndarray,
                  by_value: bool = True, table: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """(n, 16) ``slot_nodes``: each live slot of the top window (st0 first) against every node of the row's task,
    the live (row, slot) pairs only (a few per row: the window is mostly empty); the first node that matches
    wins. ``S`` (n, D, K) the stacks bottom-aligned, zero-padded; per task ``tid[b]``: ``node_values``/
    ``node_known`` (tasks, R, K) and ``node_of`` (tasks, R), padded (padding is never known, so it never
    matches). With ``by_value`` (the same result, faster), a slot of a row that crashed on no lane, of a task
    whose every node is known on all lanes or on none, is looked up by its values in a sorted table of the
    tasks' nodes (``table``: :func:`node_table` of these tables, computed here if None), not compared with each
    node; the other pairs are compared lane by lane."""
    n = len(depths)
    slot_nodes = np.full((n, SLOT_WINDOW), -1, dtype=np.int64)
    valid = np.arange(SLOT_WINDOW)[None] < np.clip(live, 0, SLOT_WINDOW)[:, None]
    pb, ps = np.nonzero(valid)
    if not (node_of.shape[1] and len(pb)):
        return slot_nodes
    pt = tid[pb]
    top = S[pb, depths[pb] - 1 - ps]  # (P, K); a live slot's height is at least the block's bottom
    K = S.shape[2]
    every = node_known.all(-1)  # (tasks, R)
    lookup = np.zeros(len(pb), bool)
    if by_value and K:
        lookup = (every | ~node_known.any(-1)).all(-1)[pt] & ~crashed[pb].any(-1)
    rest = np.flatnonzero(~lookup)
    if len(rest):  # lane by lane: (P', R, K)
        b, t = pb[rest], pt[rest]
        lanes_ok = ~crashed[b, None, :] & node_known[t]
        match = ~((top[rest, None, :] != node_values[t]) & lanes_ok).any(-1) & lanes_ok.any(-1)  # (P', R)
        hit = match.any(-1)
        slot_nodes[b[hit], ps[rest][hit]] = node_of[t[hit], match[hit].argmax(-1)]
    ask = np.flatnonzero(lookup)
    if len(ask):
        table, nodes = node_table(node_values, node_known, node_of) if table is None else table
        if len(table):
            keys = np.empty((len(ask), K + 1), np.uint64)
            keys[:, 0], keys[:, 1:] = pt[ask], top[ask]
            keys = keys.view(table.dtype)[:, 0]
            at = np.minimum(np.searchsorted(table, keys), len(table) - 1)
            hit = table[at] == keys
            slot_nodes[pb[ask[hit]], ps[ask[hit]]] = nodes[at[hit]]
    return slot_nodes


def node_table(node_values: np.ndarray, node_known: np.ndarray, node_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted table ``slot_nodes_of`` looks slots up in (a function of the tasks' tables alone, so a caller
    with fixed tables computes it once): each (task, values) of a node known on every lane as one void, sorted,
    and the node each names (the lowest node index of equal ones). A node known on no lane never matches."""
    K = node_values.shape[2]
    tt, rr = np.nonzero(node_known.all(-1))
    void = np.dtype((np.void, 8 * (K + 1)))
    nodes = np.empty((len(tt), K + 1), np.uint64)
    nodes[:, 0], nodes[:, 1:] = tt, node_values[tt, rr]
    table, first = np.unique(nodes.view(void)[:, 0], return_index=True)  # first: the lowest node index
    return table, node_of[tt[first], rr[first]]


def outputs_ready_of(S: np.ndarray, depths: np.ndarray, bottom: np.ndarray, arity: np.ndarray,
                     crashed: np.ndarray, base_crashed: np.ndarray, base_stack: np.ndarray,
                     tid: np.ndarray) -> np.ndarray:
    """(n, largest arity) ``outputs_ready``: output i (at height bottom + arity - 1 - i) holds the baseline's
    final value on every lane where neither crashed. ``bottom``, ``arity``, ``base_crashed`` per row;
    ``base_stack`` (tasks, Db, K) per task ``tid[b]`` (zero-padded here to S's depth where shallower)."""
    n, D, K = S.shape
    if base_stack.shape[1] < D:
        base_stack = np.concatenate([base_stack, np.zeros((len(base_stack), D - base_stack.shape[1], K),
                                                          base_stack.dtype)], 1)
    A = int(arity.max(initial=0))
    both = ~crashed & ~base_crashed
    out_index = np.arange(A)[None]
    heights = bottom[:, None] + arity[:, None] - 1 - out_index  # (n, A)
    at = np.clip(heights, 0, D - 1)
    same = (S[np.arange(n)[:, None], at] == base_stack[tid[:, None], at]) | ~both[:, None, :]
    return (out_index < arity[:, None]) & (heights < depths[:, None]) & same.all(-1) & both.any(-1)[:, None]


def pair_losses(S: np.ndarray | None, depths: np.ndarray, live: np.ndarray, crashed: np.ndarray,
                base_crashed: np.ndarray, pair_i: np.ndarray, pair_j: np.ndarray, real: np.ndarray,
                effects: Sequence[np.ndarray],
                first_diff: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(n,) ``lost`` and (n, MAX_POP + 1) ``pop_loses``: the prefix crashed on a lane where the baseline does
    not, or some pair of probe lanes the baseline tells apart (``pair_i``/``pair_j`` (n, pairs), ``real`` marks
    the unpadded pairs) is left in identical states: crash, each of ``effects`` ((n, W, K) arrays: output,
    sponge, RAM written) and the stack (its rows cumulated from the bottom, so that ``pop p`` is one lookup).
    ``first_diff`` (n, pairs), if given, is each pair's lowest stack height where its lanes differ (any height
    at or above the depth: none), carried by the caller, and ``S`` is not read."""
    n = len(depths)
    lost = (crashed & ~base_crashed).any(-1)
    pop_loses = np.zeros((n, 1 + MAX_POP), dtype=bool)
    if not pair_i.shape[1]:
        return lost, pop_loses
    # rows of one task share their pairs (the beam's): one plain index along the lanes, the same values
    shared = n > 0 and bool((pair_i == pair_i[:1]).all() and (pair_j == pair_j[:1]).all())

    def lanes(a: np.ndarray, pair: np.ndarray) -> np.ndarray:  # a (n, ..., K) at each row's pairs (n, ..., P)
        if shared:
            return a[..., pair[0]]
        return np.take_along_axis(a, pair.reshape(len(pair), *([1] * (a.ndim - 2)), pair.shape[1]), a.ndim - 1)

    c_i, c_j = lanes(crashed, pair_i), lanes(crashed, pair_j)
    both_crashed = c_i & c_j
    rest = (c_i == c_j) & real
    for part in effects:
        if part.shape[1]:  # rows whose part is all zeros (none written) have it alike on every lane: skipped
            m = np.flatnonzero(part.any((1, 2)))
            if len(m):
                sub, i, j = (part, pair_i, pair_j) if len(m) == n else (part[m], pair_i[m], pair_j[m])
                rest[m] &= both_crashed[m] | (lanes(sub, i) == lanes(sub, j)).all(1)
    # pop p = 0 (lost) .. MAX_POP at once: the stack below the popped slots, cumulated, at height depth - p - 1
    h = depths[:, None] - np.arange(MAX_POP + 1)[None] - 1  # (n, MAX_POP + 1)
    if first_diff is not None:
        stack_same = first_diff[:, None, :] > h[:, :, None]  # h < 0: nothing below, the same
    else:
        below = np.logical_and.accumulate(lanes(S, pair_i) == lanes(S, pair_j), axis=1)
        stack_same = np.where((h >= 0)[:, :, None], below[np.arange(n)[:, None], np.maximum(h, 0)], True)
    merged = (rest[:, None] & (both_crashed[:, None] | stack_same)).any(-1)  # (n, MAX_POP + 1)
    lost |= merged[:, 0]
    pop_loses[:, 1:] = merged[:, 1:] & (np.arange(1, MAX_POP + 1)[None] <= live[:, None])
    return lost, pop_loses


def facts_of_runs(probes, runs: Sequence[Run]) -> FactArrays:
    """The facts of the prefixes whose runs on ``probes`` (a :class:`~tasm_env.emission.values.TaskProbes`)
    are ``runs``, as ``probes.facts(probes.outcome(run))`` gives them one by one."""
    facts = facts_of_tasks([probes] * len(runs), runs)
    return FactArrays(facts.slot_nodes, facts.outputs_ready[:, :probes.arity], facts.lost, facts.eos_ok,
                      facts.pop_loses)


def _by_task(unique: Sequence, part, rows: int, columns: int, dtype=np.uint64, fill=0) -> np.ndarray:
    """(tasks, rows, columns) one 2-D array per task, ``part(probes)``, stacked and padded with ``fill``."""
    out = np.full((len(unique), rows, columns), fill, dtype=dtype)
    for t, p in enumerate(unique):
        a = part(p)
        out[t, :a.shape[0], :a.shape[1]] = a
    return out


def facts_of_tasks(probes: Sequence, runs: Sequence[Run]) -> FactArrays:
    """The facts of prefixes of many tasks at once: run b is on ``probes[b]`` (all with the same number of
    lanes). Each task's tables (graph node values, baseline stack, lane pairs) are padded to the largest and
    gathered per prefix, so the whole batch is one set of array operations; ``outputs_ready`` is (n, largest
    arity), row b meaningful up to ``probes[b].arity``."""
    n = len(runs)
    unique = list({id(p): p for p in probes}.values())
    where = {id(p): t for t, p in enumerate(unique)}
    tid = np.array([where[id(p)] for p in probes], dtype=np.int64)
    K = unique[0].k if unique else 1
    if any(p.k != K for p in unique):
        raise ValueError("facts_of_tasks needs probes with one number of lanes")
    bottom = np.array([p.bottom for p in unique], dtype=np.int64)[tid]
    arity = np.array([p.arity for p in unique], dtype=np.int64)[tid]
    base_depths = np.array([p.base.stack.shape[0] for p in unique], dtype=np.int64)
    stacks = [run.V[run.plan.stack] for run in runs]
    depths = np.array([s.shape[0] for s in stacks], dtype=np.int64)
    D = max(int(depths.max(initial=0)), int(base_depths.max(initial=0)), 1)
    S = np.zeros((n, D, K), dtype=np.uint64)
    for b, s in enumerate(stacks):
        S[b, :s.shape[0]] = s
    crashed = (np.stack([run.crash for run in runs]) if n else np.zeros((0, K), np.int64)) != batch.NO_CRASH
    base_crashed = np.array([p.base.crashed for p in unique]).reshape(-1, K)[tid]
    base_stack = _by_task(unique, lambda p: p.base.stack, D, K)  # (tasks, D, K)
    live = depths - bottom

    R = max((len(p.node_of) for p in unique), default=0)
    slot_nodes = slot_nodes_of(S, depths, live, crashed, tid, _by_task(unique, lambda p: p.node_values, R, K),
                               _by_task(unique, lambda p: p.node_known, R, K, bool, False),
                               _by_task(unique, lambda p: p.node_of[:, None], R, 1, np.int64, -1)[:, :, 0])
    ready = outputs_ready_of(S, depths, bottom, arity, crashed, base_crashed, base_stack, tid)

    # EOS: crash pattern and depth, then shapes and stack (rows past a depth are zero padding in both) for the
    # rows left, the rest exactly for the few candidates
    base_outputs = [len(p.base.output) for p in unique]
    base_sponge = [p.base.sponge is None for p in unique]
    candidate = (crashed == base_crashed).all(-1) & (depths == base_depths[tid])
    left = np.flatnonzero(candidate)
    if len(left):
        at_left = tid[left]
        candidate[left] = ((S[left] == base_stack[at_left]) | base_crashed[left, None, :]).all((1, 2)) \
            & np.array([len(runs[b].plan.output) == base_outputs[t] and (runs[b].plan.sponge is None) == base_sponge[t]
                        for b, t in zip(left.tolist(), at_left.tolist())], dtype=bool)
    eos_ok = np.zeros(n, dtype=bool)
    for b in np.flatnonzero(candidate):
        eos_ok[b] = probes[b].matches(probes[b].outcome(runs[b]))

    # lost and pop_loses: some pair the baseline tells apart left in identical states
    n_pairs = max((len(p.pairs[0]) for p in unique), default=0)
    pair_i = _by_task(unique, lambda p: p.pairs[0][None], 1, n_pairs, np.int64)[tid, 0]  # (n, pairs)
    pair_j = _by_task(unique, lambda p: p.pairs[1][None], 1, n_pairs, np.int64)[tid, 0]
    real = _by_task(unique, lambda p: np.ones((1, len(p.pairs[0])), bool), 1, n_pairs, bool, False)[tid, 0]
    effects = ()
    if n_pairs:
        outputs = [run.V[run.plan.output] if run.plan.output else None for run in runs]
        sponges = [None if run.plan.sponge is None else run.V[run.plan.sponge] for run in runs]
        written = [_written(run, p.inputs, K) for run, p in zip(runs, probes)]
        effects = (_padded(outputs, K), _padded(sponges, K), _padded(written, K))
    lost, pop_loses = pair_losses(S, depths, live, crashed, base_crashed, pair_i, pair_j, real, effects)
    return FactArrays(slot_nodes, ready, lost, eos_ok, pop_loses)


def _written(run: Run, inputs: batch.Inputs, K: int) -> np.ndarray:
    """(2w, K): address, final contents, ... of every write (as ``TaskProbes.outcome`` gives them)."""
    plan = run.plan
    if not plan.writes:
        return np.zeros((0, K), np.uint64)
    writes = run.V[plan.writes]
    written = np.empty_like(writes)
    written[0::2] = writes[0::2]
    # a written cell's final contents are its last write's, whatever it held before: no initial RAM needed
    written[1::2] = final_ram(run, inputs, writes[0::2], np.zeros_like(writes[0::2]))
    return written


def state_digest(stack: np.ndarray, crashed: np.ndarray, output: np.ndarray, written: np.ndarray,
                 sponge: np.ndarray | None) -> bytes:
    """The bytes of a prefix's whole state on the probes (stack (d, K), crash bits (K,), public output (o, K),
    RAM written (2w, K): address, final contents, ..., sponge or None): equal exactly when every part is (the
    one home of :meth:`~tasm_env.emission.values.ValueModel.value_key`'s digest, which the fast path's keys
    must equal byte for byte)."""
    parts = [stack, crashed, output, written, np.zeros(0) if sponge is None else sponge]
    return b"|".join(np.ascontiguousarray(p).tobytes() + bytes(str(p.shape), "ascii") for p in parts) \
        + (b"n" if sponge is None else b"s")
