"""tensordict wrappers that let torchrl's losses drive the GFlowNets' policy network.

* :func:`actor` : a ``ProbabilisticActor`` whose ``logits`` come from :class:`agents.policy.PolicyNetwork`
  (the very network of :class:`~agents.policy.TasmPolicy`, in torchgfn's action order: token ``i + 1`` is
  action ``i``, exit last) and whose distribution is torchrl's ``MaskedCategorical`` over the env's masks;
* :func:`critic` : a ``TensorDictModule`` writing ``state_value`` from a second network of the same
  architecture with one output (:class:`agents.policy.TasmFlow`'s network).

Both read ``packed`` (the :func:`agents.policy.pack_state` features of a state) and ``task`` (the env's task id)
from a tensordict of any batch shape (:class:`Flat` flattens and restores it around the network).
"""

from __future__ import annotations

import torch
from tensordict.nn import TensorDictModule
from torch import nn
from torchrl.modules import MaskedCategorical, ProbabilisticActor

from ..policy import PolicyNetwork

PACKED, TASK, MASK, LOGITS, VALUE = "packed", "task", "mask", "logits", "state_value"


class Flat(nn.Module):
    """Runs a :class:`PolicyNetwork` on (..., width) packed states and (...) task ids: outputs (..., out_dim)."""

    def __init__(self, network: PolicyNetwork):
        super().__init__()
        self.network = network

    def forward(self, packed: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        lead = task.shape
        out = self.network(packed.reshape(-1, packed.shape[-1]), task.reshape(-1))
        return out.reshape(*lead, out.shape[-1])


def actor(network: PolicyNetwork) -> ProbabilisticActor:
    """The policy as torchrl's masked categorical actor (``action`` in torchgfn's action order)."""
    logits = TensorDictModule(Flat(network), in_keys=[PACKED, TASK], out_keys=[LOGITS])
    return ProbabilisticActor(logits, in_keys=[LOGITS, MASK], out_keys=["action"],
                              distribution_class=MaskedCategorical, return_log_prob=False)


def critic(network: PolicyNetwork) -> TensorDictModule:
    """A state-value estimator V(s | task) (``network`` must have one output)."""
    if network.out_dim != 1:
        raise ValueError(f"a critic network has one output, this one has {network.out_dim}")
    return TensorDictModule(Flat(network), in_keys=[PACKED, TASK], out_keys=[VALUE])


__all__ = ["Flat", "actor", "critic"]
