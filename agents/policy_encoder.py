"""The policy's graph side: :class:`GraphEncoder` (GATv2 layers with learned edge-type embeddings -- operand
position, order, reverse twins -- as edge features, residual and layer norm, over ``task.graph``) and
:class:`TaskGraphs`, which holds the bound tasks' graphs and embeds each *distinct* task of a batch once (and,
inside :meth:`TaskGraphs.cached`, once per training iteration) into a :class:`Memory`: node embeddings, their
mask and the pooled graph embedding."""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from tasm_env.tasks.graph import EDGE_TYPES, NODE_FEATURES, task_graph

with warnings.catch_warnings():  # torch-geometric's import-time torch.jit DeprecationWarning under torch 2.13
    warnings.simplefilter("ignore", DeprecationWarning)
    from torch_geometric.data import Batch
    from torch_geometric.nn import GATv2Conv

from .policy_config import PolicyConfig, PolicyError


class GraphEncoder(nn.Module):
    """GATv2 over TIR graphs: node features -> ``d_model``, edge types -> ``edge_dim`` embeddings."""

    def __init__(self, config: PolicyConfig):
        super().__init__()
        d = config.d_model
        self.node_in = nn.Linear(NODE_FEATURES, d)
        self.edge_embedding = nn.Embedding(len(EDGE_TYPES), config.edge_dim)
        self.convs = nn.ModuleList(
            GATv2Conv(d, d // config.heads, heads=config.heads, edge_dim=config.edge_dim, add_self_loops=True,
                      fill_value="mean")
            for _ in range(config.gnn_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(config.gnn_layers))

    def forward(self, graphs: Batch) -> torch.Tensor:
        h = self.node_in(graphs.x)
        edges = self.edge_embedding(graphs.edge_type)
        for conv, norm in zip(self.convs, self.norms):
            h = norm(h + F.gelu(conv(h, graphs.edge_index, edges)))
        return h


@dataclass
class Memory:
    """Per-row node embeddings (B, N, d), their mask (B, N) and the pooled graph embedding (B, d)."""

    nodes: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor
    derived: dict | None = field(default=None, compare=False, repr=False)
    """Functions of these rows' nodes alone, kept by whoever computes them (:meth:`kept`) for a caller that
    reads one memory many times (the beam's decoding steps); None: nothing is kept."""

    def rows(self, index: torch.Tensor) -> "Memory":
        return Memory(self.nodes[index], self.mask[index], self.pooled[index])

    def kept(self, key, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        """``compute()``, once per ``key`` where this memory keeps what is derived from it (same shapes, so the
        same values as computing it again)."""
        if self.derived is None:
            return compute()
        if key not in self.derived:
            self.derived[key] = compute()
        return self.derived[key]


class TaskGraphs(nn.Module):
    """The bound tasks' graphs and their encoder: :meth:`memory` embeds each distinct task of a batch once."""

    def __init__(self, config: PolicyConfig):
        super().__init__()
        self.encoder = GraphEncoder(config)
        self.pool = nn.Linear(2 * config.d_model, config.d_model)
        self.graphs: list = []
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = None

    def bind(self, tasks) -> None:
        self.graphs = [task_graph(task) for task in tasks]
        self._cache = None

    @contextlib.contextmanager
    def cached(self) -> Iterator[None]:
        """Inside, each task's embedding is computed at most once per gradient mode: once without gradients
        (sampling) and once with them (the loss), so the loss always differentiates through the encoder."""
        previous, self._cache = self._cache, {}
        try:
            yield
        finally:
            self._cache = previous

    def _encode(self, ids: list[int]) -> list[tuple[torch.Tensor, int]]:
        graphs = [self.graphs[i] for i in ids]
        device = self.pool.weight.device
        h = self.encoder(Batch.from_data_list(graphs).to(device))
        # node counts come from the (host) graphs: no device-to-host read of the embeddings
        return list(zip(torch.split(h, [g.num_nodes for g in graphs]), ids))

    def memory(self, task: torch.Tensor) -> Memory:
        """Memory for rows of the given task ids (B,), on the encoder's device (the ids may be anywhere: they
        are read on the host, where the graphs are)."""
        unique, inverse = torch.unique(task.cpu(), return_inverse=True)
        ids = unique.tolist()
        if ids and (ids[0] < 0 or ids[-1] >= len(self.graphs)):
            raise PolicyError(f"task ids outside 0..{len(self.graphs) - 1}: is the policy bound to this env?")
        cache = self._cache if self._cache is not None else {}
        # an embedding computed without gradients (while sampling) must not stand in for one the loss
        # differentiates through: the cache keeps the two apart
        grad = torch.is_grad_enabled()
        missing = [i for i in ids if (i, grad) not in cache]
        if missing:
            for nodes, i in self._encode(missing):
                cache[i, grad] = (nodes, self.pool(torch.cat([nodes.mean(0), nodes.max(0).values])))
        per_task = [cache[i, grad] for i in ids]
        width = max(n.shape[0] for n, _ in per_task)
        d, device = per_task[0][0].shape[1], per_task[0][0].device
        nodes = torch.zeros(len(ids), width, d, device=device)
        mask = torch.zeros(len(ids), width, dtype=torch.bool, device=device)
        for j, (n, _) in enumerate(per_task):
            nodes[j, : n.shape[0]] = n
            mask[j, : n.shape[0]] = True
        pooled = torch.stack([p for _, p in per_task])
        return Memory(nodes, mask, pooled).rows(inverse.to(device))


__all__ = ["GraphEncoder", "Memory", "TaskGraphs"]
