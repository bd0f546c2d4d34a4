"""The RL baselines of the comparison (agents.rl): reinforce and ppo (torchrl's losses and GAE on the GFlowNets'
policy network) and maskable_ppo (sb3-contrib on the Gymnasium env with the graph encoder). Each runs end to end
through the harness's run_unit on a tiny task, is reproducible by seed, really updates its policy through the
library's loss, and gets every verdict from the harness's budget."""

from dataclasses import replace

import numpy as np
import pytest
import torch

import tasm_env as te
from agents.checkpoint import save_checkpoint
from agents.compare.interface import AgentContext, RunUnit, Scored, ScoringBudget, register, run_unit
from agents.policy import PolicyConfig, TasmPolicy
from agents.rl import AGENTS
from agents.rl.reward import RewardConfig, terminal_rewards
from tasm_env.envs.gfn import TasmGFNEnv

torch.set_num_threads(1)

SMALL = PolicyConfig(d_model=16, heads=2, gnn_layers=1, decoder_layers=1, d_ff=32, edge_dim=4).to_dict()
TASK = te.Task.from_tasm("push 0 add mul", ("field", "field"), name="mul-after-add-0")
NAMES = ("reinforce", "ppo", "maskable_ppo")


def _context(seed: int = 0, **options) -> AgentContext:
    # small networks and few sb3 epochs keep the tests fast; the code paths are the defaults'
    return AgentContext(seed=seed, options={"policy_config": SMALL, "n_epochs": 2, "batch_size": 16, **options})


def _agent(name: str, seed: int = 0, **options):
    return AGENTS[name](_context(seed, **options))


def _network_parameters(agent) -> list[torch.Tensor]:
    """The policy's own parameters (the actor; for maskable_ppo sb3's whole policy)."""
    module = agent.model.policy if agent.name == "maskable_ppo" else agent.policy
    return [p.detach().clone() for p in module.parameters()]


def _round(agent, budget: ScoringBudget, n: int = 4) -> list[str]:
    proposals = [str(p) for p in agent.propose(TASK, n)]
    agent.learn(TASK, budget.score(proposals))
    return proposals


@pytest.mark.parametrize("name", NAMES)
def test_each_agent_runs_rounds_through_run_unit(name):
    register(f"test-rl-{name}", lambda context: AGENTS[name](replace(context, options=_context().options)))
    record = run_unit(RunUnit(agent=f"test-rl-{name}", seed=0, task=TASK.name, budget=12, batch=4), task=TASK)
    assert record.programs_scored == 12
    assert record.curve[0] == [0, TASK.baseline_cycles]
    assert record.best_cycles <= record.baseline_cycles


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_proposals_across_learning_rounds(name):
    runs = []
    for _ in range(2):
        agent, budget = _agent(name, seed=3), ScoringBudget(TASK, 64)
        runs.append([_round(agent, budget) for _ in range(2)])
    assert runs[0] == runs[1]
    other, budget = _agent(name, seed=4), ScoringBudget(TASK, 64)
    assert [_round(other, budget) for _ in range(2)] != runs[0]


@pytest.mark.parametrize("name", NAMES)
def test_learn_moves_the_policy_and_lr_zero_does_not(name):
    agent, budget = _agent(name), ScoringBudget(TASK, 64)
    agent.propose(TASK, 1)  # builds the networks
    before = _network_parameters(agent)
    _round(agent, budget)
    moved = [not torch.equal(a, b) for a, b in zip(before, _network_parameters(agent))]
    assert sum(moved) > len(moved) // 2, f"only {sum(moved)} of {len(moved)} policy tensors changed"
    frozen, budget = _agent(name, lr=0.0), ScoringBudget(TASK, 64)
    frozen.propose(TASK, 1)
    before = _network_parameters(frozen)
    _round(frozen, budget)
    assert all(torch.equal(a, b) for a, b in zip(before, _network_parameters(frozen)))


