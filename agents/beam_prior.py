"""The beam's incremental prior (:class:`CachedPrior`): the policy's log-probabilities of the next token for the
beams of one search, one cached decoder step per depth, and that step as plain tensor operations
(:class:`FusedStep`).

    prior = CachedPrior(policy, task)       # search(env, task, width, ..., follow=prior.follow)
    log_probs = prior(beam, mask)           # (B, V), as agents.beam.policy_log_probs gives them

The fused step runs the same kernels on the same shapes as :meth:`PolicyNetwork.next_outputs` (so the same
floats, bit for bit: ``tests/test_beam_prior.py``), without the modules' call machinery and with what depends
only on the search's one task computed once: its weights read out of the modules, the graph memory's
cross-attention keys and values and the value readout's node keys and values, expanded for a beam size once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tasm_env.emission.state import EmissionState
from tasm_env.errors import TasmError

from .policy import Memory, TasmPolicy, pack_state, select_cache_rows, unpack
from .policy_decoder import MAX_DEPTH
from .policy_states import ORIGINS, SLOT_CLASSES, SLOTS, Unpacked


class BeamError(TasmError):
    """The beam was configured wrongly (width, env without a value state; the cached prior called on rows of
    different lengths or without the beam's parents)."""


def _norm(module: nn.LayerNorm) -> tuple:
    return module.normalized_shape, module.weight, module.bias, module.eps


def _linear(module: nn.Linear) -> tuple[torch.Tensor, torch.Tensor | None]:
    return module.weight, module.bias


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    B, T, d = x.shape
    return x.view(B, T, heads, d // heads).transpose(1, 2)


def _merge(x: torch.Tensor) -> torch.Tensor:
    B, H, T, dh = x.shape
    return x.transpose(1, 2).reshape(B, T, H * dh)


class FusedStep:
    """:meth:`PolicyNetwork.next_outputs` for the rows of one task's beam (every row's memory is the task's):
    the same operations in the same order on the same shapes, as functional calls on the modules' tensors.
    Built once per search; :meth:`__call__` once per depth."""

    def __init__(self, net, memory: Memory, memory_kv: list):
        decoder = net.decoder
        self.heads = net.config.heads
        self.memory, self.memory_kv = memory, memory_kv  # one row: the task's
        self.token, self.position, self.depth = decoder.token.weight, decoder.position.weight, decoder.depth.weight
        self.layers = [(_norm(l.norm_self), _linear(l.qkv), _linear(l.self_out), _norm(l.norm_cross),
                        _linear(l.cross_q), _linear(l.cross_out), _norm(l.norm_ff), _linear(l.ff[0]),
                        l.ff[1].approximate, _linear(l.ff[2])) for l in decoder.layers]
        self.final = _norm(decoder.norm)
        slot = torch.arange(SLOTS, device=net.device)
        self.slot_types, self.slot_origins = net.slot_types.weight, net.slot_origins.weight
        self.type_base, self.origin_base = slot * SLOT_CLASSES, slot * ORIGINS
        self.numbers = _linear(net.numbers)
        values = net.values
        self.values = None if values is None else (
            values.none, _linear(values.slots), _linear(values.ready), _linear(values.query), _linear(values.out),
            values.held_key, values.held_value, values.key, values.value)
        head = net.head
        self.head = (_norm(head[0]), _linear(head[1]), head[2].approximate, _linear(head[3]))
        self.by_size: dict[int, tuple] = {}

    def _for_size(self, B: int) -> tuple:
        """What every step of a beam of ``B`` rows reads: the memory's rows, the cross-attention keys and values
        and mask, the value readout's node keys and values (computed on the B rows, as the module path does)."""
        kept = self.by_size.get(B)
        if kept is None:
            device = self.memory.nodes.device
            rows = self.memory.rows(torch.zeros(B, dtype=torch.long, device=device))
            kv = [(k.expand(B, -1, -1, -1), v.expand(B, -1, -1, -1)) for k, v in self.memory_kv]
            keys = values = None
            if self.values is not None:
                keys, values = self.values[7](rows.nodes), self.values[8](rows.nodes)
            kept = self.by_size[B] = (rows, kv, rows.mask[:, None, None, :], keys, values)
        return kept

    def __call__(self, previous: torch.Tensor, depth: torch.Tensor, position: int, caches: list[dict],
                 features: Unpacked) -> torch.Tensor:
        """The outputs (B, V) in token order after ``previous`` (B,) (-1 = BOS) at ``position`` with live depth
        ``depth`` (B,) after it; extends ``caches`` (one dict per layer) as the module path does."""
        B = previous.shape[0]
        rows, kv, cross_mask, node_keys, node_values = self._for_size(B)
        p = min(position, self.position.shape[0] - 1)
        x = F.embedding(previous[:, None] + 1, self.token) + self.position[p:p + 1][None] \
            + F.embedding(depth[:, None].clamp(0, MAX_DEPTH), self.depth)
        if position == 0 and rows.pooled is not None:
            x = torch.cat([x[:, :1] + rows.pooled[:, None], x[:, 1:]], 1)
        H = self.heads
        for (n1, qkv, so, n2, cq, co, n3, f1, approximate, f2), cache, (mk, mv) in zip(self.layers, caches, kv):
            q, k, v = (_heads(t, H) for t in F.linear(F.layer_norm(x, *n1[:3], n1[3]), *qkv).chunk(3, dim=-1))
            if "k" in cache:
                k, v = torch.cat([cache["k"], k], 2), torch.cat([cache["v"], v], 2)
            cache["k"], cache["v"] = k, v
            x = x + F.linear(_merge(F.scaled_dot_product_attention(q, k, v)), *so)
            q = _heads(F.linear(F.layer_norm(x, *n2[:3], n2[3]), *cq), H)
            x = x + F.linear(_merge(F.scaled_dot_product_attention(q, mk, mv, attn_mask=cross_mask)), *co)
            x = x + F.linear(F.gelu(F.linear(F.layer_norm(x, *n3[:3], n3[3]), *f1), approximate=approximate), *f2)
        h = F.layer_norm(x, *self.final[:3], self.final[3])
        return self._readout(h, features, rows, node_keys, node_values)

    def _readout(self, h: torch.Tensor, features: Unpacked, memory: Memory, node_keys, node_values) -> torch.Tensor:
        """:meth:`PolicyNetwork.readout` for P = 1 state per row."""
        R, P, d = h.shape
        slots = F.embedding(self.type_base + features.types.clamp(0, SLOT_CLASSES - 1), self.slot_types) \
            + F.embedding(self.origin_base + features.origins.clamp(0, ORIGINS - 1), self.slot_origins)
        x = h.reshape(R * P, d) + slots.sum(1) + F.linear(features.numbers, *self.numbers)
        if self.values is not None:
            x = x + self._values(h, features, memory, node_keys, node_values).reshape(R * P, d)
        norm, first, approximate, last = self.head
        return F.linear(F.gelu(F.linear(F.layer_norm(x, *norm[:3], norm[3]), *first), approximate=approximate), *last)

    def _values(self, h, features, memory, keys, values) -> torch.Tensor:
        """:class:`ValueReadout`'s forward."""
        none, slots_w, ready_w, query_w, out_w, held_key, held_value = self.values[:7]
        R, P, d = h.shape
        nodes = memory.nodes
        slot_nodes = features.slot_nodes.reshape(R, P, SLOTS)
        index, held = slot_nodes.clamp(0, nodes.shape[1] - 1), slot_nodes >= 0
        gathered = nodes.gather(1, index.reshape(R, -1, 1).expand(-1, -1, d)).reshape(*index.shape, d)
        embedded = torch.where(held[..., None], gathered, none)
        x = F.linear(embedded.reshape(R, P, SLOTS * d), *slots_w) \
            + F.linear(features.outputs_ready.reshape(R, P, SLOTS), *ready_w)
        on_stack = torch.zeros(R, P, nodes.shape[1], device=nodes.device).scatter_add_(2, index, held.float()) \
            .clamp(max=1)
        q = F.linear(h, *query_w)
        scores = q @ keys.transpose(1, 2) + on_stack * (q @ held_key)[..., None]
        scores = scores.masked_fill(~memory.mask[:, None, :], float("-inf")) / d ** 0.5
        attention = scores.softmax(-1)
        pooled = attention @ values + (attention * on_stack).sum(-1, keepdim=True) * held_value
        return x + F.linear(pooled, *out_w)


class CachedPrior:
    """:func:`agents.beam.policy_log_probs` for the beams of one search over task ``task``, incrementally: the
    task's graph is encoded once, and each depth costs one cached decoder step per row (:class:`FusedStep`, or
    :meth:`PolicyNetwork.next_outputs` with ``fused=False``: the same floats) instead of a pass over every row's
    whole prefix. The search hands it each beam's parents (``follow``, the :func:`agents.beam.search` hook) so
    that every child continues from its parent's key/value caches. Call it once per depth, on beams whose rows
    all have the same length (as the search's do)."""

    @torch.no_grad()
    def __init__(self, policy: TasmPolicy, task: int, *, fused: bool = True):
        self.net, self.env = policy.module, policy.env
        self.memory, self.memory_kv = self.net.memory(torch.tensor([task]))
        self.step = FusedStep(self.net, self.memory, self.memory_kv) if fused else None
        self.by_size: dict[int, Memory] = {}  # the module path's memory rows for a beam of B, with derived tensors
        self.caches: list[dict] = [{} for _ in self.net.decoder.layers]
        self.parents: torch.Tensor | None = None
        self.depth = self.net.n_inputs[torch.tensor([task], device=self.net.device)]  # live depth, rows last scored

    def follow(self, parents: torch.Tensor) -> None:
        """The next beam's row ``i`` extends row ``parents[i]`` of the beam scored last by one token."""
        self.parents = parents

    @torch.inference_mode()
    def __call__(self, state: EmissionState, mask: torch.Tensor) -> torch.Tensor:
        """(B, V) log-probabilities of the next token under ``mask``, as ``policy_log_probs`` gives them."""
        net, device, B = self.net, self.net.device, len(state)
        features = unpack(pack_state(self.env, state), self.env.max_len)
        length = int(features.length[0]) if B else 0
        if bool((features.length != length).any()):
            raise BeamError("the cached prior scores beams whose rows all have the same length")
        # the step's input is the last token emitted (BOS at the root) at its position, with the depth after it:
        # the parent's plus the token's stack effect (what PolicyNetwork.depths sums over the prefix)
        if length:
            if self.parents is None or len(self.parents) != B:
                raise BeamError("the cached prior needs the beam's parents (search(..., follow=prior.follow))")
            parents = self.parents.to(device)
            self.caches = select_cache_rows(self.caches, parents)
            previous = features.tokens[:, length - 1].to(device).clamp(min=0)
            change = torch.where(previous > 0, net.delta[previous.clamp(max=net.n_tokens - 1)], 0)
            self.depth = self.depth.index_select(0, parents) + change
        else:
            previous = torch.full((B,), -1, dtype=torch.long, device=device)
            self.depth = self.depth.expand(B)
        self.parents = None
        depth = self.depth
        if self.step is not None:
            out = self.step(previous, depth, length, self.caches, features.to(device))
        else:
            memory = self.by_size.get(B)
            if memory is None:  # every row is the search's one task; kept with its derived tensors for this B
                rows = self.memory.rows(torch.zeros(B, dtype=torch.long, device=device))
                memory = self.by_size[B] = Memory(rows.nodes, rows.mask, rows.pooled, derived={})
            memory_kv = [(k.expand(B, -1, -1, -1), v.expand(B, -1, -1, -1)) for k, v in self.memory_kv]
            out = net.next_outputs(previous, depth, length, memory, memory_kv, self.caches, features)
        return out.to(mask.device).masked_fill(~mask, float("-inf")).log_softmax(1)


__all__ = ["CachedPrior", "FusedStep", "BeamError"]
