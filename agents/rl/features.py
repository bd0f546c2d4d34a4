"""The project's graph encoder as a features extractor for stable-baselines3 (sb3-contrib's ``MaskablePPO``).

    env = TaskIndexObservation(gymnasium.make("tasm_env/TasmEmit-v0", masking="dataflow", include_graph=False))
    model = MaskablePPO("MultiInputPolicy", env, policy_kwargs=graph_policy_kwargs(env.unwrapped.tasks))

The Gymnasium observation describes the prefix and the stack but not *which* task is being solved beyond a
few counts, so :class:`TaskIndexObservation` adds ``task_id`` (the env's current task index). The extractor
keeps the env's task list: ``task_id`` -> ``task.graph`` -> :class:`agents.policy.TaskGraphs` (the GATv2
:class:`~agents.policy.GraphEncoder`, mean/max pooled). With the value state (``masking="dataflow"``) each of
the top 16 slots also reads the embedding of the graph node it holds (``slot_nodes``): the policy sees which
part of the computation is on the stack, not only its type. The features are the pooled graph, the slots
(type + held node), ``outputs_ready``, the counts (length, depth, budget left), and the prefix (mean token
embedding plus the last token's), joined by a linear layer to ``features_dim``.

:meth:`GraphFeatures.bind` moves a trained extractor to another task list (the test split): the weights do not
depend on the tasks.
"""

from __future__ import annotations

from typing import Sequence

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from sb3_contrib.common.maskable.policies import MaskableMultiInputActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from tasm_env.envs.lookahead import ACTION_FEATURES
from tasm_env.errors import ConfigError
from tasm_env.tasks.task import Task

from ..policy import SLOT_CLASSES, SLOTS, PolicyConfig, TaskGraphs

TOKEN_SCALE = 32.0  # counts are divided by it before the linear layer
ROLLOUT_CACHE = 256  # batches of task ids whose graph memory is kept during rollouts
PRIOR_COLUMN = ACTION_FEATURES.index("gain")  # ActionScorePolicy's prior reads this per-action feature
DEFAULT_PRIOR_TEMPERATURE = 0.02  # the hand-set softmax's best temperature on the easy test tasks (docs/rl.md)


class TaskIndexObservation(gymnasium.ObservationWrapper):
    """Adds ``task_id`` (1,) int64, the index of the episode's task in ``env.unwrapped.tasks``. ``tokens_width``
    pads the ``tokens`` observation (with -1) to a fixed width, so that a policy trained on one task list runs
    on another whose longest budget differs (sb3 checks observation shapes)."""

    def __init__(self, env: gymnasium.Env, tokens_width: int | None = None):
        super().__init__(env)
        n = len(env.unwrapped.tasks)
        tokens = env.observation_space["tokens"]
        self.width = tokens.shape[0] if tokens_width is None else int(tokens_width)
        if self.width < tokens.shape[0]:
            raise ConfigError(f"tokens_width {self.width} is below the env's longest budget {tokens.shape[0]}")
        self.observation_space = spaces.Dict({
            **env.observation_space.spaces, "task_id": spaces.Box(0, n - 1, (1,), np.int64),
            "tokens": spaces.Box(-1, int(tokens.high.max()), (self.width,), np.int64)})

    def observation(self, observation: dict) -> dict:
        tokens = observation["tokens"]
        if tokens.shape[0] < self.width:
            tokens = np.concatenate([tokens, np.full(self.width - tokens.shape[0], -1, dtype=tokens.dtype)])
        return {**observation, "tokens": tokens,
                "task_id": np.array([self.env.unwrapped.task_index], dtype=np.int64)}

    def action_masks(self) -> np.ndarray:
        return self.env.unwrapped.action_masks()


