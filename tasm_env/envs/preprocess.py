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

import torch
from gfn.states import DiscreteStates

from .gfn import TasmFeatures, TasmGFNEnv


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
