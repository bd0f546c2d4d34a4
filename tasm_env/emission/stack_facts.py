"""The value facts of covered prefixes (:mod:`tasm_env.emission.value_stacks`) from their carried arrays: the
stacks bottom-aligned and zero-padded (n, D, K), the crash bits (n, K), the RAM write logs and the public
output, every task's at once, by the exact comparisons of :func:`tasm_env.emission.probe_facts.facts_of_tasks`
(the reference's batched twin) on each task's tables padded to the largest (:class:`StackTables`)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..asm import Program
from .probe_facts import MAX_POP, SLOT_WINDOW, FactArrays, node_table, outputs_ready_of, pair_losses, slot_nodes_of

__all__ = ["NO_DIFFERENCE", "PACKED_WIDTHS", "StackTables", "facts_of_stacks", "first_differences", "pack_facts",
           "stepped_differences", "unpack_facts", "written_of"]

NO_DIFFERENCE = np.int32(2**30)
"""A first difference above every stack: the two lanes' stacks are equal."""


class StackTables:
    """Every probed task's tables (:class:`~tasm_env.emission.values.TaskProbes`), padded to the largest."""

    def __init__(self, probes: Sequence):
        K = probes[0].k
        self.K, n = K, len(probes)
        self.bottom = np.array([p.bottom for p in probes], dtype=np.int64)
        self.arity = np.array([p.arity for p in probes], dtype=np.int64)
        self.base_depth = np.array([p.base.stack.shape[0] for p in probes], dtype=np.int64)
        self.base_crashed = np.array([p.base.crashed for p in probes]).reshape(n, K)
        D = int(self.base_depth.max())
        self.base_stack = np.zeros((n, D, K), np.uint64)
        R = max(len(p.node_of) for p in probes)
        self.node_values = np.zeros((n, R, K), np.uint64)
        self.node_known = np.zeros((n, R, K), bool)
        self.node_of = np.full((n, R), -1, np.int64)
        P = max(len(p.pairs[0]) for p in probes)
        self.pair_i = np.zeros((n, P), np.int64)
        self.pair_j = np.zeros((n, P), np.int64)
        self.real = np.zeros((n, P), bool)
        self.base_outputs = np.array([len(p.base.output) for p in probes], dtype=np.int64)
        self.base_output = np.zeros((n, int(self.base_outputs.max(initial=0)), K), np.uint64)
        self.base_sponge = np.array([p.base.sponge is not None for p in probes], dtype=bool)
        self.eos_ram = np.zeros(n, bool)  # the empty prefix's RAM matches the baseline's
        # each lane's input streams (value_io): (tasks, words, K), zero-padded, and their lengths
        self.n_public = np.array([p.shape.public_inputs for p in probes], dtype=np.int64)
        self.n_secret = np.array([p.shape.secret_inputs for p in probes], dtype=np.int64)
        self.streams = (np.zeros((n, int(self.n_public.max(initial=0)), K), np.uint64),
                        np.zeros((n, int(self.n_secret.max(initial=0)), K), np.uint64))
        for t, p in enumerate(probes):
            self.base_stack[t, :p.base.stack.shape[0]] = p.base.stack
            r = len(p.node_of)
            self.node_values[t, :r], self.node_known[t, :r], self.node_of[t, :r] = \
                p.node_values, p.node_known, p.node_of
            m = len(p.pairs[0])
            self.pair_i[t, :m], self.pair_j[t, :m], self.real[t, :m] = p.pairs[0], p.pairs[1], True
            self.base_output[t, :len(p.base.output)] = p.base.output
            self.streams[0][t, :p.shape.public_inputs] = p.inputs.public_input.T
            self.streams[1][t, :p.shape.secret_inputs] = p.inputs.secret_input.T
            # a covered prefix that writes no RAM has the empty prefix's RAM match (see facts_of_stacks)
            empty = p.outcome(p.evaluate(Program(())))
            self.eos_ram[t] = bool(empty.ram_match[~p.base.crashed].all())
        self.node_table = node_table(self.node_values, self.node_known, self.node_of)  # the slot lookup's


