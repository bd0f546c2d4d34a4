"""Conformance of the envs with Gymnasium's and torchgfn's conventions: check_env, autoreset, the natively
batched vector env, AsyncVectorEnv after a parent reset, torchgfn conditions, the docs' recipe, the
preprocessor."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

import tasm_env as te
from tasm_env.envs import GYM_ID
from tasm_env.envs.gym import IllegalActionError

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------ Gymnasium


def test_check_env_passes_with_default_arguments():
    env = gym.make(GYM_ID)
    check_env(env.unwrapped)
    assert env.unwrapped.illegal_action == "penalty"


def test_illegal_action_error_still_raises():
    env = gym.make(GYM_ID, suite="tasm-idioms-v0", illegal_action="error", include_graph=False)
    _, info = env.reset(seed=0)
    with pytest.raises(IllegalActionError):
        env.step(int(np.flatnonzero(info["action_mask"] == 0)[0]))


def test_autoreset_mode_is_declared():
    assert gym.make(GYM_ID).unwrapped.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
    envs = gym.make_vec(GYM_ID, num_envs=2, vectorization_mode="vector_entry_point")
    assert envs.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
    assert type(envs.unwrapped).__name__ == "TasmEmitVectorEnv"


def _assert_same(native: dict, reference: dict, what):
    assert set(native) == set(reference), (what, set(native) ^ set(reference))
    for key, expected in reference.items():
        got = native[key]
        if isinstance(expected, np.ndarray) and expected.dtype == object:
            assert list(got) == list(expected), (what, key)
        else:
            assert np.array_equal(got, expected, equal_nan=True), (what, key, got, expected)


@pytest.mark.parametrize("masking,reward", [("typed", "cycles"), ("stack", 0.5), ("none", "shaped")])
def test_the_vector_env_matches_a_sync_vector_env_of_single_envs(masking, reward):
    """Same seeds, same actions (3% of them random, so illegal ones too): same observations, rewards,
    terminations and infos, through autoresets."""
    kwargs = dict(suite="tasm-idioms-v0", masking=masking, reward=reward, max_len=10)
    n = 6
    native = gym.make_vec(GYM_ID, num_envs=n, vectorization_mode="vector_entry_point", **kwargs)
    sync = gym.make_vec(GYM_ID, num_envs=n, vectorization_mode="sync", include_graph=False, **kwargs)
    obs, info = native.reset(seed=7)
    ref_obs, ref_info = sync.reset(seed=7)
    _assert_same(obs, ref_obs, "reset obs")
    _assert_same(info, ref_info, "reset info")
    rng = np.random.default_rng(1)
    ends = 0
    for t in range(150):
        actions = np.array([rng.choice(np.flatnonzero(m)) if rng.random() < 0.97 else rng.integers(len(m))
                            for m in info["action_mask"]])
        obs, reward_, terminated, truncated, info = native.step(actions)
        ref = sync.step(actions)
        _assert_same(obs, ref[0], ("obs", t))
        _assert_same(info, ref[4], ("info", t))
        assert np.allclose(reward_, ref[1]) and np.array_equal(terminated, ref[2]) and not truncated.any()
        ends += int(terminated.sum())
    assert ends > 10


def test_the_vector_env_autoresets_on_the_next_step_and_ignores_that_action():
    envs = gym.make_vec(GYM_ID, num_envs=3, vectorization_mode="vector_entry_point", suite="tasm-idioms-v0")
    obs, info = envs.reset(seed=0)
    eos = np.zeros(3, dtype=np.int64)
    first = info["action_mask"][:, 1:].argmax(1) + 1  # a legal non-EOS token each
    obs, _, terminated, _, info = envs.step(first)
    assert (obs["length"][:, 0] == 1).all() and not terminated.any()
    illegal = np.array([int(np.flatnonzero(m == 0)[0]) for m in info["action_mask"]])
    obs, reward, terminated, _, info = envs.step(illegal)  # penalty: every episode ends
    assert terminated.all() and info["illegal_action"].all() and np.allclose(reward, 1e-3)
    assert (info["action_mask"][:, 0] == 1).all() and (info["action_mask"][:, 1:] == 0).all()
    obs, reward, terminated, _, info = envs.step(eos)  # the reset step: the action is ignored
    assert (obs["length"][:, 0] == 0).all() and (reward == 0).all() and not terminated.any()
    assert "valid" not in info


def test_the_vector_env_raises_under_error_without_stepping_anyone():
    envs = gym.make_vec(GYM_ID, num_envs=2, vectorization_mode="vector_entry_point", suite="tasm-idioms-v0",
                        illegal_action="error")
    obs, info = envs.reset(seed=0)
    actions = info["action_mask"][:, 1:].argmax(1) + 1
    actions[1] = int(np.flatnonzero(info["action_mask"][1] == 0)[0])
    with pytest.raises(IllegalActionError, match="sub-env 1"):
        envs.step(actions)
    assert (envs.unwrapped.step(info["action_mask"][:, 1:].argmax(1) + 1)[0]["length"][:, 0] == 1).all()
    for bad in (np.array([0.5, 1.0]), np.array([True, False]), np.array([1, 10_000])):
        with pytest.raises(te.TasmError, match="integer token id"):
            envs.step(bad)


ASYNC_AFTER_PARENT_RESET = """
import gymnasium as gym, numpy as np, torch
import tasm_env

