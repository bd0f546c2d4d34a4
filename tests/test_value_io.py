"""The value-stack fast path on I/O (:mod:`tasm_env.emission.value_io`): prefixes with ``read_io``, ``divine``
and ``write_io`` on tasks with public and secret inputs have the reference's facts and value keys byte for byte,
through the store and through the machine with ``fast_values`` on and off; a read past a stream's end is left
to the reference; the words read and the output written are the lane's own, in order."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tasm_env as te
from test_value_stacks import IO_TASKS, IO_TOKENS, MACHINE, SPECS, TASKS, VOCAB, agree, decodable_prefixes, \
    equal_to_reference
from tasm_env.emission.value_stacks import ValueStacks

# half the tokens I/O, the rest anything (stack moves, arithmetic, RAM, crashes, underflows)
TOKENS = st.one_of(st.sampled_from(IO_TOKENS), st.integers(1, len(VOCAB) - 1))
ROWS = st.lists(st.tuples(st.sampled_from(IO_TASKS), st.lists(TOKENS, max_size=12)), min_size=1, max_size=12)


def _keys_equal_reference(stacks: ValueStacks, keys: list) -> int:
    """Assert every key the store gives is the reference's bytes; how many it gave."""
    given_ = 0
    for key, got in zip(keys, stacks.value_keys(keys)):
        if got is not None:
            given_ += 1
            assert got == MACHINE.values.value_key(*key), key
    return given_


def _states(keys: list):
    """The machine's states of the keys' prefixes (one replay per task)."""
    by_task: dict[int, list] = {}
    for task, tokens in keys:
        by_task.setdefault(task, []).append(tokens)
    for task, prefixes in by_task.items():
        rows = torch.zeros((len(prefixes), max(max(map(len, prefixes)), 1)), dtype=torch.int64)
        for m, tokens in enumerate(prefixes):
            rows[m, :len(tokens)] = torch.tensor(tokens, dtype=torch.int64)
        yield MACHINE.replay(rows, task, torch.tensor([len(t) for t in prefixes]))


def test_the_io_tasks_have_streams_and_output():
    """Not vacuous: the tasks the I/O tests draw from read public and secret words and write output."""
    probes = [MACHINE.values.probes(t) for t in IO_TASKS]
    assert any(p.shape.public_inputs for p in probes) and any(p.shape.secret_inputs for p in probes)
    assert any(len(p.base.output) for p in probes)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(ROWS, st.integers(1, 64))
def test_io_prefixes_have_the_reference_facts_and_keys(rows, size):
    """Any decodable tokens rich in I/O, through a store of any size: covered rows have the reference's facts
    and keys (bytes), the others are left to it."""
    keys = decodable_prefixes(rows)
    if not keys:
        return
    stacks = ValueStacks(MACHINE.values, store_size=size)
    equal_to_reference(stacks, keys)
    _keys_equal_reference(stacks, keys)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(ROWS)
def test_io_states_agree_with_fast_values_on_and_off(rows):
    """The machine's facts, ``dataflow`` masks and stored keys of I/O prefixes, fast path on against off."""
    keys = decodable_prefixes(rows)
    for state in _states(keys):
        agree(state)
        for b, got in enumerate(MACHINE.stored_value_keys(state)):
            if got is not None:
                assert got == MACHINE.values.value_key(int(state.task[b]), state.tokens[b, :int(state.length[b])].tolist())


def _covered(task: int, source: str) -> bool:
    """Does the store hold the program's stacks (its facts covered or, matching the baseline but for RAM,
    deferred to the reference)? Every prefix is checked against the reference."""
    tokens = SPECS[task].bound.encode(te.Program.parse(source))
    keys = [(task, tuple(tokens[:m])) for m in range(len(tokens) + 1)]
    equal_to_reference(MACHINE.value_stacks, keys)
    assert _keys_equal_reference(MACHINE.value_stacks, keys) >= 0
    for state in _states(keys):
        agree(state)
    return MACHINE.value_stacks.stacks(keys[-1:])[0] is not None


def test_reads_take_the_next_words_and_a_read_past_the_end_is_the_references():
    """``read_io 1`` then ``read_io 1``: the second pushes each lane's second public word (after ``divine 1``,
    each lane's first secret word); reading exactly the stream is covered, one word more is not."""
    checked = 0
    for task in IO_TASKS:
        p = MACHINE.values.probes(task)
        for name, n, words in (("read_io", p.shape.public_inputs, p.inputs.public_input),
                               ("divine", p.shape.secret_inputs, p.inputs.secret_input)):
            if n < 2:
                continue
            checked += 1
            source = f"{name} 1\ndivine 1\n{name} 1" if name == "read_io" and p.shape.secret_inputs else \
                f"{name} 1\n{name} 1"
            tokens = SPECS[task].bound.encode(te.Program.parse(source))
            stack = MACHINE.value_stacks.stacks([(task, tuple(tokens))])[0][0]
            assert np.array_equal(stack[-1], words[:, 1])
            if source.count("divine") and name == "read_io":
                assert np.array_equal(stack[-2], p.inputs.secret_input[:, 0])
            assert _covered(task, "\n".join([f"{name} 1"] * n))
            assert not _covered(task, "\n".join([f"{name} 1"] * (n + 1)))
    assert checked


def test_outputs_are_written_in_order_and_baselines_are_covered():
    """``write_io 2`` writes st0 then st1 (the reference's order, the keys' bytes); every I/O baseline's whole
    prefix without a sponge or digests is covered, and a baseline that writes output is ``eos_ok`` there."""
    written = 0
    for task in IO_TASKS:
        baseline = str(TASKS[task].baseline)
        assert _covered(task, "dup 0\npush 7\nwrite_io 2")
        if any(word in baseline for word in ("sponge", "merkle", "divine_sibling")):
            continue
        assert _covered(task, baseline)
        tokens = SPECS[task].bound.encode(te.Program.parse(baseline))
        covered, facts = MACHINE.value_stacks.facts([(task, tuple(tokens))])
        if "write_io" in baseline and "write_mem" not in baseline:  # a RAM writer's eos_ok is deferred
            written += 1
            assert covered[0] and facts.eos_ok[0]
    assert written


def _facts_of(task: int, source: str):
    """(covered, eos_ok) of the whole program, every prefix checked against the reference."""
    assert _covered(task, source)
    tokens = SPECS[task].bound.encode(te.Program.parse(source))
    covered, facts = MACHINE.value_stacks.facts([(task, tuple(tokens))])
    return bool(covered[0]), bool(covered[0] and facts.eos_ok[0])


def test_eos_compares_the_output_count_and_values():
    """The baseline with one more output word (a zero: only the count tells it apart) or with the words of one
    ``write_io n`` replaced by constants (the same stack, other output) does not match: ``eos_ok`` is False, as
    the reference says; the baseline itself matches."""
    checked = 0
    for task in IO_TASKS:
        lines = str(TASKS[task].baseline).splitlines()
        if any(word in "\n".join(lines) for word in ("sponge", "merkle", "divine_sibling", "write_mem")):
            continue
        assert _facts_of(task, "\n".join(lines)) == (True, True)
        assert _facts_of(task, "\n".join(lines + ["push 0", "write_io 1"])) == (True, False)
        at = [k for k, line in enumerate(lines) if line.startswith("write_io")]
        if at:
            n = int(lines[at[0]].split()[1])
            changed = lines[:at[0]] + [f"pop {n}"] + ["push 1"] * n + lines[at[0]:]
            assert _facts_of(task, "\n".join(changed)) == (True, False)
            checked += 1
    assert checked
