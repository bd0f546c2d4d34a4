"""Reachability patterns: the per-budget words summed class by class equal the packed bit array's."""

import numpy as np
import pytest

from hypothesis import given, settings, strategies as st

from tasm_env.emission.reach import finishing_moves, move_classes, pattern_words, segment, unique_words
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