@pytest.mark.parametrize("name, loss", [("reinforce", "ReinforceLoss"), ("ppo", "ClipPPOLoss")])
def test_torchrl_losses_and_gae_do_the_update(name, loss, monkeypatch):
    import torchrl.objectives as objectives
    from torchrl.objectives.value import GAE

    cls = getattr(objectives, loss)
    calls = {"loss": 0, "gae": 0}
    loss_forward, gae_forward = cls.forward, GAE.forward

    def spy_loss(self, tensordict):
        calls["loss"] += 1
        return loss_forward(self, tensordict)

    def spy_gae(self, tensordict, *args, **kwargs):
        calls["gae"] += 1
        return gae_forward(self, tensordict, *args, **kwargs)

    monkeypatch.setattr(cls, "forward", spy_loss)
    monkeypatch.setattr(GAE, "forward", spy_gae)
    agent = _agent(name, ppo_epochs=3)
    _round(agent, ScoringBudget(TASK, 64))
    assert type(agent.loss_module) is cls
    assert calls == {"loss": agent.epochs, "gae": 1}
    assert agent.epochs == (3 if name == "ppo" else 1)
    assert agent.policy.module is agent.actor.module[0].module.network  # the actor is the GFlowNets' network
    assert isinstance(agent.policy, TasmPolicy)


def test_maskable_ppo_updates_with_sb3_train_and_never_uses_the_env_verifier(monkeypatch):
    from sb3_contrib import MaskablePPO

    from agents.rl.features import GraphFeatures

    trained = []
    original = MaskablePPO.train
    monkeypatch.setattr(MaskablePPO, "train", lambda self: (trained.append(1), original(self))[1])
    agent = _agent("maskable_ppo")
    agent.propose(TASK, 1)
    assert isinstance(agent.model.policy.features_extractor, GraphFeatures)

    def no_verifier(*args, **kwargs):
        raise AssertionError("the env verified a block: the harness's budget must be the only verifier")

    monkeypatch.setattr(agent.env.unwrapped.rewards, "evaluate", no_verifier)
    budget = ScoringBudget(TASK, 64)
    for _ in range(2):
        _round(agent, budget)
    assert trained == [1, 1] and budget.used == 8


def test_starts_from_the_given_checkpoint(tmp_path):
    env = TasmGFNEnv(tasks=[TASK], suite=None, masking="dataflow")
    torch.manual_seed(11)
    saved = TasmPolicy(env, PolicyConfig.from_dict(SMALL))
    path = save_checkpoint(tmp_path / "policy.safetensors", {"policy": saved}, {"policy_config": SMALL})
    agent = AGENTS["ppo"](replace(_context(), checkpoint=str(path)))
    agent.propose(TASK, 1)
    assert agent.start == str(path)
    for a, b in zip(saved.state_dict().values(), agent.policy.state_dict().values()):
        assert torch.equal(a, b)


def test_terminal_rewards_order_verdicts():
    scored = [Scored("a", True, 80, 0.0), Scored("b", True, 100, 0.0), Scored("c", True, 120, 0.0),
              Scored("d", False, None, 0.25), Scored("e", False, None, 1.0)]
    rewards = terminal_rewards(scored, 100, RewardConfig(equal=0.1, scale=10.0)).tolist()
    assert rewards == pytest.approx([0.1 + 10 * 0.2, 0.1, 0.1, -0.25, -1.0])


def test_transitions_put_the_reward_at_the_exit_and_take_legal_actions():
    from agents.rl.transitions import transitions
    from agents.sampling import rollout

    env = TasmGFNEnv(tasks=[TASK], suite=None, masking="dataflow")
    torch.manual_seed(0)
    policy = TasmPolicy(env, PolicyConfig.from_dict(SMALL))
    drawn = rollout(policy, [0] * 5, generator=torch.Generator().manual_seed(0))
    rewards = torch.tensor([1.0, -0.5, 0.1, -1.0, 2.0])
    td = transitions(drawn, rewards)
    assert td.batch_size == torch.Size([5, drawn.tokens.shape[1] + 1])
    assert int(td["valid"].sum()) == int((drawn.lengths + 1).sum())
    exit_step = drawn.lengths
    rows = torch.arange(5)
    assert torch.equal(td["next", "reward"][rows, exit_step, 0], rewards)
    assert float(td["next", "reward"].sum()) == pytest.approx(float(rewards.sum()))
    assert bool(td["next", "done"][rows, exit_step].all()) and not bool(td["next", "done"][td["valid"]].all())
    steps = td[td["valid"]]
    assert bool(steps["mask"].gather(1, steps["action"][:, None]).all())  # every action taken was legal
    assert bool((td["action"][rows, exit_step] == env.n_actions - 1).all())  # the last action is exit


