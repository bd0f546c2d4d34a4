"""The Gymnasium env: registration, Gymnasium's own checks, masks equal to the torchgfn env's, seeding, illegal
actions, rewards, vector envs, a stateful random walk, and sb3-contrib's MaskablePPO."""

import math
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env, data_equivalence
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import tasm_env as te
from tasm_env.envs import GYM_ID
from tasm_env.envs.gfn import TasmGFNEnv
from tasm_env.envs.gym import IllegalActionError, TasmEmitEnv
from tasm_env.emission.state import LEVELS
from tasm_env.emission.vocab import EOS

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
IDIOMS = te.load_suite("tasm-idioms-v0").train
EPS = 1e-3
PAIRS = {level: (TasmEmitEnv(IDIOMS, masking=level, include_graph=False), TasmGFNEnv(IDIOMS, masking=level))
         for level in LEVELS}
SHAPED = (TasmEmitEnv(IDIOMS, masking="none", reward="shaped", include_graph=False),
          TasmGFNEnv(IDIOMS, masking="none", reward="shaped"))


def idioms_env(**kwargs) -> TasmEmitEnv:
    kwargs.setdefault("include_graph", False)
    return TasmEmitEnv(IDIOMS, **kwargs)


def play(env, seed: int, eos_weight: float = 0.1, actions=None):
    """One episode with random legal actions from the env's own RNG; returns what happened."""
    obs, info = env.reset(seed=seed)
    record = [(info["task"], obs)]
    rng = env.unwrapped.np_random
    while True:
        legal = np.flatnonzero(info["action_mask"])
        weights = np.where(legal == EOS, eos_weight, 1.0)
        action = int(rng.choice(legal, p=weights / weights.sum()))
        obs, reward, terminated, truncated, info = env.step(action)
        record.append((action, obs, reward, terminated, truncated))
        assert not truncated
        if terminated:
            return record, reward, info
        assert reward == 0.0


# ------------------------------------------------------------------------------------- registration


def test_import_registers_the_env_without_importing_torch():
    code = ("import sys, tasm_env, gymnasium; assert 'torch' not in sys.modules, 'torch imported'; "
            f"assert {GYM_ID!r} in gymnasium.registry")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    code = ("import gymnasium; env = gymnasium.make('tasm_env:tasm_env/TasmEmit-v0', suite='tasm-idioms-v0', "
            "include_graph=False); env.reset(seed=0)")  # the module:id form imports tasm_env itself
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_the_gymnasium_entry_point_registers_the_env():
    entry = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["gymnasium.envs"]
    module, function = entry["tasm_env"].split(":")
    spec = gym.registry.pop(GYM_ID)
    try:
        __import__(module, fromlist=[function]).__dict__[function]()
        assert gym.registry[GYM_ID].entry_point == spec.entry_point
    finally:
        gym.registry[GYM_ID] = spec


def test_make_passes_the_configuration_through():
    env = gym.make(GYM_ID, suite="tasm-idioms-v0", split="val", masking="typed", reward=0.25, cost="padded_height",
                   max_len=6, beta=2.0, illegal_action="penalty", include_graph=False)
    inner = env.unwrapped
    assert isinstance(inner, TasmEmitEnv)
    assert [t.name for t in inner.tasks] == [t.name for t in te.load_suite("tasm-idioms-v0").val]
    assert inner.masking == "typed" and inner.rewards.partial_credit == 0.25 and inner.rewards.cost == "padded_height"
    assert inner.max_len == 6 and inner.observation_space["tokens"].shape == (6,) and inner.beta == 2.0
    assert gym.make(GYM_ID, suite="tasm-idioms-v0", tier="idiom").unwrapped.tasks == IDIOMS


def test_gymnasiums_env_checker_passes():
    env = gym.make(GYM_ID, suite="tasm-idioms-v0", illegal_action="penalty", render_mode="ansi")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    assert not [w for w in caught if "gymnasium" in str(w.filename)], [str(w.message) for w in caught]


# ------------------------------------------------------------------------------------------- masks

