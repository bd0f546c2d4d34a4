"""A fixed pretrained policy as a residual prior for sb3-contrib's ``MaskablePPO`` (issue 11).

    env = PretrainedPriorObservation(TaskIndexObservation(gymnasium.make("tasm_env/TasmEmit-v0", ...)))
    model = MaskablePPO(PretrainedPriorPolicy, env, policy_kwargs=graph_policy_kwargs(env.unwrapped.tasks))

:class:`PretrainedPriorObservation` adds ``prior_logp`` (V,) float32 to every observation: the log-probabilities
(over the whole vocabulary, in action order = token order, floored at ``LOGP_FLOOR``) of the next token under a
fixed :class:`~agents.policy.TasmPolicy` (default the package's shipped ``tasm-basic-v1`` policy), given the
episode's task and prefix. It keeps the policy's key/value caches for the running episode, so each step costs one
cached decoding step (:meth:`agents.policy.PolicyNetwork.next_outputs`), as in :func:`agents.sampling.rollout`;
the policy's state features come from a parallel :class:`~tasm_env.envs.gfn.TasmGFNEnv` machine on the same
tasks (value state on, whatever the Gym env's masking: the shipped policy reads it). The prior lives in the
observation, so sb3's rollout buffer stores it and PPO's minibatches read it back without running the
pretrained network again.

:class:`PretrainedPriorPolicy` (``MultiInputPolicy``) and :class:`PretrainedPriorActionScorePolicy`
(:class:`~agents.rl.features.ActionScorePolicy`, lookahead features and optional gain prior) add
``prior_logp / pretrained_temperature`` to their action logits, with ``action_net`` starting at zero: the
untrained policy samples the pretrained policy (times the gain prior, if on) restricted to the env's mask, and
PPO learns a correction. The prior is not trained.
"""

from __future__ import annotations

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from sb3_contrib.common.maskable.policies import MaskableMultiInputActorCriticPolicy
from torch import nn

from tasm_env.emission.vocab import EOS
from tasm_env.errors import ConfigError
from tasm_env.envs.gfn import TasmGFNEnv

from ..policy import TasmPolicy, pack_state, unpack
from .features import ActionScorePolicy

PRIOR_KEY = "prior_logp"
LOGP_FLOOR = -30.0  # finite, so that sb3's buffers and the policy's sums stay finite on unlikely tokens


class PretrainedPriorObservation(gymnasium.Wrapper):
    """Adds ``prior_logp`` (see the module docstring). ``policy``: the fixed prior (rebound here to the env's
    tasks), default ``agents.pretrained(suite)``."""

    def __init__(self, env: gymnasium.Env, policy: TasmPolicy | None = None, suite: str = "tasm-basic-v1"):
        super().__init__(env)
        base = env.unwrapped
        if policy is None:
            from ..shipped import pretrained

            policy = pretrained(suite)
        self.gfn = TasmGFNEnv(tasks=list(base.tasks), suite=None, masking=base.masking, value_state=True,
                              max_len=base.max_len)
        policy.rebind(self.gfn)
        policy.eval()
        self.policy, self.net = policy, policy.module
        V = base.action_space.n
        if self.net.n_tokens != V:
            raise ConfigError(f"the prior policy has {self.net.n_tokens} tokens, the env {V}")
        self.observation_space = spaces.Dict({**env.observation_space.spaces,
                                              PRIOR_KEY: spaces.Box(LOGP_FLOOR, 0.0, (V,), np.float32)})
        self._memories: dict[int, tuple] = {}  # per task index: the graph memory and its keys/values

    def action_masks(self) -> np.ndarray:
        return self.env.action_masks()

    @torch.no_grad()
    def _start(self, task: int) -> np.ndarray:
        if task not in self._memories:
            self._memories[task] = self.net.memory(torch.tensor([task]))
        self._task, (self._memory, self._kv) = task, self._memories[task]
        self._state = self.gfn.machine.initial(torch.tensor([task]))
        self._caches: list[dict] = [{} for _ in self.net.decoder.layers]
        self._previous = torch.tensor([-1])  # BOS
        self._depth = self.net.n_inputs[torch.tensor([task])].clone()
        self._position = 0
        return self._prior()

    @torch.no_grad()
    def _advance(self, token: int) -> np.ndarray:
        previous = torch.tensor([token])
        self._state = self.gfn.machine.step(self._state, previous)
        self._previous, self._position = previous, self._position + 1
        self._depth = self._depth + torch.where(previous > 0, self.net.delta[previous], 0)
        return self._prior()

    def _prior(self) -> np.ndarray:
        features = unpack(pack_state(self.gfn, self._state), self.gfn.max_len)
        out = self.net.next_outputs(self._previous, self._depth, self._position, self._memory, self._kv,
                                    self._caches, features)[0]
        return out.log_softmax(-1).clamp(min=LOGP_FLOOR).numpy().astype(np.float32)

    def reset(self, **kwargs):
        observation, info = self.env.reset(**kwargs)
        return {**observation, PRIOR_KEY: self._start(self.env.unwrapped.task_index)}, info

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        done = terminated or truncated or int(action) == EOS
        prior = np.zeros(self.observation_space[PRIOR_KEY].shape, np.float32) if done else self._advance(int(action))
        return {**observation, PRIOR_KEY: prior}, reward, terminated, truncated, info


