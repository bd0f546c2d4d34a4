"""masking="dataflow": sound (no prefix of a program that verifies within the budget is masked), never empty,
and narrower than typed where the probes prove a prefix lost."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tasm_env as te
from tasm_env.emission.machine import StackMachine
from tasm_env.emission.row import RowMachine
from tasm_env.emission.spec import TaskSpec
from tasm_env.emission.state import LEVELS, VALUE_LEVELS
from tasm_env.emission.values import ValueModel
from tasm_env.emission.vocab import EOS, Vocabulary
from tasm_env.errors import ConfigError, TasmError
from tasm_env.testing import equivalent_pairs, known_good_programs

VOCAB = Vocabulary.default()
SUITE = te.load_suite("tasm-basic-v0")
TASKS = list(SUITE.train) + list(SUITE.val) + list(SUITE.test)


def _machine(tasks):
    specs = [TaskSpec.from_task(t, VOCAB) for t in tasks]
    return StackMachine(specs, values=ValueModel.of(tasks, specs)), specs


def _check_program(row: RowMachine, spec: TaskSpec, program) -> bool:
    """Replays ``program``; asserts every token dataflow-legal wherever it is typed-legal. True if the whole
    program (and its EOS) was typed-legal, so the dataflow check covered it."""
    try:
        tokens = spec.bound.encode(program)
    except TasmError:
        return False  # a constant the vocabulary cannot bind: not a program of this episode space
    if len(tokens) > spec.budget:
        return False
    row.reset()
    for position, token in enumerate(tokens + [EOS]):
        if not row.mask_at("typed")[token]:
            return False
        assert row.mask_at("dataflow")[token], (spec.name, str(program), position, token)
        if token != EOS:
            row.step(token)
    return True


@pytest.fixture(scope="module")
def suite_machine():
    return _machine(TASKS)


def _all_tasks(name):
    suite = te.load_suite(name)
    return list(suite.train) + list(suite.val) + list(suite.test)


def _every_baseline_and_optimum_stays_legal(machine, specs, tasks):
    covered, rows = 0, {}
    for n, task, program, kind in known_good_programs(tasks):
        if n not in rows:
            rows[n] = RowMachine(machine, n, "dataflow", values=(machine.values, n))
        row = rows[n]
        checked = _check_program(row, specs[n], program)  # False only for a program the budget cannot spell
        assert checked or kind == "optimum", task.name
        covered += checked
    assert covered > len(tasks)  # the optima were checked too, not all skipped


def test_every_baseline_and_optimum_stays_legal(suite_machine):
    _every_baseline_and_optimum_stays_legal(*suite_machine, TASKS)


@pytest.mark.slow
def test_every_baseline_and_optimum_of_v1_stays_legal():
    tasks = _all_tasks("tasm-basic-v1")
    _every_baseline_and_optimum_stays_legal(*_machine(tasks), tasks)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(equivalent_pairs(task_strategy=st.sampled_from(TASKS[:60])))
def test_verified_variants_stay_legal(pair):
    task, baseline, variant, _ = pair
    machine, specs = _machine([task])
    row = RowMachine(machine, 0, "dataflow", values=(machine.values, 0))
    _check_program(row, specs[0], variant)


def test_torch_and_row_masks_agree(suite_machine):
    machine, specs = suite_machine
    rng = np.random.default_rng(0)
    for n in rng.choice(len(TASKS), 12, replace=False).tolist():
        row = RowMachine(machine, n, "dataflow", values=(machine.values, n))
        state = machine.initial([n])
        for _ in range(specs[n].budget):
            mask = row.mask()
            assert np.array_equal(machine.forward_masks(state, "dataflow")[0].numpy(), mask)
            token = int(rng.choice(np.flatnonzero(mask)))
            if token == EOS:
                break
            row.step(token)
            state = machine.step(state, torch.tensor([token]))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, len(TASKS) - 1), st.integers(0, 2**31))
def test_random_walks_never_get_stuck(n, seed):
    machine, specs = _machine([TASKS[n]])
    row = RowMachine(machine, 0, "dataflow", values=(machine.values, 0))
    rng = np.random.default_rng(seed)
    for _ in range(specs[0].budget + 1):
        mask = row.mask()
        assert mask.any()
        if row.remaining == 0:
            assert np.flatnonzero(mask).tolist() == [EOS]
        token = int(rng.choice(np.flatnonzero(mask)))
        if token == EOS:
            return
        row.step(token)
    raise AssertionError("an episode ran past its budget")


def test_losing_pops_are_masked_and_lost_prefixes_reported():
    # x on top of a pushed 0: `pop 1` would drop the only copy of x, which the output x^2 needs
    task = te.Task.from_tasm("dup 0 mul", inputs=("field",), name="square")
    machine, specs = _machine([task])
    row = RowMachine(machine, 0, "dataflow", values=(machine.values, 0))
    bound = specs[0].bound
    pop1 = bound.encode(te.Program.parse("pop 1"))[0]
    for token in bound.encode(te.Program.parse("push 0 swap 1")):
        row.step(token)
    assert row.mask_at("typed")[pop1] and not row.mask()[pop1]
    assert not row.value_facts().lost and row.value_facts().pop_loses[1]
    row.step(pop1)  # taken anyway (the row machine does not check): the prefix is lost
    assert row.value_facts().lost
    assert not row.mask()[EOS] and row.mask().any()  # EOS never legal: the 0 left is not x^2 on the probes


def test_eos_needs_the_baseline_values():
    task = te.Task.from_tasm("dup 0 mul", inputs=("field",), name="square")
    machine, specs = _machine([task])
    row = RowMachine(machine, 0, "dataflow", values=(machine.values, 0))
    bound = specs[0].bound
    assert row.mask_at("typed")[EOS] and not row.mask()[EOS]  # arity 1 reached, but x is not x^2
    for token in bound.encode(te.Program.parse("dup 0 mul")):
        row.step(token)
    assert row.mask()[EOS]


def test_dataflow_needs_a_value_model():
    specs = [TaskSpec.from_task(TASKS[0], VOCAB)]
    machine = StackMachine(specs)
    with pytest.raises(ConfigError, match="values"):
        machine.forward_masks(machine.initial([0]), "dataflow")
    with pytest.raises(ConfigError, match="dataflow"):
        RowMachine(machine, 0, "dataflow")
    assert "dataflow" in LEVELS and set(VALUE_LEVELS) <= set(LEVELS)
