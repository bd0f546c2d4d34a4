"""The graph-conditioned policy: the three ways of evaluating it agree (torchgfn's per-state calls, the cached
sampler, one teacher-forced pass), masks are respected, binding to other envs, checkpoints."""

import pytest
import torch
from gfn.utils.prob_calculations import get_trajectory_pfs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tasm_env as te
from agents.checkpoint import CheckpointError, load_module, read_checkpoint, save_checkpoint
from agents.policy import PolicyConfig, PolicyError, TasmPolicy, bound_to, graph_logz
from agents.sampling import replay, rollout, sample_programs, to_trajectories, trajectory_log_probs
from tasm_env.envs.gfn import TasmGFNEnv

torch.set_num_threads(1)

SMALL = PolicyConfig(d_model=16, heads=2, gnn_layers=2, decoder_layers=2, d_ff=32, edge_dim=4)
SUITE = te.load_suite("tasm-basic-v0")
EASY = [t for t in SUITE.split("train") if t.tier == "easy"][:6]
ENV = TasmGFNEnv(tasks=EASY, suite=None, masking="typed")


def _policy(seed: int = 0, env: TasmGFNEnv = ENV) -> TasmPolicy:
    torch.manual_seed(seed)
    return TasmPolicy(env, SMALL)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), temperature=st.sampled_from([0.7, 1.0, 2.0]))
def test_teacher_forcing_equals_torchgfn_per_state_log_probs(seed, temperature):
    policy = _policy(seed % 3)
    generator = torch.Generator().manual_seed(seed)
    sampled = rollout(policy, torch.arange(len(EASY)).repeat(2), temperature=temperature, generator=generator)
    trajectories = to_trajectories(sampled)
    fast = trajectory_log_probs(policy, trajectories)
    reference = get_trajectory_pfs(policy, trajectories, recalculate_all_logprobs=True)
    assert fast.shape == reference.shape
    assert torch.allclose(fast, reference, atol=1e-4), (fast - reference).abs().max()


def test_greedy_cached_rollout_follows_the_per_state_argmax():
    policy = _policy(1)
    sampled = rollout(policy, torch.arange(len(EASY)), greedy=True)
    trajectories = to_trajectories(sampled)
    T = trajectories.actions.tensor.shape[0]
    states = trajectories.states[:T]
    logits = policy(states, states.conditions)
    logits = logits.masked_fill(~states.forward_masks, float("-inf"))
    actions = trajectories.actions.tensor[..., 0]
    live = actions >= 0
    assert torch.equal(logits.argmax(-1)[live], actions[live])


def test_sampled_blocks_are_legal_and_end_within_the_budget():
    policy = _policy(2)
    sampled = rollout(policy, torch.arange(len(EASY)).repeat(4), generator=torch.Generator().manual_seed(3))
    machine = ENV.machine
    for b, task in enumerate(sampled.task.tolist()):
        assert int(sampled.lengths[b]) <= ENV.specs[task].budget
    # replaying the tokens step by step under the typed masks: every token was legal, and EOS at the end too
    state = machine.initial(sampled.task)
    for t in range(sampled.tokens.shape[1]):
        active = t < sampled.lengths
        token = torch.where(active, sampled.tokens[:, t], 0)
        legal = machine.legal(state, token, "typed")
        assert bool(legal[active].all())
        state = machine.step(state, token)
    assert bool(machine.is_complete(state).all())


def test_replay_of_the_baselines_rebuilds_their_programs_and_scores_them():
    policy = _policy(0)
    replayed = replay(ENV, range(len(EASY)), [t.baseline for t in EASY])
    assert replayed.programs() == [t.baseline for t in EASY]
    log_probs = trajectory_log_probs(policy, to_trajectories(replayed))
    assert torch.isfinite(log_probs).all() and bool((log_probs <= 0).all())


def test_rebinding_moves_the_weights_to_another_task_set():
    policy = _policy(0)
    other = TasmGFNEnv(tasks=EASY[3:], suite=None, masking="typed")
    before = {k: v.clone() for k, v in policy.state_dict().items()}
    with bound_to(other, policy):
        assert policy.env is other
        drawn = sample_programs(policy, [0, 1], 2)
        assert len(drawn) == 2 and all(len(d) == 2 for d in drawn)
    assert policy.env is ENV
    assert all(torch.equal(before[k], v) for k, v in policy.state_dict().items())


def test_task_ids_outside_the_bound_env_raise():
    policy = _policy(0)
    with pytest.raises(PolicyError, match="bound"):
        policy.module.graphs.memory(torch.tensor([len(EASY) + 3]))


def test_bad_config_is_refused():
    with pytest.raises(PolicyError, match="multiple of heads"):
        PolicyConfig(d_model=10, heads=4)
    with pytest.raises(PolicyError, match="unknown"):
        PolicyConfig.from_dict({"d_model": 16, "width": 3})


def test_logz_is_per_task():
    torch.manual_seed(0)
    logz = graph_logz(ENV, SMALL)
    values = logz(torch.arange(len(EASY), dtype=torch.float32)[:, None])
    assert values.shape == (len(EASY), 1)
    assert len(set(values[:, 0].tolist())) > 1  # distinct graphs, distinct log Z


def test_checkpoint_round_trip_and_errors(tmp_path):
    policy = _policy(4)
    path = save_checkpoint(tmp_path / "p.safetensors", {"policy": policy}, {"policy_config": SMALL.to_dict()})
    fresh = _policy(5)
    checkpoint = read_checkpoint(path)
    load_module(checkpoint, "policy", fresh)
    assert all(torch.equal(a, b) for a, b in zip(policy.state_dict().values(), fresh.state_dict().values()))
    bigger = TasmPolicy(ENV, PolicyConfig(d_model=32, heads=2, gnn_layers=2, decoder_layers=2, d_ff=32, edge_dim=4))
    with pytest.raises(CheckpointError, match="do not fit"):
        load_module(checkpoint, "policy", bigger)
    with pytest.raises(CheckpointError, match="no 'logz'"):
        load_module(checkpoint, "logz", fresh)
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a safetensors"):
        read_checkpoint(tmp_path / "junk.safetensors")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        read_checkpoint(tmp_path / "missing.safetensors")
