"""The torchgfn env: masks, transitions and rewards over the stack machine, torchgfn's own GFlowNets training on
it, and exact enumeration for env.validate."""

import math

import numpy as np
import pytest
import torch
from gfn.gflownet import LogPartitionVarianceGFlowNet, RelativeTrajectoryBalanceGFlowNet, TBGFlowNet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tasm_env as te
from tasm_env.envs.gfn import (TasmFeatures, TasmGFNEnv, actions_to_tokens, logz_estimator, mlp_policy,
                               tokens_to_actions)
from tasm_env.emission.state import LEVELS
from tasm_env.emission.vocab import EOS

torch.set_num_threads(1)  # small tensors on a shared 2-core machine: threads only contend

IDIOMS = te.load_suite("tasm-idioms-v0").train
ENVS = {level: TasmGFNEnv(IDIOMS, masking=level) for level in LEVELS}
ADD = te.Task.from_tasm("add", ("field", "field"), name="add")
SQUARE = te.Task.from_tasm("dup 0 mul", ("field",), name="square")
LT = te.Task.from_tasm("lt", ("u32", "u32"), name="lt")
TINY = [ADD, SQUARE, LT]  # with max_len=2: a few hundred legal blocks each
EPS = 1e-3
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def rollout(env: TasmGFNEnv, n: int, seed: int, eos_weight: float = 0.1):
    """Random legal episodes through torchgfn's _step: the states along the way, the actions and the
    terminating states (the last state before exit)."""
    gen = torch.Generator().manual_seed(seed)
    states = env.reset(n)
    history, actions = [states], []
    final = [None] * n
    for _ in range(env.max_len + 1):
        live = ~states.is_sink_state
        if not live.any():
            break
        mask = states.forward_masks
        assert mask[live].any(1).all(), "a live state without a legal action"
        weights = mask.float()
        weights[:, -1] *= eos_weight
        weights[~live] = 1.0  # sink rows: any action, _step ignores them
        a = torch.multinomial(weights, 1, generator=gen)
        a[~live] = env.n_actions - 1
        for b in torch.nonzero(live & (a[:, 0] == env.n_actions - 1)).flatten().tolist():
            final[b] = states[b:b + 1]
        states = env._step(states, env.Actions(a))
        history.append(states)
        actions.append(a)
    assert all(f is not None for f in final), "an episode outlived its budget"
    return history, actions, final


# ------------------------------------------------------------------------------------------- masks


def test_exit_is_the_last_action_and_tokens_map_back():
    env = ENVS["stack"]
    assert env.n_actions == len(env.vocab) and int(env.exit_action) == env.n_actions - 1
    tokens = torch.tensor([EOS, 1, 5, env.n_actions - 1])
    actions = tokens_to_actions(tokens, env.n_actions)
    assert actions.tolist() == [env.n_actions - 1, 0, 4, env.n_actions - 2]
    assert torch.equal(actions_to_tokens(actions, env.n_actions), tokens)


@pytest.mark.parametrize("level", LEVELS)
def test_masks_are_the_machines_with_exit_last_on_1d_2d_and_sink_batches(level):
    env = ENVS[level]
    states = env.make_random_states((6,))
    masks = states.forward_masks
    machine = env.machine.forward_masks(env.emission_state(states), level)
    assert torch.equal(masks, machine.roll(-1, 1))
    assert masks.shape == (6, env.n_actions) and states.backward_masks.shape == (6, env.n_actions - 1)
    grid = env.states_from_tensor(states.tensor.reshape(2, 3, -1), conditions=states.conditions.reshape(2, 3, 1))
    assert torch.equal(grid.forward_masks, masks.reshape(2, 3, -1))
    assert torch.equal(grid.backward_masks, states.backward_masks.reshape(2, 3, -1))
    sink = env.reset(4, sink=True, conditions=env.conditions_for([0, 1, 2, 3]))
    assert sink.forward_masks.shape == (4, env.n_actions)  # some mask, computed without error
    assert not sink.backward_masks.any()
    assert not env.reset(3).backward_masks.any()  # s0 has no parent