class GraphFeatures(BaseFeaturesExtractor):
    """sb3 features extractor over a :class:`TaskIndexObservation` observation (see the module docstring)."""

    def __init__(self, observation_space: spaces.Dict, tasks: Sequence[Task], d_model: int = 64,
                 n_tokens: int | None = None, features_dim: int = 128, policy_config: dict | None = None):
        super().__init__(observation_space, features_dim)
        if "task_id" not in observation_space.spaces:
            raise ConfigError("GraphFeatures needs a 'task_id' observation: wrap the env in TaskIndexObservation")
        # the encoder's sizes: a TasmPolicy's (policy_config), so that its trained encoder can be loaded
        config = PolicyConfig.from_dict(policy_config) if policy_config is not None else PolicyConfig(d_model=d_model)
        d = config.d_model
        self.value_state = "slot_nodes" in observation_space.spaces
        vocabulary = n_tokens if n_tokens is not None else int(observation_space["tokens"].high.max()) + 1
        self.graphs = TaskGraphs(config)
        self.graphs.register_load_state_dict_post_hook(self._forget)
        self.bind(tasks)
        self.token = nn.Embedding(vocabulary + 1, d)  # index 0: padding (-1), token t -> t + 1
        self.last_token = nn.Embedding(vocabulary + 1, d)
        self.slot_type = nn.Embedding(SLOTS * SLOT_CLASSES, d)
        self.no_node = nn.Parameter(torch.zeros(SLOTS, d))  # a slot holding no graph node's value
        self.node_in_slot = nn.Linear(d, d)
        self.slots = nn.Linear(SLOTS * d, d)  # the slots side by side: which slot holds what
        self.ready = nn.Linear(SLOTS, d)
        self.counts = nn.Linear(3, d)
        self.out = nn.Sequential(nn.Linear(7 * d, features_dim), nn.GELU())

    def bind(self, tasks: Sequence[Task]) -> None:
        """Read ``task_id`` as an index into ``tasks`` from now on (same weights)."""
        tasks = list(tasks)
        self.graphs.bind(tasks)
        width = max(len(t.tir.nodes) for t in tasks)
        # per task: parents[t, n, m] (node m is an argument of node n) and which nodes are the block's inputs
        self._parents = torch.zeros(len(tasks), width, width)
        self._is_input = torch.zeros(len(tasks), width, dtype=torch.bool)
        for i, task in enumerate(tasks):
            for n, node in enumerate(task.tir.nodes):
                self._is_input[i, n] = node.op == "input"
                for ref in node.args:
                    self._parents[i, n, ref.node] = 1.0
        self._rollout_cache: dict = {}

    def train(self, mode: bool = True) -> "GraphFeatures":
        """sb3 switches to training mode around every update (``set_training_mode``) and back to eval mode for
        rollouts and on every ``predict``: the no-gradient cache starts afresh whenever training mode is
        entered or left (the weights only change in between), not on an eval-to-eval call."""
        if mode or self.training:
            self._rollout_cache = {}
        return super().train(mode)

    def _forget(self, module: nn.Module, incompatible_keys) -> None:
        """``load_state_dict`` post-hook of the encoder: new weights, no stale cache."""
        self._rollout_cache = {}

    def _memory(self, task: torch.Tensor):
        """The graphs' memory. In eval mode without gradients (sb3's rollouts and ``predict``: one env step at a
        time) it is kept per batch of task ids until training mode is entered or left, or new weights are
        loaded (see :meth:`train`); with gradients (sb3's minibatches) :meth:`agents.policy.TaskGraphs.memory` encodes each
        distinct task of the batch once, with its gradients."""
        if torch.is_grad_enabled() or self.training:
            return self.graphs.memory(task)
        if len(self._rollout_cache) > ROLLOUT_CACHE:
            self._rollout_cache = {}
        key = tuple(task.tolist())
        if key not in self._rollout_cache:
            self._rollout_cache[key] = self.graphs.memory(task)
        return self._rollout_cache[key]

    def stack_and_frontier(self, task: torch.Tensor, held: torch.Tensor, memory) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean embeddings (B, d) of the graph nodes on the stack (``slot_nodes``) and of the frontier: nodes
        not on the stack, not inputs, whose arguments all are (what can be computed next)."""
        B, width = held.shape[0], memory.nodes.shape[1]
        device = memory.nodes.device
        on = torch.zeros(B, width + 1, device=device)
        on.scatter_(1, torch.where(held >= 0, held, width).clamp(max=width), 1.0)  # column width: no node
        on = on[:, :width]
        parents = self._parents.to(device)[task][:, :width, :width]
        inputs = self._is_input.to(device)[task][:, :width]
        ready_args = (parents @ on[..., None])[..., 0] >= parents.sum(-1)
        front = (memory.mask & (on == 0) & ~inputs & ready_args).float()

        def mean(weights: torch.Tensor) -> torch.Tensor:
            return (weights[..., None] * memory.nodes).sum(1) / weights.sum(1, keepdim=True).clamp(min=1)

        return mean(on), mean(front)

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        # the per-action features, for ActionScorePolicy's logits (read right after this call, in the same pass)
        self.action_features = observations.get("action_features")
        # sb3 hands Box observations over as floats: the integer ones are rounded back
        task = observations["task_id"].reshape(-1).round().long()
        memory = self._memory(task)  # each distinct task of the batch is encoded once
        B, device = task.shape[0], memory.pooled.device
        slot = torch.arange(SLOTS, device=device)
        types = observations["slot_types"].round().long().clamp(0, SLOT_CLASSES - 1)
        slots = self.slot_type(slot * SLOT_CLASSES + types)
        on_stack = frontier = torch.zeros_like(memory.pooled)
        if self.value_state:
            held = observations["slot_nodes"].round().long()
            width = memory.nodes.shape[1]
            index = held.clamp(min=0, max=width - 1)
            nodes = memory.nodes[torch.arange(B, device=device)[:, None], index]  # (B, SLOTS, d)
            slots = slots + torch.where((held >= 0)[..., None], self.node_in_slot(nodes), self.no_node)
            ready = self.ready(observations["outputs_ready"].float())
            on_stack, frontier = self.stack_and_frontier(task, held, memory)
        else:
            ready = torch.zeros_like(memory.pooled)
        tokens = observations["tokens"].round().long()
        written = tokens >= 0
        embedded = self.token(tokens.clamp(min=-1) + 1) * written[..., None]
        prefix = embedded.sum(1) / written.sum(1, keepdim=True).clamp(min=1)
        length = observations["length"].round().long().reshape(-1)
        last = tokens.gather(1, (length - 1).clamp(min=0)[:, None])[:, 0]
        last = self.last_token(torch.where(length > 0, last + 1, 0))
        counts = self.counts(torch.cat([observations[k].float() for k in ("length", "depth", "remaining")], 1)
                             / TOKEN_SCALE)
        joined = torch.cat([memory.pooled, self.slots(slots.reshape(B, -1)), ready, prefix + last, counts, on_stack,
                            frontier], 1)
        return self.out(joined)


class ActionScorePolicy(MaskableMultiInputActorCriticPolicy):
    """sb3-contrib's ``MultiInputPolicy`` whose action logits also read the env's per-action features
    (``lookahead=True``: ``action_features`` (V, F), :mod:`tasm_env.envs.lookahead`): logit[a] = the MLP's
    logit[a] + ``score(features[a])`` + ``gain[a] / prior_temperature``. ``score`` is one small MLP shared by
    every action, its last layer starting at zero; the last term is a fixed (not trained) residual prior, the
    lookahead's ``gain`` feature (the one-step ``progress`` potential change) over a temperature, which alone
    is the hand-set one-step agent of ``benchmarks/lookahead_agent.py``. With the prior on, ``action_net``
    also starts at zero, so the initial policy is exactly ``softmax(gain / T)`` over the legal actions and
    PPO learns a correction to it; ``prior_temperature=None`` turns it off (then the initial policy is exactly
    the plain one). The features reach the logits through the features extractor (:class:`GraphFeatures`
    keeps the batch's ``action_features`` from its forward pass, which every sb3 path runs just before it
    builds the distribution)."""

    def __init__(self, *args, score_hidden: int = 16, prior_temperature: float | None = DEFAULT_PRIOR_TEMPERATURE,
                 **kwargs):
        super().__init__(*args, **kwargs)
        if prior_temperature is not None and not prior_temperature > 0:
            raise ConfigError(f"prior_temperature must be positive or None, got {prior_temperature}")
        self.score_hidden, self.prior_temperature = score_hidden, prior_temperature
        width = self.observation_space["action_features"].shape[-1]
        self.action_score = nn.Sequential(nn.Linear(width, score_hidden), nn.Tanh(), nn.Linear(score_hidden, 1))
        nn.init.zeros_(self.action_score[-1].weight)
        nn.init.zeros_(self.action_score[-1].bias)
        if prior_temperature is not None:  # sb3's orthogonal init (gain 0.01) would blur the exact prior start
            nn.init.zeros_(self.action_net.weight)
            nn.init.zeros_(self.action_net.bias)
        self.optimizer = self.optimizer_class(self.parameters(), lr=self.optimizer.param_groups[0]["lr"],
                                              **self.optimizer_kwargs)

    def _get_constructor_parameters(self) -> dict:
        return {**super()._get_constructor_parameters(), "score_hidden": self.score_hidden,
                "prior_temperature": self.prior_temperature}

    def _get_action_dist_from_latent(self, latent_pi: torch.Tensor):
        return self.action_dist.proba_distribution(action_logits=self.action_logits(latent_pi))

    def action_logits(self, latent_pi: torch.Tensor) -> torch.Tensor:
        """The action logits (B, V) of the batch whose features the extractor last computed."""
        features = self.features_extractor.action_features
        if features is None or features.shape[0] != latent_pi.shape[0]:
            raise ConfigError("ActionScorePolicy needs the 'action_features' observation (lookahead=True) and a "
                             "GraphFeatures extractor shared by actor and critic")
        features = features.float()
        logits = self.action_net(latent_pi) + self.action_score(features).squeeze(-1)
        if self.prior_temperature is not None:
            logits = logits + features[..., PRIOR_COLUMN] / self.prior_temperature
        return logits


def graph_policy_kwargs(tasks: Sequence[Task], d_model: int = 64, features_dim: int = 128,
                        policy_config: dict | None = None) -> dict:
    """``policy_kwargs`` for ``MaskablePPO("MultiInputPolicy", ...)`` with :class:`GraphFeatures` (its encoder
    sized by ``policy_config``, a :class:`~agents.policy.PolicyConfig` dict, when given; else ``d_model``)."""
    extractor = {"tasks": list(tasks), "d_model": d_model, "features_dim": features_dim}
    if policy_config is not None:
        extractor["policy_config"] = dict(policy_config)
    return {"features_extractor_class": GraphFeatures, "features_extractor_kwargs": extractor}


__all__ = ["DEFAULT_PRIOR_TEMPERATURE", "ActionScorePolicy", "GraphFeatures", "TaskIndexObservation", "graph_policy_kwargs"]
