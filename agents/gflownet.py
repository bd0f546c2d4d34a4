"""Stage 2: GFlowNet fine-tuning with torchgfn's own objectives, chosen by name.

    gflownet = build_gflownet("rtb", env, policy, prior=frozen_copy(stage1_policy))
    trainer = GFlowNetTrainer(gflownet, env, GFlowNetConfig(agent="rtb", iterations=300), val_env=val_env)
    trainer.train()

| name | torchgfn class | extra estimator |
|---|---|---|
| ``tb`` | ``TBGFlowNet(pb=None, constant_pb=True)`` | conditional log Z (graph) |
| ``lpv`` | ``LogPartitionVarianceGFlowNet`` (variance taken within each task's samples) | - |
| ``rtb`` | ``RelativeTrajectoryBalanceGFlowNet`` (prior: the frozen stage-1 policy) | conditional log Z |
| ``rlpv`` | ``RelativeLogPartitionVarianceGFlowNet`` (RTB without log Z: variance within each task's samples; prior: the frozen stage-1 policy) | - |
| ``trustpcl`` | ``TrustPCLGFlowNet`` (reference: the frozen stage-1 policy; alpha = 1 / ``rtb_beta``, so torchgfn's loss is alpha^2 x RTB's: at the default ``rtb_beta`` = 1 it *is* ``rtb``'s objective) | conditional log Z |
| ``subtb`` | ``SubTBGFlowNet(pb=None, constant_pb=True)`` | state flow log F (same architecture) |
| ``db`` | ``DBGFlowNet(pb=None, constant_pb=True)`` | state flow log F |

The emission tree makes P_B = 1, so no backward policy is learned. With ``experts_per_iteration``, each batch
also carries that many known-good programs of the training tasks (the stage-1 corpus: baselines and verified
variants), scored off-policy like replayed trajectories; ``valid_replay`` (with an optional MLE ``anchor``) does the same
from a replay of verified blocks that never empties (:mod:`agents.valid_replay`). Each iteration draws ``tasks_per_batch``
tasks and ``samples_per_task`` blocks for each (so LPV's variance is per task), samples them with the fast
cached sampler (:mod:`agents.sampling`) at the annealed temperature and ``epsilon``, scores every step in one
teacher-forced pass (untempered P_F, with gradients) and hands torchgfn the ``Trajectories`` with their
log-probs and log-rewards (the pass embeds the task graphs afresh, with gradients: every tensor of the policy,
the graph encoder included, is trained). The networks run on the policy's device; the env, its rewards and
the sampler's draws stay on the host. Modes: ``on-policy`` (temperature 1, no epsilon), ``explore`` (annealed temperature,
epsilon) and ``replay`` (explore, plus torchgfn's prioritized ``ReplayBuffer`` mixed into each batch).

**Rewards** come from the env's verifying :class:`~tasm_env.emission.reward.RewardModel`: ``reward_beta * log(1 +
improvement)`` for a valid block, ``reward_beta * log(eps)`` (clipped at ``log_reward_clip``) otherwise. The
seeds' shaped warm-up scores the first stack violation, which cannot happen under the masks we train with; the
warm-up here is its masked counterpart: for the first ``warmup`` iterations an invalid block earns partial
credit for the share of tests it passes (``partial_credit``), so early gradients separate nearly-right blocks
from hopeless ones.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from gfn.containers import ReplayBuffer, Trajectories
from gfn.gflownet import (DBGFlowNet, LogPartitionVarianceGFlowNet, RelativeLogPartitionVarianceGFlowNet,
                          RelativeTrajectoryBalanceGFlowNet, SubTBGFlowNet, TBGFlowNet, TrustPCLGFlowNet)
from tqdm.auto import tqdm

from tasm_env.asm import Program
from tasm_env.envs.gfn import TasmGFNEnv
from tasm_env.errors import TasmError
from tasm_env.emission.reward import RewardModel, invalid_by_log_reward, linear_anneal

from .metrics import MetricsLogger
from .policy import TasmFlow, TasmPolicy, bound_to, graph_logz
from .bounded_loss import InvalidBound
from .valid_replay import Selection, ValidReplay
from .sampling import Rollout, replay, rollout, sample_programs, to_trajectories, trajectory_log_probs

AGENTS = ("tb", "lpv", "rtb", "rlpv", "subtb", "db", "trustpcl")
NEEDS_PRIOR = ("rtb", "rlpv", "trustpcl")
PER_TASK_VARIANCE = ("lpv", "rlpv")  # log Z is eliminated by centring the residuals within each task's samples
TRAJECTORY_OBJECTIVES = ("tb", "lpv", "rtb", "rlpv", "trustpcl")  # one residual per trajectory
MODES = ("on-policy", "explore", "replay")
VALIDATION_KEYS = ("score", "improved", "validity")


class AgentError(TasmError):
    """An agent was configured wrongly (unknown name, missing or trainable prior, bad settings)."""


@dataclass(frozen=True)
class GFlowNetConfig:
    """Stage-2 settings (defaults fit a 2-core CPU; see ``docs/agents.md``)."""

    agent: str = "tb"
    iterations: int = 300
    minutes: float | None = None
    tasks_per_batch: int = 16
    samples_per_task: int = 4
    lr: float = 1e-4
    logz_lr: float = 1e-2
    reward_beta: float = 8.0
    invalid_reward: float = 1e-3  # eps: an invalid block's reward before reward_beta
    log_reward_clip: float = -20.0
    invalid_bound: bool = False  # the floor as an upper bound: invalid blocks only pushed down (bounded_loss)
    rtb_beta: float = 1.0
    mode: str = "explore"
    temperature_start: float = 1.5
    temperature_end: float = 1.0
    epsilon: float = 0.02
    replay_capacity: int = 2000
    replay_fraction: float = 0.25
    warmup: int = 0
    partial_credit: float = 0.5
    logz_warmup: int = 20
    experts_per_iteration: int = 0
    valid_replay: int = 0
    valid_replay_capacity: int = 2000
    patience: int = 0
    dead_iterations: int = 0
    anchor: float = 0.0
    clip: float = 1.0
    eval_every: int = 50
    eval_samples: int = 16
    seed: int = 0

    def __post_init__(self):
        if self.agent not in AGENTS:
            raise AgentError(f"agent must be one of {', '.join(AGENTS)}, got {self.agent!r}")
        if self.mode not in MODES:
            raise AgentError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.tasks_per_batch < 1 or self.samples_per_task < 1:
            raise AgentError("tasks_per_batch and samples_per_task must be positive")
        if self.agent in PER_TASK_VARIANCE and self.samples_per_task < 2:
            raise AgentError(f"{self.agent} estimates log Z from the spread of a task's samples: "
                             "samples_per_task >= 2")
        if not 0 <= self.replay_fraction < 1:
            raise AgentError(f"replay_fraction must be in [0, 1), got {self.replay_fraction}")
        if min(self.valid_replay, self.valid_replay_capacity, self.patience, self.dead_iterations, self.anchor) < 0:
            raise AgentError("valid_replay, valid_replay_capacity, patience, dead_iterations and anchor must be >= 0")
        if self.invalid_bound and self.agent not in TRAJECTORY_OBJECTIVES:
            raise AgentError(f"invalid_bound acts on per-trajectory residuals: agent must be one of "
                             f"{', '.join(TRAJECTORY_OBJECTIVES)}, got {self.agent!r}")
        if self.anchor > 0 and self.valid_replay == 0:
            raise AgentError("anchor is an MLE term on the valid_replay blocks: set valid_replay > 0 with it")

    def to_dict(self) -> dict:
        return asdict(self)


def frozen_copy(policy: TasmPolicy) -> TasmPolicy:
    """A copy of ``policy`` with every parameter frozen (the prior of RTB / TrustPCL)."""
    prior = copy.deepcopy(policy)
    for parameter in prior.parameters():
        parameter.requires_grad_(False)
    return prior.eval()


def build_gflownet(agent: str, env: TasmGFNEnv, policy: TasmPolicy, *, prior: TasmPolicy | None = None,
                   config: GFlowNetConfig | None = None):
    """The torchgfn GFlowNet named ``agent`` around ``policy`` (see the module table), its log Z or state flow
    on the policy's device (move the policy first: ``TasmPolicy(env).to(device)``)."""
    config = config or GFlowNetConfig(agent=agent)
    if agent not in AGENTS:
        raise AgentError(f"agent must be one of {', '.join(AGENTS)}, got {agent!r}")
    if agent in NEEDS_PRIOR:
        if prior is None:
            raise AgentError(f"{agent} needs a prior: the frozen stage-1 policy (frozen_copy(policy))")
        trainable = [name for name, p in prior.named_parameters() if p.requires_grad]
        if trainable:
            raise AgentError(f"the {agent} prior must be frozen, but {len(trainable)} of its parameters are "
                             f"trainable (first: {trainable[0]}); pass frozen_copy(policy)")
    gflownet = _objective(agent, env, policy, prior, config)
    if config.invalid_bound:  # wraps the objective's own default (squared for TB, half-squared for RTB)
        gflownet.loss_fn = InvalidBound(gflownet.loss_fn)
    return gflownet


