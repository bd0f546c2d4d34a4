"""Stage 1's fast path: each corpus program's teacher-forced inputs computed once, kept compactly, in memory.

A corpus program's states under the env (its prefixes' masks, slot types, value state, ...) are a function of
the program alone, so :class:`TeacherData` replays each example once, in chunks of many examples at a time
(one pass of the machine, one value-state computation and one mask computation per chunk, not two per batch),
and keeps per example what the loss reads: the tokens, the features of its states as int16 and the masks of
its states as bits. :meth:`TeacherData.nll` then assembles a batch from them and scores only the real states of
the padded rows (the readout and the head skip the padding), which gives the same loss and gradients as
:func:`agents.pretrain.sequence_nll`, to float rounding (tests compare the two):

    data = TeacherData(env, corpus)
    loss = data.nll(policy, [0, 5, 9])     # the examples corpus[0], corpus[5], corpus[9]
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from tasm_env.asm import Program
from tasm_env.envs.gfn import TasmGFNEnv, tokens_to_actions
from tasm_env.emission.state import PAD, EmissionState

from .policy import TasmPolicy, Unpacked, pack_state, unpack
from .policy_config import PolicyError
from .sampling import masked_log_probs, replay

CHUNK = 512
"""Examples replayed together when some are first needed (the machine's per-step cost is mostly per call)."""
_FEATURES = np.int16


class TeacherData:
    """The teacher-forced inputs of ``examples`` ((task index, program) pairs of ``env``), each computed on
    first use (:meth:`prepare`) and kept: tokens (L,), the packed features of its L + 1 states without the
    prefix columns (int16), their forward masks in torchgfn's action order as bits."""

    def __init__(self, env: TasmGFNEnv, examples: Sequence[tuple[int, Program]]):
        self.env = env
        self.examples = list(examples)
        self._tokens: list[np.ndarray | None] = [None] * len(self.examples)
        self._features: list[np.ndarray | None] = [None] * len(self.examples)
        self._masks: list[np.ndarray | None] = [None] * len(self.examples)

    def __len__(self) -> int:
        return len(self.examples)

    def missing(self, indices: Sequence[int]) -> list[int]:
        return [i for i in indices if self._tokens[i] is None]

    def prepare(self, indices: Sequence[int]) -> None:
        """Compute and keep the inputs of the given examples not kept yet (all of them in one replay)."""
        todo = list(dict.fromkeys(self.missing(indices)))
        if not todo:
            return
        env = self.env
        rollout = replay(env, [self.examples[i][0] for i in todo], [self.examples[i][1] for i in todo])
        lengths = rollout.lengths
        # every real state of every row (t <= length), row by row: one flat batch of states
        steps = torch.arange(rollout.tokens.shape[1] + 1)
        real = steps[None, :] <= lengths[:, None]  # (B, T + 1)
        rows, at = real.nonzero(as_tuple=True)
        flat = EmissionState(rollout.states[at, rows], rollout.task[rows], env.layout)
        features = pack_state(env, flat)[:, env.max_len:]
        if features.numel() and (features.min() < np.iinfo(_FEATURES).min or features.max() > np.iinfo(_FEATURES).max):
            raise PolicyError("a state's features do not fit int16")
        masks = env.emission_forward_masks(flat)
        features = features.numpy().astype(_FEATURES)
        bits = np.packbits(masks.numpy(), axis=1)
        ends = (lengths + 1).cumsum(0).tolist()
        for k, (i, stop) in enumerate(zip(todo, ends)):
            start = stop - int(lengths[k]) - 1
            self._tokens[i] = rollout.tokens[k, : int(lengths[k])].numpy().astype(np.int16)
            self._features[i] = features[start:stop]
            self._masks[i] = bits[start:stop]

    def batch(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, Unpacked, torch.Tensor,
                                                      torch.Tensor, torch.Tensor]:
        """The batch of the given examples: tokens (B, T) padded with PAD, task ids (B,), the features of its N
        real states (row by row), their flat indices into B * (T + 1), their masks (N, V) and actions (N,)."""
        self.prepare(indices)
        env = self.env
        tokens_list = [self._tokens[i] for i in indices]
        lengths = torch.tensor([len(t) for t in tokens_list], dtype=torch.long)
        width = int(lengths.max()) if len(indices) else 0
        tokens = torch.full((len(indices), width), PAD, dtype=torch.long)
        for b, row in enumerate(tokens_list):
            tokens[b, : len(row)] = torch.from_numpy(row.astype(np.int64))
        task = torch.tensor([self.examples[i][0] for i in indices], dtype=torch.long)
        real = torch.arange(width + 1)[None, :] <= lengths[:, None]
        rows, steps = real.nonzero(as_tuple=True)
        at = rows * (width + 1) + steps
        # each state's action: its next token, exit at its end
        padded = torch.cat([tokens, torch.full((len(indices), 1), PAD, dtype=torch.long)], 1)
        actions = tokens_to_actions(padded, env.n_actions)
        actions[torch.arange(len(indices)), lengths] = env.n_actions - 1
        columns = torch.from_numpy(np.concatenate([self._features[i] for i in indices]).astype(np.int64))
        packed = torch.cat([torch.full((len(columns), env.max_len), PAD, dtype=torch.long), columns], 1)
        masks = np.unpackbits(np.concatenate([self._masks[i] for i in indices]), axis=1, count=env.n_actions)
        return tokens, task, unpack(packed, env.max_len), at, torch.from_numpy(masks.astype(bool)), actions[real]

    def nll(self, policy: TasmPolicy, indices: Sequence[int], ahead: Sequence[int] = ()) -> torch.Tensor:
        """Mean negative log-likelihood per action of the given examples: :func:`agents.pretrain.sequence_nll`
        of them, scoring only their real states. ``ahead``: examples to prepare with them when some of them are
        missing (the next batches': one replay for many batches)."""
        if policy.env is not self.env:
            raise PolicyError("the policy is bound to another env than the teacher data's")
        if ahead and self.missing(indices):
            self.prepare([*indices, *ahead])
        tokens, task, features, at, masks, actions = self.batch(indices)
        logits = policy.module.sequence(tokens, task, features, at)  # (N, V)
        # the N states as one row of N actions, none past its end
        chosen = masked_log_probs(logits[None], masks[None], actions[None], torch.tensor([len(actions)]))
        return -chosen.sum().to(tokens.device) / len(actions)


__all__ = ["CHUNK", "TeacherData"]
