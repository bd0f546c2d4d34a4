"""The graph-conditioned policy: the three ways of evaluating it agree (torchgfn's per-state calls, the cached
sampler, one teacher-forced pass), masks are respected, binding to other envs, checkpoints, devices."""

import pytest
import torch
import torch.fx.experimental._config as fx_config
from gfn.utils.prob_calculations import get_trajectory_pfs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tasm_env as te
from agents.checkpoint import CheckpointError, load_module, read_checkpoint, save_checkpoint
from agents.gflownet import GFlowNetConfig, GFlowNetTrainer, build_gflownet
from agents.pipeline import evaluate_policy
from agents.policy import (PolicyConfig, PolicyError, TasmFlow, TasmPolicy, bound_to, condition_task_ids, graph_logz,
                           pack_state, resolve_device, unpack)
from agents.sampling import (masked_log_probs, replay, rollout, sample_programs, to_trajectories,
                             trajectory_log_probs, trajectory_logits)
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


# ---------------------------------------------------------------------------------------------- devices


def test_the_network_makes_every_tensor_on_its_own_device():
    """On ``meta`` (shapes, no values) any tensor the network built on the host would meet a meta tensor and
    raise; the inputs come from the env, on the host, as in training and sampling."""
    host = _policy(0)
    sampled = rollout(host, torch.arange(len(EASY)).repeat(2), generator=torch.Generator().manual_seed(1))
    trajectories = to_trajectories(sampled)
    T, B = trajectories.actions.tensor.shape[:2]
    # GATv2's self-loop removal indexes with a mask; on meta, assume no edge is dropped (shapes stay exact:
    # the task graphs have no self loops)
    with fx_config.patch(meta_nonzero_assume_all_nonzero=True):
        policy = TasmPolicy(ENV, SMALL, device="meta")
        net = policy.module
        assert policy.device.type == "meta" and net.n_inputs.is_meta and net.delta.is_meta
        assert all(p.is_meta for p in policy.parameters())
        # torchgfn's per-state calls
        states = trajectories.states[:T]
        packed = policy.preprocessor(states).reshape(T * B, -1)
        out = net(packed, condition_task_ids(states.conditions))
        assert out.is_meta and out.shape == (T * B, ENV.n_actions)
        # the teacher-forced pass of the losses and its masked log-probabilities
        logits = trajectory_logits(policy, trajectories)
        assert logits.is_meta and logits.shape == (B, T, ENV.n_actions)
        chosen = masked_log_probs(logits, states.forward_masks.transpose(0, 1), trajectories.actions.tensor[..., 0].T,
                                  trajectories.terminating_idx)
        assert chosen.is_meta and chosen.shape == (B, T)
        # the cached sampler's steps
        memory, memory_kv = net.memory(sampled.task)
        caches = [{} for _ in net.decoder.layers]
        previous = torch.full((B,), -1, dtype=torch.long, device="meta")
        depth = net.n_inputs[sampled.task.to("meta")]
        features = unpack(pack_state(ENV, ENV.machine.initial(sampled.task)), ENV.max_len)
        for position in range(2):
            step = net.next_outputs(previous, depth, position, memory, memory_kv, caches, features)
            assert step.is_meta and step.shape == (B, ENV.n_actions)
        assert caches[0]["k"].shape[2] == 2
        # log Z's encoder
        logz = graph_logz(ENV, SMALL).to("meta")
        assert logz.module.graphs.memory(sampled.task).pooled.is_meta


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])  # every device this machine has


@pytest.mark.parametrize("device", DEVICES)
def test_training_sampling_and_evaluation_run_on_the_given_device(device):
    tiny = TasmGFNEnv(tasks=EASY[:2], suite=None, masking="typed", max_len=4)
    torch.manual_seed(0)
    policy = TasmPolicy(tiny, SMALL, device=device)
    assert policy.device == torch.device(device)
    config = GFlowNetConfig(agent="tb", tasks_per_batch=2, samples_per_task=2, mode="on-policy", logz_warmup=0)
    trainer = GFlowNetTrainer(build_gflownet("tb", tiny, policy, config=config), tiny, config, progress=False)
    assert {p.device for p in trainer.gflownet.parameters()} == {torch.device(device)}  # log Z beside the policy
    before = [p.detach().clone() for p in policy.parameters()]
    trainer.step()
    assert all(not torch.equal(a, b) for a, b in zip(before, policy.parameters()))
    drawn = sample_programs(policy, [0, 1], 3, generator=torch.Generator().manual_seed(0))
    assert [len(d) for d in drawn] == [3, 3]
    report = evaluate_policy(policy, EASY[:2], 3, progress=False)
    assert len(report.tasks) == 2