MASK_SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@MASK_SETTINGS
@given(st.data(), st.sampled_from(LEVELS + ("shaped",)))
def test_masks_rows_and_rewards_equal_the_torchgfn_envs_for_the_same_prefix(data, level):
    env, gfn_env = SHAPED if level == "shaped" else PAIRS[level]
    task = data.draw(st.integers(0, len(IDIOMS) - 1), label="task")
    obs, info = env.reset(options={"task": task})
    states = gfn_env.reset(1, conditions=gfn_env.conditions_for(task))
    L = gfn_env.layout
    same = np.r_[0:L.max_len + 1, L.length, L.change, L.counters.start:L.counters.stop, L.violation,
                 L.types.start:L.types.stop]  # every column but the machine-specific table offsets
    while True:
        gym_mask = info["action_mask"].astype(bool)
        assert np.array_equal(np.roll(states.forward_masks[0].numpy(), 1), gym_mask)  # torchgfn: EOS last
        assert np.array_equal(states.tensor[0].numpy()[same], env.row.row[same])
        assert np.array_equal(gfn_env.machine.slot_types(gfn_env.emission_state(states))[0].numpy(),
                              obs["slot_types"])
        legal = np.flatnonzero(gym_mask)
        stop = data.draw(st.booleans(), label="stop") if gym_mask[EOS] else False
        action = EOS if stop or legal.tolist() == [EOS] else data.draw(st.sampled_from(legal[legal != EOS].tolist()))
        obs, reward, terminated, _, info = env.step(action)
        if terminated:
            assert info["log_reward"] == pytest.approx(gfn_env.log_reward(states).item(), abs=1e-5)
            return
        states = gfn_env._step(states, gfn_env.Actions(torch.tensor([[action - 1]])))


# ----------------------------------------------------------------------------------------- seeding


def test_same_seed_same_episode():
    env = idioms_env(masking="typed")
    for seed in range(4):
        first, reward, info = play(env, seed)
        again, reward_again, info_again = play(env, seed)
        assert data_equivalence(first, again, exact=True)
        assert reward == reward_again and info["program"] == info_again["program"]
    assert len({play(env, seed)[0][0][0] for seed in range(12)}) > 1  # seeds draw different tasks
    obs, _ = env.reset(seed=5)
    other = idioms_env(masking="typed")
    assert data_equivalence(other.reset(seed=5)[0], obs, exact=True)


def test_reset_can_pick_the_task():
    env = idioms_env()
    for chosen in ("cube", 3, IDIOMS[5]):
        _, info = env.reset(options={"task": chosen})
        want = chosen if isinstance(chosen, str) else IDIOMS[chosen].name if isinstance(chosen, int) else chosen.name
        assert info["task"] == want == env.task.name
    with pytest.raises(te.TasmError, match="not a task of this env"):
        env.reset(options={"task": "no-such-task"})


# ---------------------------------------------------------------------------------- illegal actions


def test_a_masked_action_raises_under_error_and_leaves_the_state_alone():
    env = idioms_env(masking="typed", illegal_action="error")
    obs, info = env.reset(options={"task": "cube"})
    illegal = int(np.flatnonzero(info["action_mask"] == 0)[0])
    before = env.row.row.copy()
    with pytest.raises(IllegalActionError, match="is masked under masking 'typed'") as caught:
        env.step(illegal)
    assert isinstance(caught.value, te.TasmError) and caught.value.token == illegal
    assert "cube" in str(caught.value) and "action_masks()" in str(caught.value)
    assert set(caught.value.legal) == set(np.flatnonzero(info["action_mask"]).tolist())
    assert np.array_equal(env.row.row, before)
    legal = int(np.flatnonzero(info["action_mask"][1:])[0]) + 1  # not EOS
    env.step(legal)  # the episode goes on
    for bad in (-1, env.action_space.n, 2.5, "add"):
        with pytest.raises(te.TasmError, match="integer token id"):
            env.step(bad)


def test_a_masked_action_ends_the_episode_with_the_invalid_reward_under_penalty():
    env = idioms_env(masking="typed", illegal_action="penalty", beta=2.0)
    _, info = env.reset(options={"task": "cube"})
    illegal = int(np.flatnonzero(info["action_mask"] == 0)[0])
    obs, reward, terminated, truncated, info = env.step(illegal)
    assert terminated and not truncated and info["illegal_action"] and not info["valid"]
    assert reward == pytest.approx(EPS ** 2) and info["log_reward"] == pytest.approx(2 * math.log(EPS))
    assert info["action_mask"].tolist() == [1] + [0] * (env.action_space.n - 1)
    with pytest.raises(te.TasmError, match="episode is over"):
        env.step(EOS)