class TorchWork(gym.Wrapper):
    '''Child-side work that enters torch's thread pool (as a torch feature extractor would).'''
    def reset(self, **kwargs):
        float((torch.rand(2_000_000) * 2).sum())
        return self.env.reset(**kwargs)

float((torch.rand(2_000_000) * 2).sum())           # the parent's pool is up
env = gym.make("tasm_env/TasmEmit-v0")
env.reset(seed=0)                                  # the parent has reset an env
envs = gym.make_vec("tasm_env/TasmEmit-v0", num_envs=2, vectorization_mode="async", include_graph=False,
                    wrappers=[TorchWork])
obs, info = envs.reset(seed=0)
for _ in range(20):
    obs, reward, terminated, truncated, info = envs.step(info["action_mask"].argmax(1))
envs.close()
print("finished")
"""


def test_async_vector_env_after_a_parent_reset_finishes():
    run = subprocess.run([sys.executable, "-c", ASYNC_AFTER_PARENT_RESET], capture_output=True, text=True,
                         timeout=90, cwd=ROOT, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0 and "finished" in run.stdout, run.stderr[-2000:]


# --------------------------------------------------------------------------------------------- torchgfn


@pytest.fixture(scope="module")
def gfn_env():
    from tasm_env.envs.gfn import TasmGFNEnv

    return TasmGFNEnv(suite="tasm-idioms-v0", masking="typed", max_len=8)


@pytest.mark.parametrize("bad", [-1.0, 1e6, 0.5])
def test_conditions_out_of_range_or_fractional_raise_naming_the_range(gfn_env, bad):
    from gfn.gflownet import TBGFlowNet

    from tasm_env.envs.gfn import logz_estimator, mlp_policy

    gflownet = TBGFlowNet(pf=mlp_policy(gfn_env), pb=None, logZ=logz_estimator(gfn_env), constant_pb=True)
    conditions = gfn_env.conditions_for([0, 1, 2])
    conditions[1, 0] = bad
    with pytest.raises(te.ConditionError, match=rf"0\.\.{gfn_env.n_tasks - 1}"):
        gflownet.sample_trajectories(gfn_env, n=3, conditions=conditions)
    with pytest.raises(te.TasmError, match="shape"):
        gfn_env.reset(3, conditions=torch.zeros(3, 2))
    gflownet.sample_trajectories(gfn_env, n=3, conditions=gfn_env.conditions_for([0, 1, 2]))  # in range: fine


def test_torchgfns_own_estimators_sample_with_the_preprocessor(gfn_env):
    from gfn.estimators import ConditionalDiscretePolicyEstimator, DiscretePolicyEstimator
    from gfn.gflownet import TBGFlowNet
    from gfn.utils.modules import MLP

    from tasm_env.envs.gfn import TasmGFNEnv
    from tasm_env.envs.preprocess import TasmStatePreprocessor

    single = TasmGFNEnv(gfn_env.tasks[0], conditional=False, masking="typed", max_len=8)
    pre = TasmStatePreprocessor(single)
    pf = DiscretePolicyEstimator(MLP(pre.output_dim, single.n_actions), single.n_actions, preprocessor=pre)
    gflownet = TBGFlowNet(pf=pf, pb=None, constant_pb=True)
    trajectories = gflownet.sample_trajectories(single, n=16, save_logprobs=True)
    loss = gflownet.loss(single, trajectories, recalculate_all_logprobs=False)
    assert torch.isfinite(loss)
    features = pre(trajectories.states)  # sink padding included
    assert features.shape[-1] == pre.output_dim and torch.isfinite(features).all()

    pre = TasmStatePreprocessor(gfn_env)
    hidden = 32
    pf = ConditionalDiscretePolicyEstimator(MLP(pre.output_dim, hidden), MLP(1, hidden),
                                            MLP(2 * hidden, gfn_env.n_actions), gfn_env.n_actions,
                                            preprocessor=pre)
    trajectories = TBGFlowNet(pf=pf, pb=None, constant_pb=True).sample_trajectories(gfn_env, n=16)
    assert trajectories.batch_size == 16
    # the task features differ between tasks: the preprocessor tells tasks apart without a condition module
    states = gfn_env.reset(2, conditions=gfn_env.conditions_for([0, 1]))
    rows = pre(states)
    assert not torch.equal(rows[0], rows[1])


@pytest.mark.slow
def test_the_docs_torchgfn_recipe_runs_as_written():
    text = (ROOT / "docs" / "envs.md").read_text()
    section = text[text.index("## torchgfn"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "logz_estimator(env)" in code and "loss.backward()" in code
    namespace: dict = {}
    exec(compile(textwrap.dedent(code), "docs/envs.md", "exec"), namespace)
    assert len(namespace["programs"]) == 64 and torch.isfinite(namespace["loss"])
