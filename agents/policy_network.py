"""The policy's network (:class:`PolicyNetwork`): the graph encoder, the prefix decoder, the state features
joined after the decoder, and a head with ``out_dim`` outputs per state (V logits for a policy, 1 for a flow).

What only the current state knows (the types of the top 16 stack slots, the budget left, the I/O counters) joins
*after* the decoder, at the position being predicted, so the three ways of evaluating the network (on arbitrary
states, :meth:`PolicyNetwork.forward`; teacher forcing, :meth:`PolicyNetwork.sequence`; one cached step,
:meth:`PolicyNetwork.next_outputs`) agree exactly.

**Value state** (:class:`ValueReadout`, on when the env carries one, i.e. under ``masking="dataflow"``): the
env knows, on its probe inputs, which task-graph node each of the top 16 slots holds (``slot_nodes``) and
which outputs are in place (``outputs_ready``). The readout gathers the encoder's embedding of each slot's node
(a learned "none" vector where the slot holds no graph value), adds the outputs-ready bits, and attends from
the decoder output over the task's nodes with a learned mark on those the stack already holds; so the policy
sees what is computed and what is still missing, and the gradients reach the encoder through the gather.
``PolicyConfig.value_features`` records whether a network has it; a checkpoint written before it existed loads
as a network without it.
"""

from __future__ import annotations

import torch
from torch import nn

from tasm_env.envs.gfn import TasmGFNEnv

