"""The beam's incremental prior (:class:`CachedPrior`): the policy's log-probabilities of the next token for the
beams of one search, one cached decoder step per depth.

    prior = CachedPrior(policy, task)       # search(env, task, width, ..., follow=prior.follow)
    log_probs = prior(beam, mask)           # (B, V), as agents.beam.policy_log_probs gives them
"""

from __future__ import annotations

import torch

from tasm_env.emission.state import EmissionState
from tasm_env.errors import TasmError

from .policy import Memory, TasmPolicy, select_cache_rows, state_features


class BeamError(TasmError):
    """The beam was configured wrongly (width, env without a value state; the cached prior called on rows of
    different lengths or without the beam's parents)."""


class CachedPrior:
    """:func:`agents.beam.policy_log_probs` for the beams of one search over task ``task``, incrementally: the
    task's graph is encoded once, and each depth costs one cached decoder step per row
    (:meth:`PolicyNetwork.next_outputs`) instead of a pass over every row's whole prefix. The search hands it
    each beam's parents (``follow``, the :func:`agents.beam.search` hook) so that every child continues from its
    parent's key/value caches and live depth. Call it once per depth, on beams whose rows all have the same
    length (as the search's do)."""

    @torch.no_grad()
    def __init__(self, policy: TasmPolicy, task: int):
        self.net, self.env = policy.module, policy.env
        self.device = self.net.device  # where the network runs (read once: a property lookup per call otherwise)
        self.memory, self.memory_kv = self.net.memory(torch.tensor([task]))
        self.by_size: dict[int, tuple[Memory, list]] = {}  # the memory's rows for a beam of B (derived tensors
        # kept) and its keys and values
        self.caches: list[dict] = [{} for _ in self.net.decoder.layers]
        self.parents: torch.Tensor | None = None
        self.depth = self.net.n_inputs[torch.tensor([task], device=self.net.device)]  # live depth, rows last scored

    def follow(self, parents: torch.Tensor) -> None:
        """The next beam's row ``i`` extends row ``parents[i]`` of the beam scored last by one token."""
        self.parents = parents

    @torch.inference_mode()
    def __call__(self, state: EmissionState, mask: torch.Tensor) -> torch.Tensor:
        """(B, V) log-probabilities of the next token under ``mask``, as ``policy_log_probs`` gives them."""
        net, device, B = self.net, self.device, len(state)
        features = state_features(self.env, state)
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
        if B not in self.by_size:  # every row is the search's one task; kept with its derived tensors for this B
            rows = self.memory.rows(torch.zeros(B, dtype=torch.long, device=device))
            self.by_size[B] = (Memory(rows.nodes, rows.mask, rows.pooled, derived={}),
                               [(k.expand(B, -1, -1, -1), v.expand(B, -1, -1, -1)) for k, v in self.memory_kv])
        memory, memory_kv = self.by_size[B]
        out = net.next_outputs(previous, self.depth, length, memory, memory_kv, self.caches, features)
        return out.to(mask.device).masked_fill(~mask, float("-inf")).log_softmax(1)


__all__ = ["CachedPrior", "BeamError"]
