"""Reachability: can a prefix still be finished within its budget?

Whether a block can still be finished depends on (live depth, sponge flag, input/output still owed) and on the
budget left. For every task signature (output arity, I/O totals) a shortest-path table gives the minimum number
of tokens from each such state to the end. A token moves the state by its "move class": a depth change (most
tokens), an I/O step (also moves a count), switching the sponge on, or ending (EOS). For every state and every
budget left, which classes keep the block finishable is a bit pattern; there are few distinct patterns, so a
mask is two row lookups: static legality (reads, sponge, types, bound slots) and the pattern
(:class:`Reachability`). Everything here is numpy, built once per task set.
"""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np

from ..errors import TasmError
from .spec import TaskSpec
from .state import COUNTERS, TYPE_CHECK_EXEMPT
from .vocab import Kind, Vocabulary

UNREACHABLE = 1 << 20
"""Distance of a state from which the block cannot be finished."""


@functools.lru_cache(maxsize=4096)
def distances(moves: tuple, max_depth: int, pad: int, target: int, totals: tuple[int, int, int, int]) -> np.ndarray:
    """Minimum tokens from every (outputs owed, digests owed, secret owed, public owed, sponge, padded live
    depth) to live depth ``target`` with nothing owed, using ``moves`` = (reads, delta, public, secret, digests,
    outputs, needs_sponge, starts_sponge). The depth axis has ``pad`` unreachable cells on both sides."""
    P_, S_, M_, W_ = totals
    Dp = max_depth + 1 + 2 * pad
    dist = np.full((W_ + 1, M_ + 1, S_ + 1, P_ + 1, 2, Dp), UNREACHABLE, dtype=np.int64)
    dist[0, 0, 0, 0, :, pad + target] = 0
    # Bellman-Ford in place (each relaxation sees the ones before it: fewer sweeps than from a copy, the same
    # fixed point, the shortest distances); a sweep that changes nothing ends it
    before = np.empty_like(dist)
    while True:
        before[...] = dist
        for reads, delta, up, us, um, uw, needs, starts in moves:
            lo, hi = max(reads, -delta), min(max_depth, max_depth - delta)
            if lo > hi or up > P_ or us > S_ or um > M_ or uw > W_:
                continue
            for f in (1,) if needs else (0, 1):
                source = dist[uw:, um:, us:, up:, f, pad + lo:pad + hi + 1]
                after = dist[:W_ + 1 - uw, :M_ + 1 - um, :S_ + 1 - us, :P_ + 1 - up, max(f, int(starts)),
                             pad + lo + delta:pad + hi + delta + 1]
                np.minimum(source, after + 1, out=source)  # after + 1 is a new array: no aliasing
        if np.array_equal(before, dist):
            dist.flags.writeable = False
            return dist


@functools.lru_cache(maxsize=64)  # a pure function of the vocabulary: once per env, not per task
def finishing_moves(vocab: Vocabulary, typed: bool) -> tuple:
    """Distinct effects of the fixed instruction tokens that are legal whatever the slot types under ``typed``
    (all of them under ``stack``), each with the smallest ``reads`` among the tokens having it."""
    best: dict[tuple, int] = {}
    for i in np.flatnonzero(vocab.kind == Kind.INSTRUCTION):
        if typed and vocab.u32_operands[i].any() and vocab.mnemonic[i] not in TYPE_CHECK_EXEMPT:
            continue
        effect = (int(vocab.delta[i]), *(int(getattr(vocab, c)[i]) for c in COUNTERS),
                  bool(vocab.needs_sponge[i]), bool(vocab.starts_sponge[i]))
        best[effect] = min(best.get(effect, 1 << 30), int(vocab.reads[i]))
    return tuple(sorted((reads, *effect) for effect, reads in best.items()))


@functools.lru_cache(maxsize=64)  # a pure function of the vocabulary: once per env, not per signature
def move_classes(vocab: Vocabulary, pad: int) -> tuple[tuple, np.ndarray]:
    """The move classes (``("eos",)``, ``("delta", d)``, ``("io", d, counter, count)``, ``("start", d)``) and
    each token's class index (cached: never written to)."""
    classes: list[tuple] = [("eos",)] + [("delta", d) for d in range(-pad, pad + 1)]
    class_of = np.zeros(len(vocab), dtype=np.int64)
    for i in range(len(vocab)):
        use = [int(getattr(vocab, c)[i]) for c in COUNTERS]
        delta = int(vocab.delta[i])
        if vocab.kind[i] == Kind.EOS:
            cls = ("eos",)
        elif any(use):
            if sum(u > 0 for u in use) > 1:
                raise TasmError(f"token {i} consumes or produces two kinds of input/output; not supported")
            j = int(np.argmax(use))
            cls = ("io", delta, j, use[j])
        elif vocab.starts_sponge[i]:
            cls = ("start", delta)
        else:
            cls = ("delta", delta)
        if cls not in classes:
            classes.append(cls)
        class_of[i] = classes.index(cls)
    return tuple(classes), class_of


