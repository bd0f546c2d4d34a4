"""The graph-conditioned policy: a torch-geometric encoder over the task's TIR graph and a causal transformer
decoder over the emitted prefix that cross-attends to the graph's node embeddings.

    from agents.policy import PolicyConfig, TasmPolicy
    env = TasmGFNEnv(suite="tasm-basic-v1", split="train", masking="dataflow")
    pf = TasmPolicy(env, PolicyConfig())                      # a torchgfn ConditionalDiscretePolicyEstimator
    gflownet = TBGFlowNet(pf=pf, pb=None, logZ=graph_logz(env), constant_pb=True)

**Encoder** (:class:`GraphEncoder`): GATv2 layers with learned edge-type embeddings (operand position, order,
reverse twins) as edge features, residual and layer norm, over ``task.graph``. Node embeddings are computed once
per *distinct* task in a batch (and, inside :meth:`TasmPolicy.encoding_cache`, once per training iteration).

**Decoder** (:class:`PrefixDecoder`): pre-norm causal transformer layers over ``[BOS] + prefix``; each position
embeds its token, its position and the live stack depth after it (the block's inputs plus the running sum of
the tokens' stack effects); every layer cross-attends to the task's nodes. Because the decoder is causal, the
output at position ``p`` depends only on the first ``p`` tokens: one pass over a whole sequence scores every
step of it (teacher forcing, :meth:`TasmPolicy.sequence_logits`), and sampling extends a key/value cache one
token at a time (:mod:`agents.sampling`). What only the current state knows (the types of the top 16 stack
slots, the budget left, the I/O counters) joins *after* the decoder, at the position being predicted, so all
three ways of evaluating the policy agree exactly.

**Value state** (:class:`ValueReadout`, on when the env carries one, i.e. under ``masking="dataflow"``): the
env knows, on its probe inputs, which task-graph node each of the top 16 slots holds (``slot_nodes``) and
which outputs are in place (``outputs_ready``). The readout gathers the encoder's embedding of each slot's node
(a learned "none" vector where the slot holds no graph value), adds the outputs-ready bits, and attends from
the decoder output over the task's nodes with a learned mark on those the stack already holds; so the policy
sees what is computed and what is still missing, and the gradients reach the encoder through the gather.
It joins after the decoder like the other state features. ``PolicyConfig.value_features`` records whether a
network has it; a checkpoint written before it existed loads as a network without it.

**Outputs** are logits in torchgfn's action order (token ``i + 1`` is action ``i``, exit last). Task-specific
tables (graphs, input counts) are *bound* to an env, parameters are not: :meth:`TasmPolicy.rebind` moves a
trained policy to another env (say the test split) without touching its weights.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from gfn.estimators import ConditionalDiscretePolicyEstimator, ConditionalLogZEstimator, ConditionalScalarEstimator
from gfn.preprocessors import Preprocessor
from gfn.states import DiscreteStates
from torch import nn

from tasm_env.envs.gfn import TasmGFNEnv
from tasm_env.errors import TasmError
from tasm_env.emission.state import CONTEXT, ORIGIN, PAD, EmissionState
from tasm_env.tasks.graph import EDGE_TYPES, NODE_FEATURES, task_graph

with warnings.catch_warnings():  # torch-geometric's import-time torch.jit DeprecationWarning under torch 2.13
    warnings.simplefilter("ignore", DeprecationWarning)
    from torch_geometric.data import Batch
    from torch_geometric.nn import GATv2Conv

from .prefixes import shared_prefixes

SLOTS = 16  # stack slots whose types the policy sees
SLOT_CLASSES = 4  # field, u32, bool, context
ORIGINS = SLOTS + 1  # which input a slot still holds untouched (0..15), or none
MAX_DEPTH = 64
N_NUMBERS = 7  # budget left, live depth, four I/O counters, sponge flag


class PolicyError(TasmError):
    """A policy was configured or used wrongly (sizes, envs, checkpoints)."""


@dataclass(frozen=True)
class PolicyConfig:
    """Sizes of :class:`TasmPolicy`. The default (about 150k parameters) trains on a 2-core CPU."""

    d_model: int = 64
    heads: int = 4
    gnn_layers: int = 3
    decoder_layers: int = 2
    d_ff: int = 128
    edge_dim: int = 16
    dropout: float = 0.0
    value_features: bool | None = None
    """Read the env's value state (``slot_nodes``, ``outputs_ready``): ``None`` = yes iff the env carries one
    (``masking="dataflow"``); resolved to a bool when a network is built, and recorded so in checkpoints."""

    def __post_init__(self):
        if self.d_model % self.heads:
            raise PolicyError(f"d_model ({self.d_model}) must be a multiple of heads ({self.heads})")
        for name in ("d_model", "heads", "gnn_layers", "decoder_layers", "d_ff", "edge_dim"):
            if getattr(self, name) < 1:
                raise PolicyError(f"{name} must be a positive integer, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "PolicyConfig":
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise PolicyError(f"unknown policy config keys {sorted(unknown)}; expected {sorted(cls.__dataclass_fields__)}")
        # a config written before the value features existed describes a network without them
        return cls(**{"value_features": False, **data})

    def resolved(self, env: TasmGFNEnv) -> "PolicyConfig":
        """This config with ``value_features`` decided for ``env`` (on iff the env carries a value state)."""
        if self.value_features is None:
            return replace(self, value_features=has_value_state(env))
        return self


# ------------------------------------------------------------------------------------------- encoder


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


# ------------------------------------------------------------------------------------------- decoder


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    B, T, d = x.shape
    return x.view(B, T, heads, d // heads).transpose(1, 2)


def _merge(x: torch.Tensor) -> torch.Tensor:
    B, H, T, dh = x.shape
    return x.transpose(1, 2).reshape(B, T, H * dh)


class DecoderLayer(nn.Module):
    """Pre-norm causal self-attention (with an optional key/value cache), cross-attention to the nodes, MLP."""

    def __init__(self, config: PolicyConfig):
        super().__init__()
        d, self.heads = config.d_model, config.heads
        self.norm_self, self.norm_cross, self.norm_ff = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.self_out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.cross_q, self.cross_kv, self.cross_out = nn.Linear(d, d), nn.Linear(d, 2 * d), nn.Linear(d, d)
        self.ff = nn.Sequential(nn.Linear(d, config.d_ff), nn.GELU(), nn.Linear(config.d_ff, d))
        self.dropout = nn.Dropout(config.dropout)

    def memory_kv(self, nodes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k, v = self.cross_kv(nodes).chunk(2, dim=-1)
        return _heads(k, self.heads), _heads(v, self.heads)

    def forward(self, x: torch.Tensor, memory_kv: tuple[torch.Tensor, torch.Tensor], memory_mask: torch.Tensor,
                cache: dict | None = None) -> torch.Tensor:
        q, k, v = (_heads(t, self.heads) for t in self.qkv(self.norm_self(x)).chunk(3, dim=-1))
        past = 0
        if cache is not None:
            if "k" in cache:
                past = cache["k"].shape[2]
                k, v = torch.cat([cache["k"], k], 2), torch.cat([cache["v"], v], 2)
            cache["k"], cache["v"] = k, v
        # a block of new positions attends causally among itself and to everything cached before it
        causal = None
        if x.shape[1] > 1:
            causal = torch.ones(x.shape[1], past + x.shape[1], dtype=torch.bool, device=x.device).tril(past)
        x = x + self.dropout(self.self_out(_merge(F.scaled_dot_product_attention(q, k, v, attn_mask=causal))))
        q = _heads(self.cross_q(self.norm_cross(x)), self.heads)
        attn = F.scaled_dot_product_attention(q, *memory_kv, attn_mask=memory_mask[:, None, None, :])
        x = x + self.dropout(self.cross_out(_merge(attn)))
        return x + self.dropout(self.ff(self.norm_ff(x)))


def select_cache_rows(caches: list[dict], rows: torch.Tensor) -> list[dict]:
    """The decoder's key/value caches (one dict per layer, as :meth:`PolicyNetwork.next_outputs` fills them)
    for the given rows (B',) of the batch they were built on, in that order (repeats allowed): a beam's children
    continue from their parents' caches."""
    # index_select, not t[rows]: the same rows, copied as whole blocks (advanced indexing is several times slower)
    return [{name: t.index_select(0, rows) for name, t in cache.items()} for cache in caches]


class PrefixDecoder(nn.Module):
    """Token, position and live-depth embeddings, then :class:`DecoderLayer` s."""

    def __init__(self, config: PolicyConfig, n_tokens: int, max_positions: int):
        super().__init__()
        d = config.d_model
        self.token = nn.Embedding(n_tokens + 1, d)  # index 0 = BOS, token t -> t + 1
        self.position = nn.Embedding(max_positions, d)
        self.depth = nn.Embedding(MAX_DEPTH + 1, d)
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.decoder_layers))
        self.norm = nn.LayerNorm(d)

    def embed(self, tokens: torch.Tensor, depth: torch.Tensor, start: int, pooled: torch.Tensor | None
              ) -> torch.Tensor:
        """tokens (B, T) with -1 = BOS; depth (B, T) after each position; positions start at ``start``."""
        positions = torch.arange(start, start + tokens.shape[1], device=tokens.device)
        positions = positions.clamp(max=self.position.num_embeddings - 1)
        x = self.token(tokens + 1) + self.position(positions)[None] + self.depth(depth.clamp(0, MAX_DEPTH))
        if pooled is not None and start == 0:  # the BOS position carries the whole graph
            x = torch.cat([x[:, :1] + pooled[:, None], x[:, 1:]], 1)
        return x

    def forward(self, x: torch.Tensor, memory_kv: list, memory_mask: torch.Tensor,
                caches: list[dict] | None = None) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x, memory_kv[i], memory_mask, None if caches is None else caches[i])
        return self.norm(x)