def test_devices_are_checked():
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(PolicyError, match="torch device"):
        resolve_device("gpu-please")
    if not torch.cuda.is_available():
        with pytest.raises(PolicyError, match="CUDA is not available"):
            TasmPolicy(ENV, SMALL, device="cuda")


# ---------------------------------------------------------------------------------------------- value state

V1 = te.load_suite("tasm-basic-v1")
V1_EASY = sorted((t for t in V1.split("train") if t.tier == "easy"), key=lambda t: len(str(t.baseline)))[:4]
VALUE_ENV = TasmGFNEnv(tasks=V1_EASY, suite=None, masking="dataflow", max_len=24)  # short baselines, short rollouts


def _value_policy(seed: int = 0) -> TasmPolicy:
    torch.manual_seed(seed)
    return TasmPolicy(VALUE_ENV, SMALL)


def _baseline_states():
    """Packed states along the suite's baselines (every prefix), their task ids, and the replay."""
    replayed = replay(VALUE_ENV, range(len(V1_EASY)), [t.baseline for t in V1_EASY])
    trajectories = to_trajectories(replayed)
    T = trajectories.actions.tensor.shape[0]
    states = trajectories.states[:T]
    packed = pack_state(VALUE_ENV, VALUE_ENV.emission_state(states))
    return packed, condition_task_ids(states.conditions), trajectories


