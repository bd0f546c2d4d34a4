"""STOKE's correctness term for candidates the verifier refused: how far from the baseline they are.

The distance of a refused program is the share of (test lane x output slot) cells where it disagrees with the
baseline, on all of the verifier's tests (random, edge and coverage lanes), in one vectorised
:class:`tasm_env.batch.GroupRun` for the whole batch, baseline included. Output slots are the stack elements
above the 16-deep context plus the public output words; a clobbered context element counts as a wrong cell too
(capped at 1 overall), and a lane where exactly one of the two crashes counts as every output slot wrong. A
program that does not parse, does not compile, or leaves a different number of stack elements or public output
words is at distance 1. A refused program that agrees on every cell (it differs on tests solved for the
candidate, in RAM or in the sponge) gets the smallest non-zero distance, one cell, so ``distance == 0`` always
means valid.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from tasm_env import batch
from tasm_env.asm import Program
from tasm_env.coverage import CONTEXT_DEPTH
from tasm_env.errors import TasmError
from tasm_env.plan import NO_CRASH
from tasm_env.verify import Verdict, Verifier


def distances(verifier: Verifier, texts: Sequence[str], verdicts: Sequence[Verdict]) -> list[float]:
    """One distance per candidate (0 for ``verdicts[i].ok``, else in (0, 1]); see the module docstring."""
    out = [0.0 if v.ok else 1.0 for v in verdicts]
    base = verifier.plan
    width = max(1, len(base.stack) - CONTEXT_DEPTH + len(base.output))  # the output slots
    plans, where = [], []
    for i, (text, verdict) in enumerate(zip(texts, verdicts)):
        if verdict.ok:
            continue
        try:
            plan = batch.compile_block(Program.coerce(text), verifier.shape)
        except (TasmError, ValueError):
            continue  # distance 1: not a straight-line block
        if len(plan.stack) == len(base.stack) and len(plan.output) == len(base.output):
            plans.append(plan)
            where.append(i)
    if not plans:
        return out
    run = batch.GroupRun([base] + plans, verifier.tests.inputs)
    base_values = np.concatenate([run.values(0, base.stack), run.values(0, base.output)])  # (slots, lanes)
    base_crash = run.crash[0] != NO_CRASH
    cells = width * run.V.shape[1]
    for p, i in enumerate(where, start=1):
        plan = plans[p - 1]
        values = np.concatenate([run.values(p, plan.stack), run.values(p, plan.output)])
        crash = run.crash[p] != NO_CRASH
        both = ~crash & ~base_crash
        wrong = int(((values != base_values) & both[None, :]).sum()) + width * int((crash != base_crash).sum())
        out[i] = min(1.0, max(wrong, 1) / cells)
    return out


__all__ = ["distances"]