# ------------------------------------------------------------------------------------------- states


class StateFeatures(Preprocessor):
    """Packs what the policy reads from a state into one long tensor (..., max_len + 8 + 64): the prefix
    (padding -1), its length, live depth, budget left, the four I/O counters, the sponge flag, the top 16
    slot types and, for each of those slots, which of the block's inputs it holds untouched (copied or moved
    by dup / swap / pick / place, not computed), if any: what a compiler needs to know to fetch an operand;
    then the value state (:func:`value_columns`): the task-graph node each top slot holds on the probes and
    which outputs are ready. Robust to torchgfn's sink rows (garbage in, clamped values out)."""

    def __init__(self, env: TasmGFNEnv):
        self.env = env
        super().__init__(output_dim=None)

    def preprocess(self, states: DiscreteStates) -> torch.Tensor:
        packed = pack_state(self.env, self.env.emission_state(states))
        return packed.reshape(*states.batch_shape, packed.shape[-1])


def has_value_state(env: TasmGFNEnv) -> bool:
    """Does the env's machine carry the value state (``masking="dataflow"`` or ``value_state=True``)?"""
    return env.machine.values is not None


def value_columns(env: TasmGFNEnv, state: EmissionState) -> torch.Tensor:
    """(B, 32) long: ``slot_nodes`` (the task-graph node index each of the top 16 slots holds on the probes,
    st0 first, -1 for none) then ``outputs_ready`` (0/1 per output position); -1 and 0 throughout when the env
    carries no value state (a policy built with ``value_features`` refuses such an env)."""
    if not has_value_state(env):
        return torch.cat([torch.full((len(state), SLOTS), -1, dtype=torch.long),
                          torch.zeros(len(state), SLOTS, dtype=torch.long)], dim=1)
    machine = env.machine
    return torch.cat([machine.slot_nodes(state).long(), machine.outputs_ready(state).long()], dim=1)


