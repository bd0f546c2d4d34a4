"""``StackMachine.decode`` turns only each row's prefix into Python ints (one flat list): it decodes every row as
the row-by-row reference (``bound.decode(row[:length])`` of the whole padded rows) does, on states of several
tasks with mutated lengths (0 to past the row), EOS and pad ids inside the prefix, and negative lengths."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tasm_env.emission.state import EmissionState
from tasm_env.emission.vocab import EOS
from tasm_env.errors import TasmError

from test_stack import MACHINE, TASKS


def _reference(machine, state: EmissionState) -> list:
    tokens, lengths, tasks = state.tokens.tolist(), state.length.tolist(), state.task.tolist()
    return [machine.specs[n].bound.decode(row[:m]) for row, m, n in zip(tokens, lengths, tasks)]


def _outcome(decode, state):
    try:
        return decode(state)
    except TasmError as err:
        return type(err), str(err)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), rows=st.lists(st.integers(0, len(TASKS) - 1), min_size=1, max_size=12))
def test_decode_of_the_prefixes_is_the_reference(data, rows):
    base = MACHINE.encode([TASKS[t].baseline for t in rows], torch.tensor(rows))
    state = EmissionState(base.data.clone(), base.task.clone(), base.layout)
    width = state.tokens.shape[1]
    tokens_at, length_at = state.layout.tokens, state.layout.length
    for r in range(len(rows)):
        if data.draw(st.booleans(), label="new length"):
            state.data[r, length_at] = data.draw(st.integers(-3 if r else 0, width + 3), label="length")
        for _ in range(data.draw(st.integers(0, 2), label="marks")):  # an EOS or a pad inside the row
            at = data.draw(st.integers(0, width - 1), label="at")
            state.data[r, tokens_at.start + at] = data.draw(st.sampled_from([EOS, -1]), label="mark")
    state.forget()
    assert _outcome(MACHINE.decode, state) == _outcome(lambda s: _reference(MACHINE, s), state)


def test_decode_of_no_rows_is_empty():
    state = MACHINE.encode([TASKS[0].baseline], torch.tensor([0]))
    assert MACHINE.decode(EmissionState(state.data[:0], state.task[:0], state.layout)) == []


@pytest.mark.parametrize("cut", [0, 1, 3])
def test_decode_stops_at_the_length(cut):
    """A guard that the property test is not vacuous: a shorter length decodes a shorter program."""
    program = TASKS[0].baseline
    state = MACHINE.encode([program], torch.tensor([0]))
    n = int(state.length[0])
    state.data[0, state.layout.length] = max(n - cut, 0)
    state.forget()
    assert len(MACHINE.decode(state)[0]) == len(program) - min(cut, n)


@settings(max_examples=60, deadline=None)
@given(task=st.integers(0, len(TASKS) - 1), ids=st.lists(st.integers(-2, 300), max_size=12))
def test_decode_of_tensor_elements_is_decode_ids_of_their_ints(task, ids):
    """``decode`` (any ids: tensor elements, numpy ints) is ``decode_ids`` of the ids as Python ints: the same
    program, or the same error."""
    bound = MACHINE.specs[task].bound
    ids = [i if i < len(bound) else len(bound) - 1 for i in ids]
    want = _outcome(bound.decode_ids, ids)
    assert _outcome(bound.decode, torch.tensor(ids, dtype=torch.int64)) == want
    assert _outcome(bound.decode, [float(i) for i in ids]) == want  # int() per id, as before
