"""The value-stack fast path (:mod:`tasm_env.emission.value_stacks`) agrees exactly with the reference value
facts (:meth:`~tasm_env.emission.values.ValueModel.facts_many`) and ``dataflow`` masks: on random
``dataflow``-legal walks (steps and backward steps) of tasks of every tier, tasks with assertions, RAM and the
sponge among them, and on every prefix of the baselines and recorded optima; and on token sequences rich in
``read_io``, ``divine`` and ``write_io`` on tasks with public and secret inputs (reads past a stream's end too)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tasm_env as te
from tasm_env import isa
from tasm_env.emission.machine import StackMachine
from tasm_env.emission.spec import TaskSpec
from tasm_env.emission.state import PAD, EmissionState
from tasm_env.emission.value_stacks import ValueStacks
from tasm_env.emission.values import ValueModel
from tasm_env.emission.vocab import EOS, Vocabulary
from tasm_env.testing import known_good_programs

VOCAB = Vocabulary.default()
SUITE = te.load_suite("tasm-basic-v1")
IO = tuple(spec.name for spec in isa.INSTRUCTIONS if spec.stream in ("public_input", "secret_input", "public_output"))


def _pick() -> list:
    """Two tasks of each tier, the first of each tier whose baseline asserts, uses RAM or the sponge, three
    whose baselines write RAM without I/O or the sponge, and the first two whose baselines use each of
    ``read_io``, ``divine`` and ``write_io``."""
    chosen: dict[str, object] = {}
    tasks = list(SUITE.train) + list(SUITE.test)
    for tier in sorted({t.tier for t in tasks}):
        mine = [t for t in tasks if t.tier == tier]
        for t in mine[:2]:
            chosen[t.name] = t
        for word in ("assert", "read_mem", "write_mem", "sponge"):
            for t in mine:
                if word in str(t.baseline):
                    chosen[t.name] = t
                    break
    # and RAM writes without I/O or the sponge, whose whole baselines the fast path covers (eos_ok deferred)
    pure = [t for t in tasks if "write_mem" in str(t.baseline)
            and not any(w in str(t.baseline) for w in ("read_io", "write_io", "sponge", "divine", "merkle"))]
    for t in pure[:3]:
        chosen[t.name] = t
    for word in IO:
        for t in [t for t in tasks if word in str(t.baseline)][:2]:
            chosen[t.name] = t
    return list(chosen.values())


TASKS = _pick()
SPECS = [TaskSpec.from_task(t, VOCAB) for t in TASKS]
MACHINE = StackMachine(SPECS, values=ValueModel.of(TASKS, SPECS))
FIELDS = ("valid", "slot_nodes", "ready", "lost", "eos_ok", "pop_loses")
IO_TASKS = [i for i, t in enumerate(TASKS) if any(word in str(t.baseline) for word in IO)]
IO_TOKENS = [i for i in range(1, len(VOCAB)) if VOCAB.mnemonic[i] in IO]


def agree(state: EmissionState) -> torch.Tensor:
    """Assert that the fast path's facts and masks equal the reference's on every row; the fast masks."""
    fast_state = EmissionState(state.data, state.task, state.layout)
    ref_state = EmissionState(state.data, state.task, state.layout)
    fast, fast_mask = MACHINE.value_arrays(fast_state), MACHINE.forward_masks(fast_state, "dataflow")
    MACHINE.fast_values = False
    try:
        ref, ref_mask = MACHINE.value_arrays(ref_state), MACHINE.forward_masks(ref_state, "dataflow")
    finally:
        MACHINE.fast_values = True
    for name in FIELDS:
        x, y = getattr(fast, name), getattr(ref, name)
        bad = np.flatnonzero((x != y).reshape(len(x), -1).any(1))
        assert not len(bad), (name, [fast.keys[b] for b in bad[:3]])
    assert torch.equal(fast_mask, ref_mask)
    return fast_mask


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.integers(0, len(TASKS) - 1), min_size=1, max_size=24), st.integers(0, 2**31),
       st.booleans())
def test_fast_facts_equal_the_reference_on_dataflow_walks(tasks, seed, forget):
    rng = np.random.default_rng(seed)
    if forget:  # every stack stepped from the empty prefix in this call
        MACHINE.value_stacks.forget()
    state = MACHINE.initial(tasks)
    for _ in range(int(rng.integers(1, 30))):
        mask = agree(state).numpy().copy()
        mask[:, 0] &= ~mask[:, 1:].any(1)  # EOS only when forced: long walks
        actions = (rng.random(mask.shape) * mask).argmax(1)
        stepped = MACHINE.step(state, torch.from_numpy(actions))
        moving = torch.from_numpy((actions != 0) & mask.any(1))
        state = EmissionState(torch.where(moving[:, None], stepped.data, state.data), state.task, state.layout)
        if rng.random() < 0.15 and bool((state.length > 0).all()):
            state = MACHINE.backward_step(state)
    agree(state)


def test_fast_facts_equal_the_reference_on_known_good_prefixes():
    programs = list(known_good_programs(TASKS))
    for index, _, program, _ in programs:
        tokens = SPECS[index].bound.encode(program)
        rows = torch.zeros((len(tokens) + 1, max(len(tokens), 1)), dtype=torch.int64)
        for m in range(len(tokens) + 1):
            rows[m, :m] = torch.tensor(tokens[:m], dtype=torch.int64)
        agree(MACHINE.replay(rows, index, torch.arange(len(tokens) + 1)))


def test_the_fast_path_covers_rows_of_every_kind():
    """Not vacuous: stack moves, arithmetic, assertions, RAM, I/O and ``sponge_init`` are covered; the sponge's
    other instructions are not."""
    stacks = MACHINE.value_stacks
    kinds = {}
    for task, spec in enumerate(SPECS):
        for token in range(1, len(VOCAB)):
            try:
                name = spec.bound.decode([token]).instructions[0].name
            except (te.TasmError, IndexError):
                continue
            kinds.setdefault(name, stacks.templates.template(task, token) is not None)
    for name in ("dup", "swap", "pick", "place", "pop", "push", "add", "mul", "split", "assert", "read_mem",
                 "write_mem", "sponge_init", *IO):
        assert kinds.get(name), name
    for name in ("sponge_absorb", "sponge_squeeze"):
        assert kinds.get(name) is False, name
    before = stacks.covered_rows
    agree(MACHINE.initial(list(range(len(TASKS)))))
    assert stacks.covered_rows > before


def decodable_prefixes(rows) -> list[tuple[int, tuple]]:
    """Every prefix (task, tokens[:m]) of the rows whose tokens decode for their task."""
    keys = []
    for task, tokens in rows:
        try:
            SPECS[task].bound.decode(tokens)
        except te.TasmError:
            continue
        keys += [(task, tuple(tokens[:m])) for m in range(len(tokens) + 1)]
    return keys


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.integers(0, len(TASKS) - 1), st.lists(st.integers(1, len(VOCAB) - 1), max_size=12)),
                min_size=1, max_size=16))
def test_fast_facts_equal_the_reference_on_any_token_sequence(rows):
    """Not only mask-legal prefixes: any decodable tokens (stack underflow, crashes, I/O, sponge, RAM writes),
    through the store directly; the rows it covers equal the reference, the others it leaves to it."""
    keys = decodable_prefixes(rows)
    if not keys:
        return
    equal_to_reference(MACHINE.value_stacks, keys)


def _replayed(source: str):
    """(task, tokens) of every picked task that can spell ``source``, each prefix checked against the reference."""
    program = te.Program.parse(source)
    for index, spec in enumerate(SPECS):
        try:
            tokens = spec.bound.encode(program)
        except te.TasmError:
            continue
        rows = torch.zeros((len(tokens) + 1, len(tokens)), dtype=torch.int64)
        for m in range(len(tokens) + 1):
            rows[m, :m] = torch.tensor(tokens[:m], dtype=torch.int64)
        agree(MACHINE.replay(rows, index, torch.arange(len(tokens) + 1)))
        yield index, tokens


def test_two_writes_to_one_cell_keep_the_latest():
    """Cell 1 written with 0, then with the input's top (lane-dependent): the final contents are the latest
    write's, which lanes with different inputs tell apart (``lost`` and ``pop_loses`` compare them)."""
    found = list(_replayed("push 0\npush 1\nwrite_mem 1\npop 1\ndup 0\npush 1\nwrite_mem 1\npop 1"))
    assert found
    for index, tokens in found:
        assert MACHINE.value_stacks.facts([(index, tuple(tokens))])[0].all()  # covered, not the reference's


