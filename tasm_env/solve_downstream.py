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

from typing import Iterable, Mapping, Sequence

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


def downstream(plan: Plan, operations: Iterable[int]) -> tuple[list[int], list[int]]:
    """The operations of ``plan`` after ``operations`` with an operand computed from their results
    (transitively, through the plan's value ids; RAM is not followed), and then the operations that compute
    their other operands (transitively; a ``mul`` by an ``eq`` that is mostly 0 masks the difference unless
    that ``eq`` holds). The first list in plan order, the second nearest first (last in the plan first)."""
    seeds = set(operations)
    producer: dict[int, int] = {}
    ins: list[list[int]] = []
    at = 0
    for j, code in enumerate(plan.kind):
        ins.append(plan.inputs[at:at + plan.n_in[j]])
        at += plan.n_in[j]
        producer.update({plan.out[j] + k: j for k in range(OUTPUTS[OPERATIONS[code]])})
    tainted: set[int] = set()
    later: list[int] = []
    for j in range(min(seeds, default=len(plan.kind)), len(plan.kind)):
        if j in seeds or tainted.intersection(ins[j]):
            later += [j] if j not in seeds else []
            tainted.update(v for v, op in producer.items() if op == j)
    side: set[int] = set()
    stack = [producer[v] for j in later for v in ins[j] if v not in tainted and v in producer]
    while stack:
        j = stack.pop()
        if j not in side and j not in seeds and j not in later:
            side.add(j)
            stack += [producer[v] for v in ins[j] if v in producer]
    return later, sorted(side, reverse=True)


def downstream_rows(tests: TestSet, baseline: Plan, plan: Plan, bases: np.ndarray,
                    limit: int | None = None, keep: Mapping[int, Sequence[int]] | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``limit`` rows on which a target of an operation downstream of ``plan``'s new sensitive
    operations (:func:`tasm_env.solve_line.new_targets` on ``bases``, indices into ``tests``), or of one
    computing their other operands, holds (``limit``: :data:`DOWNSTREAM_ROWS` by default), and per row the
    base test (an index into ``tests``) whose context it keeps (RAM); ``keep`` as for
    :func:`tasm_env.solve_back.back_rows`."""
    limit = DOWNSTREAM_ROWS if limit is None else limit
    width = tests.values.shape[1]
    none = np.empty((0, width), dtype=np.uint64), np.empty(0, dtype=np.int64)
    if limit <= 0 or not len(bases):
        return none
    run = GroupRun([baseline, plan], tests.lanes(bases))
    later, side = downstream(plan, {j for j, _, _ in new_targets(run, np.arange(len(bases)))})
    position = np.full(tests.lanes_count, -1, dtype=np.int64)
    position[bases] = np.arange(len(bases))
    order = {j: r for r, j in enumerate(later + side)}  # downstream ones first, then their other operands'
    targets = sorted(((order[j], i, int(t) % P) for i, (j, (_, values)) in enumerate(sensitive(plan)) if j in order
                      for t in values))
    if not targets:
        return none
    per = max(1, limit // len(targets))  # every target gets its share, the nearest first where they are many
    found = [back_rows(tests, [(run, 1, position)], bases, per, n_bases=DOWNSTREAM_BASES, only={(i, t)},
                       keep=keep)
             for _, i, t in targets]
    return np.concatenate([rows for rows, _ in found])[:limit], np.concatenate([at for _, at in found])[:limit]