def facts_of_stacks(tables: StackTables, tid: np.ndarray, S: np.ndarray, depths: np.ndarray,
                    crashed: np.ndarray, written: np.ndarray, writes: np.ndarray,
                    sponge: np.ndarray | None = None,
                    output: tuple[np.ndarray, np.ndarray] | None = None,
                    first_diff: np.ndarray | None = None) -> tuple[FactArrays, np.ndarray]:
    """The facts of covered prefixes: row b of task ``tid[b]`` has the stack ``S[b, :depths[b]]`` (bottom-
    aligned, zero-padded, (n, D, K)) and crash bits ``crashed[b]``; as :func:`~tasm_env.emission.probe_facts.
    facts_of_tasks` gives them for the same prefixes' runs (``written``
    (n, 2w, K): address, final contents, ... of each write, zero-padded; ``writes`` (n,): the row wrote RAM;
    ``sponge`` (n,): the row's sponge is a constant, the same on every lane (``sponge_init``), else it has
    none; ``output``: the public output (n, o, K) in write order, zero-padded, and (n,) its lengths, None: none
    written; ``first_diff``: the rows' :func:`first_differences`, None: computed here). Also (n,) ``defer``:
    rows that wrote RAM or have a sponge and match the baseline but for RAM and the sponge, whose ``eos_ok``
    needs those compared (the reference's to say). A constant sponge never tells two lanes apart: ``lost`` and
    ``pop_loses`` are as without it.

    RAM: a prefix that writes none has the initial RAM at every cell, and where it reads a cell the baseline
    also wrote (on that lane), the cell is among the baseline's touched ones: its RAM match is the empty
    prefix's (``eos_ram``), reads or not."""
    n, D, K = S.shape
    Db = tables.base_stack.shape[1]
    if Db > D:
        S = np.concatenate([S, np.zeros((n, Db - D, K), np.uint64)], 1)
        D = Db
    bottom, arity = tables.bottom[tid], tables.arity[tid]
    base_crashed = tables.base_crashed[tid]
    live = depths - bottom
    slot_nodes = slot_nodes_of(S, depths, live, crashed, tid, tables.node_values, tables.node_known, tables.node_of,
                               table=tables.node_table)
    ready = outputs_ready_of(S, depths, bottom, arity, crashed, base_crashed, tables.base_stack, tid)

    if output is None:
        output = (np.zeros((n, 0, K), np.uint64), np.zeros(n, np.int64))
    # as the verifier compares: the crash pattern, the shapes (depth, output length, a sponge or none), then
    # the stack and output values where the baseline runs (rows past a length are zero padding in both)
    eos_ok = (tables.base_sponge[tid] == (False if sponge is None else sponge)) \
        & (output[1] == tables.base_outputs[tid]) & (crashed == base_crashed).all(-1) \
        & (depths == tables.base_depth[tid])
    left = np.flatnonzero(eos_ok)
    if len(left):
        for mine, theirs in ((S, tables.base_stack), (output[0], tables.base_output)):
            W = max(mine.shape[1], theirs.shape[1])
            x, y = np.zeros((len(left), W, K), np.uint64), np.zeros((len(left), W, K), np.uint64)
            x[:, :mine.shape[1]], y[:, :theirs.shape[1]] = mine[left], theirs[tid[left]]
            eos_ok[left] &= ((x == y) | base_crashed[left, None, :]).all((1, 2))
    defer = eos_ok & (writes if sponge is None else writes | sponge)  # RAM or sponge values to compare
    eos_ok &= tables.eos_ram[tid]

    # a constant sponge is the same on every lane: the output and RAM written tell pairs apart beside the stack
    if first_diff is None:
        first_diff = first_differences(S, depths)
    pair_i, pair_j = tables.pair_i[tid], tables.pair_j[tid]
    pair_diff = np.take_along_axis(first_diff, pair_i * K + pair_j, 1)
    lost, pop_loses = pair_losses(None, depths, live, crashed, base_crashed, pair_i, pair_j, tables.real[tid],
                                  (output[0], written), pair_diff)
    return FactArrays(slot_nodes, ready, lost, eos_ok, pop_loses), defer


