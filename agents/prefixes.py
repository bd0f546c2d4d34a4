"""Shared prefixes: a batch of states whose prefixes are prefixes of one another (every state of a batch of
trajectories) needs the causal decoder run once per longest prefix, not once per state."""

from __future__ import annotations

import torch


def shared_prefixes(tokens: torch.Tensor, length: torch.Tensor, task: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """``rows`` (R,) and ``which`` (N,) for N states with prefixes ``tokens`` (N, T) of ``length`` (N,) and task
    ids ``task`` (N,): state i's prefix is the first ``length[i]`` tokens of state ``rows[which[i]]``, of the same
    task. The decoder is causal, so its output at position ``length[i]`` of that row is state i's own."""
    n = tokens.shape[0]
    tokens, length, task = tokens.cpu().tolist(), length.cpu().tolist(), task.cpu().tolist()
    seen: dict[tuple, int] = {}  # (task, prefix) -> index into rows
    rows, which = [], [0] * n
    for i in sorted(range(n), key=lambda i: -length[i]):  # longest first: a shorter prefix finds its row
        j = seen.get((task[i], tuple(tokens[i][: length[i]])))
        if j is None:
            j = len(rows)
            rows.append(i)
            row = tokens[i]
            for k in range(length[i] + 1):
                seen.setdefault((task[i], tuple(row[:k])), j)
        which[i] = j
    return torch.tensor(rows, dtype=torch.long), torch.tensor(which, dtype=torch.long)


__all__ = ["shared_prefixes"]