def test_value_features_are_on_under_dataflow_and_read_from_the_env():
    policy = _value_policy()
    assert policy.config.value_features is True and policy.module.values is not None
    assert ENV.machine.values is None and _policy().config.value_features is False  # typed env: off
    packed, _, trajectories = _baseline_states()
    observed = VALUE_ENV.value_observations(trajectories.states[:packed.shape[0] // len(V1_EASY)])
    features = unpack(packed, VALUE_ENV.max_len)
    assert torch.equal(features.slot_nodes, observed["slot_nodes"].reshape(-1, 16))
    assert torch.equal(features.outputs_ready, observed["outputs_ready"].reshape(-1, 16).float())
    assert bool((features.slot_nodes >= 0).any())  # the baselines do hold graph values


def test_slot_nodes_and_outputs_ready_change_the_logits():
    """Goes red if the network ignores either part of the value state."""
    policy = _value_policy(1)
    packed, task, _ = _baseline_states()
    base = policy.module(packed, task)
    width = VALUE_ENV.max_len + 8 + 32
    held = (packed[:, width:width + 16] >= 0).any(1)
    moved = packed.clone()
    moved[:, width:width + 16] = torch.roll(packed[:, width:width + 16], 1, dims=1)  # the same nodes, other slots
    differ = (policy.module(moved, task) - base).abs().amax(1)
    assert bool((differ[held & (moved[:, width:width + 16] != packed[:, width:width + 16]).any(1)] > 1e-5).all())
    none = packed.clone()
    none[:, width:width + 16] = -1
    assert bool(((policy.module(none, task) - base).abs().amax(1)[held] > 1e-5).all())
    flipped = packed.clone()
    flipped[:, width + 16:] = 1 - packed[:, width + 16:]
    assert bool(((policy.module(flipped, task) - base).abs().amax(1) > 1e-5).all())


@pytest.mark.parametrize("seed", [7])
def test_the_three_evaluations_agree_with_value_features(seed, monkeypatch):
    policy = _value_policy(seed % 2)
    net = policy.module
    cached = []  # the logits the cached sampler drew from, step by step (B, V) in token order
    step = net.next_outputs
    monkeypatch.setattr(net, "next_outputs", lambda *args: cached.append(step(*args)) or cached[-1])
    sampled = rollout(policy, torch.arange(len(V1_EASY)).repeat(2), generator=torch.Generator().manual_seed(seed))
    trajectories = to_trajectories(sampled)
    fast = trajectory_log_probs(policy, trajectories)  # teacher forcing
    reference = get_trajectory_pfs(policy, trajectories, recalculate_all_logprobs=True)  # per state
    assert torch.allclose(fast, reference, atol=1e-4), (fast - reference).abs().max()
    T = trajectories.actions.tensor.shape[0]
    states = trajectories.states[:T]
    per_state = policy(states, states.conditions)  # (T, B, V) in action order
    live = torch.arange(T)[:, None] <= sampled.lengths[None, :]
    drawn = net.token_order_to_actions(torch.stack(cached[:T]))
    assert torch.allclose(drawn[live], per_state[live], atol=1e-4), (drawn[live] - per_state[live]).abs().max()


def test_gradients_reach_the_encoder_through_the_slot_gather():
    policy = _value_policy(2)
    net = policy.module
    packed, task, _ = _baseline_states()
    features = unpack(packed, VALUE_ENV.max_len)
    memory = net.graphs.memory(task)
    memory.nodes.retain_grad()
    net.values.slot_embeddings(features, memory, 1).pow(2).sum().backward()
    # exactly the held nodes of each row get a gradient, and through them every encoder tensor
    held = torch.zeros_like(memory.mask)
    for row, nodes in enumerate(features.slot_nodes.tolist()):
        held[row, [n for n in nodes if n >= 0]] = True
    touched = memory.nodes.grad.abs().sum(-1) > 0
    assert bool(held.any()) and torch.equal(touched, held)
    encoder = net.graphs.encoder
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.parameters())
    assert net.values.none.grad.abs().sum() > 0  # rows with empty slots use the learned "none" vector


def test_the_whole_policy_trains_under_dataflow():
    """One teacher-forced step: every tensor of the policy gets a gradient (the value readout included)."""
    policy = _value_policy(3)
    _, _, trajectories = _baseline_states()
    (-trajectory_log_probs(policy, trajectories).sum()).backward()
    missing = [n for n, p in policy.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert not missing


def test_value_checkpoints_round_trip_and_older_ones_still_load(tmp_path):
    policy = _value_policy(4)
    path = save_checkpoint(tmp_path / "v.safetensors", {"policy": policy},
                           {"policy_config": policy.config.to_dict(), "masking": "dataflow"})
    meta = read_checkpoint(path).meta
    assert meta["policy_config"]["value_features"] is True
    fresh = TasmPolicy(VALUE_ENV, PolicyConfig.from_dict(meta["policy_config"]))
    load_module(read_checkpoint(path), "policy", fresh)
    packed, task, _ = _baseline_states()
    assert torch.equal(policy.module(packed, task), fresh.module(packed, task))
    # a checkpoint from before the value features (no such config key) loads as a network without them
    old = dict(SMALL.to_dict())
    old.pop("value_features")
    legacy = PolicyConfig.from_dict(old)
    assert legacy.value_features is False
    typed_path = save_checkpoint(tmp_path / "old.safetensors", {"policy": _policy(5)}, {"policy_config": old})
    for env in (ENV, VALUE_ENV):  # under typed masking as trained, and under dataflow (features unused)
        load_module(read_checkpoint(typed_path), "policy", TasmPolicy(env, legacy))
    # the value policy refuses an env without the value state, and its weights refuse a legacy network
    with pytest.raises(PolicyError, match="value state"):
        TasmPolicy(ENV, PolicyConfig.from_dict(meta["policy_config"]))
    with pytest.raises(CheckpointError, match="do not fit"):
        load_module(read_checkpoint(path), "policy", TasmPolicy(VALUE_ENV, legacy))


def test_a_state_flow_on_a_whole_batch_equals_it_state_by_state():
    """The decoder runs once per longest shared prefix (``agents.prefixes``): every state of a batch of
    trajectories (two per task, so tasks share the empty prefix and siblings share more) must get the flow it
    gets alone."""
    torch.manual_seed(3)
    flow = TasmFlow(VALUE_ENV, SMALL)
    sampled = rollout(_value_policy(1), torch.arange(len(V1_EASY)).repeat(2),
                      generator=torch.Generator().manual_seed(5))
    T = sampled.lengths.max().item() + 1
    states = to_trajectories(sampled).states[:T]
    packed = pack_state(VALUE_ENV, VALUE_ENV.emission_state(states))
    task = condition_task_ids(states.conditions)
    whole = flow.module(packed, task)
    alone = torch.cat([flow.module(packed[i:i + 1], task[i:i + 1]) for i in range(len(task))])
    assert whole.shape == (len(task), 1)
    assert torch.allclose(whole, alone, atol=1e-5), (whole - alone).abs().max()


def test_decoder_dropout_applies_in_training_only():
    """A decoder layer with dropout drops in training (a draw changes the output) and not in eval, where it
    gives the dropout-free layer's output, bit for bit (the cached steps skip the dropout call)."""
    from dataclasses import replace

    from agents.policy import DecoderLayer
    torch.manual_seed(0)
    layer = DecoderLayer(replace(SMALL, dropout=0.5))
    plain = DecoderLayer(replace(SMALL, dropout=0.0))
    plain.load_state_dict(layer.state_dict())
    x, nodes = torch.randn(2, 3, 16), torch.randn(2, 4, 16)
    mask = torch.ones(2, 1, 1, 4, dtype=torch.bool)
    layer.eval()
    with torch.no_grad():
        want = plain.eval()(x, layer.memory_kv(nodes), mask)
        assert torch.equal(layer(x, layer.memory_kv(nodes), mask), want)
        assert not torch.equal(layer.train()(x, layer.memory_kv(nodes), mask), want)
