"""A batch of sampled blocks as torchrl transitions: a ``TensorDict`` of batch shape (B, S), time last.

Row ``b`` is the episode of block ``b``: steps ``0 .. L_b`` (its ``L_b`` tokens, then exit), ``S = max L_b + 1``.
Each step has ``packed`` / ``task`` (the state before it, :func:`agents.policy.pack_state`), ``episode`` (``b``), ``mask`` (the env's
forward mask, action order), ``action`` (action order: token ``i + 1`` is action ``i``, exit last), ``valid``
(False on the padding after a row's exit) and the torchrl ``next`` entries: the next state, ``reward`` (0 but at
the exit step, where it is the block's terminal reward), ``done`` and ``terminated`` (True from the exit step on).
Padding steps carry an all-True mask and action 0, so that they are harmless; torchrl's GAE only uses them
behind a ``done`` (its recursion never crosses a row's exit), and the losses see the ``valid`` steps only.
"""

from __future__ import annotations

import torch
from tensordict import TensorDict

from tasm_env.envs.gfn import tokens_to_actions
from tasm_env.emission.state import EmissionState

from ..sampling import Rollout
from ..policy import pack_state
from .modules import EPISODE, MASK, PACKED, TASK


def transitions(rollout: Rollout, rewards: torch.Tensor) -> TensorDict:
    """(B, S) transitions of ``rollout`` with terminal ``rewards`` (B,) (see the module docstring)."""
    env, B = rollout.env, len(rollout)
    T = rollout.tokens.shape[1]
    S = T + 1
    width = rollout.states.shape[-1]
    states = rollout.states[:S]  # (S, B, width): the state before each step (finished rows repeat)
    after = torch.cat([rollout.states[1:S], rollout.states[-1:]], 0)  # the state after each step
    task = rollout.task[None, :].expand(S, B).reshape(-1)

    def packed(data: torch.Tensor) -> torch.Tensor:
        return pack_state(env, EmissionState(data.reshape(-1, width), task, env.layout)).reshape(S, B, -1)

    tokens_mask = env.machine.forward_masks(EmissionState(states.reshape(-1, width), task, env.layout), env.masking)
    mask = torch.cat([tokens_mask[:, 1:], tokens_mask[:, :1]], 1).reshape(S, B, -1)  # EOS -> exit (last)
    step = torch.arange(S)[:, None]
    lengths = rollout.lengths[None, :]
    valid = step <= lengths  # (S, B)
    actions = torch.zeros(S, B, dtype=torch.long)
    actions[:T] = tokens_to_actions(rollout.tokens.T, env.n_actions).clamp(min=0)
    actions = torch.where(step == lengths, env.n_actions - 1, actions)
    actions = torch.where(valid, actions, 0)
    mask = torch.where(valid[..., None], mask, True)
    done = step >= lengths
    reward = torch.where(step == lengths, rewards[None, :].float(), 0.0)
    task_ids = rollout.task[None, :].expand(S, B)
    episode = torch.arange(B)[None, :].expand(S, B)
    td = TensorDict({
        PACKED: packed(states), TASK: task_ids, EPISODE: episode, MASK: mask, "action": actions, "valid": valid,
        "next": {PACKED: packed(after), TASK: task_ids, EPISODE: episode, "reward": reward[..., None], "done": done[..., None],
                 "terminated": done[..., None]},
    }, batch_size=[S, B])
    return td.transpose(0, 1).contiguous()  # (B, S): time last, as torchrl's value estimators expect


__all__ = ["transitions"]
