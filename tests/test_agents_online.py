"""Stage 3: builds are recorded and persisted, bursts replay history, and the regression guard rolls back a
burst whose validation score drops; the bursts train every tensor of the policy, whatever the objective."""

import pytest
import torch

import tasm_env as te
from agents.best import choose
from agents.gflownet import AGENTS, NEEDS_PRIOR, GFlowNetConfig, GFlowNetTrainer, build_gflownet, frozen_copy, \
    without_gradient
from agents.online import OnlineRefiner
from agents.policy import PolicyConfig, TasmPolicy
from agents.replay import BuildResultBuffer, task_hash
from tasm_env.envs.gfn import TasmGFNEnv

torch.set_num_threads(1)

SMALL = PolicyConfig(d_model=16, heads=2, gnn_layers=1, decoder_layers=1, d_ff=32, edge_dim=4)
TINY = [te.Task.from_tasm("push 0 add mul", ("field", "field"), name="mul-after-add-0"),
        te.Task.from_tasm("dup 0 pop 1 add", ("field", "field"), name="add-after-dup-pop")]


def _refiner(tmp_path, scores, trigger=2, burst=3, agent="tb"):
    torch.manual_seed(0)
    env = TasmGFNEnv(tasks=TINY, suite=None, masking="typed", max_len=3)
    policy = TasmPolicy(env, SMALL)
    prior = frozen_copy(policy) if agent in NEEDS_PRIOR else None
    config = GFlowNetConfig(agent=agent, tasks_per_batch=2, samples_per_task=2, lr=1e-2, mode="on-policy",
                            logz_warmup=0)
    trainer = GFlowNetTrainer(build_gflownet(agent, env, policy, prior=prior, config=config), env, config,
                              progress=False)
    feed = iter(scores)
    trainer.validate = lambda: {"score": next(feed)}  # the guard's input, scripted
    return OnlineRefiner(trainer, buffer_path=tmp_path / "replay.jsonl", trigger=trigger, burst=burst, history=2)


def test_builds_are_recorded_and_saved(tmp_path):
    refiner = _refiner(tmp_path, scores=[0.5, 0.5])
    outcomes = refiner.build(TINY, samples=4)
    assert len(outcomes) == 2
    saved = BuildResultBuffer.load(tmp_path / "replay.jsonl")
    assert saved == refiner.buffer and len(saved) == 2
    for task, result in zip(TINY, saved):
        assert result.task_hash == task_hash(task)
        assert te.verify(task.baseline, result.program, task.inputs).ok  # builds are never wrong programs


def test_a_burst_that_lowers_the_score_is_rolled_back_and_one_that_holds_is_kept(tmp_path):
    refiner = _refiner(tmp_path, scores=[0.60, 0.20, 0.20, 0.61])
    before = {k: v.clone() for k, v in refiner.trainer.gflownet.state_dict().items()}
    refiner.build(TINY, samples=4)  # 2 results reach the trigger: a burst, scored 0.60 -> 0.20
    first = refiner.bursts[-1]
    assert not first.accepted and refiner.model_version == 0
    after = refiner.trainer.gflownet.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # rolled back exactly
    refiner.build(TINY, samples=4)  # scored 0.20 -> 0.61: within the guard, kept
    second = refiner.bursts[-1]
    assert second.accepted and refiner.model_version == 1
    assert any(not torch.equal(before[k], v) for k, v in refiner.trainer.gflownet.state_dict().items())


def test_replayed_history_comes_from_valid_builds_of_known_tasks(tmp_path):
    refiner = _refiner(tmp_path, scores=[0.5] * 4, trigger=100)
    refiner.build(TINY, samples=4)  # an untrained policy: fallbacks, which are never replayed
    assert refiner.replayed_programs(5) == []
    shorter = [choose(TINY[0], [te.Program.parse("mul")]), choose(TINY[1], [te.Program.parse("add")])]
    refiner.record(TINY, shorter)
    drawn = refiner.replayed_programs(5)
    assert drawn, "valid builds should be available for replay"
    assert sorted(str(p) for _, p in drawn) == ["add", "mul"]
    for index, program in drawn:
        assert te.verify(TINY[index].baseline, program, TINY[index].inputs).ok


def test_the_buffer_is_loaded_back_when_the_refiner_restarts(tmp_path):
    first = _refiner(tmp_path, scores=[0.5] * 4, trigger=100)
    first.build(TINY, samples=4)
    second = _refiner(tmp_path, scores=[0.5] * 4, trigger=100)
    assert second.buffer == first.buffer


@pytest.mark.parametrize("agent", AGENTS)
def test_a_burst_gives_every_trainable_tensor_a_gradient(tmp_path, agent):
    refiner = _refiner(tmp_path, scores=[0.5, 0.5], trigger=100, burst=1, agent=agent)
    # valid builds in the buffer: the burst replays them beside fresh (mostly invalid) samples, so the rewards
    # differ within each task and no objective sits at a stationary point by construction
    refiner.record(TINY, [choose(TINY[0], [te.Program.parse("mul")]), choose(TINY[1], [te.Program.parse("add")])])
    refiner.refine()
    assert refiner.bursts[-1].iterations == 1
    assert without_gradient(refiner.trainer.gflownet) == []
