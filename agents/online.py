"""Stage 3: online refinement from the results of real builds.

Every build (:func:`~agents.best.best_programs`) is recorded as a :class:`~agents.replay.BuildResult` in a
prioritized, capacity-bounded :class:`~agents.replay.BuildResultBuffer` that is saved atomically after each batch of
builds (JSON lines; a crash mid-save leaves the previous file intact). Once ``trigger`` new results have come
in, a burst of ``burst`` GFlowNet iterations fine-tunes the policy; each iteration mixes ``history``
programs drawn from the buffer by priority (valid, non-fallback builds: known-good, often cheaper than the
baseline) into its fresh samples. A :class:`~agents.replay.RegressionGuard` then compares the validation score
with the best accepted one: a drop beyond its tolerance rolls the weights back, otherwise the model version goes
up.

    refiner = OnlineRefiner(trainer, buffer_path="runs/tb/replay.jsonl")
    refiner.build(tasks, samples=16)        # records results, may trigger a guarded fine-tuning burst
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from tasm_env.asm import Program
from tasm_env.tasks.task import Task

from .best import BuildOutcome, best_programs
from .gflownet import GFlowNetTrainer
from .replay import BuildResult, RegressionGuard, BuildResultBuffer, task_hash


@dataclass
class Burst:
    """What one fine-tuning burst did."""

    model_version: int
    iterations: int
    score_before: float
    score_after: float
    accepted: bool


class OnlineRefiner:
    """Stage 3 around a :class:`~agents.gflownet.GFlowNetTrainer` (which holds the policy, its env, the
    validation env and the optimizer). ``buffer_path``: where the replay buffer lives (loaded if it exists).
    ``trigger``: new results that start a burst; ``burst``: iterations per burst; ``history``: replayed
    programs per iteration; ``tolerance``: the regression guard's allowed drop in validation score."""

    def __init__(self, trainer: GFlowNetTrainer, *, buffer_path: str | Path | None = None, capacity: int = 10_000,
                 trigger: int = 50, burst: int = 50, history: int = 8, tolerance: float = 0.02,
                 model_version: int = 0, seed: int = 0):
        self.trainer = trainer
        self.buffer_path = Path(buffer_path) if buffer_path is not None else None
        if self.buffer_path is not None and self.buffer_path.exists():
            self.buffer = BuildResultBuffer.load(self.buffer_path)
        else:
            self.buffer = BuildResultBuffer(capacity)
        self.trigger, self.burst_iterations, self.history = trigger, burst, history
        self.guard = RegressionGuard(tolerance=tolerance)
        self.model_version = model_version
        self.pending = 0
        self.rng = np.random.default_rng(seed)
        self.bursts: list[Burst] = []
        self._index = {task_hash(task): i for i, task in enumerate(trainer.env.tasks)}

    def record(self, tasks: Sequence[Task], outcomes: Sequence[BuildOutcome]) -> None:
        """Add build outcomes to the buffer and save it."""
        for task, outcome in zip(tasks, outcomes):
            self.buffer.add(BuildResult.for_task(task, outcome.program, outcome.cycles,
                                                 fallback_used=outcome.fallback_used,
                                                 model_version=self.model_version))
        self.pending += len(outcomes)
        if self.buffer_path is not None:
            self.buffer.save(self.buffer_path)

    def build(self, tasks: Sequence[Task], samples: int = 16, seed: int = 0) -> list[BuildOutcome]:
        """Build ``tasks`` with the current policy, record the results and refine if enough came in."""
        outcomes = best_programs(tasks, self.trainer.policy, samples, seed=seed)
        self.record(tasks, outcomes)
        if self.pending >= self.trigger:
            self.refine()
        return outcomes

    def replayed_programs(self, n: int) -> list[tuple[int, Program]]:
        """Up to ``n`` (task index, program) pairs drawn from the buffer by priority, restricted to valid,
        non-fallback builds of tasks the trainer's env holds."""
        usable = [r for r in self.buffer if r.valid and not r.fallback_used and r.task_hash in self._index]
        if not usable or n <= 0:
            return []
        weights = np.array([r.priority for r in usable])
        chosen = self.rng.choice(len(usable), size=min(n, len(usable)), replace=False, p=weights / weights.sum())
        return [(self._index[usable[i].task_hash], Program.parse(usable[i].program)) for i in chosen]

    def refine(self) -> Burst:
        """One guarded fine-tuning burst (see the module docstring)."""
        trainer = self.trainer
        before = trainer.validate().get("score", math.nan)
        if self.guard.best is None and not math.isnan(before):
            self.guard.accept(before)
        saved = {k: v.detach().clone() for k, v in trainer.gflownet.state_dict().items()}
        for _ in range(self.burst_iterations):
            trainer.step(extra=self.replayed_programs(self.history))
        after = trainer.validate().get("score", math.nan)
        accepted = math.isnan(after) or self.guard.accept(after)
        if accepted:
            self.model_version += 1
        else:
            trainer.gflownet.load_state_dict(saved)
        self.pending = 0
        burst = Burst(self.model_version, self.burst_iterations, before, after, accepted)
        self.bursts.append(burst)
        return burst


__all__ = ["Burst", "OnlineRefiner"]
