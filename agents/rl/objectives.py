"""REINFORCE and PPO on the GFlowNets' own policy network, with torchrl's losses and advantage estimation.

    agent = TorchRLAgent(AgentContext(seed=0), objective="ppo")
    programs = agent.propose(task, 16)          # sampled with agents.sampling.rollout under the dataflow mask
    agent.learn(task, budget.score(programs))   # the harness's verdicts -> terminal rewards -> one update

The policy is :class:`agents.policy.TasmPolicy` (from the checkpoint, the shipped pretrained policy or fresh,
see :mod:`agents.start`) over :class:`~tasm_env.envs.gfn.TasmGFNEnv` with ``masking="dataflow"``: the
GFlowNet agents' network, so that only the objective differs. The critic is a second network of the same
architecture (:class:`agents.policy.TasmFlow`), fresh. Rewards are terminal (:mod:`agents.rl.reward`).

| objective | torchrl loss | advantage | updates per ``learn`` |
|---|---|---|---|
| ``reinforce`` | ``ReinforceLoss`` (``-log pi(a|s) * A``, plus the critic's loss) | ``GAE(gamma=1, lmbda=1)``: the return minus the critic's baseline | 1 |
| ``ppo`` | ``ClipPPOLoss`` (clip 0.2, entropy bonus 0.01, advantages normalised) | ``GAE(gamma=1, lmbda=0.95)`` | ``ppo_epochs`` (4) |

Both use one Adam optimizer over the loss module's parameters (actor and critic; ``lr`` 1e-4). Options
(``AgentContext.options``): ``lr``, ``ppo_epochs``, ``clip_epsilon``, ``entropy_coeff``, ``lmbda``,
``reward_equal``, ``reward_scale``, ``decode`` (``"complete"``: each draw finished by stack moves before it is
scored, and learned from as completed; :mod:`agents.compare.single_task`). Proposals are drawn with a generator seeded from the agent's seed.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torchrl.objectives import ClipPPOLoss, ReinforceLoss
from torchrl.objectives.value import GAE

from tasm_env.asm import Program
from tasm_env.tasks.task import Task

from ..compare.interface import AgentContext, CompareError, Scored
from ..policy import PolicyConfig, TasmFlow
from ..sampling import Rollout, rollout
from . import modules
from ..compare.single_task import SingleTaskAgent
from .reward import RewardConfig, terminal_rewards
from ..start import initial_policy, task_env
from .transitions import transitions

OBJECTIVES = ("reinforce", "ppo")


class TorchRLAgent(SingleTaskAgent):
    """An :class:`agents.compare.interface.Agent` training :class:`~agents.policy.TasmPolicy` with a torchrl objective."""

    def __init__(self, context: AgentContext, objective: str):
        if objective not in OBJECTIVES:
            raise CompareError(f"unknown RL objective {objective!r}; expected one of {', '.join(OBJECTIVES)}")
        self.name, self.objective, self.context = objective, objective, context
        options = dict(context.options)
        self.lr = float(options.get("lr", 1e-4))
        self.epochs = int(options.get("ppo_epochs", 4)) if objective == "ppo" else 1
        self.clip_epsilon = float(options.get("clip_epsilon", 0.2))
        self.entropy_coeff = float(options.get("entropy_coeff", 0.01))
        self.lmbda = float(options.get("lmbda", 0.95 if objective == "ppo" else 1.0))
        if self.lr < 0 or self.epochs < 1:
            raise CompareError(f"need lr >= 0 and ppo_epochs >= 1, got {self.lr} and {self.epochs}")
        self.rewards = RewardConfig.from_options(options)
        self._begin(context)

    # ---- built on the first task (one agent instance works on one task)
    def _build(self, task: Task) -> None:
        self.task = task
        self.env = task_env(task)
        self.policy, self.start = initial_policy(self.env, self.context)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.context.seed + 1)
            self.value = TasmFlow(self.env, PolicyConfig.from_dict(self.policy.config.to_dict()),
                                  device=self.policy.device)
        self.actor = modules.actor(self.policy.module)
        self.critic = modules.critic(self.value.module)
        if self.objective == "ppo":
            self.loss_module = ClipPPOLoss(self.actor, self.critic, clip_epsilon=self.clip_epsilon,
                                           entropy_coeff=self.entropy_coeff, normalize_advantage=True)
        else:
            self.loss_module = ReinforceLoss(self.actor, self.critic)
        self.loss_module.set_keys(sample_log_prob="sample_log_prob")
        self.advantage = GAE(gamma=1.0, lmbda=self.lmbda, value_network=self.critic, deactivate_vmap=True)
        self.optimizer = torch.optim.Adam(self.loss_module.parameters(), lr=self.lr)

    # ---- the Agent protocol
    def propose(self, task: Task, n: int) -> Sequence[Program]:
        self._check_task(task)
        if n <= 0:
            self.pending = None
            return []
        with self.policy.encoding_cache():
            self.pending = self._decoded(rollout(self.policy, [0] * n, generator=self.generator))
        return self.pending.programs()

    def learn(self, task: Task, scored: Sequence[Scored]) -> None:
        self._check_task(task)
        if self.pending is None or not scored:
            return
        drawn, self.pending = self.pending, None
        if len(scored) > len(drawn):
            raise CompareError(f"{len(scored)} verdicts for {len(drawn)} proposals")
        keep = torch.arange(len(scored))
        drawn = Rollout(drawn.env, drawn.task[keep], drawn.tokens[keep], drawn.lengths[keep], drawn.states[:, keep])
        self.last_losses = self.update(transitions(drawn, terminal_rewards(scored, task.baseline_cycles,
                                                                           self.rewards)))

    # ---- one optimisation round
    def update(self, batch) -> dict[str, float]:
        """Advantages with torchrl's GAE on the (B, S) episodes, then the loss on their real steps."""
        with torch.no_grad():
            self.advantage(batch)
        steps = batch[batch["valid"]]  # (N,) the steps actually taken
        with torch.no_grad():
            steps["sample_log_prob"] = self.actor.get_dist(steps).log_prob(steps["action"])
        losses: dict[str, float] = {}
        for _ in range(self.epochs):
            out = self.loss_module(steps)
            total = sum(value for key, value in out.items() if key.startswith("loss_"))
            self.optimizer.zero_grad()
            total.backward()
            self.optimizer.step()
            losses = {key: float(value.detach()) for key, value in out.items() if key.startswith("loss_")}
        return losses


def reinforce(context: AgentContext) -> TorchRLAgent:
    return TorchRLAgent(context, "reinforce")


def ppo(context: AgentContext) -> TorchRLAgent:
    return TorchRLAgent(context, "ppo")


__all__ = ["OBJECTIVES", "TorchRLAgent", "ppo", "reinforce"]
