"""A torchgfn ``Preprocessor`` for the env's state rows, so torchgfn's own estimators (``DiscretePolicyEstimator``,
``ConditionalDiscretePolicyEstimator``, ``ScalarEstimator`` ...) and modules (``gfn.utils.modules.MLP``) can be
used without reading :class:`~tasm_env.emission.state.Layout`:

    from gfn.estimators import DiscretePolicyEstimator
    from gfn.utils.modules import MLP
    preprocessor = TasmStatePreprocessor(env)
    pf = DiscretePolicyEstimator(MLP(preprocessor.output_dim, env.n_actions), env.n_actions,
                                 preprocessor=preprocessor)

Each state becomes the float features of :class:`~tasm_env.envs.gfn.TasmFeatures` (the last tokens one-hot,
length, budget left, live depth, I/O counters, sponge flag, top slot types one-hot) followed, with
``task_features=True`` (the default), by the ``log1p`` of the state's task features
(:data:`~tasm_env.envs.common.TASK_FEATURES`, looked up from the condition), so an unconditional torchgfn
estimator still sees which task it writes for. Sink rows (torchgfn's padding) give finite features.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from gfn.preprocessors import Preprocessor
from gfn.states import DiscreteStates
from torch import nn

from ..emission.state import PAD
from ..emission.values import SLOT_WINDOW  # the top slots a state describes

if TYPE_CHECKING:  # the env imports nothing from here; only type hints need it
    from .gfn import TasmGFNEnv



class TasmFeatures(Preprocessor):
    """Float features of a state for small MLP policies: the last ``window`` tokens one-hot (most recent first,
    padding as its own class), the length and the budget left (as fractions of ``max_len``), the live depth /
    16, the I/O counters / 8, the sponge flag and the top 16 slot types one-hot (field, u32, bool, context)."""

    def __init__(self, env: TasmGFNEnv, window: int = 4):
        self.env, self.window = env, int(window)
        V = env.n_actions
        super().__init__(output_dim=self.window * (V + 1) + 8 + SLOT_WINDOW * 4)

    def preprocess(self, states: DiscreteStates) -> torch.Tensor:
        env, machine = self.env, self.env.machine
        state = env.emission_state(states)
        data = state.data
        length = state.length.long().clamp(0, env.max_len)
        positions = length[:, None] - 1 - torch.arange(self.window)[None, :]
        last = data.gather(1, positions.clamp(min=0)).long()
        last = torch.where(positions >= 0, last, PAD).clamp(-1, env.n_actions - 1) + 1
        numbers = torch.stack([
            length / env.max_len,
            machine.remaining(state).clamp(0, env.max_len) / env.max_len,
            machine.live_depth(state).clamp(-16, 64) / 16,
            *(state.counters.clamp(0, 64).T / 8),
            state.sponge_on.float(),
        ], dim=1).float()
        types = machine.slot_types(state).clamp(0, 3)
        features = torch.cat([nn.functional.one_hot(last, env.n_actions + 1).flatten(1).float(), numbers,
                              nn.functional.one_hot(types, 4).flatten(1).float()], dim=1)
        return features.reshape(*states.batch_shape, -1)



class TasmStatePreprocessor(TasmFeatures):
    """State rows -> ``(*batch, output_dim)`` float32 (see the module docstring). ``window``: how many of the
    last tokens are one-hot encoded."""

    def __init__(self, env: TasmGFNEnv, window: int = 4, task_features: bool = True):
        super().__init__(env, window)
        self.with_task = bool(task_features)
        self.task_table = torch.log1p(env.task_features.float())
        if self.with_task:
            self.output_dim += self.task_table.shape[1]

    def preprocess(self, states: DiscreteStates) -> torch.Tensor:
        features = super().preprocess(states)
        if not self.with_task:
            return features
        task = self.env.task_ids(states).clamp(0, len(self.task_table) - 1)
        extra = self.task_table.index_select(0, task).reshape(*states.batch_shape, -1)
        return torch.cat([features, extra], dim=-1)


__all__ = ["TasmStatePreprocessor"]