def first_differences(S: np.ndarray, depths: np.ndarray) -> np.ndarray:
    """(n, K * K) int32: for each ordered pair of lanes (i, j), at ``i * K + j``, the lowest height below
    ``depths[b]`` where lanes i and j of ``S[b]`` ((n, D, K), bottom-aligned) differ, else NO_DIFFERENCE: with it
    ``pair_losses`` compares the stack below any height with one comparison (a child carries its parent's,
    :func:`stepped_differences`, instead of comparing its whole stack again)."""
    n, D, K = S.shape
    differ = (S[:, :, :, None] != S[:, :, None, :]) & (np.arange(D)[None, :, None, None] < depths[:, None, None, None])
    found = differ.any(1)
    return np.where(found, differ.argmax(1), NO_DIFFERENCE).astype(np.int32).reshape(n, K * K)


def stepped_differences(parent: np.ndarray, base: np.ndarray, rb: np.ndarray, rj: np.ndarray,
                        values: np.ndarray) -> np.ndarray:
    """The :func:`first_differences` of children whose stacks keep their parents' slots below ``base`` (n,) and
    hold ``values`` (Q, K) at heights ``base[rb] + rj`` above it (every slot from base to the new depth): a
    parent's difference below base stays, else the children's lowest one among the new slots."""
    n, KK = parent.shape
    K = values.shape[1]
    keep = parent < base[:, None]
    out = np.where(keep, parent, NO_DIFFERENCE)
    # only the rows with two lanes alike below base look at the new slots (a lane is always like itself)
    open_ = ~(keep | np.eye(K, dtype=bool).reshape(1, KK)).all(1)
    q = np.flatnonzero(open_[rb])
    rb, rj, values = rb[q], rj[q], values[q]
    for r in range(int(rj.max(initial=-1)) + 1):  # slot by slot upwards: the lowest difference wins
        at = np.flatnonzero(rj == r)
        b = rb[at]
        v = values[at]
        hit = (v[:, :, None] != v[:, None, :]).reshape(len(at), KK) & (out[b] == NO_DIFFERENCE)
        out[b] = np.where(hit, (base[b] + r)[:, None].astype(np.int32), out[b])
    return out


def written_of(logs: Sequence[np.ndarray], K: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 2w, K) address, final contents, ... of every write of each row's log (zero-padded, as the reference's
    ``probe_facts`` pads them), and (n,) whether the row wrote at all."""
    lengths = np.array([len(log) for log in logs], dtype=np.int64)
    W = int(lengths.max(initial=0))
    out = np.zeros((len(logs), W, K), np.uint64)
    for w in np.unique(lengths[lengths > 0]).tolist():  # the logs of one length at once
        rows = np.flatnonzero(lengths == w)
        log = np.stack([logs[b] for b in rows.tolist()])  # (g, w, K)
        address, value = log[:, 0::2], log[:, 1::2]
        hit = address[:, None, :, :] == address[:, :, None, :]  # (g, k, j, K): write j went where write k did
        last = hit.shape[2] - 1 - np.argmax(hit[:, :, ::-1], axis=2)  # the latest such write wins
        out[rows, 0:w:2] = address
        out[rows, 1:w:2] = np.take_along_axis(value, last, axis=1)
    return out, lengths > 0


PACKED_WIDTHS = (SLOT_WINDOW, SLOT_WINDOW, 1, 1, MAX_POP + 1)
"""Packed facts: slot_nodes, outputs_ready (padded to 16), lost, eos_ok, pop_loses, as int64 columns."""


def pack_facts(f: FactArrays) -> np.ndarray:
    """(n, 40) int64: the facts of n prefixes in one array (one object per prefix kept)."""
    ready = np.zeros((len(f.lost), SLOT_WINDOW), np.int64)
    width = min(f.outputs_ready.shape[1], SLOT_WINDOW)
    ready[:, :width] = f.outputs_ready[:, :width]
    return np.concatenate([f.slot_nodes, ready, f.lost[:, None], f.eos_ok[:, None], f.pop_loses], 1).astype(np.int64)


def unpack_facts(packed: np.ndarray) -> FactArrays:
    """The inverse of :func:`pack_facts`."""
    parts = np.split(packed, np.cumsum(PACKED_WIDTHS)[:-1], axis=1)
    return FactArrays(parts[0], parts[1].astype(bool), parts[2][:, 0].astype(bool), parts[3][:, 0].astype(bool),
                      parts[4].astype(bool))
