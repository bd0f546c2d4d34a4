"""The GFlowNet agents of the comparison (``tb, lpv, rtb, rlpv, subtb, db, trustpcl``): torchgfn's objectives
(:func:`agents.gflownet.build_gflownet`) on :class:`~agents.policy.TasmPolicy`, learning online from the
harness's verdicts.

``propose`` samples blocks for the task from the policy under the ``dataflow`` masks
(:func:`agents.sampling.rollout`, a generator seeded from the agent's seed); ``learn`` turns the verdicts into
log-rewards and takes one optimizer step of the objective's torchgfn loss on exactly those trajectories (the
optimizer and the per-task loss grouping are :class:`agents.gflownet.GFlowNetTrainer`'s). The log-reward
mirrors the env's cycles reward: ``beta * log(1 + max(0, (b - c) / b))`` for a valid block of ``c`` cycles
(baseline ``b``), ``beta * log(eps + w * (1 - distance))`` for an invalid one (``w`` the partial credit for
agreeing test cells), so any valid block outranks any invalid one.

The policy starts from ``AgentContext.checkpoint``, else the package's pretrained policy for the suite
(``agents.shipped.pretrained_path``, where this version ships one), else fresh weights from the seed (``checkpoint="fresh"``
asks for that explicitly; ``options["policy_config"]`` sizes it). RTB, relative LPV and TrustPCL use the
frozen starting policy as their prior. Options: ``lr``, ``logz_lr``, ``reward_beta``, ``partial_credit``,
``invalid_bound`` (the invalid floor as an upper bound, :mod:`agents.bounded_loss`), ``temperature``, ``policy_config``, ``decode`` (``"complete"``: each draw finished by stack moves before it
is scored, :mod:`agents.compare.single_task`).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from tasm_env.tasks.task import Task

from ..gflownet import AGENTS, NEEDS_PRIOR, PER_TASK_VARIANCE, GFlowNetConfig, GFlowNetTrainer, build_gflownet, frozen_copy
from ..sampling import rollout, to_trajectories, trajectory_log_probs
from ..start import initial_policy, task_env
from .interface import AgentContext, CompareError, Scored
from .single_task import SingleTaskAgent

EPS = 1e-3
def log_rewards(scored: Sequence[Scored], baseline_cycles: int, beta: float, partial_credit: float) -> torch.Tensor:
    """(len(scored),) log-rewards of the verdicts (see the module docstring)."""
    out = []
    for verdict in scored:
        if verdict.valid:
            out.append(beta * math.log1p(max(0.0, (baseline_cycles - verdict.cycles) / baseline_cycles)))
        else:
            out.append(beta * math.log(EPS + partial_credit * (1.0 - verdict.distance)))
    return torch.tensor(out, dtype=torch.get_default_dtype())


class GFlowNetAgent(SingleTaskAgent):
    """One torchgfn objective, trained online on one task from the harness's verdicts."""

    def __init__(self, context: AgentContext, objective: str):
        if objective not in AGENTS:
            raise CompareError(f"unknown GFlowNet objective {objective!r}; expected one of {', '.join(AGENTS)}")
        self.name, self.context = objective, context
        options = context.options
        self.config = GFlowNetConfig(agent=objective, tasks_per_batch=1, samples_per_task=2, seed=context.seed,
                                     lr=float(options.get("lr", 1e-4)), logz_lr=float(options.get("logz_lr", 1e-2)),
                                     reward_beta=float(options.get("reward_beta", 8.0)),
                                     partial_credit=float(options.get("partial_credit", 0.5)),
                                     invalid_bound=bool(options.get("invalid_bound", False)))
        self.temperature = float(options.get("temperature", 1.0))
        self._begin(context)

    def _build(self, task: Task) -> None:
        self.task = task
        self.env = task_env(task)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.context.seed)  # log Z / log F initial weights
            self.policy, self.start = initial_policy(self.env, self.context)
            prior = frozen_copy(self.policy) if self.name in NEEDS_PRIOR else None
            gflownet = build_gflownet(self.name, self.env, self.policy, prior=prior, config=self.config)
        self.trainer = GFlowNetTrainer(gflownet, self.env, self.config, progress=False)

    def propose(self, task: Task, n: int) -> list[str]:
        self._check_task(task)
        self.pending = self._decoded(rollout(self.policy, [0] * n, temperature=self.temperature,
                                             generator=self.generator))
        return [str(p) for p in self.pending.programs()]

    def learn(self, task: Task, scored: Sequence[Scored]) -> None:
        pending, self.pending = self.pending, None
        if pending is None or len(scored) != len(pending):
            raise CompareError(f"{self.name}: learn() needs the verdicts on the last proposals, in order")
        if self.name in PER_TASK_VARIANCE and len(scored) < 2:
            return  # the variance of one sample is undefined: nothing to learn from
        c = self.config
        log_r = log_rewards(scored, task.baseline_cycles, c.reward_beta, c.partial_credit)
        trainer = self.trainer
        with self.policy.encoding_cache():
            trajectories = to_trajectories(pending, log_rewards=log_r)
            trajectories.log_probs = trajectory_log_probs(self.policy, trajectories)
            invalid = torch.tensor([not verdict.valid for verdict in scored], dtype=torch.bool)
            loss = trainer.loss(trajectories, pending.task, invalid)
            trainer.optimizer.zero_grad()
            loss.backward()
        parameters = [p for group in trainer.optimizer.param_groups for p in group["params"] if p.grad is not None]
        torch.nn.utils.clip_grad_norm_(parameters, c.clip)
        trainer.optimizer.step()
        trainer.iteration += 1


__all__ = ["GFlowNetAgent", "log_rewards"]