def test_a_read_after_a_write_takes_the_written_value():
    """``read_mem`` after ``write_mem`` to the same cell (the row's write log), covered and equal to the reference."""
    found = list(_replayed("dup 0\ndup 0\nwrite_mem 1\npop 1\nread_mem 1"))
    for index, tokens in found:
        stack = MACHINE.value_stacks.stacks([(index, tuple(tokens))])[0][0]
        # st1 is the value read back: the cell holds what write_mem put there, the input's top (not initial RAM)
        assert np.array_equal(stack[-2], MACHINE.values.probes(index).inputs.stack[:, -1])
    assert found


def equal_to_reference(stacks: ValueStacks, keys: list) -> None:
    covered, facts = stacks.facts(keys)
    expected = [key for key, c in zip(keys, covered) if c]
    for b, f in enumerate(MACHINE.values.facts_many(expected)):
        got = (facts.slot_nodes[b].tolist(), facts.outputs_ready[b, :len(f.outputs_ready)].tolist(),
               bool(facts.lost[b]), bool(facts.eos_ok[b]), facts.pop_loses[b].tolist())
        assert got == (f.slot_nodes.tolist(), f.outputs_ready.tolist(), f.lost, f.eos_ok, f.pop_loses.tolist()), \
            expected[b]


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.integers(0, len(TASKS) - 1), st.lists(st.integers(1, len(VOCAB) - 1), max_size=10)),
                min_size=1, max_size=12), st.integers(1, 40), st.integers(0, 2**31))
