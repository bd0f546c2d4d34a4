"""The verifier's first round for the candidates of many tasks at once: one vectorised evaluation, not one per task.

A batch of rewards spread over 100 tasks would otherwise be 100 runs of the batched executor of a few blocks
each, and a run costs about the same for 5 blocks as for 500 (numpy's cost per operation group dominates). Here
every task's first-round tests (:attr:`tasm_env.verify.Verifier.rounds`\\ ``[0]``, the tests every candidate
runs first, :data:`LANES` of them) and its candidates' plans share one value matrix: each task's block of rows
holds its own sources and its baseline's values (run once per verifier and kept), and
:class:`tasm_env.batch.Schedule` maps each plan's source ids to its own task's block. Tasks whose first-round
lanes read the same initial RAM (:func:`_ram_key`: the random tests of tasks with the same number of inputs)
share one RAM context, and the plans of all tasks are evaluated together (:class:`tasm_env.batch.Contexts`:
each ``mem_read`` reads its own task's RAM), so a batch costs one evaluation, whatever the number of tasks.

**Only rejections come from here.** :func:`screen` rejects a candidate when, on one of those tests, it crashes
where the baseline does not (or the reverse), or where neither crashes its final stack, public output or sponge
differs: exactly differences the verifier's own first round finds on the same tests with the same evaluators,
so a screened-out candidate is one :meth:`~tasm_env.verify.Verifier.check` refutes. Everything else (survivors,
and candidates whose static shape differs from the baseline's, which the verifier's static check refutes
without running anything) goes to :meth:`~tasm_env.verify.Verifier.check`, which decides as before.

**Before the verifier exists** (:func:`random_round`): the first visit of a task would build its whole
verifier (tens of milliseconds: its solved tests) for a block that is almost always wrong. A random round holds
the verifier's own random tests (:func:`tasm_env.verify_first.random_tests`, the same function the verifier
builds them with, so the same values for the same seed), all of which the verifier runs on every candidate
that passes its static check; the screen refutes on them as above, and also refutes a candidate whose static
shape differs with the verifier's own static comparison (:func:`tasm_env.verify_first.static_difference`).
A task whose baseline crashes on every one of them gets no random round (the verifier decides whether such a
task can be used at all).
"""

from __future__ import annotations

import operator
import weakref
from collections import OrderedDict
from dataclasses import dataclass, fields
from itertools import chain
from typing import Callable, Sequence, Union

import numpy as np

from .. import batch
from ..asm import Program
from ..errors import BatchError, TasmError
from ..plan import NO_CRASH, Summary, static_summary, summarize
from ..verify import Verifier
from ..verify_first import random_tests, static_difference

__all__ = ["Round", "Screened", "first_round", "random_round", "screen", "settler"]

LANES = 8
"""Lanes per task in the screen: its first-round tests (at most :data:`tasm_env.verify.FIRST_ROUND`), the last
repeated to fill."""
LIVE_FROM = 64
"""Plans in one screen from which only their live operations are scheduled (:mod:`tasm_env.batch_live`): its
pass over the levels costs about what it saves for a few plans (the native vector env's steps screen 0-40
blocks), and gains for hundreds (figure 4 of ``benchmarks/env_speed.py``: ~500 plans, the evaluation ~20% less)."""
ROUNDS_KEPT = 1024
"""Random rounds (:func:`random_round`) kept, least recently used dropped first (a few kB each)."""


@dataclass(frozen=True)
class Round:
    """The tests the screen runs for one task, and what it compares candidates with: the verifier's ``shape``
    and the baseline's static ``summary``, the baseline's ``run`` on :data:`LANES` lanes of tests, which test
    each lane is (``tests``, numbered as ``where`` says) and whether the screen also refutes a candidate whose
    static shape differs (``static``: the verifier is not built yet, and its static check would do exactly that)."""

    shape: batch.Shape
    summary: Summary
    run: batch.GroupRun
    tests: np.ndarray
    where: str
    static: bool


_STATIC = operator.attrgetter(*[f.name for f in fields(Summary) if f.name != "cycles"])
"""A :class:`~tasm_env.plan.Summary`'s fields but the cycles, as a tuple (the static shape a candidate must share
with the baseline to be run here)."""
_FIRST: "weakref.WeakKeyDictionary[Verifier, Round]" = weakref.WeakKeyDictionary()
"""Each verifier's first round (computed once, dropped with the verifier)."""
_RANDOM: OrderedDict[tuple, Round | None] = OrderedDict()


