"""The dense credit's potentials (tasm_env.envs.potential): the shaping is gamma * Phi(s') - Phi(s) with Phi a
function of the state alone, so an episode's discounted shaping telescopes to -Phi(s0); the progress potential
reads the task graph as documented, is 1 on the baselines' final prefixes and 0 on lost ones."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tasm_env as te
from tasm_env.emission.values import ValueModel
from tasm_env.emission.vocab import EOS
from tasm_env.envs.gym import TasmEmitEnv
from tasm_env.envs.potential import output_progress, potential
from tasm_env.errors import ConfigError
from tasm_env.testing import equivalent_pairs, known_good_programs

SUITE = te.load_suite("tasm-basic-v1")
TASKS = [t for t in SUITE.train if t.tier == "easy"][:6]


def _random_episode(env, seed):
    """(tokens taken, rewards, task index) of one episode of uniformly random legal tokens."""
    _, info = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    tokens, rewards = [], []
    while True:
        action = int(rng.choice(np.flatnonzero(info["action_mask"])))
        _, reward, terminated, _, info = env.step(action)
        tokens.append(action)
        rewards.append(reward)
        if terminated:
            return tokens, rewards, env.task_index, info


@pytest.mark.parametrize("kind", ["ready", "progress"])
@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_discounted_shaping_telescopes_to_minus_phi0(kind, gamma):
    plain = TasmEmitEnv(tasks=TASKS, suite=None, masking="dataflow", include_graph=False)
    dense = TasmEmitEnv(tasks=TASKS, suite=None, masking="dataflow", include_graph=False, dense_credit=kind,
                        credit_gamma=gamma)
    # Phi recomputed from scratch: a fresh value model, the prefix and its live depth only (no history)
    fresh = ValueModel.of(TASKS, dense.specs)
    for seed in range(6):
        tokens, shaped, task, _ = _random_episode(dense, seed)
        same, base, _, _ = _random_episode(plain, seed)
        assert same == tokens  # same seed, same masks: the same episode
        phi = potential(kind, TASKS[task])
        delta = dense.vocab.delta
        potentials, depth = [], len(TASKS[task].inputs)
        for t in range(len(tokens)):
            potentials.append(phi(fresh.facts(task, tokens[:t]), depth))
            depth += int(delta[tokens[t]]) if tokens[t] != EOS else 0
        potentials.append(0.0)  # Phi = 0 once the episode is over
        credit = np.array(shaped) - np.array(base)
        expected = gamma * np.array(potentials[1:]) - np.array(potentials[:-1])
        np.testing.assert_allclose(credit, expected, atol=1e-9)
        discount = gamma ** np.arange(len(tokens))
        assert float(discount @ credit) == pytest.approx(-potentials[0], abs=1e-9)  # telescopes


def test_progress_reads_the_task_graph():
    # out = (a + b) * b: level(a) = level(b) = 0, level(a + b) = 1, level(out) = 2
    task = te.Task.from_tasm("dup 0 pick 2 add mul", ("field", "field"), name="sum-times-b")
    nodes = task.tir.nodes
    table = output_progress(task)
    (out,) = [ref.node for ref in task.tir.outputs]
    add = next(i for i, n in enumerate(nodes) if n.op == "add")
    assert table[out, 0] == 1.0 and table[add, 0] == pytest.approx(0.5)
    assert all(table[i, 0] == 0.0 for i, n in enumerate(nodes) if n.op == "input")
    env = TasmEmitEnv(tasks=[task], suite=None, masking="dataflow", include_graph=False, dense_credit="progress")
    env.reset(seed=0)
    start = env.potential_now()  # nothing computed, depth 2 for arity 1, no output ready
    assert start == pytest.approx((0.0 + 0.0 + 0.5) / 3)
    for token in env.task_spec.bound.encode(task.baseline):
        env.step(token)
    assert env.potential_now() == pytest.approx(1.0)


def test_progress_is_one_on_every_baseline_and_zero_once_lost():
    env = TasmEmitEnv(tasks=TASKS, suite=None, masking="typed", include_graph=False, dense_credit="progress")
    lost_seen = 0
    for index, task in enumerate(TASKS):
        env.reset(options={"task": index})
        for token in env.task_spec.bound.encode(task.baseline):
            env.step(token)
        assert env.row.value_facts().eos_ok and env.potential_now() == pytest.approx(1.0)
        env.reset(options={"task": index})
        rng = np.random.default_rng(index)
        while env.row.remaining > 0:
            if env.row.value_facts().lost:
                lost_seen += 1
                assert env.potential_now() == 0.0
                break
            legal = np.flatnonzero(env.action_masks())
            if not (legal != EOS).any():
                break
            env.step(int(rng.choice(legal[legal != EOS])))
    assert lost_seen  # the random walks do get lost, so the zero was checked


def test_bad_credit_options_are_config_errors():
    with pytest.raises(ConfigError, match="dense_credit"):
        TasmEmitEnv(tasks=TASKS[:1], suite=None, masking="dataflow", include_graph=False, dense_credit="bogus")
    with pytest.raises(te.TasmError, match="credit_gamma"):
        TasmEmitEnv(tasks=TASKS[:1], suite=None, masking="dataflow", include_graph=False, dense_credit=True,
                    credit_gamma=0.0)


# ---------------------------------------------------------------------------------- end_lost

V0 = te.load_suite("tasm-basic-v0")
V0_TASKS = list(V0.train) + list(V0.val) + list(V0.test)


def _replay_never_cut(env, index, program) -> bool:
    """Replays ``program`` on task ``index`` of an ``end_lost`` env: it must not end before its EOS and must
    verify. False if the program is not in the episode space (an unbound constant, over the budget, masked)."""
    try:
        tokens = env.specs[index].bound.encode(program)
    except te.TasmError:
        return False
    if len(tokens) > env.specs[index].budget:
        return False
    _, info = env.reset(options={"task": index})
    for position, token in enumerate(tokens + [EOS]):
        if not info["action_mask"][token]:
            return False
        _, _, terminated, _, info = env.step(token)
        assert terminated == (token == EOS), (env.tasks[index].name, str(program), position)
    assert info["valid"] and not info["lost"]
    return True


def test_end_lost_never_cuts_a_baseline_or_optimum_short():
    env = TasmEmitEnv(tasks=V0_TASKS, suite=None, masking="dataflow", include_graph=False, end_lost=True)
    covered = 0
    for index, task, program, kind in known_good_programs(V0_TASKS):
        replayed = _replay_never_cut(env, index, program)  # False only for a program the budget cannot spell
        assert replayed or kind == "optimum", task.name
        covered += replayed
    assert covered > len(V0_TASKS)  # optima were replayed too


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(equivalent_pairs(task_strategy=st.sampled_from(V0_TASKS[:60])))
def test_end_lost_never_cuts_a_verified_variant_short(pair):
    task, _, variant, _ = pair
    env = TasmEmitEnv(tasks=[task], suite=None, masking="dataflow", include_graph=False, end_lost=True)
    _replay_never_cut(env, 0, variant)


def test_end_lost_ends_random_walks_early_and_only_invalid():
    env = TasmEmitEnv(tasks=TASKS, suite=None, masking="dataflow", include_graph=False, end_lost=True,
                      dense_credit="progress")
    ended = 0
    for seed in range(12):
        tokens, _, _, info = _random_episode(env, seed)
        if tokens[-1] != EOS:
            ended += 1
            assert info["lost"] and not info["valid"]
            assert env.values.facts(env.task_index, tokens).lost
            assert not env.values.facts(env.task_index, tokens[:-1]).lost  # it ended at the first lost step
    assert ended  # some walks did get lost


@pytest.mark.parametrize("option", [{"dense_credit": "progress"}, {"end_lost": True}])
def test_the_vector_env_refuses_what_it_does_not_do(option):
    from tasm_env.envs.vector import TasmEmitVectorEnv

    with pytest.raises(ConfigError, match="vector env"):
        TasmEmitVectorEnv(num_envs=2, tasks=TASKS[:2], suite=None, masking="dataflow", **option)