@functools.lru_cache(maxsize=1024)
def segment(moves: tuple, classes: tuple, max_depth: int, pad: int, target: int, totals: tuple) -> tuple:
    """One signature's flat distance table, the distance after each move class from each state (INF where the
    move is impossible), and the strides (sponge, public, secret, digests, outputs)."""
    dist = distances(moves, max_depth, pad, target, totals)
    P_, S_, M_, W_ = totals
    Dp = dist.shape[-1]
    counter_strides = (2 * Dp, 2 * Dp * (P_ + 1), 2 * Dp * (P_ + 1) * (S_ + 1), 2 * Dp * (P_ + 1) * (S_ + 1) * (M_ + 1))
    flat = dist.reshape(-1)
    # each class's "after" is the distance table shifted along the axes its move changes (slices, no gathers)
    after = np.full((*dist.shape, len(classes)), UNREACHABLE, dtype=np.int64)
    axis_of = (3, 2, 1, 0)  # the table axis of each counter (public, secret, digests, outputs owed)
    for c, cls in enumerate(classes):
        if cls[0] == "eos":
            after[..., c] = dist
            continue
        delta = cls[1]
        lo, hi = max(0, -delta), min(Dp, Dp - delta)  # depths d with d + delta inside the table
        if lo >= hi:
            continue
        target_ = [slice(None)] * 6
        source = [slice(None)] * 6
        target_[5], source[5] = slice(lo, hi), slice(lo + delta, hi + delta)
        if cls[0] == "io":
            _, _, j, count = cls
            axis = axis_of[j]
            if count >= dist.shape[axis]:
                continue
            target_[axis], source[axis] = slice(count, None), slice(0, dist.shape[axis] - count)
        elif cls[0] == "start":
            source[4] = slice(1, 2)  # the sponge is on after it (from either flag)
        after[(*target_, c)] = dist[tuple(source)]
    after = after.reshape(flat.size, len(classes))
    return flat, after, (Dp, *counter_strides)


