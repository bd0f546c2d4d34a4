"""The batched value state of a batch that mixes tasks (every task's new prefixes in one set of arrays,
``probe_facts.facts_of_tasks``, the cyclic collector paused meanwhile) equals the one-prefix definition: each
row's prefix decoded, evaluated from scratch on its task's probes and its facts taken by ``TaskProbes.facts``,
its ``dataflow`` mask its ``typed`` mask narrowed by the one-row ``restrict``. Checked after every step of
random walks of random batches, on the batch machine's masks, ``slot_nodes``, ``outputs_ready`` and ``lost``."""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tasm_env as te
from tasm_env.emission import values as values_module
from tasm_env.emission.machine import StackMachine
from tasm_env.emission.probe_facts import SLOT_WINDOW, facts_of_runs, facts_of_tasks
from tasm_env.emission.spec import TaskSpec
from tasm_env.emission.values import PAUSE_AT, ValueModel, pop_tokens, restrict
from tasm_env.emission.vocab import EOS, Vocabulary

VOCAB = Vocabulary.default()
SUITE = te.load_suite("tasm-basic-v1")
TASKS = list(SUITE.train)[3::9] + list(SUITE.test)[2::9]
SPECS = [TaskSpec.from_task(t, VOCAB) for t in TASKS]
MACHINE = StackMachine(SPECS, values=ValueModel.of(TASKS, SPECS))
POPS = pop_tokens(VOCAB)


def _definition(n: int, tokens: list[int], typed_row: np.ndarray):
    """(dataflow mask row, slot_nodes (16,), outputs_ready (16,), lost) of one prefix, from scratch."""
    probes = MACHINE.values.probes(n)
    facts = probes.facts(probes.outcome(probes.evaluate(SPECS[n].bound.decode(tokens))))
    mask = typed_row.copy()
    restrict(mask, facts, POPS)
    ready = np.zeros(SLOT_WINDOW, dtype=bool)
    ready[:len(facts.outputs_ready)] = facts.outputs_ready[:SLOT_WINDOW]
    return mask, facts.slot_nodes, ready, facts.lost


def _step(state, mask: np.ndarray, rng: np.random.Generator):
    """One random legal token per row, EOS only when nothing else is legal (EOS leaves a row as it is)."""
    scores = rng.random(mask.shape) * mask
    scores[:, EOS] = -1.0 + 0.5 * (~mask[:, 1:].any(1))
    return MACHINE.step(state, torch.from_numpy(scores.argmax(1)))


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.integers(0, len(TASKS) - 1), min_size=2, max_size=8), st.integers(0, 2**31))
def test_mixed_batches_equal_the_one_prefix_definition(tasks, seed):
    rng = np.random.default_rng(seed)
    MACHINE.values.forget()  # every prefix is a first visit, computed by the batched path
    state = MACHINE.initial(tasks)
    budgets = torch.tensor([SPECS[n].budget for n in tasks])
    for t in range(int(budgets.max())):
        typed = MACHINE.forward_masks(state, "typed").numpy()
        mask = MACHINE.forward_masks(state, "dataflow").numpy()
        done = bool((state.length >= budgets).all())
        if t % 3 != 2 and not done:  # the definition costs a compilation from scratch: every third step
            state = _step(state, mask, rng)
            continue
        nodes, ready, lost = (MACHINE.slot_nodes(state).numpy(), MACHINE.outputs_ready(state).numpy(),
                              MACHINE.lost(state).numpy())
        tokens, lengths = state.tokens.tolist(), state.length.tolist()
        for b, n in enumerate(tasks):
            want = _definition(n, tokens[b][:lengths[b]], typed[b])
            assert mask[b].tolist() == want[0].tolist(), (n, tokens[b][:lengths[b]])
            assert nodes[b].tolist() == want[1].tolist(), (n, tokens[b][:lengths[b]])
            assert ready[b].tolist() == want[2].tolist(), (n, tokens[b][:lengths[b]])
            assert bool(lost[b]) == want[3], (n, tokens[b][:lengths[b]])
        if done:
            break
        state = _step(state, mask, rng)


def test_facts_of_tasks_rows_equal_each_task_alone():
    """One call over the prefixes of several tasks gives each row what its own task's call gives."""
    rng = np.random.default_rng(5)
    runs, probes = [], []
    for n in range(len(TASKS)):
        p = MACHINE.values.probes(n)
        tokens = list(SPECS[n].bound.encode(TASKS[n].baseline))
        for cut in sorted({0, len(tokens), *rng.integers(0, len(tokens) + 1, size=3).tolist()}):
            runs.append(p.evaluate(SPECS[n].bound.decode(tokens[:cut])))
            probes.append(p)
    order = rng.permutation(len(runs))
    mixed = facts_of_tasks([probes[i] for i in order], [runs[i] for i in order])
    assert mixed.lost.dtype == bool
    for row, i in enumerate(order):
        alone = facts_of_runs(probes[i], [runs[i]])
        assert mixed.slot_nodes[row].tolist() == alone.slot_nodes[0].tolist()
        assert mixed.outputs_ready[row, :probes[i].arity].tolist() == alone.outputs_ready[0].tolist()
        assert not mixed.outputs_ready[row, probes[i].arity:].any()
        assert (mixed.lost[row], mixed.eos_ok[row]) == (alone.lost[0], alone.eos_ok[0])
        assert mixed.pop_loses[row].tolist() == alone.pop_loses[0].tolist()


@pytest.mark.parametrize("was_on", [True, False])
def test_the_collector_is_paused_only_inside_a_batch(monkeypatch, was_on):
    """The collector is off while a batch of at least PAUSE_AT new prefixes is computed, and afterwards in the
    state it was in before (also when the computation raises)."""
    seen = []
    facts_of_tasks = values_module.facts_of_tasks

    def spy(probes, runs):
        seen.append((len(runs), gc.isenabled()))
        return facts_of_tasks(probes, runs)

    monkeypatch.setattr(values_module, "facts_of_tasks", spy)
    model = ValueModel.of(TASKS[:1], SPECS[:1])
    tokens = list(SPECS[0].bound.encode(TASKS[0].baseline))
    keys = [(0, tuple(tokens[:cut])) for cut in range(len(tokens) + 1)]
    (gc.enable if was_on else gc.disable)()
    try:
        model.facts_many(keys[:2])
        assert seen[-1] == (2, was_on) and gc.isenabled() == was_on
        model.forget()
        wide = [(0, tuple(tokens[:1]) * m) for m in range(1, PAUSE_AT + 1)]  # its first token, m times
        model.facts_many(wide)
        assert seen[-1][0] >= PAUSE_AT and seen[-1][1] is False and gc.isenabled() == was_on
        model.forget()
        monkeypatch.setattr(values_module, "facts_of_tasks", lambda probes, runs: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            model.facts_many(wide)
        assert gc.isenabled() == was_on
    finally:
        gc.enable()
