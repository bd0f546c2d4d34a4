"""Stage 2 and inference end to end on tiny tasks: every trainable tensor gets a gradient from each objective,
the policy itself moves and lowers the loss (not log Z alone), the policy finds verified programs, RTB / RLPV /
TrustPCL refuse a trainable prior, best_program never returns an unverified program."""

import copy

import numpy as np
import pytest
import torch

import tasm_env as te
from agents.best import best_program, best_programs, choose
from agents.gflownet import (AGENTS, NEEDS_PRIOR, AgentError, GFlowNetConfig, GFlowNetTrainer, build_gflownet,
                             frozen_copy, trainable_parameters, without_gradient)
from agents.policy import PolicyConfig, TasmPolicy
from agents.pretrain import PretrainConfig, pretrain
from agents.sampling import rollout, to_trajectories, trajectory_log_probs
from tasm_env.envs.gfn import TasmGFNEnv

torch.set_num_threads(1)

SMALL = PolicyConfig(d_model=16, heads=2, gnn_layers=1, decoder_layers=1, d_ff=32, edge_dim=4)
# tiny tasks with room for improvement: the baselines waste instructions that a 1-2 token block avoids
TINY = [te.Task.from_tasm("push 0 add mul", ("field", "field"), name="mul-after-add-0"),
        te.Task.from_tasm("dup 0 pop 1 add", ("field", "field"), name="add-after-dup-pop")]


SHORTER = {"mul-after-add-0": "mul", "add-after-dup-pop": "add"}


def _pretrained(env: TasmGFNEnv, seed: int, config: PolicyConfig = SMALL) -> TasmPolicy:
    """Stage 1 in miniature: MLE on the baselines and the shorter equivalents, as the pipeline starts."""
    torch.manual_seed(seed)
    policy = TasmPolicy(env, config)
    pretrain(policy, known_good(env), PretrainConfig(epochs=40, batch_size=4, lr=1e-2), progress=False)
    return policy


def known_good(env: TasmGFNEnv) -> list:
    return [(i, t.baseline) for i, t in enumerate(env.tasks)] + \
           [(i, te.Program.parse(SHORTER[t.name])) for i, t in enumerate(env.tasks)]


def small_trainer(agent: str, seed: int = 0, iterations: int = 30, policy_config: PolicyConfig = SMALL,
             **settings) -> GFlowNetTrainer:
    env = TasmGFNEnv(tasks=TINY, suite=None, masking="typed", max_len=3)
    policy = _pretrained(env, seed, policy_config)
    prior = frozen_copy(policy) if agent in NEEDS_PRIOR else None
    config = GFlowNetConfig(**{**dict(agent=agent, iterations=iterations, tasks_per_batch=2, samples_per_task=8,
                                      lr=1e-3, logz_lr=5e-2, reward_beta=2.0, mode="on-policy", seed=seed,
                                      eval_every=10_000, logz_warmup=5), **settings})
    return GFlowNetTrainer(build_gflownet(agent, env, policy, prior=prior, config=config), env, config,
                           progress=False)


# what each objective trains besides the policy: nothing else may be in its parameter list
ESTIMATORS = {"tb": {"pf", "logZ"}, "lpv": {"pf"}, "rtb": {"pf", "logZ"}, "rlpv": {"pf"}, "subtb": {"pf", "logF"},
              "db": {"pf", "logF"}, "trustpcl": {"pf", "logZ"}}
DEEPER = PolicyConfig(d_model=16, heads=2, gnn_layers=2, decoder_layers=2, d_ff=32, edge_dim=4)


def test_every_objective_is_listed_with_its_estimators_and_offered_by_the_cli():
    from agents.commands import AGENT_NAMES
    assert set(ESTIMATORS) == set(AGENTS)
    assert AGENT_NAMES == AGENTS


@pytest.mark.parametrize("agent", AGENTS)
def test_every_trainable_tensor_gets_a_gradient_from_each_objective(agent):
    trainer = small_trainer(agent, policy_config=DEEPER, logz_warmup=0)
    groups = trainable_parameters(trainer.gflownet)
    assert set(groups) == ESTIMATORS[agent]
    policy_names = [f"pf.{n}" for n, p in trainer.policy.named_parameters() if p.requires_grad]
    assert groups["pf"] == policy_names and len(policy_names) == len(list(trainer.policy.parameters()))
    assert any(".graphs.encoder." in n for n in policy_names)  # the encoder is among them
    optimized = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert optimized == {id(p) for p in trainer.gflownet.parameters() if p.requires_grad}
    if agent in NEEDS_PRIOR:
        assert not optimized & {id(p) for p in trainer.gflownet.prior_pf.parameters()}
    # the known programs (baseline and a cheaper one per task) make the rewards differ within every task, so
    # no objective is at a stationary point by construction (RLPV at its prior with equal rewards would be)
    trainer.step(extra=known_good(trainer.env))
    assert without_gradient(trainer.gflownet) == []


