"""Small default estimators for the torchgfn env: an MLP forward policy over :class:`~tasm_env.envs.preprocess.TasmFeatures`
joined, for a conditional env, to a :class:`TaskEncoder` of the condition, and a conditional logZ(task).

    from tasm_env.envs.estimators import logz_estimator, mlp_policy
    gflownet = TBGFlowNet(pf=mlp_policy(env), pb=None, logZ=logz_estimator(env), constant_pb=True)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from gfn.estimators import ConditionalDiscretePolicyEstimator, ConditionalLogZEstimator, DiscretePolicyEstimator
from gfn.utils.modules import MLP
from torch import nn

from .preprocess import TasmFeatures

if TYPE_CHECKING:
    from .gfn import TasmGFNEnv


class TaskEncoder(nn.Module):
    """Condition (a float task id, shape (..., 1)) -> (..., dim): a learned embedding of the id plus a linear
    map of the task's features (log1p of :data:`~tasm_env.envs.common.TASK_FEATURES`)."""

    def __init__(self, task_features: torch.Tensor, dim: int):
        super().__init__()
        self.register_buffer("features", torch.log1p(task_features.float()))
        self.embedding = nn.Embedding(len(task_features), dim)
        nn.init.zeros_(self.embedding.weight)
        self.linear = nn.Linear(task_features.shape[1], dim)
        self.input_dim, self.output_dim = 1, dim

    def forward(self, conditions: torch.Tensor) -> torch.Tensor:
        ids = conditions[..., 0].round().long().clamp(0, len(self.features) - 1)
        return self.embedding(ids) + self.linear(self.features[ids])


def mlp_policy(env: TasmGFNEnv, hidden: int = 128, n_hidden_layers: int = 2, window: int = 4
               ) -> DiscretePolicyEstimator:
    """A small forward policy: an MLP over :class:`TasmFeatures`, and for a conditional env a
    :class:`TaskEncoder` of the condition joined to it (``ConditionalDiscretePolicyEstimator``)."""
    preprocessor = TasmFeatures(env, window)
    if not env.is_conditional:
        module = MLP(preprocessor.output_dim, env.n_actions, hidden_dim=hidden, n_hidden_layers=n_hidden_layers)
        return DiscretePolicyEstimator(module, env.n_actions, preprocessor=preprocessor)
    state_module = MLP(preprocessor.output_dim, hidden, hidden_dim=hidden, n_hidden_layers=n_hidden_layers)
    condition_module = nn.Sequential(TaskEncoder(env.task_features, hidden), nn.ReLU())
    final_module = MLP(2 * hidden, env.n_actions, hidden_dim=hidden, n_hidden_layers=1)
    return ConditionalDiscretePolicyEstimator(state_module, condition_module, final_module, env.n_actions,
                                              preprocessor=preprocessor)


def logz_estimator(env: TasmGFNEnv, hidden: int = 32) -> ConditionalLogZEstimator | None:
    """A conditional logZ(task) for a conditional env (None otherwise: the GFlowNet's scalar logZ serves)."""
    if not env.is_conditional:
        return None
    module = nn.Sequential(TaskEncoder(env.task_features, hidden), nn.ReLU(), nn.Linear(hidden, 1))
    module.input_dim = 1
    return ConditionalLogZEstimator(module)


__all__ = ["TaskEncoder", "logz_estimator", "mlp_policy"]