def test_backward_masks_are_one_hot_on_the_last_token():
    env = ENVS["stack"]
    states = env.make_random_states((16,))
    lengths = env.emission_state(states).length
    assert torch.equal(states.backward_masks.sum(1), (lengths > 0).long())
    last = env.emission_state(states).tokens.gather(1, (lengths - 1).clamp(min=0).long()[:, None])[:, 0]
    rows = torch.nonzero(lengths > 0).flatten()
    assert states.backward_masks[rows, last[rows].long() - 1].all()


@SETTINGS
@given(st.sampled_from(LEVELS), st.integers(0, 2**31 - 1))
def test_backward_step_inverts_step_through_the_env_api(level, seed):
    env = ENVS[level]
    torch.manual_seed(seed)
    states = env.make_random_states((8,))
    gen = torch.Generator().manual_seed(seed)
    mask = states.forward_masks[:, :-1]  # no exit: exit leads to the sink, which has no inverse
    movable = mask.any(1)
    if not movable.any():
        return
    states = states[movable]
    a = torch.multinomial(mask[movable].float(), 1, generator=gen)
    after = env._step(states, env.Actions(a))
    assert after.backward_masks.gather(1, a).all()
    back = env._backward_step(after, env.Actions(a))
    assert torch.equal(back.tensor, states.tensor)
    assert torch.equal(back.conditions, states.conditions)


@pytest.mark.parametrize("level", LEVELS)
def test_every_legal_episode_ends_within_its_budget(level):
    env = ENVS[level]
    history, _, final = rollout(env, 64, seed=3)
    assert len(history) <= env.max_len + 2
    for states in final:
        state = env.emission_state(states)
        assert int(env.machine.remaining(state)) >= 0
        if level != "none":
            assert bool(env.machine.is_complete(state))


def test_random_states_are_legal_prefixes_of_their_tasks():
    env = ENVS["typed"]
    states = env.make_random_states((32,))
    state = env.emission_state(states)
    replayed = env.machine.replay(state.tokens, state.task, state.length)
    assert torch.equal(replayed.data, state.data)
    assert (env.machine.remaining(state) >= 0).all()


def test_states_without_conditions_are_refused_when_the_task_is_ambiguous():
    env = ENVS["stack"]
    with pytest.raises(te.TasmError, match="no conditions"):
        env.states_from_tensor(env.s0[None, :]).forward_masks


# ----------------------------------------------------------------------------------------- rewards


def test_cycle_rewards_lie_in_their_range_and_the_baseline_scores_one():
    env = TasmGFNEnv(TINY, masking="stack", max_len=2, beta=2.0)
    e = env.enumeration()
    log_r = e.log_rewards
    invalid = torch.isclose(log_r, torch.tensor(2 * math.log(EPS), dtype=torch.float64))
    assert ((log_r >= 0) & (log_r <= 2 * math.log(2) + 1e-9) | invalid).all()
    assert (~invalid).sum() >= len(TINY)
    for n, task in enumerate(TINY):
        ids = env.specs[n].bound.encode(task.baseline)
        index = e.index[(n, tuple(ids))]
        assert log_r[index].item() == pytest.approx(0.0)  # no gain, no loss


def test_partial_credit_rewards_lie_between_eps_and_one():
    env = TasmGFNEnv([ADD], masking="typed", max_len=2, reward=0.5)
    log_r = env.enumeration().log_rewards
    assert (log_r >= math.log(EPS) - 1e-5).all() and (log_r <= math.log(2) + 1e-5).all()  # float32 rewards
    invalid = log_r < 0
    assert (log_r[invalid] <= math.log(EPS + 0.5) + 1e-5).all()
    assert (log_r[invalid] > math.log(EPS) + 1e-3).any()  # some invalid blocks get partial credit