def _objective(agent: str, env: TasmGFNEnv, policy: TasmPolicy, prior: TasmPolicy | None, config: GFlowNetConfig):
    clip = config.log_reward_clip
    # log Z and log F run beside the policy; the objective's own buffers (beta) stay with the env's rewards
    device = policy.module.device
    if agent in ("tb", "rtb", "trustpcl"):
        logz = graph_logz(env, policy.config).to(device)
    if agent == "tb":
        return TBGFlowNet(pf=policy, pb=None, logZ=logz, constant_pb=True,
                          log_reward_clip_min=clip)
    if agent == "lpv":
        return LogPartitionVarianceGFlowNet(pf=policy, pb=None, constant_pb=True, log_reward_clip_min=clip)
    if agent == "rtb":
        return RelativeTrajectoryBalanceGFlowNet(pf=policy, prior_pf=prior, logZ=logz,
                                                 beta=config.rtb_beta, log_reward_clip_min=clip)
    if agent == "rlpv":
        return RelativeLogPartitionVarianceGFlowNet(pf=policy, prior_pf=prior, beta=config.rtb_beta,
                                                    log_reward_clip_min=clip)
    if agent == "trustpcl":
        return TrustPCLGFlowNet(policy, prior, alpha=1.0 / config.rtb_beta, logZ=logz,
                                log_reward_clip_min=clip)
    flow = TasmFlow(env, policy.config).to(device)
    if agent == "subtb":
        return SubTBGFlowNet(pf=policy, pb=None, logF=flow, constant_pb=True, log_reward_clip_min=clip)
    return DBGFlowNet(pf=policy, pb=None, logF=flow, constant_pb=True, log_reward_clip_min=clip)