def pattern_words(flat: np.ndarray, after: np.ndarray, columns: int, packed: bool = False) -> np.ndarray:
    """(states * columns, words) uint64: per (state, budget left b), the bits of the move classes that keep the
    block finishable (class c's bit: ``after[state, c] <= b - 1``; EOS, class 0: nothing is left to do), packed as
    ``np.packbits`` packs them along the classes and read as little-endian 64-bit words (rows sort as integers).
    With one word (at most 64 classes) the bits are summed per class at the budget where they turn on and
    accumulated over budgets; ``packed=True`` (or more classes) builds the whole (states, columns, classes)
    bit array and packs it (the definition)."""
    states, n_classes = after.shape
    if packed or n_classes > 64:
        slack = np.arange(columns) - 1  # tokens allowed after the next one
        bits = after[:, None, :] <= slack[None, :, None]  # (states, columns, classes)
        bits[:, :, 0] = (flat == 0)[:, None]  # EOS: legal iff nothing is left to do
        bytes_ = np.packbits(bits, axis=-1).reshape(states * columns, -1)
        width = -(-bytes_.shape[1] // 8) * 8  # whole 64-bit words
        words = np.zeros((len(bytes_), width), dtype=np.uint8)
        words[:, : bytes_.shape[1]] = bytes_
        return words.view(np.uint64)
    # np.packbits puts class c in byte c // 8 at bit 7 - c % 8; byte k of a little-endian word weighs 256 ** k
    weight = [np.uint64(1 << (8 * (c // 8) + 7 - c % 8)) for c in range(n_classes)]
    turns_on = np.zeros(states * (columns + 1), dtype=np.uint64)  # class bits added at each (state, budget left)
    cell = np.arange(states) * (columns + 1)
    turn = np.minimum(after + 1, columns)  # class c is on from budget after + 1 (never if that is past the table)
    for c in range(1, n_classes):  # one class at a time: its cells are distinct (one per state)
        turns_on[cell + turn[:, c]] += weight[c]
    words = np.cumsum(turns_on.reshape(states, columns + 1)[:, :columns], axis=1, dtype=np.uint64)
    words += np.where(flat == 0, weight[0], np.uint64(0))[:, None]
    return words.reshape(states * columns, 1)


def unique_words(words: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(words, return_inverse=True)`` of one-word patterns laid out (state, budget left) with
    ``columns`` budgets per state, computed on the words where a state's pattern changes (few: a pattern only
    gains bits as the budget grows), then spread back over the runs."""
    grid = words.reshape(-1, columns)
    change = np.ones(grid.shape, dtype=bool)
    np.not_equal(grid[:, 1:], grid[:, :-1], out=change[:, 1:])
    unique, inverse = np.unique(grid[change], return_inverse=True)
    return unique, inverse[np.cumsum(change.reshape(-1)) - 1]


@functools.lru_cache(maxsize=256)
def _tables(vocab: Vocabulary, moves: tuple, max_depth: int, pad: int, signatures: tuple) -> tuple:
    """The tables of a list of task signatures (output arity, I/O totals), cached (a task set's first envs
    share them: nothing writes into the arrays): (columns, patterns, pattern_id, dist, each segment's first state
    and strides)."""
    classes, class_of = move_classes(vocab, pad)
    parts = [segment(moves, classes, max_depth, pad, *key) for key in signatures]
    longest = max((int(np.max(after[:, 1:], initial=0, where=after[:, 1:] < UNREACHABLE)) for _, after, _ in parts),
                  default=0)
    columns = 2 + longest  # budget left 0..columns-1; more than that allows everything finishable
    bases, offset = [], 0
    for flat, _, _ in parts:
        bases.append(offset)
        offset += flat.size
    words = np.concatenate([pattern_words(flat, after, columns) for flat, after, _ in parts])
    if words.shape[1] == 1:
        unique, inverse = unique_words(words[:, 0], columns)
    else:
        unique, inverse = np.unique(words, axis=0, return_inverse=True)
    unique_bits = np.unpackbits(unique.view(np.uint8).reshape(len(unique), -1), axis=1)[:, : len(classes)]
    patterns = np.ascontiguousarray(unique_bits[:, class_of], dtype=bool)  # (n, V)
    pattern_id = inverse.reshape(-1).astype(np.int32)  # ids fit; half the memory
    dist = np.concatenate([flat for flat, _, _ in parts]).astype(np.int32)
    return columns, patterns, pattern_id, dist, tuple(bases), tuple(strides for _, _, strides in parts)


class Reachability:
    """Reachability for one move set over all tasks of a machine (numpy arrays):

    * ``dist`` (n_states,) int32: the minimum tokens to finish from each state (:data:`UNREACHABLE` if none);
    * ``pattern_id`` (n_states * columns,) int32: the pattern of (state, budget left), budget left clipped to
      ``columns - 1`` (more allows everything finishable);
    * ``patterns`` (n_patterns, V) bool: which tokens keep the block finishable;
    * ``task_start`` (tasks,): each task's start state (live depth = its inputs, nothing done);
      ``task_strides`` (tasks, 5): how far the sponge flag and each I/O count move a state (a token's reach
      offset is ``delta - use @ counter strides + starts_sponge * sponge stride``).
    """

    def __init__(self, vocab: Vocabulary, moves: tuple, specs: Sequence[TaskSpec], max_depth: int, pad: int):
        signatures = tuple(dict.fromkeys((spec.output_arity, spec.io_totals) for spec in specs))
        self.columns, self.patterns, self.pattern_id, self.dist, bases, part_strides = \
            _tables(vocab, moves, max_depth, pad, signatures)
        segments = {key: i for i, key in enumerate(signatures)}
        self.n_states = len(self.dist)
        # per task: index of its start state (live depth = inputs, nothing done) and its strides
        self.task_start = np.zeros(len(specs), dtype=np.int64)
        self.task_strides = np.zeros((len(specs), 5), dtype=np.int64)
        for n, spec in enumerate(specs):
            seg = segments[(spec.output_arity, spec.io_totals)]
            strides = part_strides[seg]
            self.task_start[n] = bases[seg] + pad + spec.n_inputs + sum(t * s for t, s in zip(spec.io_totals,
                                                                                            strides[1:]))
            self.task_strides[n] = strides

