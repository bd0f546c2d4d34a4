"""The constants the exact search may push or add: what its optimality proof is relative to."""

from __future__ import annotations

from typing import Sequence

from ... import batch
from ...asm import Program
from ...field import P
from ...verify import Verifier
from .moves import FIXED_CONSTANTS

MAX_CONSTANTS = 16
"""At most this many constants are searched (the fixed ones and the baseline's literals come first)."""


def constants_of(baseline: Program, verifier: Verifier, extra: Sequence[int]) -> list[int]:
    """Fixed constants, the baseline's literals and their negations, extra ones, then folded constants."""
    ordered: list[int] = list(FIXED_CONSTANTS)
    for ins in baseline:
        if ins.name in ("push", "addi"):
            ordered += [ins.arg % P, (-ins.arg) % P]
    ordered += [c % P for c in extra]
    run = batch.GroupRun([verifier.plan], verifier.tests.inputs)
    V = run.V[verifier.tests.inputs.shape.shared:]
    folded = V[(V == V[:, :1]).all(axis=1), 0] if len(V) else []
    ordered += [int(c) for c in folded]
    return list(dict.fromkeys(ordered))[:MAX_CONSTANTS]