def trainable_parameters(gflownet) -> dict[str, list[str]]:
    """The names of ``gflownet``'s trainable tensors, by the estimator that holds them (``pf``, ``logZ``,
    ``logF``): exactly what its loss uses and the trainer optimizes (a prior is frozen and not registered)."""
    groups: dict[str, list[str]] = {}
    for name, parameter in gflownet.named_parameters():
        if parameter.requires_grad:
            groups.setdefault(name.split(".")[0], []).append(name)
    return groups


def without_gradient(gflownet) -> list[str]:
    """After ``backward``: the trainable tensors of ``gflownet`` whose gradient is missing or exactly zero (a
    tensor the loss does not reach, such as an encoder whose embeddings were computed without gradients)."""
    return [name for name, p in gflownet.named_parameters()
            if p.requires_grad and (p.grad is None or not bool(p.grad.abs().sum() > 0))]


# ---------------------------------------------------------------------------------------- validation


def best_of_k_score(policy: TasmPolicy, env: TasmGFNEnv, rewards: RewardModel, samples: int,
                    generator: torch.Generator | None = None) -> dict[str, float]:
    """Draw ``samples`` blocks per task of ``env``; the mean over tasks of the best verified block's relative
    improvement over the baseline (0 where none improves), the share of tasks improved and the validity rate."""
    with bound_to(env, policy):
        drawn = sample_programs(policy, range(len(env.tasks)), samples, generator=generator)
    gains, valid, improved = [], 0, 0
    for task, programs in zip(env.tasks, drawn):
        evaluations = rewards.evaluate(task, programs)
        valid += sum(e.valid for e in evaluations)
        costs = [e.cost for e in evaluations if e.valid]
        best = min(costs, default=math.inf)
        gain = max(0.0, (task.baseline_cycles - best) / task.baseline_cycles) if costs else 0.0
        gains.append(gain)
        improved += gain > 0
    n = len(env.tasks)
    return {"score": float(np.mean(gains)), "improved": improved / n, "validity": valid / (n * samples)}