def first_round(verifier: Verifier) -> Round:
    """The verifier's first round (:attr:`~tasm_env.verify.Verifier.rounds`\\ ``[0]``) as a :class:`Round`."""
    found = _FIRST.get(verifier)
    if found is None:
        first = verifier.rounds[0]
        lanes = first[np.minimum(np.arange(LANES), len(first) - 1)]
        run = batch.GroupRun([verifier.plan], verifier.tests.lanes(lanes))
        found = _FIRST[verifier] = Round(verifier.shape, verifier.summary, run, lanes,
                                         "one of the first round's", False)
    return found


def random_round(baseline: Program, input_types: tuple[str, ...], n_tests: int, seed: int,
                 name: str = "baseline") -> Round | None:
    """A :class:`Round` of the verifier's own random tests (:func:`tasm_env.verify_first.random_tests`, every
    one of which the verifier runs on every candidate that passes its static check), before the verifier
    exists: the ones the baseline passes first. None where the baseline crashes on all of them (then whether
    the task is usable at all is the verifier's to say). Cached per arguments (:data:`ROUNDS_KEPT`)."""
    key = (baseline, tuple(input_types), n_tests, seed, name)
    if key in _RANDOM:
        _RANDOM.move_to_end(key)
        return _RANDOM[key]
    tests = random_tests(baseline, input_types, n_tests, seed, name)
    plan = batch.compile_block(baseline, tests.shape)
    run = batch.GroupRun([plan], tests.inputs)
    crashed = run.crash[0] != NO_CRASH
    order = np.concatenate([np.flatnonzero(~crashed), np.flatnonzero(crashed)])
    found = None
    if not crashed.all():
        lanes = order[np.minimum(np.arange(LANES), len(order) - 1)]
        found = Round(tests.shape, summarize(baseline, tests.shape), run.take_lanes(lanes, tests.lanes(lanes)),
                      lanes, "random test", True)
    _RANDOM[key] = found
    if len(_RANDOM) > ROUNDS_KEPT:
        _RANDOM.popitem(last=False)
    return found


def _ram_key(inputs: batch.Inputs) -> tuple:
    """What decides the initial RAM of every lane: tasks with equal keys read the same RAM (one ``mem_read``
    context serves them all)."""
    pool = None if inputs.ram_pool is None or not (inputs.ram_offset >= 0).any() else inputs.ram_pool.tobytes()
    offset = None if inputs.ram_offset is None else inputs.ram_offset.tobytes()
    return inputs.ram_seed.tobytes(), offset, pool, tuple(sorted((inputs.ram or {}).items()))


class Screened:
    """Per candidate of one task: ``refuted`` (bool), and for refuted ones the first test (``test``, numbered as
    the round's ``where`` says) and part (``crash``, ``op stack``, ``public output``, ``sponge``, or a part of
    the static comparison) that differed, and the reason in words (:meth:`reason`)."""

    def __init__(self, n: int, where: str = "one of the first round's"):
        self.refuted = np.zeros(n, dtype=bool)
        self.test = np.full(n, -1, dtype=np.int64)
        self.part = [""] * n
        self.where = where
        self._static: dict[int, str] = {}

    def reason(self, j: int) -> str:
        if j in self._static:
            return self._static[j]
        if self.where == "random test":
            return f"differs on random test {int(self.test[j])} ({self.part[j]})"
        return f"differs on test {int(self.test[j])} ({self.part[j]}), {self.where}"

    def refute_static(self, j: int, part: str, reason: str) -> None:
        self.refuted[j] = True
        self.part[j] = part
        self._static[j] = reason