def test_a_small_store_drops_old_stacks_and_stays_exact(rows, size, seed):
    """The store keeps its stacks in chunks (one per step) and drops a chunk once no entry names it: with a store
    of a few entries, batches of prefixes in shuffled orders, again and again (revisits read the kept facts,
    or step dropped ancestors again), still equal the reference."""
    stacks = ValueStacks(MACHINE.values, store_size=size)
    keys = decodable_prefixes(rows)
    if not keys:
        return
    rng = np.random.default_rng(seed)
    for _ in range(3):
        order = rng.permutation(len(keys))
        for part in np.array_split(order, int(rng.integers(1, 4))):
            equal_to_reference(stacks, [keys[i] for i in part])


@pytest.mark.parametrize("before", [False, True])
def test_a_baseline_and_sponge_init_is_not_done(before):
    """Each picked task's baseline with ``sponge_init`` after (or before) it: its stack is the baseline's but it
    has a sponge (the baseline may not), so ``eos_ok`` is the reference's; every prefix agrees and the whole is
    covered where the baseline is."""
    covered = 0
    for index, task in enumerate(TASKS):
        source = str(task.baseline)
        program = te.Program.parse("sponge_init\n" + source if before else source + "\nsponge_init")
        tokens = SPECS[index].bound.encode(program)
        rows = torch.zeros((len(tokens) + 1, len(tokens)), dtype=torch.int64)
        for m in range(len(tokens) + 1):
            rows[m, :m] = torch.tensor(tokens[:m], dtype=torch.int64)
        agree(MACHINE.replay(rows, index, torch.arange(len(tokens) + 1)))
        covered += int(MACHINE.value_stacks.facts([(index, tuple(tokens))])[0][0])
    assert covered


def test_value_keys_are_the_prefixes_of_well_formed_rows_only():
    """A row's value key is (task, its prefix); a row with a pad or EOS inside its prefix, or a length out of
    range, has none (the array checks of the key building, each row corrupted one way)."""
    state = MACHINE.initial([0, 1, 0, 1, 0])
    for _ in range(3):
        mask = MACHINE.forward_masks(state, "typed")
        state = MACHINE.step(state, mask[:, 1:].float().argmax(1) + 1)  # the first legal non-EOS token
    data = state.data.clone()
    tokens_at = torch.arange(data.shape[1])[state.layout.tokens]
    data[1, tokens_at[1]] = PAD  # a pad inside the prefix
    data[2, tokens_at[0]] = EOS  # EOS inside the prefix
    data[3, state.layout.length] = MACHINE.max_len + 1
    data[4, state.layout.length] = -1
    keys = MACHINE.value_arrays(EmissionState(data, state.task, state.layout)).keys
    prefix = tuple(state.tokens[0, :3].tolist())
    assert len(prefix) == 3 and min(prefix) >= 1
    assert keys == [(0, prefix), None, None, None, None]