def pack_state(env: TasmGFNEnv, state: EmissionState) -> torch.Tensor:
    """The (B, max_len + 8 + 64) long features of :class:`StateFeatures` for a batch of emission states."""
    machine = env.machine
    tokens = state.tokens.long().clamp(PAD, env.n_actions - 1)
    numbers = torch.stack([state.length.long().clamp(0, env.max_len), machine.live_depth(state).long(),
                           machine.remaining(state).long(), *state.counters.long().T, state.sponge_on.long()], dim=1)
    types = machine.slot_types(state).long().clamp(0, SLOT_CLASSES - 1)
    codes = state.types[:, :SLOTS].long()
    n_inputs = machine.n_inputs(state).long()
    # ORIGIN + j is "position j of the initial stack", counted from the top: input k (deepest first) is
    # at n_inputs - 1 - k; positions at or beyond n_inputs are context
    position = codes - ORIGIN
    holds = (codes >= ORIGIN) & (position < n_inputs[:, None]) & (types != CONTEXT)
    origin = torch.where(holds, (n_inputs[:, None] - 1 - position).clamp(0, SLOTS - 1), SLOTS)
    return torch.cat([tokens, numbers, types, origin, value_columns(env, state)], dim=1)


@dataclass
class Unpacked:
    tokens: torch.Tensor  # (N, max_len)
    length: torch.Tensor
    numbers: torch.Tensor  # (N, N_NUMBERS) float, scaled
    types: torch.Tensor  # (N, SLOTS)
    origins: torch.Tensor  # (N, SLOTS)
    slot_nodes: torch.Tensor  # (N, SLOTS) graph node index per slot, -1 none
    outputs_ready: torch.Tensor  # (N, SLOTS) float 0/1

    def to(self, device: torch.device) -> "Unpacked":
        return Unpacked(*(t.to(device) for t in (self.tokens, self.length, self.numbers, self.types, self.origins,
                                                 self.slot_nodes, self.outputs_ready)))