def _screenable(round_: Round, static: tuple, program: Program, found: Screened, j: int) -> batch.Plan | None:
    """The plan of a candidate the screen can run (one with the baseline's static shape, ``static``:
    :data:`_STATIC` of the round's summary), else None (and, for a round that screens static shapes, a static
    difference refuted as the verifier would)."""
    try:  # uncached: a new candidate's summary is needed once (the verifier's cache keeps verdicts)
        summary = static_summary(program, round_.shape)
    except TasmError:
        return None  # not a block the batched executor runs: the verifier says so
    if _STATIC(summary) != static:
        if round_.static:
            difference = static_difference(round_.summary, summary)
            if difference is not None:
                found.refute_static(j, *difference)
        return None  # otherwise the verifier's static check decides (cheaply)
    return batch.compile_block(program, round_.shape, keep=False)  # refuted blocks rarely come again


def screen(work: Sequence[tuple[Union[Verifier, Round], Sequence[Program]]], settle: bool = True
           ) -> list[Screened]:
    """For each (verifier or :class:`Round`, candidates), which candidates the verifier's first round (or the
    round) refutes, found in one evaluation (see the module docstring); the others are not refuted here.
    ``settle=False`` evaluates every candidate to its end (the reference the default is tested against: the
    default stops evaluating a candidate once its crashes decide its result, :func:`settler`)."""
    rounds = [first_round(r) if isinstance(r, Verifier) else r for r, _ in work]
    found = [Screened(len(programs), r.where) for r, (_, programs) in zip(rounds, work)]
    entries: list[tuple[int, int, batch.Plan]] = []  # (task, candidate index, plan)
    for t, (round_, (_, programs)) in enumerate(zip(rounds, work)):
        static = _STATIC(round_.summary)
        for j, program in enumerate(programs):
            plan = _screenable(round_, static, program, found[t], j)
            if plan is not None:
                entries.append((t, j, plan))
    if entries:
        _screen_group(rounds, entries, found, settle)
    return found


def _contexts(rounds: list[Round], tasks: list[int], entries: list[tuple[int, int, batch.Plan]]):
    """The initial RAM of every plan of ``entries``: its task's lanes' (one :class:`~tasm_env.batch.Inputs` where
    every task reads the same RAM, else :class:`~tasm_env.batch.Contexts`, one per kind of RAM)."""
    kinds: dict[tuple, int] = {}  # RAM key -> context index
    contexts, of_task = [], {}
    for t in tasks:
        inputs = rounds[t].run.inputs
        index = kinds.setdefault(_ram_key(inputs), len(kinds))
        if index == len(contexts):
            contexts.append(inputs)
        of_task[t] = index
    if len(contexts) == 1:
        return contexts[0]
    return batch.Contexts(contexts, np.array([of_task[t] for t, _, _ in entries], dtype=np.int64))


def _screen_group(rounds: list[Round], entries: list[tuple[int, int, batch.Plan]], found: list[Screened],
                  settle: bool = True) -> None:
    """Evaluate the plans of ``entries`` together, each reading its own task's initial RAM; with ``settle``,
    a candidate's evaluation stops once its crashes decide its verdict (:func:`settler`)."""
    tasks = sorted({t for t, _, _ in entries})
    base = {t: rounds[t].run for t in tasks}
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
    counts = [len(plan.const_ids) for plan in plans]
    n = sum(counts)
    if n:  # every plan's constants in one assignment
        rows = np.fromiter(chain.from_iterable([plan.const_ids for plan in plans]), np.int64, n)
        V[rows + np.repeat(offsets, counts)] = np.fromiter(
            chain.from_iterable([plan.const_values for plan in plans]), np.uint64, n)[:, None]
    crash = np.repeat(np.fromiter([plan.static_crash for plan in plans], np.int64, len(plans))[:, None], LANES, axis=1)
    context = _contexts(rounds, tasks, entries)
    task_crash = {t: rounds[t].run.crash[0] != batch.NO_CRASH for t in tasks}
    base_crash = np.stack([task_crash[t] for t, _, _ in entries])
    observed = None  # what _refute reads: only the operations leading to it (or crashing) run, for many plans
    if len(plans) >= LIVE_FROM:
        observed = [plan.stack + plan.output + (plan.sponge or []) for plan in plans]
    schedule = batch.Schedule.build(plans, shared, offsets, sources, merge_reads=True, align=True,
                                     observed=observed)  # 8 lanes: fewer groups
    batch.evaluate_schedule(schedule, V, crash, context, settler(base_crash) if settle else None)
    _refute(rounds, entries, found, V, crash, shared, offsets, sources, base_crash)