def test_the_shaped_reward_is_the_seeds_formula_on_hand_made_sequences():
    task = te.Task.from_tasm("dup 1 dup 1 add", ("field", "field"), name="add-keep")
    env = TasmGFNEnv([task], masking="none", reward="shaped")
    bound = env.specs[0].bound
    cases = {  # program -> first violation (0-based); the episode's length counts its EOS (as tests/test_reward.py)
        "dup 1 dup 1 add": -1,
        "pop 3": 0,
        "dup 1 add add add": 3,
        "dup 1 dup 1": 2,
        "dup 0 dup 3 add": 1,
    }
    for text, k in cases.items():
        ids = bound.encode(te.Program.parse(text))
        states = env.reset(1)
        for token in ids:
            states = env._step(states, env.Actions(tokens_to_actions(torch.tensor([[token]]), env.n_actions)))
        n = len(ids) + 1
        want = 1 + EPS if k < 0 else EPS + k / n
        assert env.log_reward(states).item() == pytest.approx(math.log(want), rel=1e-6), text
        assert EPS <= want <= 1 + EPS


def test_sampled_log_rewards_match_a_fresh_verification():
    env = ENVS["typed"]
    _, _, final = rollout(env, 24, seed=11)
    for states in final[:8]:
        program = env.decode(states)[0]
        task = env.tasks[int(env.task_ids(states))]
        want = te.verify(task, program, n_tests=40, seed=42).ok
        log_r = env.log_reward(states).item()
        assert (log_r >= 0) == want
        assert log_r == pytest.approx(math.log(EPS)) or 0 <= log_r <= math.log(2) + 1e-6


def test_configuration_errors_are_clear():
    with pytest.raises(te.TasmError, match="masking='none'"):
        TasmGFNEnv([ADD], masking="typed", reward="shaped")
    with pytest.raises(te.TasmError, match="single task"):
        TasmGFNEnv(TINY, conditional=False)
    with pytest.raises(te.TasmError, match="masking must be one of"):
        TasmGFNEnv([ADD], masking="loose")
    with pytest.raises(te.TasmError, match="partial-credit"):
        TasmGFNEnv([ADD], reward=1.5)
    with pytest.raises(te.TasmError, match="no tasks"):
        TasmGFNEnv(suite="tasm-idioms-v0", tier="hard")
    with pytest.raises(te.TasmError, match="cost must be"):
        TasmGFNEnv([ADD], cost="seconds")


# -------------------------------------------------------------------------------------- enumeration


def test_enumeration_finds_every_legal_block_once():
    env = TasmGFNEnv(TINY, masking="typed", max_len=2)
    e = env.enumeration()
    assert env.n_terminating_states == len(e.data) == len(e.index)
    indices = env.get_terminating_states_indices(env.terminating_states)
    assert torch.equal(indices, torch.arange(env.n_terminating_states))
    for t in range(len(TINY)):  # true_dist sums to one over each task's block, logZ is its log-sum
        dist = env.true_dist(env.conditions_for(t)[0])
        assert dist[e.block(t)].sum().item() == pytest.approx(1.0, abs=1e-5)
        assert dist.sum().item() == pytest.approx(1.0, abs=1e-5)
        assert env.log_partition(env.conditions_for(t)[0]) == pytest.approx(
            torch.logsumexp(e.log_rewards[e.block(t)], 0).item())
    assert env.true_dist().sum().item() == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(NotImplementedError):
        env.log_partition()


def test_enumeration_refuses_large_tasks():
    env = TasmGFNEnv([ADD], masking="stack", max_len=4, enumeration_limit=1000)
    with pytest.raises(te.TasmError, match="more than 1000 legal blocks"):
        env.n_terminating_states


# ---------------------------------------------------------------------------------------- training


