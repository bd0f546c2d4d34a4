"""The fast path's value keys (ValueStacks.value_keys, StackMachine.stored_value_keys) against the reference's
(ValueModel.value_key), and the beam's carried value arrays (StackMachine.gather) against arrays computed anew."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tasm_env as te
from test_value_stacks import FIELDS, MACHINE, SPECS, TASKS, VOCAB, decodable_prefixes
from tasm_env.emission.state import EmissionState
from tasm_env.emission.value_stacks import ValueStacks


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.integers(0, len(TASKS) - 1), st.lists(st.integers(1, len(VOCAB) - 1), max_size=12)),
                min_size=1, max_size=16), st.integers(1, 64))
def test_stored_keys_are_the_reference_keys_byte_for_byte(rows, size):
    """Any decodable tokens (crashes, underflows, RAM writes and reads, I/O, the sponge), with stores of any
    size: a key the store gives is the reference's bytes; it gives none only for a row it does not cover or
    one with a sponge."""
    keys = decodable_prefixes(rows)
    if not keys:
        return
    stacks = ValueStacks(MACHINE.values, store_size=size)
    for key, got in zip(keys, stacks.value_keys(keys)):
        if got is not None:
            assert got == MACHINE.values.value_key(*key), key


def test_stored_keys_cover_ram_writes_and_tell_states_apart():
    """Not vacuous: the known baselines' prefixes get stored keys, writing ones among them, and the keys of a
    task's distinct states differ as the reference's do (equal exactly where the reference's are)."""
    stacks, given_, writing, pairs = ValueStacks(MACHINE.values), 0, 0, 0
    for index, task in enumerate(TASKS):
        tokens = SPECS[index].bound.encode(te.Program.coerce(task.baseline))
        keys = [(index, tuple(tokens[:m])) for m in range(len(tokens) + 1)]
        got = stacks.value_keys(keys)
        reference = [MACHINE.values.value_key(*key) for key in keys]
        for key, g, r in zip(keys, got, reference):
            if g is not None:
                given_ += 1
                assert g == r, key
                writing += "write_mem" in str(SPECS[index].bound.decode(list(key[1])))
        mine = [(g, r) for g, r in zip(got, reference) if g is not None]
        for a in range(len(mine)):
            for b in range(a):
                pairs += 1
                assert (mine[a][0] == mine[b][0]) == (mine[a][1] == mine[b][1])
    assert given_ > 20 and writing and pairs


def test_stored_keys_are_none_without_the_fast_path():
    state = MACHINE.initial(list(range(len(TASKS))))
    MACHINE.fast_values = False
    try:
        assert MACHINE.stored_value_keys(EmissionState(state.data, state.task, state.layout)) == [None] * len(TASKS)
    finally:
        MACHINE.fast_values = True
    assert all(key is not None for key in MACHINE.stored_value_keys(state))


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 2**31))
def test_gathered_rows_carry_the_value_arrays_they_would_compute(seed):
    """Rows picked from several stepped states, in any order, repeated or not: the gathered state's rows are the
    picked ones and its carried value arrays equal those computed afresh for the same rows."""
    rng = np.random.default_rng(seed)
    state, parts = MACHINE.initial(rng.integers(0, len(TASKS), 6).tolist()), []
    for _ in range(4):
        mask = MACHINE.forward_masks(state, "typed").numpy().copy()
        mask[:, 0] = False
        state = MACHINE.step(state, torch.from_numpy((rng.random(mask.shape) * mask).argmax(1)))
        MACHINE.value_facts(state)
        parts.append((state, rng.integers(0, len(state), int(rng.integers(0, 5))).tolist()))
    gathered = MACHINE.gather(parts)
    assert torch.equal(gathered.data, torch.cat([s.data[i] for s, i in parts]))
    assert torch.equal(gathered.task, torch.cat([s.task[i] for s, i in parts]))
    carried = MACHINE.value_arrays(gathered)
    fresh = MACHINE.value_arrays(EmissionState(gathered.data.clone(), gathered.task.clone(), gathered.layout))
    assert carried.keys == fresh.keys
    for name in FIELDS:
        assert np.array_equal(getattr(carried, name), getattr(fresh, name)), name


def test_a_cell_written_twice_keys_its_final_contents():
    """Cell 1 written with 0, then with the input's top: the reference keys each write with the cell's final
    contents (not the value the write put), and so must the store."""
    program, checked = te.Program.parse("push 0\npush 1\nwrite_mem 1\npop 1\ndup 0\npush 1\nwrite_mem 1\npop 1"), 0
    for index, spec in enumerate(SPECS):
        try:
            tokens = spec.bound.encode(program)
        except te.TasmError:
            continue
        keys = [(index, tuple(tokens[:m])) for m in range(len(tokens) + 1)]
        got = ValueStacks(MACHINE.values).value_keys(keys)
        assert got[-1] is not None
        for key, g in zip(keys, got):
            checked += g is not None
            assert g is None or g == MACHINE.values.value_key(*key), key
    assert checked
