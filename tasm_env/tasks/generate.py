"""Random TIR programs by difficulty tier, seeded, with degenerate programs rejected.

========  ========  ==========  ===========================================================================
tier      inputs    operations  operations drawn
========  ========  ==========  ===========================================================================
easy      1 to 3    2 to 4      add sub mul neg, and constants
medium    1 to 4    3 to 10     the above, eq, invert, and u32 work: lt and xor split div_mod pow
                                log_2_floor pop_count (u32 operands come from u32 inputs or u32 results)
hard      1 to 5    6 to 25     the above, I/O (read_io write_io divine), memory (read_mem write_mem at a
                                constant or input address), hash of 10 values, assertions that hold, and
                                extension-field ops (xx_add xx_mul xb_mul x_invert)
========  ========  ==========  ===========================================================================

"Operations" counts nodes other than inputs and constants (``len(tir)``). Every program has 1 to 4 outputs.
Medium and hard programs contain at least one operation their tier adds.

Programs never crash on inputs of their declared types: an operand that must not be 0 (of ``invert``,
``div_mod``'s divisor, ``log_2_floor``, ``x_invert``) is a value known to be non-zero, and where that is an
input, the input is declared ``nonzero`` or ``u32_nonzero``. Assertions hold by construction: a recomputed
value equals the original, ``x * x^-1 = 1``, and ``hi * 2^32 + lo`` rebuilds a split value.

:func:`degeneracy` says why a program is not worth a task (or None): no output or effect depends on any
input, every output is a copy of an input, some output is constant (or takes one value on more than 7/8 of the
test inputs: ``eq`` of unrelated values), or the program crashes.
:func:`generate` also drops programs the classical compiler cannot lower and duplicates (same canonical JSON).
"""

from __future__ import annotations

import numpy as np

from ..errors import TaskError
from .compiler import compile_tir
from .degeneracy import NEARLY_CONSTANT, N_TESTS, canonical_key, degeneracy
from .draft import draft
from .tiers import MAX_OUTPUTS, TIER_SPECS, TIERS, WEIGHTS, TierSpec
from .tir import TIR

__all__ = ["MAX_OUTPUTS", "NEARLY_CONSTANT", "N_TESTS", "TIERS", "TIER_SPECS", "WEIGHTS", "TierSpec",
           "canonical_key", "degeneracy", "generate", "random_tir"]

_ATTEMPTS = 2000  # drafts random_tir tries before giving up


def _tier_spec(tier: str) -> TierSpec:
    if tier not in TIER_SPECS:
        raise TaskError(f"unknown tier {tier!r}: expected one of {', '.join(TIERS)}")
    return TIER_SPECS[tier]


def random_tir(tier: str, rng: np.random.Generator) -> TIR:
    """One random, non-degenerate program of ``tier`` (easy, medium or hard) that the classical compiler can
    lower, drawn from ``rng``."""
    spec = _tier_spec(tier)
    for _ in range(_ATTEMPTS):
        tir = draft(spec, rng)
        if tir is None or degeneracy(tir) is not None:
            continue
        try:
            compile_tir(tir)
        except TaskError:
            continue  # keeps too many values live
        return tir
    raise TaskError(f"no acceptable {tier} program in {_ATTEMPTS} drafts")


def generate(tier: str, n: int, seed: int) -> list[TIR]:
    """``n`` distinct random programs of ``tier``; the same (tier, n, seed) gives the same list."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise TaskError(f"n must be a non-negative int, got {n!r}")
    _tier_spec(tier)
    rng = np.random.default_rng(seed)
    programs: list[TIR] = []
    seen: set[str] = set()
    for _ in range(20 * n + 100):
        if len(programs) == n:
            break
        tir = random_tir(tier, rng)
        key = canonical_key(tir)
        if key not in seen:
            seen.add(key)
            programs.append(tir)
    if len(programs) < n:
        raise TaskError(f"only {len(programs)} distinct {tier} programs found, {n} asked for")
    return programs