def unpack(packed: torch.Tensor, max_len: int) -> Unpacked:
    packed = packed.reshape(-1, packed.shape[-1])
    raw = packed[:, max_len: max_len + 8]
    scale = torch.tensor([32.0, 16.0, 8.0, 8.0, 8.0, 8.0, 1.0], device=packed.device)
    numbers = raw[:, 1:].float().clamp(-64, 256) / scale
    rest = packed[:, max_len + 8:]
    if rest.shape[1] != 4 * SLOTS:
        raise PolicyError(f"packed states have {packed.shape[1]} columns, expected max_len + 8 + {4 * SLOTS} = "
                          f"{max_len + 8 + 4 * SLOTS} (made by pack_state for an env with max_len {max_len}?)")
    return Unpacked(packed[:, :max_len], raw[:, 0], numbers, rest[:, :SLOTS], rest[:, SLOTS:2 * SLOTS],
                    rest[:, 2 * SLOTS:3 * SLOTS], rest[:, 3 * SLOTS:].float())


# ------------------------------------------------------------------------------------------- value state


class ValueReadout(nn.Module):
    """The value state of each state as one ``d_model`` vector, joined after the decoder: the encoder's
    embedding of the graph node each top slot holds (a learned vector for none), by slot; the outputs-ready bits;
    and an attention of the decoder output over the task's nodes that knows which of them the stack holds.
    The slot gather and the attention read the encoder's node embeddings, so its gradients reach the encoder."""

    def __init__(self, d: int):
        super().__init__()
        self.none = nn.Parameter(torch.randn(d) * 0.02)
        self.slots = nn.Linear(SLOTS * d, d)
        self.ready = nn.Linear(SLOTS, d)
        self.query, self.key, self.value, self.out = (nn.Linear(d, d) for _ in range(4))
        self.held_key = nn.Parameter(torch.randn(d) * 0.02)  # what "on the stack" adds to a node's key
        self.held_value = nn.Parameter(torch.randn(d) * 0.02)  # ... and to its value

    @staticmethod
    def _slots(features: Unpacked, memory: Memory, per_row: int) -> tuple[torch.Tensor, torch.Tensor]:
        slot_nodes = features.slot_nodes.reshape(memory.nodes.shape[0], per_row, SLOTS)
        return slot_nodes.clamp(0, memory.nodes.shape[1] - 1), slot_nodes >= 0

    def slot_embeddings(self, features: Unpacked, memory: Memory, per_row: int) -> torch.Tensor:
        """(R, P, 16, d): the encoder's embedding of the node each slot holds, the ``none`` vector where -1."""
        index, held = self._slots(features, memory, per_row)
        R, d = memory.nodes.shape[0], memory.nodes.shape[2]
        gathered = memory.nodes.gather(1, index.reshape(R, -1, 1).expand(-1, -1, d)).reshape(*index.shape, d)
        return torch.where(held[..., None], gathered, self.none)

    def on_stack(self, features: Unpacked, memory: Memory, per_row: int) -> torch.Tensor:
        """(R, P, W) float 0/1: which of the task's nodes some top slot holds."""
        index, held = self._slots(features, memory, per_row)
        R, W = memory.nodes.shape[:2]
        return torch.zeros(R, per_row, W, device=memory.nodes.device).scatter_add_(2, index, held.float()).clamp(max=1)

    def forward(self, h: torch.Tensor, features: Unpacked, memory: Memory) -> torch.Tensor:
        """h (R, P, d): decoder outputs of P states of each of memory's R rows; ``features`` of the R * P
        states, row-major. Returns (R, P, d)."""
        R, P, d = h.shape
        nodes = memory.nodes  # (R, W, d)
        x = self.slots(self.slot_embeddings(features, memory, P).reshape(R, P, SLOTS * d)) \
            + self.ready(features.outputs_ready.reshape(R, P, SLOTS))
        on_stack = self.on_stack(features, memory, P)
        # attention with keys k_n + on_stack * held_key, values v_n + on_stack * held_value, without
        # materialising per-state keys: the held terms enter as one score and one weight per state and node
        q = self.query(h)
        keys = memory.kept((self, "key"), lambda: self.key(nodes))
        values = memory.kept((self, "value"), lambda: self.value(nodes))
        scores = q @ keys.transpose(1, 2) + on_stack * (q @ self.held_key)[..., None]
        scores = scores.masked_fill(~memory.mask[:, None, :], float("-inf")) / d ** 0.5
        attention = scores.softmax(-1)
        pooled = attention @ values + (attention * on_stack).sum(-1, keepdim=True) * self.held_value
        return x + self.out(pooled)


