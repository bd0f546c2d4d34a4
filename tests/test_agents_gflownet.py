"""Stage 2 and inference end to end on tiny tasks: each torchgfn objective trains (its loss falls and the
policy finds verified programs), RTB and TrustPCL refuse a trainable prior, best_program never returns an
unverified program."""

import numpy as np
import pytest
import torch

import tasm_env as te
from agents.best import best_program, best_programs, choose
from agents.gflownet import AGENTS, AgentError, GFlowNetConfig, GFlowNetTrainer, build_gflownet, frozen_copy
from agents.policy import PolicyConfig, TasmPolicy
from agents.pretrain import PretrainConfig, pretrain
from tasm_env.envs.gfn import TasmGFNEnv

torch.set_num_threads(1)

SMALL = PolicyConfig(d_model=16, heads=2, gnn_layers=1, decoder_layers=1, d_ff=32, edge_dim=4)
# tiny tasks with room for improvement: the baselines waste instructions that a 1-2 token block avoids
TINY = [te.Task.from_tasm("push 0 add mul", ("field", "field"), name="mul-after-add-0"),
        te.Task.from_tasm("dup 0 pop 1 add", ("field", "field"), name="add-after-dup-pop")]


SHORTER = {"mul-after-add-0": "mul", "add-after-dup-pop": "add"}


def _pretrained(env: TasmGFNEnv, seed: int) -> TasmPolicy:
    """Stage 1 in miniature: MLE on the baselines and the shorter equivalents, as the pipeline starts."""
    torch.manual_seed(seed)
    policy = TasmPolicy(env, SMALL)
    corpus = [(i, t.baseline) for i, t in enumerate(env.tasks)] + \
             [(i, te.Program.parse(SHORTER[t.name])) for i, t in enumerate(env.tasks)]
    pretrain(policy, corpus, PretrainConfig(epochs=40, batch_size=4, lr=1e-2), progress=False)
    return policy


def _trainer(agent: str, seed: int = 0, iterations: int = 30) -> GFlowNetTrainer:
    env = TasmGFNEnv(tasks=TINY, suite=None, masking="typed", max_len=3)
    policy = _pretrained(env, seed)
    prior = frozen_copy(policy) if agent in ("rtb", "trustpcl") else None
    config = GFlowNetConfig(agent=agent, iterations=iterations, tasks_per_batch=2, samples_per_task=8, lr=1e-3,
                            logz_lr=5e-2, reward_beta=2.0, mode="on-policy", seed=seed, eval_every=10_000,
                            logz_warmup=5)
    return GFlowNetTrainer(build_gflownet(agent, env, policy, prior=prior, config=config), env, config,
                           progress=False)


@pytest.mark.parametrize("agent", AGENTS)
def test_each_objective_trains_on_a_tiny_suite(agent):
    trainer = _trainer(agent)
    history = trainer.train()
    losses = np.array([row["loss"] for row in history])
    assert np.isfinite(losses).all()
    assert losses[-10:].mean() < losses[:10].mean(), f"{agent}: loss did not fall ({losses[:10].mean():.3f} -> " \
                                                     f"{losses[-10:].mean():.3f})"
    outcomes = best_programs(TINY, trainer.policy, samples=16)
    assert any(not o.fallback_used for o in outcomes), f"{agent}: no verified program after training"
    for task, outcome in zip(TINY, outcomes):
        assert te.verify(task.baseline, outcome.program, task.inputs, n_tests=64, seed=99).ok


@pytest.mark.parametrize("agent", ["rtb", "trustpcl"])
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
    with pytest.raises(AgentError, match="samples_per_task >= 2"):
        GFlowNetConfig(agent="lpv", samples_per_task=1)


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
