"""The constants the exact search may push or add: what its optimality proof is relative to.

A proof of optimality only covers programs whose ``push``/``addi`` constants are in the searched set, so the
set must contain at least every constant an agent can emit for the task:

* the emission vocabulary's fixed constants (:data:`PUSH_CONSTANTS`, :data:`ADDI_CONSTANTS`, defined here
  and imported by the vocabulary as its defaults; a test checks they agree), the baseline's own literals and
  the :func:`slot_candidates` the vocabulary's constant slots are bound to (literals first, then negations
  and pairwise folds in its free slots);
* folded constants: the literals' negations, their pairwise sums, differences and products, and every value
  the baseline computes that is the same on every test;
* solved constants (:func:`solve_constants`): a constant ``c`` such that a final ``push c``, ``addi c`` or
  ``push c mul`` turns a value the search has reached into one of the goal's values on every fingerprint
  test. The driver adds them between iterations and restarts the proof with the larger set.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple, Sequence

import numpy as np

from ... import batch
from ... import field as F
from ...asm import Program
from ...field import P
from ...verify import Verifier
from .moves import FIXED_CONSTANTS
from .pure import batch_inverse

PUSH_CONSTANTS: tuple[int, ...] = (-1, *range(11), 16, 32, (1 << 32) - 1, 1 << 32)
"""Fixed ``push`` constants of the emission vocabulary's default (``Vocabulary.default``, which imports them):
-1, 0..10, 16, 32, 2^32-1 and 2^32 (the split radix)."""
ADDI_CONSTANTS: tuple[int, ...] = (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5)
"""Fixed ``addi`` constants of the emission vocabulary's default (pointer steps; ``addi 0`` is a no-op)."""
MAX_CONSTANTS = 96
"""At most this many constants are searched (fixed, vocabulary and literal constants come first)."""
MAX_SOLVED = 4
"""At most this many solved constants are added to a search."""
SOLVED_RANGE = 1 << 33
"""Solved constants are kept only when they are small in signed form (|c| < 2^33): a quotient such as 5/2 mod p
also solves ``g = c * v`` now and then, but only bloats the search (its proof stays relative to the set)."""


def literals(baseline: Program) -> list[int]:
    """The baseline's distinct ``push``/``addi`` arguments (mod p), in order of first appearance."""
    return list(dict.fromkeys(ins.arg % P for ins in baseline if ins.name in ("push", "addi")))


def negations(own: Sequence[int]) -> list[int]:
    """``-c`` mod p for each of ``own``, in its order."""
    return [(-c) % P for c in own]


def pairwise_folds(own: Sequence[int]) -> list[int]:
    """For each pair of ``own`` (with repeats, in order): ``a + b``, ``a - b``, ``b - a`` and ``a * b`` mod p."""
    folds: list[int] = []
    for a, b in itertools.combinations_with_replacement(own, 2):
        folds += [(a + b) % P, (a - b) % P, (b - a) % P, a * b % P]
    return folds


def slot_candidates(baseline: Program) -> list[int]:
    """The constants a vocabulary may bind to its slots for this baseline, in order of preference: the
    literals, their negations, then their pairwise folds (each once). Every one is in :func:`constants_of`'s
    sets, so an optimality proof over those sets covers every program the bound vocabulary spells."""
    own = literals(baseline)
    return list(dict.fromkeys(own + negations(own) + pairwise_folds(own)))


def signed(c: int) -> int:
    """``c`` mod p written in (-p/2, p/2]: ``-1`` rather than ``p - 1``."""
    c %= P
    return c - P if c > P // 2 else c


class Constants(NamedTuple):
    """The searched ``push`` and ``addi`` constants (mod p, each once, in search order)."""

    push: tuple[int, ...]
    addi: tuple[int, ...]

    def __add__(self, solved):  # a solved constant may be pushed (and multiplied) or added
        return Constants(tuple(dict.fromkeys((*self.push, *solved))), tuple(dict.fromkeys((*self.addi, *solved))))

    @property
    def all(self) -> set[int]:
        return set(self.push) | set(self.addi)


def constants_of(baseline: Program, verifier: Verifier, extra: Sequence[int] = ()) -> Constants:
    """The searched constants. Both sets hold 0, 1, -1, 2, the baseline's literals and their negations (the
    vocabulary's slots), ``extra``, the values the baseline computes that are constant, and the pairwise
    sums, differences and products of the literals; ``push`` also the vocabulary's fixed push constants,
    ``addi`` its fixed addi constants (a constant the vocabulary only pushes is still searched as
    ``push c add``). At most :data:`MAX_CONSTANTS` each."""
    own = literals(baseline)
    common: list[int] = [c % P for c in FIXED_CONSTANTS] + own + negations(own) + [c % P for c in extra]
    run = batch.GroupRun([verifier.plan], verifier.tests.inputs)
    V = run.V[verifier.tests.inputs.shape.shared:]
    folded = V[(V == V[:, :1]).all(axis=1), 0] if len(V) else []
    common += [int(c) for c in folded] + pairwise_folds(own)

    def ordered(fixed: Sequence[int]) -> tuple[int, ...]:
        head = [c % P for c in FIXED_CONSTANTS] + [c % P for c in fixed]
        return tuple(dict.fromkeys(head + common))[:MAX_CONSTANTS]
    return Constants(ordered(PUSH_CONSTANTS), tuple(c for c in ordered(ADDI_CONSTANTS) if c))


def solve_constants(vectors: np.ndarray, goals: np.ndarray, known: set[int], limit: int = MAX_SOLVED) -> list[int]:
    """Constants ``c`` not in ``known`` for which some reached value ``v`` (a row of ``vectors``, one column per
    fingerprint test) and some goal value ``g`` (a row of ``goals``) satisfy, on every test, ``g = c``
    (``push c``), ``g = v + c`` (``addi c``) or ``g = c * v`` (``push c mul``). Only small constants
    (:data:`SOLVED_RANGE`); at most ``limit``, the most often solved first (ties: smallest)."""
    vectors = np.asarray(vectors, dtype=np.uint64)
    nonzero = vectors[(vectors != 0).all(axis=1)]
    inverses = batch_inverse([nonzero], "mul", "invert")[0] if len(nonzero) else nonzero
    counts: dict[int, int] = {}
    for g in np.asarray(goals, dtype=np.uint64):
        candidates = [g[:1]] if (g == g[0]).all() else []
        for found in (F.vsub(np.broadcast_to(g, vectors.shape), vectors),  # addi c
                      F.vmul(np.broadcast_to(g, inverses.shape), inverses)):  # push c mul
            candidates.append(found[(found == found[:, :1]).all(axis=1), 0])
        for c in np.concatenate(candidates).tolist():
            counts[c] = counts.get(c, 0) + 1
    fresh = [c for c in counts if c not in known and abs(signed(c)) < SOLVED_RANGE]
    return sorted(fresh, key=lambda c: (-counts[c], abs(signed(c)), c))[:limit]