# ------------------------------------------------------------------------------------------- network


class PolicyNetwork(nn.Module):
    """Encoder + decoder + head: ``out_dim`` outputs per state (V logits for a policy, 1 for a flow)."""

    def __init__(self, env: TasmGFNEnv, config: PolicyConfig, out_dim: int):
        super().__init__()
        config = config.resolved(env)
        self.config, self.out_dim = config, out_dim
        self.n_tokens = env.n_actions  # vocabulary size, EOS = token 0
        self.graphs = TaskGraphs(config)
        self.decoder = PrefixDecoder(config, self.n_tokens, max_positions=512)
        d = config.d_model
        self.slot_types = nn.Embedding(SLOTS * SLOT_CLASSES, d)
        self.slot_origins = nn.Embedding(SLOTS * ORIGINS, d)
        self.numbers = nn.Linear(N_NUMBERS, d)
        self.values = ValueReadout(d) if config.value_features else None
        self.head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d), nn.GELU(), nn.Linear(d, out_dim))
        self.bind(env)

    def bind(self, env: TasmGFNEnv) -> None:
        if env.n_actions != self.n_tokens:
            raise PolicyError(f"the env's vocabulary has {env.n_actions} tokens, the policy was built for "
                              f"{self.n_tokens}")
        if self.values is not None and not has_value_state(env):
            raise PolicyError(f"this policy reads the value state, but the env (masking {env.masking!r}) carries "
                              "none: use masking='dataflow' (or value_state=True)")
        self.env = env
        self.max_len = env.max_len
        self.graphs.bind(env.tasks)
        device = self.head[-1].weight.device  # rebinding keeps the network where it is
        self.register_buffer("n_inputs", torch.tensor([s.n_inputs for s in env.specs], device=device),
                             persistent=False)
        self.register_buffer("delta", torch.tensor(env.vocab.delta, dtype=torch.long, device=device),
                             persistent=False)

    @property
    def device(self) -> torch.device:
        return self.head[-1].weight.device

    # ---- pieces shared by every way of evaluating the network
    def memory(self, task: torch.Tensor) -> tuple[Memory, list]:
        memory = self.graphs.memory(task)
        return memory, self.cross_keys_values(memory)

    def cross_keys_values(self, memory: Memory) -> list:
        """Each decoder layer's keys and values of ``memory``'s graph nodes (what its cross-attention reads)."""
        return [layer.memory_kv(memory.nodes) for layer in self.decoder.layers]

    def depths(self, tokens: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        """(B, T + 1) live depth after each prefix of ``tokens`` (B, T) (PAD/EOS change nothing)."""
        change = torch.where(tokens > 0, self.delta[tokens.clamp(0, self.n_tokens - 1)], 0).cumsum(1)
        start = self.n_inputs[task.to(tokens.device)][:, None]
        return torch.cat([start, start + change], 1)

    def readout(self, h: torch.Tensor, features: Unpacked, memory: Memory) -> torch.Tensor:
        """Join the current states' slot types, numbers and value state to decoder outputs h (R, P, d): P
        states for each of memory's R rows, ``features`` of the R * P states row-major. Returns (R * P, out)."""
        features = features.to(h.device)
        R, P, d = h.shape
        slot = torch.arange(SLOTS, device=h.device)
        slots = self.slot_types(slot * SLOT_CLASSES + features.types.clamp(0, SLOT_CLASSES - 1)) \
            + self.slot_origins(slot * ORIGINS + features.origins.clamp(0, ORIGINS - 1))
        x = h.reshape(R * P, d) + slots.sum(1) + self.numbers(features.numbers)
        if self.values is not None:
            x = x + self.values(h, features, memory).reshape(R * P, d)
        return self.head(x)

    def next_outputs(self, previous: torch.Tensor, depth: torch.Tensor, position: int, memory: Memory,
                     memory_kv: list, caches: list[dict], features: Unpacked) -> torch.Tensor:
        """One cached decoding step (sampling): the outputs (B, out_dim), in token order, after the previous
        token (B,) (-1 = BOS) at ``position``, with the live depth (B,) after it; extends ``caches``."""
        x = self.decoder.embed(previous[:, None], depth[:, None], position, memory.pooled)
        return self.readout(self.decoder(x, memory_kv, memory.mask, caches), features, memory)

    def token_order_to_actions(self, out: torch.Tensor) -> torch.Tensor:
        if self.out_dim != self.n_tokens:
            return out
        return torch.cat([out[..., 1:], out[..., :1]], dim=-1)  # EOS (token 0) -> exit (last action)

    # ---- evaluation on arbitrary states (torchgfn's estimator calls)
    def forward(self, packed: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        """Outputs (N, out_dim) on the network's device for packed states (N, ...) of tasks ``task`` (N,); the
        inputs may be on any device (the prefix length is read where they are)."""
        features = unpack(packed, self.max_len)
        n = features.tokens.shape[0]
        if n == 0:
            return torch.zeros(0, self.out_dim, device=self.device)
        width = int(features.length.max()) if n else 0
        # the states of a batch of trajectories share their prefixes: decode each longest prefix once (read
        # on the host, where the inputs are)
        rows, which = shared_prefixes(features.tokens[:, :width], features.length.clamp(0, width), task)
        rows, which = rows.to(self.device), which.to(self.device)
        features = features.to(self.device)
        length = features.length.clamp(0, width)
        tokens, memory = features.tokens[rows, :width], self.graphs.memory(task)
        roots = memory.rows(rows)
        bos = torch.full((len(rows), 1), -1, dtype=torch.long, device=self.device)
        depths = self.depths(tokens, task.to(self.device)[rows])
        x = self.decoder.embed(torch.cat([bos, tokens.clamp(min=0)], 1), depths, 0, roots.pooled)
        h = self.decoder(x, self.cross_keys_values(roots), roots.mask)
        last = h[which, length]
        return self.token_order_to_actions(self.readout(last[:, None], features, memory))

    def sequence(self, tokens: torch.Tensor, task: torch.Tensor, features: Unpacked) -> torch.Tensor:
        """Teacher forcing: outputs after every prefix of ``tokens`` (B, T) in one pass, (B, T + 1, out_dim).
        ``features`` are those of the B * (T + 1) states, position-major per row ((B, T + 1) flattened)."""
        B, T = tokens.shape
        tokens = tokens.to(self.device)
        memory, memory_kv = self.memory(task)
        bos = torch.full((B, 1), -1, dtype=torch.long, device=self.device)
        x = self.decoder.embed(torch.cat([bos, tokens.clamp(min=0)], 1), self.depths(tokens, task), 0,
                               memory.pooled)
        h = self.decoder(x, memory_kv, memory.mask)
        return self.token_order_to_actions(self.readout(h, features, memory)).reshape(B, T + 1, -1)


def condition_task_ids(conditions: torch.Tensor) -> torch.Tensor:
    """Task ids (N,) from torchgfn conditions (..., 1): the float task id, rounded."""
    return conditions.reshape(-1, conditions.shape[-1])[:, 0].round().long()


class _BoundEstimator:
    """What the policy and the flow estimator share: binding to an env, the per-iteration encoding cache."""

    module: PolicyNetwork

    def _forward_trunk(self, states: DiscreteStates, conditions: torch.Tensor) -> torch.Tensor:
        packed = self.preprocessor(states)
        out = self.module(packed, condition_task_ids(conditions))
        # torchgfn combines the outputs with the states' masks: hand them back where the states live
        return out.reshape(*states.batch_shape, out.shape[-1]).to(states.device)

    def rebind(self, env: TasmGFNEnv) -> None:
        """Use the same weights on another env's tasks (its vocabulary must be the same)."""
        self.module.bind(env)
        self.preprocessor = StateFeatures(env)

    @property
    def env(self) -> TasmGFNEnv:
        return self.module.env

    @property
    def device(self) -> torch.device:
        """Where the network runs (move it with ``.to(device)``)."""
        return self.module.device

    def encoding_cache(self):
        """Context manager: embed each task's graph at most once inside (one training iteration)."""
        return self.module.graphs.cached()


class TasmPolicy(_BoundEstimator, ConditionalDiscretePolicyEstimator):
    """The forward policy as a torchgfn ``ConditionalDiscretePolicyEstimator`` (the condition is the task id).
    ``device``: where the network runs (default the CPU; see :func:`resolve_device`)."""

    def __init__(self, env: TasmGFNEnv, config: PolicyConfig | None = None,
                 device: torch.device | str | None = None):
        self.config = (config or PolicyConfig()).resolved(env)
        network = PolicyNetwork(env, self.config, out_dim=env.n_actions)
        super().__init__(network, nn.Identity(), nn.Identity(), env.n_actions, preprocessor=StateFeatures(env))
        self.to(resolve_device(device))


class TasmFlow(_BoundEstimator, ConditionalScalarEstimator):
    """A state flow log F(s | task) for DB and SubTB, with the policy's architecture and one output."""

    def __init__(self, env: TasmGFNEnv, config: PolicyConfig | None = None,
                 device: torch.device | str | None = None):
        self.config = (config or PolicyConfig()).resolved(env)
        network = PolicyNetwork(env, self.config, out_dim=1)
        super().__init__(network, nn.Identity(), nn.Identity(), preprocessor=StateFeatures(env))
        self.to(resolve_device(device))


def resolve_device(device: torch.device | str | None) -> torch.device:
    """``None`` -> the CPU; ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"meta"``, ... -> that device, checked: CUDA
    must be present. The networks run there; the env's states, masks and rewards stay on the host."""
    if device is None:
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise PolicyError(f"device must be a torch device such as 'cpu' or 'cuda:0', got {device!r}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise PolicyError(f"device {device!r}: CUDA is not available here (torch {torch.__version__}); use 'cpu'")
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise PolicyError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) here")
    return resolved


class GraphLogZ(nn.Module):
    """log Z(task): a small graph encoder, mean/max pooled, then a linear map."""

    def __init__(self, env: TasmGFNEnv, config: PolicyConfig | None = None):
        super().__init__()
        config = config or PolicyConfig()
        small = PolicyConfig(d_model=config.d_model // 2 if config.d_model >= 2 * config.heads else config.d_model,
                             heads=config.heads, gnn_layers=2, decoder_layers=1, d_ff=config.d_ff,
                             edge_dim=config.edge_dim)
        self.graphs = TaskGraphs(small)
        self.out = nn.Linear(small.d_model, 1)
        self.input_dim = 1  # torchgfn's ConditionalLogZEstimator checks it
        self.bind(env)

    def bind(self, env: TasmGFNEnv) -> None:
        self.env = env
        self.graphs.bind(env.tasks)

    def forward(self, conditions: torch.Tensor) -> torch.Tensor:
        return self.out(self.graphs.memory(condition_task_ids(conditions)).pooled).to(conditions.device)


def graph_logz(env: TasmGFNEnv, config: PolicyConfig | None = None) -> ConditionalLogZEstimator:
    """The conditional log Z estimator (its own small graph encoder)."""
    return ConditionalLogZEstimator(GraphLogZ(env, config))


def rebind_all(env: TasmGFNEnv, *modules) -> None:
    """Bind every given estimator (policy, flow, log Z; None is skipped) to ``env``'s tasks."""
    for module in modules:
        if module is None:
            continue
        if isinstance(module, _BoundEstimator):
            module.rebind(env)
        elif isinstance(module, ConditionalLogZEstimator) and isinstance(module.module, GraphLogZ):
            module.module.bind(env)
        else:
            raise PolicyError(f"cannot bind a {type(module).__name__} to an env")


@contextlib.contextmanager
def bound_to(env: TasmGFNEnv, *modules) -> Iterator[None]:
    """Inside, the given estimators (policy, flow, log Z) work on ``env``'s tasks; afterwards on their own again."""
    previous = [_env_of(m) for m in modules]
    rebind_all(env, *modules)
    try:
        yield
    finally:
        for module, old in zip(modules, previous):
            if module is not None and old is not None:
                rebind_all(old, module)


def _env_of(module) -> TasmGFNEnv | None:
    if isinstance(module, _BoundEstimator):
        return module.env
    if isinstance(module, ConditionalLogZEstimator) and isinstance(module.module, GraphLogZ):
        return module.module.env
    return None


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


__all__ = ["GraphEncoder", "GraphLogZ", "Memory", "PolicyConfig", "PolicyError", "PolicyNetwork", "PrefixDecoder",
           "StateFeatures", "TasmFlow", "ValueReadout", "has_value_state", "pack_state", "value_columns", "TasmPolicy", "bound_to", "count_parameters", "graph_logz", "rebind_all", "resolve_device", "condition_task_ids", "select_cache_rows", "unpack"]