def test_configuration_errors_are_clear():
    with pytest.raises(te.TasmError, match="illegal_action"):
        idioms_env(illegal_action="ignore")
    with pytest.raises(te.TasmError, match="masking='none'"):
        idioms_env(masking="stack", reward="shaped")
    with pytest.raises(te.TasmError, match="render_mode"):
        idioms_env(render_mode="human")
    with pytest.raises(te.TasmError, match="reset"):
        idioms_env().step(1)


# ----------------------------------------------------------------------------------------- rewards


def encode(env: TasmEmitEnv, text: str) -> list[int]:
    return env.task_spec.bound.encode(te.Program.parse(text), eos=True)


def run_program(env: TasmEmitEnv, text: str, task) -> tuple[float, dict]:
    env.reset(options={"task": task})
    for token in encode(env, text):
        _, reward, terminated, _, info = env.step(token)
        if not terminated:
            assert reward == 0.0
    assert terminated
    return reward, info


def test_cycle_rewards_for_the_baseline_and_a_cheaper_equivalent():
    task = te.Task.from_tasm("swap 1 swap 1 add", ("field", "field"), name="add-the-long-way")
    env = TasmEmitEnv([task], masking="typed", include_graph=False)
    reward, info = run_program(env, "swap 1 swap 1 add", 0)
    assert reward == pytest.approx(1.0) and info["valid"] and info["cost"] == info["baseline_cost"] == 3
    reward, info = run_program(env, "add", 0)
    assert reward == pytest.approx(1 + 2 / 3) and info["cost"] == 1 and info["program"] == "add"
    reward, info = run_program(env, "mul", 0)
    assert reward == pytest.approx(EPS) and not info["valid"] and info["reason"]
    squared = TasmEmitEnv([task], masking="typed", beta=2.0, include_graph=False)
    assert run_program(squared, "add", 0)[0] == pytest.approx((1 + 2 / 3) ** 2)


def test_the_shaped_reward_is_the_seeds_formula_on_hand_made_sequences():
    task = te.Task.from_tasm("dup 1 dup 1 add", ("field", "field"), name="add-keep")
    env = TasmEmitEnv([task], masking="none", reward="shaped", include_graph=False)
    cases = {"dup 1 dup 1 add": -1, "pop 3": 0, "dup 1 add add add": 3, "dup 1 dup 1": 2, "dup 0 dup 3 add": 1}
    for text, k in cases.items():  # as tests/test_reward.py: k is the first violation, the length counts EOS
        n = len(encode(env, text))
        reward, info = run_program(env, text, 0)
        assert info["violation"] == k, text
        assert reward == pytest.approx(1 + EPS if k < 0 else EPS + k / n), text


@pytest.mark.parametrize("reward,beta", [("cycles", 1.0), ("cycles", 2.0), (0.5, 1.0)])
def test_rewards_lie_in_their_documented_ranges(reward, beta):
    env = idioms_env(masking="typed", reward=reward, beta=beta)
    for seed in range(12):
        _, r, info = play(env, seed, eos_weight=1.0)
        if info["valid"]:
            assert 1.0 <= r <= 2 ** beta + 1e-9
        elif reward == "cycles":
            assert r == pytest.approx(EPS ** beta)
        else:
            assert EPS ** beta - 1e-12 <= r <= (EPS + reward) ** beta + 1e-9


def test_observations_graph_and_render():
    env = TasmEmitEnv(IDIOMS, render_mode="ansi")
    obs, info = env.reset(options={"task": "cube"})
    assert obs in env.observation_space
    assert obs["depth"][0] == 1 and obs["remaining"][0] == env.task_spec.budget and (obs["tokens"] == -1).all()
    assert info["graph"].num_nodes == env.task_graph.num_nodes == len(env.task.tir.nodes)
    assert info["graph"] is not env.task_graph
    for token in encode(env, "dup 0 dup 0 mul")[:-1]:
        obs, *_ = env.step(token)
    assert obs["length"][0] == 3 and obs["depth"][0] == 2 and obs["tokens"][3] == -1
    text = env.render()
    assert "cube" in text and "dup 0" in text and "mul" in text and "live depth 2" in text
    assert env.action_masks().dtype == bool and env.action_masks().shape == (env.action_space.n,)


