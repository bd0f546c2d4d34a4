"""The stage-2 guard (agents.valid_replay): the valid replay is in every batch once seeded and never empties,
the checkpoint kept is the best validation check (ties broken as documented), and the early stops fire."""

import dataclasses
import itertools

import numpy as np
import pytest
import torch

import tasm_env as te
from agents.valid_replay import GuardError, Selection, ValidReplay
from test_agents_gflownet import known_good, small_trainer

torch.set_num_threads(1)


def _capture_batches(trainer):
    """Wrap the trainer's loss so each batch's log rewards are recorded."""
    seen, loss = [], trainer.loss

    def spy(trajectories, task, invalid=None):
        seen.append(trajectories.log_rewards.detach().clone())
        return loss(trajectories, task, invalid)

    trainer.loss = spy
    return seen


def test_the_valid_replay_is_in_every_batch_once_seeded():
    trainer = small_trainer("tb", iterations=6, valid_replay=3)
    trainer.valid_replay.seed(known_good(trainer.env))
    seen = _capture_batches(trainer)
    trainer.train()
    fresh = trainer.config.tasks_per_batch * trainer.config.samples_per_task
    assert [row["guarded"] for row in trainer.history] == [3] * 6
    assert len(seen) == 6
    for log_rewards in seen:
        assert len(log_rewards) == fresh + 3
        assert bool((log_rewards[fresh:] >= 0).all()), "replayed blocks must be verified (log reward >= 0)"


def test_the_valid_replay_never_empties_and_keeps_its_seeds():
    task = te.Task.from_tasm("push 0 add mul", ("field", "field"))
    replay = ValidReplay(capacity=2)
    assert replay.draw(4, np.random.default_rng(0)) == []
    replay.seed([(0, task.baseline)])
    rng = np.random.default_rng(0)
    sizes = []
    for cost, text in enumerate(["mul", "push 0 mul", "push 1 mul mul", "dup 0 pop 1 mul", "mul"]):
        replay.add(0, te.Program.parse(text), 10 - cost)
        sizes.append(len(replay))
        assert len(replay.draw(5, rng)) == 5
    assert sizes == sorted(sizes) and sizes[-1] == 3  # one seed plus capacity 2, never fewer than before
    drawn = {str(p) for _, p in replay.draw(200, rng)}
    assert str(task.baseline) in drawn  # the seed is never evicted
    assert "push 0 mul" not in drawn  # the most expensive own entries made room for cheaper ones
    with pytest.raises(GuardError):
        ValidReplay(capacity=-1)


def test_the_trainer_keeps_growing_the_replay_from_its_own_verified_samples():
    trainer = small_trainer("tb", iterations=5, valid_replay=2)
    sizes = []
    step = trainer.step

    def counted(extra=()):
        stats = step(extra)
        sizes.append(len(trainer.valid_replay))
        return stats

    trainer.step = counted
    trainer.train()
    assert trainer.valid_replay.own > 0  # the pretrained tiny policy samples verified blocks
    assert sizes == sorted(sizes)


SCRIPT = [dict(score=0.1, improved=0.1, validity=0.1),  # the check before training
          dict(score=0.3, improved=0.2, validity=0.5),
          dict(score=0.2, improved=0.9, validity=0.9),
          dict(score=0.3, improved=0.4, validity=0.5),  # same score, more tasks improved: the best
          dict(score=0.3, improved=0.4, validity=0.5),  # an exact tie: keep the earlier weights
          dict(score=0.0, improved=0.0, validity=0.0)]


def _scripted(trainer, script):
    """Validation returns the scripted scores; the weights at each check are recorded."""
    scores, states = iter(script), []

    def validate():
        states.append({k: v.detach().clone() for k, v in trainer.gflownet.state_dict().items()})
        return next(scores)

    trainer.val_env, trainer.validate = trainer.env, validate
    return states


def test_the_checkpoint_kept_is_the_best_validation_check():
    trainer = small_trainer("tb", iterations=len(SCRIPT) - 1, eval_every=1, logz_warmup=0)
    states = _scripted(trainer, SCRIPT)
    saved = []
    trainer.checkpoint = lambda t, tag: saved.append((tag, t.iteration))
    trainer.train()
    assert ("best", 3) in saved and ("best", 4) not in saved
    assert trainer.best_score == 0.3
    final = trainer.gflownet.state_dict()
    assert all(torch.equal(final[k], states[3][k]) for k in final)
    assert not all(torch.equal(final[k], states[4][k]) for k in final)  # training moved the weights after it


