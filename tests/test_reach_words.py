"""Reachability patterns: the per-budget words summed class by class equal the packed bit array's."""

import numpy as np
import pytest

from tasm_env.emission.reach import finishing_moves, move_classes, pattern_words, segment
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