from .policy_config import PolicyConfig, PolicyError, has_value_state
from .policy_decoder import PrefixDecoder
from .policy_encoder import Memory, TaskGraphs
from .policy_states import N_NUMBERS, ORIGINS, SLOT_CLASSES, SLOTS, Unpacked, unpack
from .prefixes import shared_prefixes


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
    def _slots(features: Unpacked, memory: Memory, per_row: int,
               at: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Each state's slots' node indices (N, 16), clamped into the memory's width, whether each holds a node,
        and each state's memory row (N,): N = R * P states row-major, or the states ``at`` (flat indices into
        R * P) when given, ``features`` being of those states only."""
        R, W = memory.nodes.shape[:2]
        slot_nodes = features.slot_nodes.reshape(-1, SLOTS)
        row = (torch.arange(R * per_row, device=slot_nodes.device) if at is None else at) // per_row
        return slot_nodes.clamp(0, W - 1), slot_nodes >= 0, row

    def slot_embeddings(self, features: Unpacked, memory: Memory, per_row: int,
                        at: torch.Tensor | None = None, slots: tuple | None = None) -> torch.Tensor:
        """(R, P, 16, d) (or (N, 16, d) for the states ``at``): the encoder's embedding of the node each slot
        holds, the ``none`` vector where -1. ``slots``: :meth:`_slots` of these arguments, if computed."""
        index, held, row = slots or self._slots(features, memory, per_row, at)
        R, W, d = memory.nodes.shape
        # one pick from the rows' nodes with ``none`` appended as a last row: the same values as a gather and
        # a where, without the (N, 16, d) where and its backward
        table = memory.kept((self, "table"), lambda: torch.cat([memory.nodes.reshape(R * W, d), self.none[None]]))
        flat = torch.where(held, row[:, None] * W + index, R * W)
        picked = table.index_select(0, flat.reshape(-1))
        return picked.reshape(-1, SLOTS, d) if at is not None else picked.reshape(R, per_row, SLOTS, d)

    def on_stack(self, features: Unpacked, memory: Memory, per_row: int,
                 at: torch.Tensor | None = None, slots: tuple | None = None) -> torch.Tensor:
        """(R, P, W) float 0/1: which of the task's nodes some top slot holds (0 at the states not ``at``)."""
        index, held, _ = slots or self._slots(features, memory, per_row, at)
        R, W = memory.nodes.shape[:2]
        held_nodes = torch.zeros(len(index), W, device=memory.nodes.device).scatter_add_(1, index, held.float())
        if at is None:
            return held_nodes.clamp(max=1).reshape(R, per_row, W)
        return held_nodes.new_zeros(R * per_row, W).index_copy_(0, at, held_nodes.clamp(max=1)).reshape(R, per_row, W)

    def forward(self, h: torch.Tensor, features: Unpacked, memory: Memory,
                at: torch.Tensor | None = None) -> torch.Tensor:
        """h (R, P, d): decoder outputs of P states of each of memory's R rows; ``features`` of the R * P
        states, row-major, or of the states ``at`` only (flat indices into R * P) when given. Returns (R, P, d),
        or (N, d) for the states ``at``."""
        R, P, d = h.shape
        nodes, slots = memory.nodes, self._slots(features, memory, P, at)  # (R, W, d); the slots' nodes, once
        x = self.slots(self.slot_embeddings(features, memory, P, at, slots).reshape(-1, SLOTS * d)) \
            + self.ready(features.outputs_ready.reshape(-1, SLOTS))
        on_stack = self.on_stack(features, memory, P, at, slots)
        # attention with keys k_n + on_stack * held_key, values v_n + on_stack * held_value, without
        # materialising per-state keys: the held terms enter as one score and one weight per state and node
        q = self.query(h)
        keys = memory.kept((self, "key"), lambda: self.key(nodes))
        values = memory.kept((self, "value"), lambda: self.value(nodes))
        scores = q @ keys.transpose(1, 2) + on_stack * (q @ self.held_key)[..., None]
        scores = scores.masked_fill(memory.kept((self, "unmasked"), lambda: ~memory.mask[:, None, :]),
                                    float("-inf")) / d ** 0.5
        attention = scores.softmax(-1)
        pooled = attention @ values + (attention * on_stack).sum(-1, keepdim=True) * self.held_value
        if at is None:
            return x.reshape(R, P, d) + self.out(pooled)
        return x + self.out(pooled.reshape(R * P, d).index_select(0, at))


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
        # each slot's first row of the slot-type and slot-origin embeddings (slot-major tables)
        slot = torch.arange(SLOTS, device=device)
        self.register_buffer("type_base", slot * SLOT_CLASSES, persistent=False)
        self.register_buffer("origin_base", slot * ORIGINS, persistent=False)

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

    def readout(self, h: torch.Tensor, features: Unpacked, memory: Memory,
                at: torch.Tensor | None = None) -> torch.Tensor:
        """Join the current states' slot types, numbers and value state to decoder outputs h (R, P, d): P
        states for each of memory's R rows, ``features`` of the R * P states row-major. Returns (R * P, out).
        ``at`` (N,): only the states at these flat indices into R * P (``features`` of those states only), say
        the real positions of padded rows; returns (N, out)."""
        features = features.to(h.device)
        R, P, d = h.shape
        slots = self.slot_types(self.type_base + features.types.clamp(0, SLOT_CLASSES - 1)) \
            + self.slot_origins(self.origin_base + features.origins.clamp(0, ORIGINS - 1))
        picked = h.reshape(R * P, d) if at is None else h.reshape(R * P, d).index_select(0, at)
        x = picked + slots.sum(1) + self.numbers(features.numbers)
        if self.values is not None:
            x = x + self.values(h, features, memory, at).reshape(-1, d)
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

    def sequence(self, tokens: torch.Tensor, task: torch.Tensor, features: Unpacked,
                 at: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher forcing: outputs after every prefix of ``tokens`` (B, T) in one pass, (B, T + 1, out_dim).
        ``features`` are those of the B * (T + 1) states, position-major per row ((B, T + 1) flattened). ``at``
        (N,): only the states at these flat indices into B * (T + 1), ``features`` of those states only (say
        each row's real states, not its padding): returns (N, out_dim)."""
        B, T = tokens.shape
        tokens = tokens.to(self.device)
        memory, memory_kv = self.memory(task)
        bos = torch.full((B, 1), -1, dtype=torch.long, device=self.device)
        x = self.decoder.embed(torch.cat([bos, tokens.clamp(min=0)], 1), self.depths(tokens, task), 0,
                               memory.pooled)
        h = self.decoder(x, memory_kv, memory.mask)
        if at is not None:
            return self.token_order_to_actions(self.readout(h, features, memory, at.to(self.device)))
        return self.token_order_to_actions(self.readout(h, features, memory)).reshape(B, T + 1, -1)


__all__ = ["PolicyNetwork", "ValueReadout"]