def test_graph_features_read_the_task_graph_and_the_slot_nodes():
    import gymnasium

    from agents.rl.features import GraphFeatures, TaskIndexObservation

    tasks = [TASK, te.Task.from_tasm("dup 0 pop 1 add", ("field", "field"), name="add-after-dup-pop")]
    env = TaskIndexObservation(gymnasium.make("tasm_env/TasmEmit-v0", tasks=tasks, suite=None, masking="dataflow",
                                              include_graph=False).unwrapped, tokens_width=16)
    torch.manual_seed(0)
    extractor = GraphFeatures(env.observation_space, tasks, d_model=16, features_dim=32)
    observation, _ = env.reset(seed=0, options={"task": 0})
    assert observation["tokens"].shape == (16,)

    def features(**change):
        obs = {k: torch.as_tensor(np.asarray(v), dtype=torch.float32)[None] for k, v in {**observation, **change}.items()}
        return extractor(obs)

    base = features()
    assert not torch.allclose(base, features(task_id=np.array([1])))  # the other task's graph
    nodes = observation["slot_nodes"].copy()
    nodes[0] = 2 if nodes[0] != 2 else 1
    assert not torch.allclose(base, features(slot_nodes=nodes))  # which graph node a slot holds


def test_graph_features_rollout_cache_is_exact_and_refreshed_by_a_mode_switch():
    import gymnasium

    from agents.rl.features import GraphFeatures, TaskIndexObservation

    env = TaskIndexObservation(gymnasium.make("tasm_env/TasmEmit-v0", tasks=[TASK], suite=None, masking="dataflow",
                                              include_graph=False).unwrapped)
    torch.manual_seed(0)
    extractor = GraphFeatures(env.observation_space, [TASK], d_model=16, features_dim=32)
    observation, _ = env.reset(seed=0)
    obs = {k: torch.as_tensor(np.asarray(v), dtype=torch.float32)[None] for k, v in observation.items()}
    fresh = extractor(obs).detach()
    extractor.train(False)  # as sb3's rollouts: eval mode, no gradients
    with torch.no_grad():
        assert torch.allclose(extractor(obs), fresh) and torch.allclose(extractor(obs), fresh)
        extractor.train(True)  # sb3 enters training mode for an update ...
        for p in extractor.graphs.parameters():
            p.add_(0.05)  # ... the "update" ...
        extractor.train(False)  # ... and leaves it for the next rollout
        cached = extractor(obs)
    extractor.train(True)
    assert torch.allclose(cached, extractor(obs).detach())
    assert not torch.allclose(cached, fresh)


def _encoder_matches(agent, policy) -> bool:
    extractor = agent.model.policy.features_extractor.graphs.state_dict()
    return all(torch.equal(extractor[k], v) for k, v in policy.module.graphs.state_dict().items())


def test_maskable_ppo_starts_from_the_shipped_encoder():
    from agents.shipped import pretrained

    shipped = pretrained("tasm-basic-v1")
    agent = AGENTS["maskable_ppo"](AgentContext(seed=0))  # no checkpoint: the suite's shipped policy
    agent.propose(TASK, 1)
    assert agent.start.endswith("tasm-basic-v1.safetensors")
    assert _encoder_matches(agent, shipped)
    assert agent.model.policy.features_extractor is agent.model.policy.pi_features_extractor  # shared
    fresh = AGENTS["maskable_ppo"](AgentContext(seed=0, checkpoint="fresh"))
    fresh.propose(TASK, 1)
    assert fresh.start == "fresh" and not _encoder_matches(fresh, shipped)