def settler(base_crash: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """For :func:`tasm_env.batch.evaluate_schedule`: which candidates' verdicts in the screen are already
    decided by their crashes so far, ``base_crash`` (candidates, lanes) being where each one's baseline crashes.
    :func:`_refute` uses a candidate's crash codes only as crashed or not, and its values only on lanes where
    neither crashes; a crash never goes away. So a candidate that has crashed on every lane is decided (its
    values are never read), and so is one that has crashed on every lane up to and including a lane where its
    baseline does not crash: that lane is its first differing lane (part ``crash``) whatever comes later, and
    the lanes before it differ in nothing (both crash)."""
    free = ~base_crash
    first_free = np.where(free.any(1), np.argmax(free, 1), base_crash.shape[1])  # the baseline's first non-crash

    def settled(crash: np.ndarray) -> np.ndarray:
        crashed = crash != batch.NO_CRASH
        lead = np.where(crashed.all(1), crashed.shape[1], np.argmin(crashed, 1))  # leading crashed lanes
        return (lead == crashed.shape[1]) | (first_free < lead)
    return settled


_PARTS = ("crash", "op stack", "public output", "sponge")
_STACK, _OUTPUT = operator.attrgetter("stack"), operator.attrgetter("output")


def _sponge_ids(plan: batch.Plan) -> list[int]:
    return plan.sponge or []


def _refute(rounds, entries, found, V, crash, shared, offsets, sources, base_crash) -> None:
    """Refute each entry whose crash pattern differs from its baseline's on a lane, or where neither crashes
    whose final stack, public output or sponge differs (the part named is the first that differs, in that
    order, on the first such lane): every entry's value rows compared at once."""
    cand_crash = crash != batch.NO_CRASH
    bad = cand_crash != base_crash  # (entries, lanes)
    both = ~cand_crash & ~base_crash
    # per entry and part (stack, output, sponge), the compared ids: gathered with C-level maps, not a loop
    plans = [plan for _, _, plan in entries]
    bases = [rounds[t].run.plans[0] for t, _, _ in entries]
    mine, theirs, lengths = [], [], []
    for get in (_STACK, _OUTPUT, _sponge_ids):
        ids, base_ids = list(map(get, plans)), list(map(get, bases))
        n, n_base = (np.fromiter(map(len, x), np.int64, len(entries)) for x in (ids, base_ids))
        if (n != n_base).any():  # not one static shape: never screened (see _screenable)
            p = int(np.argmax(n != n_base))
            raise BatchError(f"the screen compares plans of the baseline's static shape only, got "
                             f"{n[p]} values for the baseline's {n_base[p]}")
        mine.append(ids)
        theirs.append(base_ids)
        lengths.append(n)
    counts = np.stack(lengths, 1).reshape(-1)  # entry * 3 + part -> number of ids
    diff = np.zeros((3 * len(entries), LANES), dtype=bool)
    total = int(counts.sum())
    if total:
        owner_a = np.repeat(np.arange(3 * len(entries)), counts)  # entry * 3 + part of each compared id
        flat = chain.from_iterable  # entry-major, part-minor, as owner_a
        ids = np.fromiter(flat(flat(zip(*mine))), np.int64, total)
        base_ids = np.fromiter(flat(flat(zip(*theirs))), np.int64, total)
        entry = owner_a // 3
        rows = np.where(ids < shared[entry], ids + sources[entry], ids + offsets[entry])
        differs = V[rows] != V[base_ids + sources[entry]]
        starts = np.flatnonzero(np.concatenate(([True], owner_a[1:] != owner_a[:-1])))
        diff[owner_a[starts]] = np.logical_or.reduceat(differs, starts, axis=0)
    diff = diff.reshape(len(entries), 3, LANES) & both[:, None, :]
    differs = diff.any(1)
    part = np.where(bad, 0, np.where(differs, np.argmax(diff, axis=1) + 1, 9))
    bad |= differs
    for p in np.flatnonzero(bad.any(1)).tolist():
        t, j, _ = entries[p]
        lane = int(np.argmax(bad[p]))
        found[t].refuted[j] = True
        found[t].test[j] = int(rounds[t].tests[lane])
        found[t].part[j] = _PARTS[int(part[p, lane])]
