"""The stage-2 guard: a replay of verified blocks that never empties, and val-based selection with early stops.

Why (``docs/results.md``, "tb at the full 30 minutes"): once a batch holds no valid block, trajectory balance
only matches log Z to the invalid floor and pushes mass among invalid blocks; nothing pulls the policy back.

* :class:`ValidReplay` holds (task index, program) pairs that verified: seeded with the known-good experts
  (baselines, recorded optima) and grown with the run's own verified samples. Nothing is ever removed except to
  make room for a cheaper block, and the seeds are never evicted, so once seeded it never empties and
  :meth:`ValidReplay.draw` returns the same fixed number every time.
* :class:`Selection` keeps the best validation check (score, then share of tasks improved, then validity; the
  earlier check on an exact tie) and says when to stop early: no improvement for ``patience`` checks, or no
  valid training sample for ``dead_iterations`` iterations in a row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from tasm_env.asm import Program
from tasm_env.errors import TasmError


class GuardError(TasmError):
    """A guard setting is out of range."""


@dataclass
class ValidReplay:
    """At most ``capacity`` verified (task index, program) pairs beyond the seeds, one per distinct program.

    ``add(task, program, cost)`` stores a verified block; when full, the dearest of the run's own entries of
    the task holding the most of them makes room (the seeds are never evicted). ``draw(n, rng)`` gives ``n`` pairs
    (with replacement, uniform), or none while the replay is empty."""

    capacity: int = 2000
    _seeds: list[tuple[int, Program]] = field(default_factory=list, init=False)
    _own: dict[tuple[int, str], tuple[int, Program]] = field(default_factory=dict, init=False)  # key -> (cost, program)
    _keys: set[tuple[int, str]] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        if self.capacity < 0:
            raise GuardError(f"valid replay capacity must be >= 0, got {self.capacity}")

    def seed(self, pairs: Sequence[tuple[int, Program]]) -> None:
        """Add known-good blocks that stay for the whole run (they are verified by construction: baselines and
        recorded optima)."""
        for task, program in pairs:
            key = (int(task), str(program))
            if key not in self._keys:
                self._keys.add(key)
                self._seeds.append((int(task), program))

    def add(self, task: int, program: Program, cost: int) -> bool:
        """Store a block that verified at ``cost``; True if it is in the replay afterwards."""
        key = (int(task), str(program))
        if key in self._keys:
            return True
        if len(self._own) >= self.capacity:
            if not self._own:
                return False
            # make room in the task holding the most entries (so every task keeps some), dropping its dearest
            counts: dict[int, int] = {}
            for t, _ in self._own:
                counts[t] = counts.get(t, 0) + 1
            crowded = max(counts, key=counts.get)
            worst = max((k for k in self._own if k[0] == crowded), key=lambda k: self._own[k][0])
            del self._own[worst]
            self._keys.discard(worst)
        self._own[key] = (int(cost), program)
        self._keys.add(key)
        return True

    def __len__(self) -> int:
        return len(self._seeds) + len(self._own)

    @property
    def own(self) -> int:
        """How many of the entries the run found itself."""
        return len(self._own)

    def draw(self, n: int, rng: np.random.Generator) -> list[tuple[int, Program]]:
        """``n`` pairs drawn uniformly with replacement; ``[]`` if ``n`` is 0 or nothing is stored yet."""
        entries = self._seeds + [(key[0], program) for key, (_, program) in self._own.items()]
        if n <= 0 or not entries:
            return []
        return [entries[i] for i in rng.choice(len(entries), size=n, replace=True)]


@dataclass
class Selection:
    """Best-by-val bookkeeping and the early-stop rules (0 turns a rule off)."""

    patience: int = 0
    dead_iterations: int = 0
    best: tuple[float, ...] | None = None
    checks_since_best: int = 0
    dead_run: int = 0

    def __post_init__(self) -> None:
        if self.patience < 0 or self.dead_iterations < 0:
            raise GuardError("patience and dead_iterations must be >= 0 (0 turns the rule off)")

    @staticmethod
    def rank(scores: Mapping[str, float]) -> tuple[float, ...]:
        """What "better" means: score, then share of tasks improved, then validity (NaN counts as worst)."""
        return tuple(-math.inf if math.isnan(scores.get(k, math.nan)) else float(scores[k])
                     for k in ("score", "improved", "validity"))

    @property
    def best_score(self) -> float:
        """The best check's score (-inf before the first)."""
        return -math.inf if self.best is None else self.best[0]

    def restore(self, best_score: float) -> None:
        """Resume from a checkpoint that recorded only the best score: its tie-breaks are unknown, so a later
        check must beat the score itself to count as better (a tie keeps the earlier weights, as always)."""
        self.best, self.checks_since_best = (float(best_score), math.inf, math.inf), 0

    def offer(self, scores: Mapping[str, float]) -> bool:
        """Record one validation check; True if it is the new best (strictly better: an exact tie keeps the
        earlier, less-trained weights)."""
        rank = self.rank(scores)
        if self.best is None or rank > self.best:
            self.best, self.checks_since_best = rank, 0
            return True
        self.checks_since_best += 1
        return False

    def observe(self, valid_share: float) -> None:
        """Record one training iteration's share of valid fresh samples."""
        self.dead_run = self.dead_run + 1 if valid_share <= 0 else 0

    def stop_reason(self) -> str | None:
        """Why to stop now, or None to go on."""
        if self.patience and self.checks_since_best >= self.patience:
            return f"val did not improve for {self.checks_since_best} checks"
        if self.dead_iterations and self.dead_run >= self.dead_iterations:
            return f"no valid training sample for {self.dead_run} iterations"
        return None


__all__ = ["GuardError", "Selection", "ValidReplay"]