# ------------------------------------------------------------------------------------ vector envs


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_vector_envs_run_with_masks_from_their_infos(mode):
    envs = gym.make_vec(GYM_ID, num_envs=2, vectorization_mode=mode, suite="tasm-idioms-v0", masking="typed",
                        max_len=6, include_graph=False)
    try:
        obs, info = envs.reset(seed=0)
        rng = np.random.default_rng(0)
        finished = 0
        for _ in range(20):
            masks = info["action_mask"]
            actions = np.array([rng.choice(np.flatnonzero(m)) for m in masks])
            obs, rewards, terminated, truncated, info = envs.step(actions)
            assert obs["tokens"].shape == (2, 6) and rewards.shape == (2,)
            finished += int(terminated.sum())
        assert finished >= 1
    finally:
        envs.close()


# ------------------------------------------------------------------------------ stateful random walk


class RandomLegalPlay(RuleBasedStateMachine):
    """Random legal actions, EOS and resets in any order never break the env or its promises."""

    @initialize(masking=st.sampled_from(LEVELS), seed=st.integers(0, 2**16))
    def make(self, masking, seed):
        self.env = PAIRS[masking][0]
        self.obs, self.info = self.env.reset(seed=seed)
        self.done = False

    @rule(seed=st.one_of(st.none(), st.integers(0, 2**16)))
    def reset(self, seed):
        self.obs, self.info = self.env.reset(seed=seed)
        self.done = False

    @precondition(lambda self: not self.done)
    @rule(data=st.data())
    def step(self, data):
        legal = np.flatnonzero(self.info["action_mask"]).tolist()
        action = data.draw(st.sampled_from(legal))
        self.obs, reward, self.done, truncated, self.info = self.env.step(action)
        assert not truncated
        assert reward == 0.0 if not self.done else reward > 0

    @precondition(lambda self: not self.done and self.info["action_mask"][EOS])
    @rule()
    def finish(self):
        self.obs, reward, self.done, _, self.info = self.env.step(EOS)
        assert self.done and "program" in self.info and reward > 0

    @invariant()
    def promises_hold(self):
        assert self.obs in self.env.observation_space
        mask = self.info["action_mask"]
        assert mask.dtype == np.int8 and mask.any()
        assert np.array_equal(mask.astype(bool), self.env.action_masks())
        if not self.done:
            row = self.env.row
            assert 0 <= row.length <= self.env.task_spec.budget and row.remaining >= 0
            if row.remaining == 0:
                assert mask.tolist() == [1] + [0] * (len(mask) - 1)  # at the budget, only EOS


RandomLegalPlay.TestCase.settings = settings(max_examples=15, stateful_step_count=40, deadline=None,
                                             suppress_health_check=[HealthCheck.too_slow])
TestRandomLegalPlay = RandomLegalPlay.TestCase


# ------------------------------------------------------------------------------------ MaskablePPO


def _maskable_ppo(steps: int):
    sb3_contrib = pytest.importorskip("sb3_contrib")
    from sb3_contrib.common.maskable.utils import get_action_masks

    env = gym.make(GYM_ID, suite="tasm-idioms-v0", masking="typed", max_len=8, include_graph=False)
    model = sb3_contrib.MaskablePPO("MultiInputPolicy", env, n_steps=64, batch_size=32, n_epochs=2, seed=0,
                                    device="cpu", verbose=0)
    model.learn(steps)
    obs, _ = env.reset(seed=1)
    for _ in range(env.unwrapped.max_len + 1):  # the trained policy only takes legal actions
        action, _ = model.predict(obs, action_masks=get_action_masks(env))
        assert env.unwrapped.action_masks()[int(action)]
        obs, reward, terminated, _, info = env.step(action)
        if terminated:
            return reward
    raise AssertionError("the episode outlived its budget")


def test_maskable_ppo_trains_unchanged_briefly():
    assert _maskable_ppo(128) > 0


@pytest.mark.slow
def test_maskable_ppo_trains_for_a_few_thousand_steps():
    assert _maskable_ppo(2048) > 0