def _train(gflownet, env, iterations: int = 100, batch: int = 32, lr: float = 3e-3) -> list[float]:
    """On-policy training, the tutorials' way: Adam, logZ at a 10x-30x higher learning rate."""
    optimizer = torch.optim.Adam(gflownet.pf_pb_parameters(), lr)
    if list(gflownet.logz_parameters()):
        optimizer.add_param_group({"params": gflownet.logz_parameters(), "lr": 0.1})
    losses = []
    for _ in range(iterations):
        trajectories = gflownet.sample_trajectories(env, n=batch, save_logprobs=True)
        loss = gflownet.loss(env, trajectories, recalculate_all_logprobs=False)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _decreased(losses: list[float]) -> bool:
    """The last quarter's mean loss is below half the first quarter's."""
    quarter = len(losses) // 4
    return np.mean(losses[-quarter:]) < 0.5 * np.mean(losses[:quarter])


def _tiny(tasks, **kwargs) -> TasmGFNEnv:
    """Tiny tasks with a 2-token budget; eps = 0.05 keeps the log-rewards close, so 100 iterations suffice."""
    return TasmGFNEnv(tasks, masking="typed", max_len=2, eps=0.05, **kwargs)


def test_tb_trains_with_a_conditional_logz():
    torch.manual_seed(0)
    env = _tiny(TINY)
    gflownet = TBGFlowNet(pf=mlp_policy(env, hidden=64), pb=None, logZ=logz_estimator(env), constant_pb=True)
    losses = _train(gflownet, env)
    assert _decreased(losses), losses


def test_tb_trains_unconditionally_on_one_task_with_a_scalar_logz():
    torch.manual_seed(0)
    env = _tiny([ADD], conditional=False)
    assert not env.is_conditional and env.reset(2).conditions is None
    gflownet = TBGFlowNet(pf=mlp_policy(env, hidden=64), pb=None, constant_pb=True)
    losses = _train(gflownet, env)
    assert _decreased(losses), losses


def test_log_partition_variance_trains():
    torch.manual_seed(0)
    env = _tiny([ADD])
    gflownet = LogPartitionVarianceGFlowNet(pf=mlp_policy(env, hidden=64), pb=None, constant_pb=True)
    losses = _train(gflownet, env)
    assert _decreased(losses), losses


def test_relative_trajectory_balance_trains_against_a_frozen_prior():
    torch.manual_seed(0)
    env = _tiny(TINY)
    prior = mlp_policy(env, hidden=64)
    prior.requires_grad_(False)
    gflownet = RelativeTrajectoryBalanceGFlowNet(pf=mlp_policy(env, hidden=64), prior_pf=prior,
                                                 logZ=logz_estimator(env), beta=1.0)
    losses = _train(gflownet, env)
    assert _decreased(losses), losses


def test_validate_reports_finite_l1_and_jsd_on_an_enumerable_task():
    torch.manual_seed(0)
    env = _tiny(TINY)
    gflownet = TBGFlowNet(pf=mlp_policy(env, hidden=64), pb=None, logZ=logz_estimator(env), constant_pb=True)
    condition = env.conditions_for("add")[0]
    before, samples = env.validate(gflownet, 2000, validate_condition=condition, check_sample_sufficiency=False)
    assert set(env.task_ids(samples).tolist()) == {0}  # sampled from the validated task only
    _train(gflownet, env, 60)
    after, _ = env.validate(gflownet, 2000, validate_condition=condition, check_sample_sufficiency=False)
    for metrics in (before, after):
        assert math.isfinite(metrics["l1_dist"]) and 0 <= metrics["l1_dist"] <= 2
        assert math.isfinite(metrics["jsd"]) and 0 <= metrics["jsd"] <= math.log(2) + 1e-6
        assert math.isfinite(metrics["logZ_diff"])
    assert after["l1_dist"] < before["l1_dist"]


def test_the_mlp_features_have_their_declared_size_on_any_batch():
    env = ENVS["typed"]
    features = TasmFeatures(env)
    states = env.make_random_states((3, 4))
    out = features(states)
    assert out.shape == (3, 4, features.output_dim) and torch.isfinite(out).all()
    sink = env.reset(2, sink=True, conditions=env.conditions_for([0, 1]))
    assert torch.isfinite(features(sink)).all()
