"""The policy's prefix side (:class:`PrefixDecoder`): pre-norm causal transformer layers over ``[BOS] + prefix``;
each position embeds its token, its position and the live stack depth after it (the block's inputs plus the
running sum of the tokens' stack effects); every layer cross-attends to the task's nodes. Because the decoder is
causal, the output at position ``p`` depends only on the first ``p`` tokens: one pass over a whole sequence
scores every step of it (teacher forcing), and sampling extends a key/value cache one token at a time
(:class:`KVCache`; :meth:`KVCache.follow` continues other rows of it, for the beam)."""

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
                cache: "KVCache | None" = None, index: int = 0) -> torch.Tensor:
        """``memory_mask`` (B, 1, 1, N): the nodes each row attends to. ``cache``: the keys and values of the
        positions before ``x``'s, this layer's being ``index`` of it (grown for ``x``'s positions by the caller,
        :meth:`KVCache.grow`)."""
        qkv, past = self.qkv(self.norm_self(x)), 0
        if cache is None:
            q, k, v = (_heads(t, self.heads) for t in qkv.chunk(3, dim=-1))
        else:
            past, d = cache.length - x.shape[1], x.shape[2]
            q, (k, v) = _heads(qkv[..., :d], self.heads), cache.write(index, qkv[..., d:])
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


class KVCache:
    """The decoder's keys and values of the positions decoded so far, for a batch of rows: every layer's in one
    buffer (B, layers, 2, heads, T, d_head), each layer attending over views of it. A step allocates it its new
    positions longer (:meth:`grow`) and copies the cached rows into it in one ``index_select`` (the rows
    :meth:`follow` names: a beam's children continue their parents), then each layer writes its new keys and
    values in place (:meth:`write`): one copy of the cache a step, where a re-index and a ``cat`` per layer and
    tensor copied it twice. The views hold the same floats as those tensors, so attention over them gives the
    same outputs."""

    def __init__(self, layers: int):
        self.layers = layers
        self.buffer: torch.Tensor | None = None
        self.rows: torch.Tensor | None = None

    @property
    def length(self) -> int:
        """Positions cached (those grown for included)."""
        return 0 if self.buffer is None else self.buffer.shape[4]

    def follow(self, rows: torch.Tensor) -> None:
        """The next step's row ``i`` continues cached row ``rows[i]`` (repeats allowed; by default row ``i``)."""
        self.rows = rows

    def grow(self, batch: int, new: int, heads: int, d_head: int, like: torch.Tensor) -> None:
        """Room for ``new`` more positions of ``batch`` rows (the rows followed, else the rows cached), on
        ``like``'s device and dtype."""
        past = self.length
        buffer = like.new_empty(batch, self.layers, 2, heads, past + new, d_head)
        if past and self.rows is None:
            buffer[..., :past, :] = self.buffer
        elif past:  # index_select, not advanced indexing: the rows copied as whole blocks, straight into place
            torch.index_select(self.buffer, 0, self.rows, out=buffer[..., :past, :])
        self.buffer, self.rows = buffer, None

    def write(self, layer: int, kv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store layer ``layer``'s keys and values of the positions grown for, (B, new, 2 * d_model) as its
        projection gives them (keys first, heads in order); returns its keys and values of every position
        (B, heads, T, d_head)."""
        B, new, _ = kv.shape
        heads, d_head = self.buffer.shape[3], self.buffer.shape[5]
        self.buffer[:, layer, :, :, -new:] = kv.view(B, new, 2, heads, d_head).permute(0, 2, 3, 1, 4)  # one copy
        return self.buffer[:, layer, 0], self.buffer[:, layer, 1]


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
                cache: KVCache | None = None) -> torch.Tensor:
        """``cache``: the positions before ``x``'s, extended by them."""
        if cache is not None:
            heads = self.layers[0].heads
            cache.grow(x.shape[0], x.shape[1], heads, x.shape[2] // heads, x)
        memory_mask = memory_mask[:, None, None, :]  # broadcast over heads and queries, once for every layer
        for i, layer in enumerate(self.layers):
            x = layer(x, memory_kv[i], memory_mask, cache, i)
        return self.norm(x)


__all__ = ["MAX_DEPTH", "DecoderLayer", "KVCache", "PrefixDecoder"]
