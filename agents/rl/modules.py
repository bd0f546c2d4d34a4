"""tensordict wrappers that let torchrl's losses drive the GFlowNets' policy network.

* :func:`actor` : a ``ProbabilisticActor`` whose ``logits`` come from :class:`agents.policy.PolicyNetwork`
  (the very network of :class:`~agents.policy.TasmPolicy`, in torchgfn's action order: token ``i + 1`` is
  action ``i``, exit last) and whose distribution is torchrl's ``MaskedCategorical`` over the env's masks;
* :func:`critic` : a ``TensorDictModule`` writing ``state_value`` from a second network of the same
  architecture with one output (:class:`agents.policy.TasmFlow`'s network).

Both read ``packed`` (the :func:`agents.policy.pack_state` features of a state), ``task`` (the env's task id) and
``episode`` (which sampled block the state belongs to) from a tensordict of any batch shape (:class:`Flat`
flattens and restores it around the network).

**Memory.** The states of one episode are prefixes of one block, so :func:`prefix_outputs` runs the decoder once
per *episode* (teacher forcing, :meth:`agents.policy.PolicyNetwork.sequence`) and reads each state's outputs at its
length, instead of once per *state* over its whole prefix (``PolicyNetwork.forward``). Per state the autograd graph
of the loss held a (prefix length x d) decoder pass and a copy of the task's node memory: O(B T^2) for B blocks of
T tokens. On ``basic-hard-003`` (T = 220) 2 blocks took 2.0 GB and 16 blocks ~15 GB (the OOM kill of the
medium/hard pilot); one pass per episode is O(B T) and T times less work.
"""

from __future__ import annotations

import torch
from tensordict.nn import TensorDictModule
from torch import nn
from torchrl.modules import MaskedCategorical, ProbabilisticActor

from ..policy import PolicyNetwork, unpack

PACKED, TASK, MASK, LOGITS, VALUE, EPISODE = "packed", "task", "mask", "logits", "state_value", "episode"


def prefix_outputs(network: PolicyNetwork, packed: torch.Tensor, task: torch.Tensor,
                   episode: torch.Tensor) -> torch.Tensor:
    """Outputs (N, out_dim) of N packed states (N, width) of tasks ``task`` (N,), equal to ``network(packed,
    task)``, where the states with the same ``episode`` (N,) id are prefixes of one block (the longest of them
    holds it): one teacher-forced decoder row per episode (see the module docstring)."""
    n = packed.shape[0]
    if n == 0:
        return network(packed, task)
    length = unpack(packed, network.max_len).length.long()
    _, inverse = torch.unique(episode, return_inverse=True)
    E, T = int(inverse.max()) + 1, int(length.max())
    longest = torch.zeros(E, dtype=torch.long).scatter_reduce(0, inverse, length, "amax")
    is_leader = length == longest[inverse]
    leader = torch.zeros(E, dtype=torch.long).scatter(0, inverse[is_leader], torch.nonzero(is_leader)[:, 0])
    # every position of an episode's row gets a state's features: its own where sampled, the leader's elsewhere
    # (those rows' outputs are never read; the decoder is causal, so they change nothing that is)
    rows = packed[leader].repeat_interleave(T + 1, 0)
    rows[inverse * (T + 1) + length] = packed
    out = network.sequence(packed[leader, :T], task[leader], unpack(rows, network.max_len))  # (E, T + 1, out)
    return out[inverse.to(out.device), length.to(out.device)]


class Flat(nn.Module):
    """Runs a :class:`PolicyNetwork` on (..., width) packed states, (...) task ids and (...) episode ids: outputs
    (..., out_dim) (:func:`prefix_outputs`)."""

    def __init__(self, network: PolicyNetwork):
        super().__init__()
        self.network = network

    def forward(self, packed: torch.Tensor, task: torch.Tensor, episode: torch.Tensor) -> torch.Tensor:
        lead = task.shape
        out = prefix_outputs(self.network, packed.reshape(-1, packed.shape[-1]), task.reshape(-1),
                             episode.reshape(-1))
        return out.reshape(*lead, out.shape[-1])


def actor(network: PolicyNetwork) -> ProbabilisticActor:
    """The policy as torchrl's masked categorical actor (``action`` in torchgfn's action order)."""
    logits = TensorDictModule(Flat(network), in_keys=[PACKED, TASK, EPISODE], out_keys=[LOGITS])
    return ProbabilisticActor(logits, in_keys=[LOGITS, MASK], out_keys=["action"],
                              distribution_class=MaskedCategorical, return_log_prob=False)


def critic(network: PolicyNetwork) -> TensorDictModule:
    """A state-value estimator V(s | task) (``network`` must have one output)."""
    if network.out_dim != 1:
        raise ValueError(f"a critic network has one output, this one has {network.out_dim}")
    return TensorDictModule(Flat(network), in_keys=[PACKED, TASK, EPISODE], out_keys=[VALUE])


__all__ = ["Flat", "actor", "critic", "prefix_outputs"]
