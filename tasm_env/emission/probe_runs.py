"""Runs of straight-line blocks on one task's probe lanes, for the value state (:mod:`tasm_env.emission.values`).

A run is a block's dataflow plan (:func:`tasm_env.batch.compile_block`) evaluated on the probes: its value
matrix ``V`` (value ids, K lanes) and every lane's first crash code. Plans grow by appending (a prefix's value
ids and operations are the first ones of every extension's), so a run extends its parent prefix's run by the
new operations only.

* :func:`evaluate`: one plan, optionally extending one parent run (the reference);
* :func:`extend_many`: many plans at once, each extending its own parent (of any task): the new operations
  of all of them are evaluated together, one call of the batched executor's evaluator
  (:func:`tasm_env.batch.evaluator`) per (position among the new operations, kind, arity, lane count) on the
  stacked operand rows. The evaluators work lane by lane, so every run equals :func:`evaluate`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .. import batch
from ..plan import KINDS_PER_CYCLE, OPERATIONS

__all__ = ["Run", "evaluate", "extend_many", "extends", "final_ram"]

_MEM_READ = OPERATIONS.index("mem_read")
_EVALUATE = tuple(batch.evaluator(name) for name in OPERATIONS)


@dataclass(slots=True)  # slots: one object per run for the garbage collector, not two
class Run:
    """One block's evaluated plan on the probes: value matrix (ids, K) and each lane's first crash code."""

    plan: batch.Plan
    V: np.ndarray
    crash: np.ndarray


def extends(parent: Run | None, plan: batch.Plan) -> bool:
    """Does ``plan`` extend ``parent``'s plan (so that its values can be reused)?"""
    return parent is not None and len(parent.plan.kind) <= len(plan.kind) \
        and plan.out[:len(parent.plan.out)] == parent.plan.out and parent.plan.static_crash == batch.NO_CRASH


def _start(plan: batch.Plan, inputs: batch.Inputs, parent: Run | None) -> tuple[np.ndarray, np.ndarray, int]:
    """The value matrix with the sources, the constants and the parent's values filled in, the crash codes so
    far and the index of the first operation left to evaluate."""
    shape, K = inputs.shape, inputs.lanes
    start = len(parent.plan.kind) if extends(parent, plan) else 0
    V = np.empty((shape.shared + plan.n_local, K), dtype=np.uint64)
    if start:
        known = parent.V.shape[0]
        V[:known] = parent.V
        crash = parent.crash.copy()
    else:
        known = 0
        crash = np.full(K, batch.NO_CRASH, dtype=np.int64)
        rows = [inputs.stack.T, inputs.public_input.T, inputs.secret_input.T,
                inputs.secret_digests.reshape(K, -1).T]
        V[:shape.shared] = np.concatenate(rows) if shape.shared else V[:0]
    for i, value in zip(plan.const_ids, plan.const_values):
        if i >= known:
            V[i] = value
    return V, np.minimum(crash, plan.static_crash), start


def evaluate(plan: batch.Plan, inputs: batch.Inputs, parent: Run | None = None) -> Run:
    """Evaluate ``plan`` on the probes, reusing ``parent``'s values where its plan is a prefix of this one."""
    V, crash, start = _start(plan, inputs, parent)
    first = sum(plan.n_in[:start])
    for j in range(start, len(plan.kind)):
        n = plan.n_in[j]
        operands = [V[i] for i in plan.inputs[first:first + n]]
        first += n
        results, crashes = _EVALUATE[plan.kind[j]](operands, inputs)
        for k, result in enumerate(results):
            V[plan.out[j] + k] = result
        for kind_index, mask in crashes:
            crash = np.where(mask, np.minimum(crash, plan.cycle[j] * KINDS_PER_CYCLE + kind_index), crash)
    return Run(plan, V, crash)


def extend_many(items: Sequence[tuple[batch.Plan, batch.Inputs, Run | None]]) -> list[Run]:
    """The runs of many (plan, its task's probe inputs, parent run or None), equal to ``evaluate`` on each.

    Every item's operations left to evaluate are taken in order, the i-th ones of all items together: an
    operation only reads values of earlier operations of its own plan, so each group is complete when it is
    evaluated. ``mem_read`` reads the task's initial RAM: a group mixing tasks reads each row's own
    (:class:`~tasm_env.batch.Contexts`), so groups are not split by task."""
    V, crash, cursor, first = [], [], [], []
    for plan, inputs, parent in items:
        v, c, start = _start(plan, inputs, parent)
        V.append(v)
        crash.append(c)
        cursor.append(start)
        first.append(sum(plan.n_in[:start]))
    open_items = [i for i, (plan, _, _) in enumerate(items) if cursor[i] < len(plan.kind)]
    contexts = None  # every item's initial RAM, for mem_read groups mixing tasks (one group per lane count)
    while open_items:
        groups: dict[tuple, list[int]] = {}
        for i in open_items:
            plan, inputs = items[i][0], items[i][1]
            groups.setdefault((plan.kind[cursor[i]], plan.n_in[cursor[i]], inputs.lanes), []).append(i)
        for (kind, n, lanes), members in groups.items():
            operands = [np.stack([V[i][items[i][0].inputs[first[i] + a]] for i in members]) for a in range(n)]
            ctx = items[members[0]][1]
            if kind == _MEM_READ:
                contexts = _contexts(items) if contexts is None else contexts
                ctx = contexts.select(np.array(members, dtype=np.int64))
            results, crashes = _EVALUATE[kind](operands, ctx)
            shape = (len(members), lanes)
            results = [np.broadcast_to(result, shape) for result in results]
            hits = [(kind_index, np.broadcast_to(mask, shape)) for kind_index, mask in crashes]
            hits = [(kind_index, mask, mask.any(1)) for kind_index, mask in hits]
            for row, i in enumerate(members):
                plan = items[i][0]
                j = cursor[i]
                out = plan.out[j]
                for k, result in enumerate(results):
                    V[i][out + k] = result[row]
                for kind_index, mask, any_hit in hits:
                    if any_hit[row]:
                        code = plan.cycle[j] * KINDS_PER_CYCLE + kind_index
                        crash[i] = np.where(mask[row], np.minimum(crash[i], code), crash[i])
                first[i] += n
                cursor[i] = j + 1
        open_items = [i for i in open_items if cursor[i] < len(items[i][0].kind)]
    return [Run(plan, v, c) for (plan, _, _), v, c in zip(items, V, crash)]


def _contexts(items: Sequence[tuple[batch.Plan, batch.Inputs, Run | None]]) -> batch.Contexts:
    """The items' initial RAM as :class:`~tasm_env.batch.Contexts`: item ``i`` reads its own inputs'."""
    where: dict[int, int] = {}
    unique: list[batch.Inputs] = []
    for _, inputs, _ in items:
        if id(inputs) not in where:
            where[id(inputs)] = len(unique)
            unique.append(inputs)
    return batch.Contexts(unique, np.array([where[id(inputs)] for _, inputs, _ in items], dtype=np.int64))


def final_ram(run: Run, inputs: batch.Inputs, addresses: np.ndarray, initial: np.ndarray | None = None) -> np.ndarray:
    """The RAM contents after ``run`` at ``addresses`` (n, K): later writes win over earlier ones. ``initial``:
    the initial contents there, if the caller has them (``inputs.initial_ram(addresses)`` otherwise)."""
    value = inputs.initial_ram(addresses) if initial is None else initial
    writes = run.plan.writes
    for k in range(0, len(writes), 2):
        value = np.where(run.V[writes[k]][None, :] == addresses, run.V[writes[k + 1]][None, :], value)
    return value
