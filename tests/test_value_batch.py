"""The batched value state (runs extended many prefixes at once, facts as arrays) agrees with the reference
per-prefix computation (each prefix compiled and evaluated from scratch, ``TaskProbes.facts``) on random
prefixes of random suite tasks, asked for together across tasks, in any order, with repeats."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tasm_env as te
from tasm_env.emission.machine import StackMachine
from tasm_env.emission.spec import TaskSpec
from tasm_env.emission.probe_facts import facts_of_runs
from tasm_env.emission.values import ValueModel, restrict, restrict_rows
from tasm_env.emission.vocab import EOS, Vocabulary

VOCAB = Vocabulary.default()
SUITE = te.load_suite("tasm-basic-v1")
TASKS = list(SUITE.train)[::7] + list(SUITE.test)[::7]
SPECS = [TaskSpec.from_task(t, VOCAB) for t in TASKS]
MACHINE = StackMachine(SPECS, values=ValueModel.of(TASKS, SPECS))  # typed masks for the walks; probes shared


def _walks(tasks: list[int], rng: np.random.Generator) -> list[tuple]:
    """Random ``typed``-legal prefixes of the tasks (EOS excluded), walked together on the batch machine, each
    stopped after a random number of tokens."""
    state = MACHINE.initial(tasks)
    stop = [int(rng.integers(0, SPECS[n].budget + 1)) for n in tasks]
    for t in range(max(stop, default=0)):
        masks = MACHINE.forward_masks(state, "typed").numpy().copy()
        masks[:, EOS] = False
        scores = rng.random(masks.shape) * masks
        moving = torch.tensor([t < s for s in stop]) & torch.from_numpy(masks.any(1))
        if not moving.any():
            break
        stepped = MACHINE.step(state, torch.from_numpy(scores.argmax(1)))
        state = type(state)(torch.where(moving[:, None], stepped.data, state.data), state.task, state.layout)
    lengths, tokens = state.length.tolist(), state.tokens.tolist()
    return [tuple(row[:m]) for row, m in zip(tokens, lengths)]


def _reference(n: int, tokens: tuple):
    probes = MACHINE.values.probes(n)
    return probes.facts(probes.run([SPECS[n].bound.decode(list(tokens))])[0])


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.integers(0, len(TASKS) - 1), min_size=1, max_size=4), st.integers(0, 2**31))
def test_batched_facts_agree_with_the_reference(tasks, seed):
    rng = np.random.default_rng(seed)
    keys = []
    for n, tokens in zip(tasks, _walks(tasks, rng)):
        cut = int(rng.integers(0, len(tokens) + 1))
        keys += [(n, tokens), (n, tokens[:cut]), (n, tokens)]  # a prefix of another, and a repeat
    rng.shuffle(keys)
    model = MACHINE.values
    model.forget()  # every run is computed here, parents in the same call
    got = model.facts_many(keys)
    for (n, tokens), facts in zip(keys, got):
        expected = _reference(n, tokens)
        assert facts.slot_nodes.tolist() == expected.slot_nodes.tolist(), (n, tokens)
        assert facts.outputs_ready.tolist() == expected.outputs_ready.tolist(), (n, tokens)
        assert (facts.lost, facts.eos_ok) == (expected.lost, expected.eos_ok), (n, tokens)
        assert facts.pop_loses.tolist() == expected.pop_loses.tolist(), (n, tokens)
    # the batched facts themselves, on every task's runs as one group and on each run alone
    for n in set(tasks):
        probes = MACHINE.values.probes(n)
        mine = [tokens for m, tokens in keys if m == n]
        runs = [probes.evaluate(SPECS[n].bound.decode(list(tokens))) for tokens in mine]
        for group in [runs] + [[run] for run in runs]:
            arrays = facts_of_runs(probes, group)
            for b, run in enumerate(group):
                expected = probes.facts(probes.outcome(run))
                assert arrays.slot_nodes[b].tolist() == expected.slot_nodes.tolist()
                assert arrays.outputs_ready[b].tolist() == expected.outputs_ready.tolist()
                assert (bool(arrays.lost[b]), bool(arrays.eos_ok[b])) == (expected.lost, expected.eos_ok)
                assert arrays.pop_loses[b].tolist() == expected.pop_loses.tolist()
    # and again, now from the cache and extending cached parents by one token
    longer = []
    for n, tokens in keys[:3]:  # one more legal token, where there is one
        legal = np.flatnonzero(MACHINE.forward_masks(MACHINE.replay(torch.tensor([tokens or (EOS,)]), [n],
                                                                     torch.tensor([len(tokens)])), "typed")[0])
        legal = legal[legal != EOS]
        if len(legal):
            longer.append((n, tokens + (int(rng.choice(legal)),)))
    for (n, tokens), facts in zip(longer, model.facts_many(longer)):
        expected = _reference(n, tokens)
        assert facts.slot_nodes.tolist() == expected.slot_nodes.tolist()
        assert (facts.lost, facts.eos_ok) == (expected.lost, expected.eos_ok)
        assert facts.pop_loses.tolist() == expected.pop_loses.tolist()


def test_baselines_match_in_a_batch():
    """Every baseline, asked for with all its prefixes in one call, is eos_ok with every output ready."""
    model = MACHINE.values
    model.forget()
    keys = []
    for n, task in enumerate(TASKS):
        tokens = tuple(SPECS[n].bound.encode(task.baseline))
        keys += [(n, tokens[:end]) for end in range(len(tokens) + 1)]
    facts = dict(zip(keys, model.facts_many(keys)))
    for n, task in enumerate(TASKS):
        done = facts[(n, tuple(SPECS[n].bound.encode(task.baseline)))]
        assert done.eos_ok and done.outputs_ready.all() and not done.lost


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.lists(st.booleans(), min_size=8, max_size=8), st.booleans(),
                          st.lists(st.booleans(), min_size=6, max_size=6)), min_size=1, max_size=6))
def test_restrict_rows_is_restrict_on_each_row(rows):
    pops = np.array([-1, 3, 4, -1, 6, 7])
    masks = np.array([m for m, _, _ in rows], dtype=bool)
    eos = np.array([e for _, e, _ in rows], dtype=bool)
    loses = np.array([p for _, _, p in rows], dtype=bool)
    batched = masks.copy()
    restrict_rows(batched, eos, loses, pops)

    class Facts:  # the two fields restrict reads
        def __init__(self, eos_ok, pop_loses):
            self.eos_ok, self.pop_loses = eos_ok, pop_loses

    for b in range(len(rows)):
        one = masks[b].copy()
        restrict(one, Facts(bool(eos[b]), loses[b]), pops)
        expected = masks[b].copy()
        narrowed = expected.copy()
        narrowed[EOS] &= eos[b]
        narrowed[[p for n, p in enumerate(pops) if p >= 0 and loses[b, n]]] = False
        if narrowed.any():
            expected = narrowed
        assert batched[b].tolist() == one.tolist() == expected.tolist()
