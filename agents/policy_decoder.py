"""The policy's prefix side (:class:`PrefixDecoder`): pre-norm causal transformer layers over ``[BOS] + prefix``;
each position embeds its token, its position and the live stack depth after it (the block's inputs plus the
running sum of the tokens' stack effects); every layer cross-attends to the task's nodes. Because the decoder is
causal, the output at position ``p`` depends only on the first ``p`` tokens: one pass over a whole sequence
scores every step of it (teacher forcing), and sampling extends a key/value cache one token at a time
(:func:`select_cache_rows` picks a batch's rows of those caches, for the beam)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .policy_config import PolicyConfig

MAX_DEPTH = 64


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
        """``memory_mask`` (B, 1, 1, N): the nodes each row attends to."""
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
        x = x + self._drop(self.self_out(_merge(F.scaled_dot_product_attention(q, k, v, attn_mask=causal))))
        q = _heads(self.cross_q(self.norm_cross(x)), self.heads)
        attn = F.scaled_dot_product_attention(q, *memory_kv, attn_mask=memory_mask)
        x = x + self._drop(self.cross_out(_merge(attn)))
        return x + self._drop(self.ff(self.norm_ff(x)))

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        # the module call only where it does something: the cached steps run in eval mode, one call per depth
        return self.dropout(x) if self.training and self.dropout.p > 0 else x


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
        memory_mask = memory_mask[:, None, None, :]  # broadcast over heads and queries, once for every layer
        for i, layer in enumerate(self.layers):
            x = layer(x, memory_kv[i], memory_mask, None if caches is None else caches[i])
        return self.norm(x)


__all__ = ["MAX_DEPTH", "DecoderLayer", "PrefixDecoder", "select_cache_rows"]