class PretrainedPriorMixin:
    """The residual prior over a policy's own ``action_logits`` (see the module docstring)."""

    def __init__(self, *args, pretrained_temperature: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        if not pretrained_temperature > 0:
            raise ConfigError(f"pretrained_temperature must be positive, got {pretrained_temperature}")
        self.pretrained_temperature = float(pretrained_temperature)
        if PRIOR_KEY not in self.observation_space.spaces:
            raise ConfigError(f"{type(self).__name__} needs the {PRIOR_KEY!r} observation: wrap the env in "
                             "PretrainedPriorObservation")
        nn.init.zeros_(self.action_net.weight)  # sb3's orthogonal init would blur the exact prior start
        nn.init.zeros_(self.action_net.bias)
        self._prior_logp: torch.Tensor | None = None
        self.pi_features_extractor.register_forward_pre_hook(self._keep_prior)

    def _get_constructor_parameters(self) -> dict:
        return {**super()._get_constructor_parameters(), "pretrained_temperature": self.pretrained_temperature}

    def _keep_prior(self, module: nn.Module, args: tuple) -> None:
        # every sb3 actor path runs the actor's extractor on the batch just before it builds the distribution
        self._prior_logp = args[0][PRIOR_KEY]

    def action_logits(self, latent_pi: torch.Tensor) -> torch.Tensor:
        """The policy's own logits plus the prior's (the prior of the batch last passed to the extractor)."""
        prior = self._prior_logp
        if prior is None or prior.shape[0] != latent_pi.shape[0]:
            raise ConfigError(f"no {PRIOR_KEY!r} for this batch: the features were not extracted first")
        return super().action_logits(latent_pi) + prior.float() / self.pretrained_temperature

    def _get_action_dist_from_latent(self, latent_pi: torch.Tensor):
        return self.action_dist.proba_distribution(action_logits=self.action_logits(latent_pi))


class PlainLogits:
    """``action_logits`` of sb3's plain actor head, for the mixin to add to."""

    def action_logits(self, latent_pi: torch.Tensor) -> torch.Tensor:
        return self.action_net(latent_pi)


class PretrainedPriorPolicy(PretrainedPriorMixin, PlainLogits, MaskableMultiInputActorCriticPolicy):
    """``MultiInputPolicy`` + the fixed pretrained prior (any masking; no lookahead features needed)."""


class PretrainedPriorActionScorePolicy(PretrainedPriorMixin, ActionScorePolicy):
    """:class:`~agents.rl.features.ActionScorePolicy` (lookahead score, optional gain prior) + the fixed
    pretrained prior."""


__all__ = ["LOGP_FLOOR", "PRIOR_KEY", "PretrainedPriorActionScorePolicy", "PretrainedPriorMixin",
           "PretrainedPriorObservation", "PretrainedPriorPolicy"]
