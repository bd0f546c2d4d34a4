"""The invalid floor as an upper bound (agents.bounded_loss): an invalid block's negative residual counts 0, every
other residual keeps the objective's own loss; the trainer marks exactly the invalid trajectories; with the bound a
TB step never raises a sampled invalid block whose probability is below the floor, without it TB does."""

import pytest
import torch
from gfn.gflownet.losses import HalfSquaredLoss, SquaredLoss

from agents.bounded_loss import InvalidBound
from agents.gflownet import AGENTS, TRAJECTORY_OBJECTIVES, AgentError, GFlowNetConfig
from agents.sampling import rollout, to_trajectories, trajectory_log_probs
from test_agents_gflownet import small_trainer

torch.set_num_threads(1)


def test_only_the_negative_residuals_of_invalid_blocks_are_dropped():
    bound = InvalidBound(SquaredLoss())
    residuals = torch.tensor([-2.0, 3.0, -1.0, 4.0], requires_grad=True)
    invalid = torch.tensor([True, True, False, False])
    with bound.marking(invalid):
        loss = bound(residuals)
    assert loss.tolist() == [0.0, 9.0, 1.0, 16.0]
    loss.sum().backward()
    assert residuals.grad.tolist() == [0.0, 6.0, -2.0, 8.0]


def test_unmarked_the_bound_is_its_base_loss():
    bound = InvalidBound(HalfSquaredLoss())
    residuals = torch.tensor([-2.0, 3.0])
    assert bound(residuals).tolist() == [2.0, 4.5]
    with bound.marking(torch.tensor([True, False])):
        assert bound(residuals).tolist() == [0.0, 4.5]
    assert bound(residuals).tolist() == [2.0, 4.5], "marks must not outlive their block"


def test_marks_of_the_wrong_shape_are_refused():
    bound = InvalidBound(SquaredLoss())
    with bound.marking(torch.tensor([True, False])), pytest.raises(ValueError, match="one residual per trajectory"):
        bound(torch.zeros(3))


@pytest.mark.parametrize("agent", sorted(set(AGENTS) - set(TRAJECTORY_OBJECTIVES)))
def test_objectives_with_transition_residuals_refuse_the_bound(agent):
    with pytest.raises(AgentError, match="per-trajectory residuals"):
        GFlowNetConfig(agent=agent, invalid_bound=True)


@pytest.mark.parametrize("agent", TRAJECTORY_OBJECTIVES)
def test_the_trainer_marks_exactly_the_invalid_trajectories(agent):
    trainer = small_trainer(agent, iterations=3, invalid_bound=True, valid_replay=2, samples_per_task=4)
    bound = trainer.gflownet.loss_fn
    assert isinstance(bound, InvalidBound)
    marks, verdicts = [], []
    evaluate = trainer.rewards.evaluate

    def spy_evaluate(tasks, programs):
        out = evaluate(tasks, programs)
        verdicts.append([not e.valid for e in out])
        return out

    call = type(bound).__call__

    def spy_call(self, residuals):
        marks.append(self.marks.tolist())
        return call(self, residuals)

    trainer.rewards.evaluate = spy_evaluate
    type(bound).__call__ = spy_call
    try:
        trainer.train()
    finally:
        type(bound).__call__ = call
    assert len(verdicts) == 2 * 3  # fresh samples, then the replayed verified blocks, each iteration
    expected = [verdicts[2 * i] + verdicts[2 * i + 1] for i in range(3)]
    assert all(not any(v) for v in verdicts[1::2]), "replayed blocks are verified"
    assert any(any(v) for v in verdicts[::2]), "the test needs invalid fresh samples"
    seen = [sum(marks[i:i + len(marks) // 3], []) for i in range(0, len(marks), len(marks) // 3)]
    if agent in ("lpv", "rlpv"):  # one loss call per task group: compare as multisets
        assert [sorted(s) for s in seen] == [sorted(e) for e in expected]
    else:
        assert seen == expected


def _invalid_batch(trainer):
    """Fresh samples of the trainer's policy, only the invalid ones, their log rewards attached."""
    task = trainer.draw_tasks()
    with trainer.policy.encoding_cache():
        fresh = rollout(trainer.policy, task, generator=torch.Generator().manual_seed(3))
        evaluations = trainer.rewards.evaluate(fresh.tasks(), fresh.programs())
        log_r = trainer.rewards.log_rewards_of(evaluations).to(torch.get_default_dtype())
    keep = torch.tensor([not e.valid for e in evaluations])
    assert keep.any()
    batch = to_trajectories(fresh, log_rewards=log_r)[torch.nonzero(keep)[:, 0]]
    return batch, task[keep]


@pytest.mark.parametrize("bounded", [False, True])
def test_a_tb_step_raises_rare_invalid_blocks_only_without_the_bound(bounded):
    # a high floor (0.4): every sampled invalid block is below it (log Z + log P_F < log R), so TB's squared
    # residual pulls each one up, and the bound must leave it alone
    trainer = small_trainer("tb", invalid_bound=bounded, invalid_reward=0.4, partial_credit=0.0, logz_warmup=0)
    batch, task = _invalid_batch(trainer)
    with torch.no_grad():
        before = trajectory_log_probs(trainer.policy, batch).sum(0)
    batch.log_probs = trajectory_log_probs(trainer.policy, batch)
    invalid = torch.ones(len(task), dtype=torch.bool)
    loss = trainer.loss(batch, task, invalid)
    trainer.optimizer.zero_grad()
    loss.backward()
    trainer.optimizer.step()
    with torch.no_grad():
        after = trajectory_log_probs(trainer.policy, batch).sum(0)
    raised = float((after - before).mean())
    if bounded:
        assert float(loss.detach()) == 0.0 and raised == 0.0
    else:
        assert raised > 1e-4, f"unbounded TB should raise the rare invalid blocks (mean change {raised})"
