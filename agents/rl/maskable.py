"""sb3-contrib's ``MaskablePPO`` as a comparison agent, on the Gymnasium env with the project's graph encoder.

**The adapter.** sb3 drives its own loop (``collect_rollouts`` steps the env, takes the env's reward, fills a
rollout buffer, then ``train``). In the comparison the reward of a program must come from the harness's
:class:`~agents.compare.interface.ScoringBudget`, which scores each program once and counts it; the env's own
reward verifies the block at EOS and would be a free second verifier. So the agent splits sb3's loop in two:

* ``propose(task, n)``: ``n`` episodes of the current policy on the single-task env
  (``tasm_env/TasmEmit-v0``, ``masking="dataflow"``, the value observations, :class:`~agents.rl.features.
  TaskIndexObservation`), drawn exactly as ``collect_rollouts`` draws them (``policy(obs, action_masks=...)``:
  action, value, log-prob). When the policy picks EOS the program is read from the env's prefix and the env is
  **not** stepped: its verifier never runs, and every non-final step's reward is 0 (no dense credit).
* ``learn(task, scored)``: the verdicts become terminal rewards (:mod:`agents.rl.reward`, shared with
  ``reinforce`` / ``ppo``), the recorded transitions go into sb3-contrib's ``MaskableDictRolloutBuffer`` (sized to
  exactly the steps taken), sb3 computes returns and GAE advantages there
  (``compute_returns_and_advantage``), and ``MaskablePPO.train()`` runs its own clipped-PPO epochs on it.

So the update is sb3's own (loss, advantage, clipping, minibatches, optimizer); only the data collection is
done by the adapter, because the reward arrives after the harness has scored the batch. The policy is
``MultiInputPolicy`` with :class:`~agents.rl.features.GraphFeatures` (the task's graph through
:class:`agents.policy.GraphEncoder`, the slots' graph nodes). **Where it starts**: the extractor's graph encoder
(:class:`agents.policy.TaskGraphs`: the GATv2 layers and the pooling) is the one of the policy every learned agent
starts from (:func:`agents.start.initial_policy`: ``AgentContext.checkpoint``, else the package's pretrained
policy for the suite, else fresh from the seed), sized and loaded from it; the rest of sb3's network (the
extractor's prefix / slot layers, the policy and value heads) has no counterpart in a
:class:`~agents.policy.TasmPolicy` and starts fresh from the seed. ``start`` records where. Hyper-parameters: sb3's defaults (lr 3e-4, 10 epochs,
minibatch 64, gamma 0.99, GAE lambda 0.95, clip 0.2), overridable through ``AgentContext.options``
(``lr``, ``n_epochs``, ``batch_size``, ``gamma``, ``gae_lambda``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from tasm_env.emission.vocab import EOS
from tasm_env.tasks.task import Task

from ..compare.interface import AgentContext, CompareError, Scored
from ..start import MASKING, initial_policy, task_env
from .features import GraphFeatures, TaskIndexObservation, graph_policy_kwargs
from ..compare.single_task import SingleTaskAgent, decode_option
from .reward import RewardConfig, terminal_rewards



@dataclass
class Step:
    observation: dict
    action: int
    value: torch.Tensor
    log_prob: torch.Tensor
    mask: np.ndarray
    episode_start: bool


class MaskablePPOAgent(SingleTaskAgent):
    """An :class:`agents.compare.interface.Agent` around sb3-contrib's ``MaskablePPO`` (see the module docstring)."""

    name = "maskable_ppo"

    def __init__(self, context: AgentContext):
        self.context = context
        self.options = dict(context.options)
        if decode_option(context) != "sample":  # its proposals are env episodes, not a rollout to complete
            raise CompareError("maskable_ppo proposes its own env episodes: decode='complete' is not built for it "
                               "(the GFlowNet agents, reinforce and ppo take it)")
        self.rewards = RewardConfig.from_options(self.options)
        self.task: Task | None = None
        self.pending: list[list[Step]] = []

    def _build(self, task: Task) -> None:
        import gymnasium
        from sb3_contrib import MaskablePPO
        from stable_baselines3.common.logger import configure
        from stable_baselines3.common.vec_env import DummyVecEnv

        import tasm_env  # noqa: F401  (registers the Gymnasium id)

        self.task = task
        self.env = TaskIndexObservation(gymnasium.make(
            "tasm_env/TasmEmit-v0", tasks=[task], suite=None, masking=MASKING, value_state=True,
            include_graph=False).unwrapped)
        settings = {key: self.options[key] for key in ("n_epochs", "batch_size", "gamma", "gae_lambda")
                    if key in self.options}
        if "lr" in self.options:
            settings["learning_rate"] = float(self.options["lr"])
        start, self.start = initial_policy(task_env(task), self.context)  # the encoder's sizes and weights
        self.model = MaskablePPO("MultiInputPolicy", DummyVecEnv([lambda: self.env]), seed=self.context.seed,
                                 device=self.context.device, verbose=0,
                                 policy_kwargs=graph_policy_kwargs([task], policy_config=start.config.to_dict()),
                                 **settings)
        for module in self.model.policy.modules():  # the shared extractor (or the actor's and critic's)
            if isinstance(module, GraphFeatures):  # in place: sb3's optimizer already holds these tensors
                module.graphs.load_state_dict(start.module.graphs.state_dict())
        self.model.set_logger(configure(None, []))  # train() records its statistics; nowhere to write them
        self.env.reset(seed=self.context.seed)

    # ---- the Agent protocol
    def propose(self, task: Task, n: int) -> Sequence[str]:
        self._check_task(task)
        self.pending, programs = [], []
        policy = self.model.policy
        policy.set_training_mode(False)
        for _ in range(max(0, n)):
            observation, _ = self.env.reset(options={"task": 0})
            episode: list[Step] = []
            while True:
                mask = self.env.action_masks()
                with torch.no_grad():
                    tensor, _ = policy.obs_to_tensor(observation)
                    action, value, log_prob = policy(tensor, action_masks=mask[None])
                token = int(action[0])
                episode.append(Step(observation, token, value, log_prob, mask, not episode))
                if token == EOS:  # the block is done: read it, leave its verdict to the harness
                    programs.append(str(self.env.unwrapped.row.program()))
                    break
                observation, _, _, _, _ = self.env.step(token)  # a non-final step: reward 0, no verifier
            self.pending.append(episode)
        return programs

    def learn(self, task: Task, scored: Sequence[Scored]) -> None:
        from sb3_contrib.common.maskable.buffers import MaskableDictRolloutBuffer

        self._check_task(task)
        episodes, self.pending = self.pending[: len(scored)], []
        if not episodes:
            return
        rewards = terminal_rewards(scored, task.baseline_cycles, self.rewards).tolist()
        model = self.model
        buffer = MaskableDictRolloutBuffer(sum(len(e) for e in episodes), model.observation_space,
                                           model.action_space, device=model.device, gamma=model.gamma,
                                           gae_lambda=model.gae_lambda, n_envs=1)
        for episode, reward in zip(episodes, rewards):
            for i, step in enumerate(episode):
                final = i == len(episode) - 1
                buffer.add({k: v[None] for k, v in step.observation.items()}, np.array([step.action]),
                           np.array([reward if final else 0.0], dtype=np.float32), np.array([step.episode_start]),
                           step.value, step.log_prob, action_masks=step.mask[None])
        buffer.compute_returns_and_advantage(last_values=torch.zeros(1, device=model.device), dones=np.array([True]))
        model.rollout_buffer = buffer
        model.train()  # sb3's own clipped-PPO epochs over the buffer


__all__ = ["MaskablePPOAgent"]
