"""The value state: probe values agree with the reference VM, facts agree across both machines, backward steps
undo them exactly, slot nodes and outputs ready mean what they say, and the dense credit is potential-based."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tasm_env as te
from tasm_env.envs.gym import TasmEmitEnv
from tasm_env.emission.machine import StackMachine
from tasm_env.emission.row import RowMachine
from tasm_env.emission.spec import TaskSpec
from tasm_env.emission.values import ValueModel
from tasm_env.emission.vocab import EOS, Vocabulary
from tasm_env.errors import ConfigError
from tasm_env.field import P

VOCAB = Vocabulary.default()
SUITE = te.load_suite("tasm-basic-v0")
TASKS = list(SUITE.train)[:40] + list(SUITE.test)[:20]


def _machine(tasks, k=8):
    specs = [TaskSpec.from_task(t, VOCAB) for t in tasks]
    return StackMachine(specs, values=ValueModel.of(tasks, specs, k)), specs


@pytest.fixture(scope="module")
def machine():
    return _machine(TASKS)[0]


def _walk(machine, n, rng, level="typed"):
    """A random legal prefix of task n (tokens)."""
    row = RowMachine(machine, n, level)
    tokens = []
    for _ in range(int(rng.integers(0, machine.specs[n].budget + 1))):
        legal = np.flatnonzero(row.mask())
        legal = legal[legal != EOS]
        if not len(legal):
            break
        token = int(rng.choice(legal))
        row.step(token)
        tokens.append(token)
    return tokens


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, len(TASKS) - 1), st.integers(0, 2**31))
def test_probe_values_agree_with_the_vm(n, seed):
    machine, _ = _machine([TASKS[n]])
    tokens = _walk(machine, 0, np.random.default_rng(seed))
    probes = machine.values.probes(0)
    program = machine.specs[0].bound.decode(tokens)
    outcome = probes.run([program])[0]
    inputs = probes.inputs
    for lane in range(probes.k):
        try:
            stack = [int(x) for x in inputs.stack[lane]]
            run = te.run(program, stack=stack[16:], floor=stack[:16],
                         public_input=[int(x) for x in inputs.public_input[lane]],
                         secret_input=[int(x) for x in inputs.secret_input[lane]],
                         secret_digests=[[int(w) for w in d] for d in inputs.secret_digests[lane]],
                         ram_seed=int(inputs.ram_seed[lane]))
        except te.TasmError:
            assert outcome.crashed[lane]
            continue
        assert not outcome.crashed[lane]
        assert [int(x) for x in outcome.stack[:, lane]] == list(run.stack)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, len(TASKS) - 1), st.integers(0, 2**31))
def test_backward_step_undoes_the_value_state(machine, n, seed):
    tokens = _walk(machine, n, np.random.default_rng(seed))
    if not tokens:
        return
    state = machine.replay(torch.tensor([tokens]), [n])
    before = machine.replay(torch.tensor([tokens[:-1] or [EOS]]), [n], torch.tensor([len(tokens) - 1]))
    back = machine.backward_step(state, torch.tensor([tokens[-1]]))
    fresh, _ = _machine([TASKS[n]])  # no cache shared with `machine`
    expected = fresh.values.facts(0, tokens[:-1])
    for got in (machine.value_facts(back)[0], machine.value_facts(before)[0]):
        assert np.array_equal(got.slot_nodes, expected.slot_nodes)
        assert np.array_equal(got.outputs_ready, expected.outputs_ready)
        assert (got.lost, got.eos_ok) == (expected.lost, expected.eos_ok)
        assert np.array_equal(got.pop_loses, expected.pop_loses)


def test_row_and_torch_facts_agree(machine):
    rng = np.random.default_rng(3)
    for n in range(0, len(TASKS), 5):
        tokens = _walk(machine, n, rng)
        row = RowMachine(machine, n, "typed", values=(machine.values, n))
        for token in tokens:
            row.step(token)
        state = machine.replay(torch.tensor([tokens or [EOS]]), [n], torch.tensor([len(tokens)]))
        assert np.array_equal(machine.slot_nodes(state)[0].numpy(), row.value_facts().slot_nodes)
        ready = row.value_facts().outputs_ready
        assert machine.outputs_ready(state)[0, :len(ready)].numpy().tolist() == ready.tolist()


def test_inputs_and_outputs_are_found(machine):
    for n, task in enumerate(TASKS):
        k = len(task.inputs)
        empty = machine.values.facts(n, [])
        # st0 is the last input (TIR node k - 1), unless a smaller node id holds the same probe values
        assert (empty.slot_nodes[:k] <= np.arange(k)[::-1]).all() and (empty.slot_nodes[:k] >= 0).all()
        assert (empty.slot_nodes[k:] == -1).all()
        done = machine.values.facts(n, machine.specs[n].bound.encode(task.baseline))
        assert done.outputs_ready.all() and done.eos_ok and not done.lost
        assert done.ready_share == 1.0


def test_outputs_ready_is_positional():
    task = te.Task.from_tasm("dup 1 dup 1 add", inputs=("field", "field"), name="keep-add")
    machine, specs = _machine([task])
    facts = machine.values.facts(0, [])
    # final stack: x y (x + y): st1 = y and st2 = x are already where they end; st0 is not there yet
    assert facts.outputs_ready.tolist() == [False, True, True]
    node_of_sum = len(task.tir.nodes) - 1
    done = machine.values.facts(0, specs[0].bound.encode(task.baseline))
    assert done.slot_nodes[0] == node_of_sum or task.tir.nodes[done.slot_nodes[0]].op == "add"


def test_probes_cover_the_edges():
    task = next(t for t in TASKS if t.inputs and t.inputs[0] == "field")
    machine, _ = _machine([task], k=8)
    probes = machine.values.probes(0)
    values = set(probes.inputs.stack[:, probes.bottom:].reshape(-1).tolist())
    assert {0, 1} <= values
    assert probes.k == 8 and len(probes.pairs[0]) >= 1
    with pytest.raises(ConfigError):
        _machine([task], k=1)[0].values.probes(0)


# ---------------------------------------------------------------------------------- the envs


def _episode(env, seed):
    obs, info = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    total, steps = 0.0, 0
    while True:
        assert env.observation_space.contains(obs)
        action = int(rng.choice(np.flatnonzero(info["action_mask"])))
        obs, reward, terminated, _, info = env.step(action)
        total += reward
        steps += 1
        if terminated:
            return total, info


@pytest.mark.parametrize("masking", ["typed", "dataflow"])
def test_dense_credit_shifts_the_return_by_a_constant(masking):
    tasks = TASKS[:3]
    plain = TasmEmitEnv(tasks=tasks, masking=masking, include_graph=False, value_state=True)
    dense = TasmEmitEnv(tasks=tasks, masking=masking, include_graph=False, dense_credit=True)
    assert {"slot_nodes", "outputs_ready"} <= set(dense.observation_space.spaces)
    shifts = {}
    for seed in range(12):
        a, info_a = _episode(plain, seed)
        b, info_b = _episode(dense, seed)
        assert info_a["program"] == info_b["program"]  # same seed, same masks: the same episode
        task = info_a["task"]
        phi0 = dense.values.facts(dense.tasks.index(next(t for t in tasks if t.name == task)), []).ready_share
        assert b - a == pytest.approx(-phi0)
        shifts.setdefault(task, set()).add(round(b - a, 9))
    assert all(len(s) == 1 for s in shifts.values())


def test_gym_value_observations_follow_the_prefix():
    task = te.Task.from_tasm("dup 1 dup 1 add", inputs=("field", "field"), name="keep-add")
    env = TasmEmitEnv(tasks=[task], masking="dataflow", include_graph=False)
    obs, _ = env.reset(seed=0)
    assert obs["slot_nodes"][:2].tolist() == [1, 0] and obs["outputs_ready"][:3].tolist() == [0, 1, 1]
    for token in env.task_spec.bound.encode(task.baseline):
        obs, reward, terminated, _, info = env.step(token)
    assert obs["outputs_ready"][:3].tolist() == [1, 1, 1]
    obs, reward, terminated, _, info = env.step(EOS)
    assert terminated and info["valid"]


def test_gfn_value_observations():
    from tasm_env.envs.gfn import TasmGFNEnv

    env = TasmGFNEnv(tasks=TASKS[:4], masking="dataflow")
    states = env.reset(batch_shape=(4,), conditions=env.conditions_for([0, 1, 2, 3]))
    got = env.value_observations(states)
    assert got["slot_nodes"].shape == (4, 16) and got["outputs_ready"].shape == (4, 16)
    for b in range(4):
        k = len(TASKS[b].inputs)
        assert (got["slot_nodes"][b, :k] >= 0).all() and (got["slot_nodes"][b, k:] == -1).all()
    mask = env.forward_masks(states)
    assert mask.any(-1).all()


def test_field_values_stay_canonical(machine):
    rng = np.random.default_rng(5)
    for n in range(0, len(TASKS), 7):
        tokens = _walk(machine, n, rng)
        outcome = machine.values.probes(n).run([machine.specs[n].bound.decode(tokens)])[0]
        assert (outcome.stack < np.uint64(P)).all()


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, len(TASKS) - 1), st.integers(0, 2**31))
def test_incremental_steps_equal_fresh_runs(machine, n, seed):
    tokens = _walk(machine, n, np.random.default_rng(seed))
    probes = machine.values.probes(n)
    parent = None
    for end in range(len(tokens) + 1):
        program = machine.specs[n].bound.decode(tokens[:end])
        parent = probes.evaluate(program, parent)
        stepped, fresh = probes.outcome(parent), probes.run([program])[0]
        assert np.array_equal(stepped.crashed, fresh.crashed)
        for a, b in ((stepped.stack, fresh.stack), (stepped.output, fresh.output), (stepped.written, fresh.written),
                     (stepped.ram_match, fresh.ram_match)):
            assert np.array_equal(a, b)


def test_the_facts_cache_size_is_a_setting_of_the_model():
    tasks = TASKS[:1]
    specs = [TaskSpec.from_task(t, VOCAB) for t in tasks]
    model = ValueModel(tasks, [s.bound.decode for s in specs], cache_size=3)
    machine = StackMachine(specs, values=model)
    tokens = _walk(machine, 0, np.random.default_rng(1))
    prefixes = [(0, tuple(tokens[:m])) for m in range(len(tokens) + 1)]
    assert len(prefixes) > 3
    model.facts_many(prefixes)
    assert model.cached_prefixes == 3  # the oldest dropped first
    model.keep_at_least(1000)
    model.keep_at_least(10)  # never narrows
    assert model.cache_size == 1000
    model.forget()
    model.facts_many(prefixes)
    assert model.cached_prefixes == len(prefixes)
    with pytest.raises(ConfigError):
        ValueModel(tasks, [s.bound.decode for s in specs], cache_size=0)