def test_patience_stops_when_val_does_not_improve():
    trainer = small_trainer("tb", iterations=50, eval_every=1, patience=2)
    _scripted(trainer, SCRIPT + [SCRIPT[-1]] * 50)
    trainer.train()
    assert len(trainer.history) == 5  # best at check 3, then checks 4 and 5 without improvement
    assert "2 checks" in trainer.stopped


def test_dead_iterations_stop_when_no_training_sample_verifies():
    trainer = small_trainer("tb", iterations=50, dead_iterations=4)
    step = trainer.step
    flags = itertools.chain([1.0, 0.0, 1.0], itertools.repeat(0.0))  # a valid iteration resets the count
    trainer.step = lambda extra=(): dataclasses.replace(step(extra), valid=next(flags))
    trainer.train()
    assert len(trainer.history) == 3 + 4
    assert "4 iterations" in trainer.stopped


def test_selection_ranks_nan_as_worst_and_refuses_negative_settings():
    selection = Selection()
    assert selection.offer(dict(score=float("nan"), improved=0.0, validity=0.0))
    assert selection.offer(dict(score=0.0, improved=0.0, validity=0.0))
    with pytest.raises(GuardError):
        Selection(patience=-1)


def _log_pf(trainer, pairs):
    from agents.sampling import replay, to_trajectories, trajectory_log_probs
    known = replay(trainer.env, [i for i, _ in pairs], [p for _, p in pairs])
    trajectories = to_trajectories(known, log_rewards=torch.zeros(len(pairs)))
    with torch.no_grad():
        return float(trajectory_log_probs(trainer.policy, trajectories).sum(0).mean())


def test_the_anchor_raises_the_likelihood_of_the_replayed_blocks():
    gains = {}
    for anchor in (0.0, 5.0):
        trainer = small_trainer("tb", iterations=8, valid_replay=4, anchor=anchor, logz_warmup=0)
        # the baselines only: stage 1 split their tasks' mass with the shorter blocks, so MLE can raise them
        experts = [(i, t.baseline) for i, t in enumerate(trainer.env.tasks)]
        trainer.valid_replay.seed(experts)
        before = _log_pf(trainer, experts)
        trainer.train()
        gains[anchor] = _log_pf(trainer, experts) - before
    assert gains[5.0] > gains[0.0] + 0.1, gains


def test_the_invalid_floor_reaches_every_invalid_block_and_torchgfn():
    """``invalid_reward`` sets an invalid block's log reward (reward_beta * log eps), and ``log_reward_clip`` is the
    floor torchgfn raises log rewards to: a floor above it would hide the lower reward (docs/agents.md)."""
    trainer = small_trainer("tb", iterations=4, invalid_reward=1e-30, log_reward_clip=-1000.0)
    assert trainer.gflownet.log_reward_clip_min == -1000.0
    seen = _capture_batches(trainer)
    trainer.train()
    floor = trainer.config.reward_beta * np.log(1e-30)
    rewards = torch.cat(seen)
    invalid = rewards < 0
    assert bool(invalid.any()), "the tiny tasks must give some invalid samples, or this test checks nothing"
    assert torch.allclose(rewards[invalid], torch.full_like(rewards[invalid], floor))


def test_the_cli_passes_the_invalid_floor_and_rejects_an_infinite_clip(monkeypatch, tmp_path):
    from agents import pipeline
    from tasm_env.cli import build_parser, main
    from tasm_env.cli_args import UsageError
    passed = {}

    class Captured(Exception):
        pass

    def run_stage2(out, **settings):
        passed.update(settings)
        raise Captured

    monkeypatch.setattr(pipeline, "run_stage2", run_stage2)
    with pytest.raises(Captured):
        main(["train", "--stage", "2", "--init", "agents/data/tasm-basic-v1.safetensors", "--out", str(tmp_path),
              "--iterations", "1", "--invalid-reward", "1e-60", "--log-reward-clip=-2000", "--no-progress"])
    assert (passed["invalid_reward"], passed["log_reward_clip"]) == (1e-60, -2000.0)
    with pytest.raises(UsageError, match="a finite number"):
        build_parser().parse_args(["train", "--stage", "2", "--out", "x", "--log-reward-clip=-inf"])


def test_a_restored_selection_needs_a_strictly_better_score_and_the_anchor_needs_the_replay():
    selection = Selection()
    selection.restore(0.3)
    assert selection.best_score == 0.3
    assert not selection.offer({"score": 0.3, "improved": 1.0, "validity": 1.0})  # a tie keeps the earlier
    assert selection.offer({"score": 0.31, "improved": 0.0, "validity": 0.0})
    with pytest.raises(te.TasmError, match="valid_replay"):
        small_trainer("tb", anchor=1.0)
