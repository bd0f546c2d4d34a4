"""Tests where a survivor's new sensitive value can show: an operation downstream of it at its own target.

A mutant's inserted operation (an ``eq`` the baseline does not have) changes a value only where its target
holds, and the change then flows through later operations; most of those mask it (an ``lt`` whose outcome
does not flip, a ``split`` whose high half stays 0) except at their own edges: `[st0 + st1 == 0]` added to a
value that an ``lt`` reads shows only as a crash where the value is 2^32 - 1, one that an ``eq`` reads only
where that ``eq`` holds. So for each survivor the targets of the operations downstream of its new ones (their
operands depend on the new operations' results) are solved backwards first (:mod:`tasm_env.solve_back`,
from a few base tests), and the rows are both tests themselves and the first bases that the line-solved tests
(:mod:`tasm_env.solve_line`) start from: there the new target is solved along a source the downstream
target does not move with, and both hold at once.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from .batch import GroupRun
from .coverage import TestSet
from .plan import OUTPUTS, OPERATIONS, Plan
from .field import P
from .solve import sensitive
from .solve_back import back_rows
from .solve_line import new_targets

DOWNSTREAM_ROWS = 64  # backward-solved rows per survivor for the targets downstream of its new operations

DOWNSTREAM_BASES = 8  # base tests each downstream target is solved from


def downstream(plan: Plan, operations: Iterable[int]) -> set[int]:
    """The operations of ``plan`` after ``operations`` with an operand computed from their results
    (transitively, through the plan's value ids; RAM is not followed)."""
    start = min(operations, default=len(plan.kind))
    tainted: set[int] = set()
    seeds = set(operations)
    found: set[int] = set()
    at = sum(plan.n_in[:start])
    for j in range(start, len(plan.kind)):
        ins = plan.inputs[at:at + plan.n_in[j]]
        at += plan.n_in[j]
        if j in seeds or tainted.intersection(ins):
            if j not in seeds:
                found.add(j)
            tainted.update(range(plan.out[j], plan.out[j] + OUTPUTS[OPERATIONS[plan.kind[j]]]))
    return found


def downstream_rows(tests: TestSet, baseline: Plan, plan: Plan, bases: np.ndarray,
                    limit: int = DOWNSTREAM_ROWS) -> np.ndarray:
    """Up to ``limit`` rows on which a target of an operation downstream of ``plan``'s new sensitive
    operations (:func:`tasm_env.solve_line.new_targets` on ``bases``, indices into ``tests``) holds."""
    width = tests.values.shape[1]
    if not len(bases):
        return np.empty((0, width), dtype=np.uint64)
    run = GroupRun([baseline, plan], tests.lanes(bases))
    later = downstream(plan, {j for j, _, _ in new_targets(run, np.arange(len(bases)))})
    if not later:
        return np.empty((0, width), dtype=np.uint64)
    position = np.full(tests.lanes_count, -1, dtype=np.int64)
    position[bases] = np.arange(len(bases))
    targets = [(i, int(t) % P) for i, (j, (_, values)) in enumerate(sensitive(plan)) if j in later for t in values]
    if not targets:
        return np.empty((0, width), dtype=np.uint64)
    per = max(1, -(-limit // len(targets)))  # every downstream target gets its share, nearest first
    found = [back_rows(tests, [(run, 1, position)], bases, per, n_bases=DOWNSTREAM_BASES, only={target})
             for target in targets]
    return np.concatenate(found)[:limit]
