"""Reachability patterns: the per-budget words summed class by class equal the packed bit array's."""

import numpy as np
import pytest

from hypothesis import given, settings, strategies as st

from tasm_env.emission.reach import (UNREACHABLE, distances, finishing_moves, move_classes, pattern_words, segment,
                                     unique_words)
from tasm_env.emission.vocab import Vocabulary
from tasm_env.envs.common import resolve_tasks, task_spec

VOCAB = Vocabulary.default()
PAD = int(max(1, np.abs(VOCAB.delta).max()))
SPECS = [task_spec(t, VOCAB, None) for t in resolve_tasks(suite="tasm-basic-v1", split="train")]
SIGNATURES = sorted({(s.output_arity, s.io_totals) for s in SPECS})[::3]  # every third of the suite's


@pytest.mark.parametrize("typed", [False, True])
@pytest.mark.parametrize("signature", SIGNATURES)
def test_summed_words_equal_the_packed_bits(signature, typed):
    classes, _ = move_classes(VOCAB, PAD)
    flat, after, _ = segment(finishing_moves(VOCAB, typed), classes, 64, PAD, *signature)
    assert after.shape[1] <= 64  # the summed path is the one taken
    for columns in (1, 2, 7, 40):
        fast, packed = pattern_words(flat, after, columns), pattern_words(flat, after, columns, packed=True)
        assert fast.dtype == packed.dtype == np.uint64
        assert np.array_equal(fast, packed)
        assert len(np.unique(fast)) > 1 or columns == 1


@pytest.mark.parametrize("signature", SIGNATURES)
def test_unique_words_equal_numpy_unique_on_the_suite_tables(signature):
    classes, _ = move_classes(VOCAB, PAD)
    flat, after, _ = segment(finishing_moves(VOCAB, False), classes, 64, PAD, *signature)
    for columns in (1, 3, 12):
        words = pattern_words(flat, after, columns)[:, 0]
        unique, inverse = unique_words(words, columns)
        expected, expected_inverse = np.unique(words, return_inverse=True)
        assert np.array_equal(unique, expected)
        assert np.array_equal(inverse, expected_inverse.reshape(-1))
        assert np.array_equal(unique[inverse], words)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 6), st.lists(st.integers(0, 5), min_size=1, max_size=60))
def test_unique_words_equal_numpy_unique_on_any_words(columns, values):
    """Any words, monotone or not, runs or not (the states' rows are whatever ``values`` gives)."""
    states = -(-len(values) // columns)
    words = np.resize(np.array(values, dtype=np.uint64), states * columns)  # whole states, the values repeated
    unique, inverse = unique_words(words, columns)
    expected, expected_inverse = np.unique(words, return_inverse=True)
    assert np.array_equal(unique, expected)
    assert np.array_equal(inverse, expected_inverse.reshape(-1))


def gathered_after(dist: np.ndarray, classes: tuple) -> np.ndarray:
    """The definition of ``segment``'s after table: per state and move class, the distance of the state the move
    leads to (a gather over flat state indices), UNREACHABLE where the move leaves the table or owes too little."""
    P_, S_, M_, W_ = (n - 1 for n in dist.shape[3::-1])
    Dp = dist.shape[-1]
    strides = (2 * Dp * (P_ + 1) * (S_ + 1) * (M_ + 1), 2 * Dp * (P_ + 1) * (S_ + 1), 2 * Dp * (P_ + 1), 2 * Dp)
    flat = dist.reshape(-1)
    w, m, s, p, f, d = np.indices(dist.shape).reshape(6, -1)
    owed, counter_strides = (p, s, m, w), strides[::-1]
    after = np.full((flat.size, len(classes)), UNREACHABLE, dtype=np.int64)
    for c, cls in enumerate(classes):
        if cls[0] == "eos":
            after[:, c] = flat
            continue
        valid = (d + cls[1] >= 0) & (d + cls[1] < Dp)
        nxt = np.arange(flat.size) + cls[1]
        if cls[0] == "io":
            valid &= owed[cls[2]] >= cls[3]
            nxt = nxt - cls[3] * counter_strides[cls[2]]
        elif cls[0] == "start":
            nxt = nxt + (1 - f) * Dp
        after[valid, c] = flat[nxt[valid]]
    return after


@pytest.mark.parametrize("signature", SIGNATURES)
def test_segment_after_table_equals_the_gathered_definition(signature):
    classes, _ = move_classes(VOCAB, PAD)
    moves = finishing_moves(VOCAB, False)
    flat, after, strides = segment(moves, classes, 64, PAD, *signature)
    dist = distances(moves, 64, PAD, *signature)
    assert np.array_equal(flat, dist.reshape(-1))
    assert np.array_equal(after, gathered_after(dist, classes))
    assert strides[0] == dist.shape[-1]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 4), st.tuples(*[st.integers(0, 3)] * 4), st.integers(4, 12), st.booleans())
def test_segment_after_table_equals_the_gathered_definition_on_any_signature(arity, totals, max_depth, typed):
    classes, _ = move_classes(VOCAB, PAD)
    moves = finishing_moves(VOCAB, typed)
    _, after, _ = segment(moves, classes, max_depth, PAD, min(arity, max_depth), totals)
    assert np.array_equal(after, gathered_after(distances(moves, max_depth, PAD, min(arity, max_depth), totals),
                                                classes))


def swept_distances(moves: tuple, max_depth: int, pad: int, target: int, totals: tuple) -> np.ndarray:
    """The definition of ``distances``: Bellman-Ford sweeps, each relaxing every move from the previous sweep's
    table (a copy), until a sweep changes nothing."""
    P_, S_, M_, W_ = totals
    dist = np.full((W_ + 1, M_ + 1, S_ + 1, P_ + 1, 2, max_depth + 1 + 2 * pad), UNREACHABLE, dtype=np.int64)
    dist[0, 0, 0, 0, :, pad + target] = 0
    while True:
        new = dist.copy()
        for reads, delta, up, us, um, uw, needs, starts in moves:
            lo, hi = max(reads, -delta), min(max_depth, max_depth - delta)
            if lo > hi or up > P_ or us > S_ or um > M_ or uw > W_:
                continue
            for f in (1,) if needs else (0, 1):
                source = new[uw:, um:, us:, up:, f, pad + lo:pad + hi + 1]
                after = dist[:W_ + 1 - uw, :M_ + 1 - um, :S_ + 1 - us, :P_ + 1 - up, max(f, int(starts)),
                             pad + lo + delta:pad + hi + delta + 1]
                np.minimum(source, after + 1, out=source)
        if np.array_equal(new, dist):
            return dist
        dist = new


@pytest.mark.parametrize("signature", SIGNATURES)
def test_distances_equal_the_swept_definition(signature):
    moves = finishing_moves(VOCAB, False)
    assert np.array_equal(distances(moves, 64, PAD, *signature), swept_distances(moves, 64, PAD, *signature))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 4), st.tuples(*[st.integers(0, 3)] * 4), st.integers(4, 12), st.booleans())
def test_distances_equal_the_swept_definition_on_any_signature(arity, totals, max_depth, typed):
    moves = finishing_moves(VOCAB, typed)
    key = (min(arity, max_depth), totals)
    assert np.array_equal(distances(moves, max_depth, PAD, *key), swept_distances(moves, max_depth, PAD, *key))
