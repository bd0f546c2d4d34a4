"""The difficulty tiers of the random TIR generator (:mod:`tasm_env.tasks.generate`): how many inputs and
operations a program of each tier has, its input types, and the weight of each TIR operation in its menu."""

from __future__ import annotations

from dataclasses import dataclass

from .tir import OPERATIONS

TIERS = ("easy", "medium", "hard")
MAX_OUTPUTS = 4


@dataclass(frozen=True)
class TierSpec:
    """What one tier draws: input and operation counts (inclusive ranges), input types and operation generators
    with their weights. ``own`` are the operations a program of this tier must contain at least one of."""

    inputs: tuple[int, int]
    operations: tuple[int, int]
    input_types: dict[str, float]
    menu: dict[str, float]
    own: frozenset[str] = frozenset()


WEIGHTS: dict[str, tuple[float, float, float]] = {  # TIR op: its weight in the easy, medium, hard menu (0: not drawn)
    "add": (3.0, 2.0, 2.0), "sub": (2.0, 1.0, 1.0), "mul": (3.0, 2.0, 2.0), "neg": (1.0, 0.5, 0.5),
    "eq": (0, 1.0, 1.0), "invert": (0, 0.6, 0.6), "lt": (0, 1.5, 1.5), "and": (0, 1.0, 1.0), "xor": (0, 1.0, 1.0),
    "split": (0, 2.0, 2.0), "div_mod": (0, 1.0, 1.0), "pow": (0, 1.0, 1.0), "log_2_floor": (0, 0.7, 0.7),
    "pop_count": (0, 0.7, 0.7),
    "read_io": (0, 0, 1.0), "divine": (0, 0, 1.0), "write_io": (0, 0, 1.0), "read_mem": (0, 0, 1.0),
    "write_mem": (0, 0, 1.0), "hash": (0, 0, 0.7), "assert": (0, 0, 1.2), "xx_add": (0, 0, 0.5),
    "xx_mul": (0, 0, 0.5), "xb_mul": (0, 0, 0.5), "x_invert": (0, 0, 0.3),
}  # fmt: skip
"""Every TIR operation with its weight per tier: a tier draws the operations of non-zero weight (in this order)."""
assert set(WEIGHTS) == OPERATIONS, f"the tier weights differ from TIR's OPERATIONS: {set(WEIGHTS) ^ OPERATIONS}"


def _menu(tier: int) -> dict[str, float]:
    return {op: weights[tier] for op, weights in WEIGHTS.items() if weights[tier]}


_EASY_MENU, _MEDIUM_MENU, _HARD_MENU = (_menu(tier) for tier in range(len(TIERS)))

TIER_SPECS: dict[str, TierSpec] = {
    "easy": TierSpec((1, 3), (2, 4), {"field": 1.0}, _EASY_MENU),
    "medium": TierSpec((1, 4), (3, 10), {"field": 1.0, "u32": 1.0}, _MEDIUM_MENU,
                       frozenset(_MEDIUM_MENU) - frozenset(_EASY_MENU)),
    "hard": TierSpec((1, 5), (6, 25), {"field": 1.0, "u32": 0.8, "bool": 0.2}, _HARD_MENU,
                     frozenset(_HARD_MENU) - frozenset(_MEDIUM_MENU)),
}