@pytest.mark.parametrize("agent", AGENTS)
def test_the_policy_moves_in_one_step_with_log_z_frozen(agent):
    trainer = small_trainer(agent, logz_warmup=0, logz_lr=0.0)
    before = copy.deepcopy(trainer.gflownet.state_dict())
    trainer.step(extra=known_good(trainer.env))
    after = trainer.gflownet.state_dict()
    for name, p in trainer.gflownet.named_parameters():
        moved = not torch.equal(before[name], after[name])
        assert moved == name.startswith("pf."), f"{agent}: {name} {'moved' if moved else 'did not move'}"


def _fixed_batch_loss(trainer: GFlowNetTrainer, sampled, log_rewards: torch.Tensor) -> float:
    """The trainer's loss on one fixed batch, with the estimators as they are now."""
    with torch.no_grad():
        trajectories = to_trajectories(sampled, log_rewards=log_rewards)
        trajectories.log_probs = trajectory_log_probs(trainer.policy, trajectories)
        return float(trainer.loss(trajectories, sampled.task))


# DB's loss is local (one transition at a time): its policy needs more iterations to show a clear gain
ITERATIONS = {"db": 100}


@pytest.mark.parametrize("agent", AGENTS)
def test_each_objective_trains_on_a_tiny_suite(agent):
    trainer = small_trainer(agent, iterations=ITERATIONS.get(agent, 30))
    start = copy.deepcopy(trainer.policy.state_dict())
    fixed = rollout(trainer.policy, torch.arange(len(TINY)).repeat(16), generator=torch.Generator().manual_seed(123))
    log_rewards = trainer.rewards.log_rewards_of(trainer.rewards.evaluate(fixed.tasks(), fixed.programs()))
    log_rewards = log_rewards.to(torch.get_default_dtype())
    history = trainer.train()
    losses = np.array([row["loss"] for row in history])
    assert np.isfinite(losses).all()
    assert losses[-10:].mean() < losses[:10].mean(), f"{agent}: loss did not fall ({losses[:10].mean():.3f} -> " \
                                                     f"{losses[-10:].mean():.3f})"
    # log Z (or log F) alone lowers the loss too; the policy's share: on one fixed batch, with the trained
    # log Z / log F, the trained policy must beat the one training started from
    trained = _fixed_batch_loss(trainer, fixed, log_rewards)
    learned = copy.deepcopy(trainer.policy.state_dict())
    trainer.policy.load_state_dict(start)
    initial = _fixed_batch_loss(trainer, fixed, log_rewards)
    trainer.policy.load_state_dict(learned)
    assert trained < initial - 0.005 * abs(initial), f"{agent}: the policy did not learn ({initial:.3f} -> " \
                                                     f"{trained:.3f} with the trained log Z / log F)"
    outcomes = best_programs(TINY, trainer.policy, samples=16)
    assert any(not o.fallback_used for o in outcomes), f"{agent}: no verified program after training"
    for task, outcome in zip(TINY, outcomes):
        assert te.verify(task.baseline, outcome.program, task.inputs, n_tests=64, seed=99).ok


@pytest.mark.parametrize("agent", NEEDS_PRIOR)
def test_relative_objectives_refuse_a_trainable_or_missing_prior(agent):
    env = TasmGFNEnv(tasks=TINY, suite=None, masking="typed", max_len=3)
    policy = TasmPolicy(env, SMALL)
    with pytest.raises(AgentError, match="must be frozen"):
        build_gflownet(agent, env, policy, prior=TasmPolicy(env, SMALL))
    with pytest.raises(AgentError, match="needs a prior"):
        build_gflownet(agent, env, policy)


def test_unknown_agent_and_bad_settings_are_refused():
    with pytest.raises(AgentError, match="agent must be one of"):
        GFlowNetConfig(agent="ppo")
    for agent in ("lpv", "rlpv"):
        with pytest.raises(AgentError, match="samples_per_task >= 2"):
            GFlowNetConfig(agent=agent, samples_per_task=1)


def test_best_program_never_returns_an_unverified_program():
    torch.manual_seed(0)
    tasks = [t for t in te.load_suite("tasm-basic-v0").split("test") if t.tier == "easy"][:3]
    env = TasmGFNEnv(tasks=tasks, suite=None, masking="typed")
    untrained = TasmPolicy(env, SMALL)  # almost never right: the fallback must kick in, and say so
    for task in tasks:
        outcome = best_program(task, untrained, samples=8)
        assert te.verify(task.baseline, outcome.program, task.inputs, n_tests=64, seed=5).ok
        if outcome.fallback_used:
            assert outcome.program == task.baseline and "baseline" in outcome.note
            assert outcome.cycles == task.baseline_cycles


def test_choose_rejects_wrong_candidates_and_prefers_the_cheapest_verified():
    task = [t for t in te.load_suite("tasm-basic-v0").split("train") if t.tier == "easy"
            and t.optimum is not None and t.optimum.cycles < t.baseline_cycles][0]
    wrong = te.Program.parse("push 1 " + str(task.baseline).replace("\n", " "))  # one extra element: not equivalent
    outcome = choose(task, [wrong, task.baseline, task.optimum.program, wrong])
    assert not outcome.fallback_used and outcome.program == task.optimum.program
    assert outcome.cycles == task.optimum.cycles and outcome.valid_samples == 2
    only_wrong = choose(task, [wrong, None and wrong or wrong])
    assert only_wrong.fallback_used and only_wrong.program == task.baseline