# ------------------------------------------------------------------------------------------ training


@dataclass
class StepStats:
    loss: float
    valid: float
    improvement: float
    log_reward: float
    temperature: float
    seconds: float
    replayed: int = 0
    guarded: int = 0


class GFlowNetTrainer:
    """Runs stage 2 (and, from :mod:`agents.online`, stage 3's fine-tuning bursts).

    ``val_env``: tasks to select the checkpoint on (best-of-``eval_samples`` score, see
    :func:`best_of_k_score`); the best weights are restored at the end. ``logger``: a
    :class:`~agents.metrics.MetricsLogger`. ``checkpoint``: a callable ``(trainer, tag)`` that saves
    (``tag`` is ``"best"`` or ``"last"``)."""

    def __init__(self, gflownet, env: TasmGFNEnv, config: GFlowNetConfig, *, val_env: TasmGFNEnv | None = None,
                 logger: MetricsLogger | None = None, checkpoint: Callable[["GFlowNetTrainer", str], None] | None = None,
                 experts: Sequence[tuple[int, Program]] = (), progress: bool = True):
        self.gflownet, self.env, self.config = gflownet, env, config
        self.policy: TasmPolicy = gflownet.pf
        self.val_env, self.logger, self.checkpoint, self.progress = val_env, logger, checkpoint, progress
        self.experts = list(experts)
        self.rewards = RewardModel(eps=config.invalid_reward, beta=config.reward_beta,
                                   n_tests=env.rewards.n_tests if env.rewards else 40)
        self.warmup_rewards = RewardModel(eps=config.invalid_reward, beta=config.reward_beta,
                                          partial_credit=config.partial_credit)
        self.val_rewards = RewardModel(beta=1.0)
        self.optimizer = self._optimizer()
        self.generator = torch.Generator().manual_seed(config.seed)
        self.rng = np.random.default_rng(config.seed)
        self.replay = (ReplayBuffer(env, capacity=config.replay_capacity, prioritized_capacity=True,
                                    prioritized_sampling=True) if config.mode == "replay" else None)
        self.valid_replay = ValidReplay(config.valid_replay_capacity)
        if config.valid_replay > 0:
            self.valid_replay.seed(self.experts)
        self.selection = Selection(config.patience, config.dead_iterations)
        self.stopped: str | None = None
        self.iteration = 0
        self.best_iteration: int | None = None
        self.best_state: dict | None = None
        self.history: list[dict] = []

    def _optimizer(self) -> torch.optim.Optimizer:
        g, config = self.gflownet, self.config
        groups = [{"params": [p for p in g.pf_pb_parameters() if p.requires_grad], "lr": config.lr}]
        logz = [p for p in getattr(g, "logz_parameters", list)() if p.requires_grad]
        logf = [p for p in getattr(g, "logF_parameters", list)() if p.requires_grad]
        if logz:
            groups.append({"params": logz, "lr": config.logz_lr})
        if logf:  # state flows start at 0 and must reach log R's scale quickly, as log Z does
            groups.append({"params": logf, "lr": config.logz_lr})
        return torch.optim.Adam(groups)

    # ---- one iteration
    def temperature(self) -> float:
        if self.config.mode == "on-policy":
            return 1.0
        c = self.config
        return linear_anneal(self.iteration, c.temperature_start, c.temperature_end, max(1, c.iterations))

    def draw_tasks(self) -> torch.Tensor:
        c = self.config
        n = len(self.env.tasks)
        chosen = self.rng.choice(n, size=min(c.tasks_per_batch, n), replace=False)
        return torch.as_tensor(np.repeat(chosen, c.samples_per_task), dtype=torch.long)

    def _log_rewards(self, rollout_: Rollout) -> tuple[torch.Tensor, list]:
        model = self.warmup_rewards if self.iteration < self.config.warmup else self.rewards
        evaluations = model.evaluate(rollout_.tasks(), rollout_.programs())
        return model.log_rewards_of(evaluations).to(torch.get_default_dtype()), evaluations

    def loss(self, trajectories: Trajectories, task: torch.Tensor,
             invalid: torch.Tensor | None = None) -> torch.Tensor:
        """torchgfn's loss on trajectories whose log-probs and log-rewards are attached; ``invalid`` (one bool
        per trajectory) marks the blocks whose floor is an upper bound when the config's ``invalid_bound`` is on."""
        g, env = self.gflownet, self.env
        bound = g.loss_fn if isinstance(g.loss_fn, InvalidBound) else None
        if bound is not None and invalid is None:
            raise AgentError("invalid_bound is on: the loss needs each trajectory's validity")

        def marked(idx: torch.Tensor | None):
            if bound is None:
                return contextlib.nullcontext()
            return bound.marking(invalid if idx is None else invalid[idx])

        if isinstance(g, (LogPartitionVarianceGFlowNet, RelativeLogPartitionVarianceGFlowNet)):
            # one log Z per task: the variance is taken per task
            groups = [torch.nonzero(task == t)[:, 0] for t in torch.unique(task)]
            groups = [idx for idx in groups if len(idx) > 1]
            losses = []
            for idx in groups:
                with marked(idx):
                    losses.append(g.loss(env, trajectories[idx], recalculate_all_logprobs=False))
            return torch.stack(losses).mean()
        with marked(None):
            return g.loss(env, g.to_training_samples(trajectories), recalculate_all_logprobs=False)

    def step(self, extra: Sequence[tuple[int, Program]] = ()) -> StepStats:
        """One update: fresh samples (plus replayed trajectories and ``extra`` known programs, off-policy)."""
        start = time.perf_counter()
        c = self.config
        temperature = self.temperature()
        epsilon = c.epsilon if c.mode != "on-policy" else 0.0
        task = self.draw_tasks()
        # each task's graph is embedded twice per step: without gradients for the sampler, with them for the loss
        with self.policy.encoding_cache():
            fresh = rollout(self.policy, task, temperature=temperature, epsilon=epsilon, generator=self.generator)
            log_r, evaluations = self._log_rewards(fresh)
            guarded = []
            if c.valid_replay > 0:
                for index, program, e in zip(task.tolist(), fresh.programs(), evaluations):
                    if e.valid:
                        self.valid_replay.add(index, program, e.cost)
                guarded = self.valid_replay.draw(c.valid_replay, self.rng)
                extra = list(extra) + guarded
            trajectories = to_trajectories(fresh, log_rewards=log_r)
            parts, tasks, invalid = [trajectories], [task], [_invalid(evaluations)]
            if extra:
                known = replay(self.env, [i for i, _ in extra], [p for _, p in extra])
                known_log_r, known_evaluations = self._log_rewards(known)
                parts.append(to_trajectories(known, log_rewards=known_log_r))
                tasks.append(known.task)
                invalid.append(_invalid(known_evaluations))
            replayed = 0
            if self.replay is not None:
                if len(self.replay) >= c.tasks_per_batch:
                    replayed = max(1, int(c.replay_fraction * len(task)))
                    old = self.replay.sample(n_samples=replayed)
                    parts.append(old)
                    tasks.append(self.env.task_ids(old.states[0]))
                    invalid.append(invalid_by_log_reward(old.log_rewards))  # the buffer keeps no verdicts
                self.replay.add(trajectories)
            batch = parts[0] if len(parts) == 1 else _concat(parts)
            batch.log_probs = trajectory_log_probs(self.policy, batch)
            loss = self.loss(batch, torch.cat(tasks), torch.cat(invalid))
            if c.anchor > 0 and guarded:
                # MLE on the replayed verified blocks (the last of the known part): keeps the valid region likely
                end = len(task) + len(extra)
                loss = loss - c.anchor * batch.log_probs[:, end - len(guarded):end].sum(0).mean()
            self.optimizer.zero_grad()
            loss.backward()
        if self.iteration < c.logz_warmup and len(self.optimizer.param_groups) > 1:
            # log Z (or log F) starts far from its target; until it is close, the policy's gradient is mostly
            # that error, so the first iterations move only log Z / log F
            for p in self.optimizer.param_groups[0]["params"]:
                p.grad = None
        torch.nn.utils.clip_grad_norm_([p for group in self.optimizer.param_groups for p in group["params"]
                                        if p.grad is not None], c.clip)
        self.optimizer.step()
        self.iteration += 1
        valid = [e for e in evaluations if e.valid]
        gains = [max(0.0, (e.baseline_cost - e.cost) / e.baseline_cost) for e in valid]
        return StepStats(float(loss.detach()), len(valid) / len(evaluations), float(np.mean(gains)) if gains else 0.0,
                         float(log_r.mean()), temperature, time.perf_counter() - start, replayed,
                         len(guarded))

    def expert_batch(self) -> list[tuple[int, Program]]:
        """``experts_per_iteration`` known-good (task index, program) pairs drawn from ``experts``: off-policy
        trajectories that keep the valid region in view while most fresh samples are still invalid."""
        n = min(self.config.experts_per_iteration, len(self.experts))
        if n <= 0:
            return []
        return [self.experts[i] for i in self.rng.choice(len(self.experts), size=n, replace=False)]

    # ---- the loop
    def validate(self) -> dict[str, float]:
        if self.val_env is None:
            return {}
        return best_of_k_score(self.policy, self.val_env, self.val_rewards, self.config.eval_samples,
                               generator=torch.Generator().manual_seed(self.config.seed + 1))

    @property
    def best_score(self) -> float:
        """The best validation score so far (-inf before the first check)."""
        return self.selection.best_score

    def _select(self, scores: dict[str, float]) -> None:
        if scores and self.selection.offer(scores):
            self.best_iteration = self.iteration
            self.best_state = {k: v.detach().clone() for k, v in self.gflownet.state_dict().items()}
            if self.checkpoint is not None:
                self.checkpoint(self, "best")

    def train(self, iterations: int | None = None, minutes: float | None = None) -> list[dict]:
        """Run ``iterations`` (default: the config's) or until ``minutes`` pass; validate every
        ``eval_every`` iterations and at the end; restore the best validated weights."""
        c = self.config
        iterations = c.iterations if iterations is None else iterations
        minutes = c.minutes if minutes is None else minutes
        deadline = None if minutes is None else time.monotonic() + 60 * minutes
        if self.iteration == 0 and self.val_env is not None:
            self._select({**self.validate()})
        bar = tqdm(total=iterations, initial=0, desc=f"stage 2 ({c.agent})", disable=not self.progress, unit="it")
        target = self.iteration + iterations
        while self.iteration < target:
            stats = self.step(extra=self.expert_batch())
            row = {"iteration": self.iteration, **asdict(stats)}
            if self.val_env is not None:  # every CSV row has the same columns; NaN where not validated
                row.update({f"val_{k}": math.nan for k in VALIDATION_KEYS})
            out_of_time = deadline is not None and time.monotonic() > deadline
            self.selection.observe(stats.valid)
            last = out_of_time or self.selection.stop_reason() is not None
            if self.val_env is not None and (self.iteration % c.eval_every == 0 or self.iteration == target or last):
                scores = self.validate()
                row.update({f"val_{k}": v for k, v in scores.items()})
                self._select(scores)
            self.stopped = self.selection.stop_reason()
            self.history.append(row)
            if self.logger is not None:
                self.logger.log(self.iteration, **{k: v for k, v in row.items() if k != "iteration"})
            bar.update(1)
            bar.set_postfix(loss=f"{stats.loss:.2f}", valid=f"{stats.valid:.2f}", gain=f"{stats.improvement:.2f}",
                            best=f"{self.best_score:.3f}")
            if out_of_time or self.stopped:
                break
        bar.close()
        if self.checkpoint is not None:
            self.checkpoint(self, "last")
        if self.best_state is not None:
            self.gflownet.load_state_dict(self.best_state)
        return self.history


def _invalid(evaluations) -> torch.Tensor:
    return torch.tensor([not e.valid for e in evaluations], dtype=torch.bool)


def _concat(parts: Sequence[Trajectories]) -> Trajectories:
    batch = parts[0]
    for other in parts[1:]:
        batch.extend(other)
    return batch


__all__ = ["AGENTS", "NEEDS_PRIOR", "AgentError", "GFlowNetConfig", "GFlowNetTrainer", "MODES", "best_of_k_score",
           "build_gflownet", "frozen_copy", "trainable_parameters", "without_gradient"]
