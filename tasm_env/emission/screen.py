"""The verifier's first round for the candidates of many tasks at once: one vectorised evaluation, not one per task.

A batch of rewards spread over 100 tasks would otherwise be 100 runs of the batched executor of a few blocks
each, and a run costs about the same for 5 blocks as for 500 (numpy's cost per operation group dominates). Here
every task's first-round tests (:attr:`tasm_env.verify.Verifier.rounds`\\ ``[0]``, the tests every candidate
runs first, :data:`LANES` of them) and its candidates' plans share one value matrix: each task's block of rows
holds its own sources and its baseline's values (run once per verifier and kept), and
:class:`tasm_env.batch.Schedule` maps each plan's source ids to its own task's block. Tasks whose first-round
lanes read the same initial RAM (:func:`_ram_key`: the random tests of tasks with the same number of inputs)
are evaluated together, so a batch costs a few evaluations, whatever the number of tasks.

**Only rejections come from here.** :func:`screen` rejects a candidate when, on one of those tests, it crashes
where the baseline does not (or the reverse), or where neither crashes its final stack, public output or sponge
differs: exactly differences the verifier's own first round finds on the same tests with the same evaluators,
so a screened-out candidate is one :meth:`~tasm_env.verify.Verifier.check` refutes. Everything else (survivors,
and candidates whose static shape differs from the baseline's, which the verifier's static check refutes
without running anything) goes to :meth:`~tasm_env.verify.Verifier.check`, which decides as before.
"""

from __future__ import annotations

import weakref
from dataclasses import replace
from typing import Sequence

import numpy as np

from .. import batch
from ..asm import Program
from ..errors import TasmError
from ..plan import summarize
from ..verify import Verifier

__all__ = ["Screened", "screen"]

LANES = 8
"""Lanes per task in the screen: its first-round tests (at most :data:`tasm_env.verify.FIRST_ROUND`), the last
repeated to fill."""
_FIRST: "weakref.WeakKeyDictionary[Verifier, batch.GroupRun]" = weakref.WeakKeyDictionary()
"""Each verifier's baseline run on its first-round tests (computed once, dropped with the verifier)."""


def _first_round(verifier: Verifier) -> batch.GroupRun:
    run = _FIRST.get(verifier)
    if run is None:
        first = verifier.rounds[0]
        lanes = first[np.minimum(np.arange(LANES), len(first) - 1)]
        run = _FIRST[verifier] = batch.GroupRun([verifier.plan], verifier.tests.lanes(lanes))
    return run


def _ram_key(inputs: batch.Inputs) -> tuple:
    """What decides the initial RAM of every lane: tasks with equal keys read the same RAM (one ``mem_read``
    context serves them all)."""
    pool = None if inputs.ram_pool is None or not (inputs.ram_offset >= 0).any() else inputs.ram_pool.tobytes()
    offset = None if inputs.ram_offset is None else inputs.ram_offset.tobytes()
    return inputs.ram_seed.tobytes(), offset, pool, tuple(sorted((inputs.ram or {}).items()))


class Screened:
    """Per candidate of one task: ``refuted`` (bool), and for refuted ones the first test (index in the
    verifier's tests) and part (``crash``, ``op stack``, ``public output``, ``sponge``) that differed."""

    def __init__(self, n: int):
        self.refuted = np.zeros(n, dtype=bool)
        self.test = np.full(n, -1, dtype=np.int64)
        self.part = [""] * n

    def reason(self, j: int) -> str:
        return f"differs on test {int(self.test[j])} ({self.part[j]}), one of the first round's"


def _screenable(verifier: Verifier, program: Program) -> batch.Plan | None:
    """The plan of a candidate the screen can run (one with the baseline's static shape), else None."""
    try:
        summary = summarize(program, verifier.shape)
    except TasmError:
        return None
    if replace(summary, cycles=0) != replace(verifier.summary, cycles=0):
        return None  # the verifier's static check decides (cheaply)
    return batch.compile_block(program, verifier.shape)


def screen(work: Sequence[tuple[Verifier, Sequence[Program]]]) -> list[Screened]:
    """For each (verifier, candidates), which candidates the verifier's first round refutes, found in one
    evaluation per kind of initial RAM (see the module docstring); the others are not refuted here."""
    found = [Screened(len(programs)) for _, programs in work]
    groups: dict[tuple, list[tuple[int, int, batch.Plan]]] = {}  # RAM key -> (task, candidate index, plan)
    for t, (verifier, programs) in enumerate(work):
        key = None
        for j, program in enumerate(programs):
            plan = _screenable(verifier, program)
            if plan is not None:
                key = _ram_key(_first_round(verifier).inputs) if key is None else key
                groups.setdefault(key, []).append((t, j, plan))
    for entries in groups.values():
        _screen_group(work, entries, found)
    return found


def _screen_group(work, entries: list[tuple[int, int, batch.Plan]], found: list[Screened]) -> None:
    """Evaluate the plans of ``entries`` (tasks whose first-round lanes read the same initial RAM) together."""
    tasks = sorted({t for t, _, _ in entries})
    base = {t: _first_round(work[t][0]) for t in tasks}
    blocks, start = {}, 0
    for t in tasks:  # each task's block of rows: its sources and its baseline's values
        blocks[t] = start
        start += base[t].V.shape[0]
    plans = [plan for _, _, plan in entries]
    shared = np.array([plan.shape.shared for plan in plans], dtype=np.int64)
    sizes = np.array([plan.n_local for plan in plans], dtype=np.int64)
    local = start + np.concatenate(([0], np.cumsum(sizes)[:-1]))  # first row of each plan's own values
    offsets, sources = local - shared, np.array([blocks[t] for t, _, _ in entries], dtype=np.int64)
    V = np.zeros((start + int(sizes.sum()), LANES), dtype=np.uint64)
    for t in tasks:
        V[blocks[t]:blocks[t] + base[t].V.shape[0]] = base[t].V
    for p, plan in enumerate(plans):
        if plan.const_ids:
            V[np.array(plan.const_ids) + offsets[p]] = np.array(plan.const_values, dtype=np.uint64)[:, None]
    crash = np.repeat(np.array([[plan.static_crash] for plan in plans], dtype=np.int64), LANES, axis=1)
    context = base[tasks[0]].inputs  # the initial RAM of every task of the group
    batch.evaluate_schedule(batch.Schedule.build(plans, shared, offsets, sources), V, crash, context)
    for p, (t, j, plan) in enumerate(entries):
        b = base[t].plans[0]
        cand_crash, b_crash = crash[p] != batch.NO_CRASH, base[t].crash[0] != batch.NO_CRASH
        bad = cand_crash != b_crash
        part = np.where(bad, 0, 9)
        both = ~cand_crash & ~b_crash
        for code, (mine, theirs) in enumerate(((plan.stack, b.stack), (plan.output, b.output),
                                               (plan.sponge or [], b.sponge or [])), start=1):
            if not mine:
                continue
            ids, base_ids = np.asarray(mine), np.asarray(theirs)
            rows = np.where(ids < shared[p], ids + sources[p], ids + offsets[p])
            diff = (V[rows] != V[base_ids + sources[p]]).any(0) & both
            part = np.where(diff & ~bad, code, part)
            bad |= diff
        if bad.any():
            lane = int(np.argmax(bad))
            first = work[t][0].rounds[0]
            found[t].refuted[j] = True
            found[t].test[j] = int(first[min(lane, len(first) - 1)])
            found[t].part[j] = ("crash", "op stack", "public output", "sponge")[int(part[lane])]
