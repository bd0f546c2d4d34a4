"""The verifier's escalation round: a candidate that passed every test and whose dataflow is not the baseline's
(such candidates are rare, and a reward or a published result rests on them) runs once more: first on tests
solved for it along lines (:mod:`tasm_env.solve_line`: its own sensitive values, those the baseline lacks
first, read as rational functions of one source from many base tests), then on the tests of
:data:`ESCALATIONS` more verifiers built like the first one with seeds derived from its own: more random
tests, other edge shuffles, probe bases and solved tests. The extra verifiers are built when first needed,
then kept; the derived seeds make the round the same for every run of one verifier."""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

import numpy as np

from .asm import Program
from .batch import GroupRun, compile_block
from .coverage import EDGE, EQUAL, PAIR, PROBE, RANDOM, SOLVED, TestSet
from .errors import TaskError
from .plan import NO_CRASH
from .solve_downstream import downstream_rows
from .solve_line import line_rows
from .solve_more import ram_rows
from .verdict import Verdict

ESCALATIONS = 2  # test sets of the escalation round, each built as the verifier's own with a derived seed
ESCALATION_TESTS = 256  # random tests in each of them
LINE_BASES = 48  # base tests the line-solved tests start from (passing ones, a seeded sample)
LINE_PER_PROGRAM = 96  # line-solved tests per candidate at most
LINE_RAM_ROWS = 32  # tests per candidate with a RAM cell's contents solved on the line-solved rows
LINE_RAM_BASES = 16  # line-solved rows those start from


def derived_seed(seed, k: int) -> int:
    """The seed of the ``k``-th escalation verifier of a verifier seeded with ``seed`` (a Generator seed: 0)."""
    base = int(seed) if isinstance(seed, (int, np.integer)) else 0
    return (base * 7919 + k) % (1 << 62)


class Escalation:
    """The escalation round of ``verifier``. ``build(n_tests, seed)`` makes a verifier of the same baseline
    (without an escalation round of its own)."""

    def __init__(self, build: Callable[[int, int], object], seed, verifier):
        self._build, self._seed, self._verifier = build, seed, verifier
        self._verifiers: list | None = None

    def verifiers(self) -> list:
        if self._verifiers is None:
            self._verifiers = []
            for k in range(1, ESCALATIONS + 1):
                try:
                    self._verifiers.append(self._build(ESCALATION_TESTS, derived_seed(self._seed, k)))
                except TaskError:  # no passing tests found with this seed: the round has one set fewer
                    continue
        return self._verifiers

    def check(self, programs: Sequence[Program]) -> tuple[dict[int, Verdict], int]:
        """The failures of ``programs`` (by index) and how many tests a program that passes ran."""
        failures, lanes = line_check(self._verifier, programs, self._seed)
        left = [p for p in range(len(programs)) if p not in failures]
        for verifier in self.verifiers():
            if not left:
                break
            verdicts = verifier.check([programs[p] for p in left])
            for p, v in zip(left, verdicts):
                if not v.ok:
                    failures[p] = replace(v, reason=f"escalation round: {v.reason}")
            left = [p for p, v in zip(left, verdicts) if v.ok]
            lanes += verifier.tests.lanes_count
        return failures, lanes


def line_check(verifier, programs: Sequence[Program], seed) -> tuple[dict[int, Verdict], int]:
    """The failures of ``programs`` (by index) on tests solved along lines for each of them
    (:func:`tasm_env.solve_line.line_rows`, from :data:`LINE_BASES` passing tests of ``verifier``), and how
    many such tests ran."""
    tests = verifier.tests
    if tests.probes is None or not len(programs):
        return {}, 0
    passing = ~verifier.baseline_crashes & (tests.flavour != PROBE)
    rng = np.random.default_rng(derived_seed(seed, 0))
    groups = [rng.permutation(np.flatnonzero(passing & np.isin(tests.flavour, kinds)))  # in turn: solved ones
              for kinds in ((SOLVED,), (EDGE, PAIR, EQUAL), (RANDOM,))]  # (other targets hold), edges, random
    order = np.full((3, max(map(len, groups))), -1, dtype=np.int64)
    for g, lanes in enumerate(groups):
        order[g, :len(lanes)] = lanes
    bases = order.T.ravel()
    bases = bases[bases >= 0][:LINE_BASES]
    columns = sorted({int(c) for c in tests.probes.columns})
    plans = [compile_block(program, verifier.shape) for program in programs]
    rows, seeds, offsets, ram_sets = [], [], [], []
    for plan in plans:  # downstream-solved rows first: tests, and the first bases of the lines
        later, at = downstream_rows(tests, verifier.plan, plan, bases)
        mine = tests.extended(later, SOLVED, tests.ram_seed[at], tests.ram_offset[at])  # with their bases' RAM
        start = np.concatenate([tests.lanes_count + np.arange(len(later)), bases])
        found, at = line_rows(mine, verifier.plan, plan, start, columns, LINE_PER_PROGRAM)
        lined = TestSet(found, tests.shape, tests.input_types, mine.ram_seed[at], mine.ram_offset[at],
                        tests.ram_pool, np.full(len(found), SOLVED, dtype=np.int8))
        keep = {i: np.flatnonzero(found[i] != mine.values[at[i]]) for i in range(len(found))}  # then down from
        again, back = downstream_rows(lined, verifier.plan, plan, np.arange(len(found)), keep=keep)  # those, kept
        ram_sets.append(_ram_solved(lined, verifier.plan, plan))  # a cell's contents the second condition
        rows.append(np.concatenate([later, found, again]))
        seeds.append(np.concatenate([mine.ram_seed[tests.lanes_count:], lined.ram_seed, lined.ram_seed[back]]))
        offsets.append(np.concatenate([mine.ram_offset[tests.lanes_count:], lined.ram_offset,
                                       lined.ram_offset[back]]))
    rows = np.concatenate(rows)
    failures: dict[int, Verdict] = {}
    if len(rows):
        solved = TestSet(rows, tests.shape, tests.input_types, np.concatenate(seeds), np.concatenate(offsets),
                         tests.ram_pool, np.full(len(rows), SOLVED, dtype=np.int8))
        run = GroupRun([verifier.plan] + plans, solved.inputs)
        failures = verifier.differences(run, solved, np.arange(len(rows)), run.crash[0] != NO_CRASH,
                                        "line-solved ")
    n = len(rows)
    for p, ram in enumerate(ram_sets):  # each with a RAM pool of its own
        if ram.lanes_count and p not in failures:
            n += ram.lanes_count
            run = GroupRun([verifier.plan, plans[p]], ram.inputs)
            found = verifier.differences(run, ram, np.arange(ram.lanes_count), run.crash[0] != NO_CRASH,
                                         "RAM-solved ")
            if found:  # the run holds this one candidate
                failures[p] = found[0]
    return {p: replace(v, reason=f"escalation round: {v.reason}") for p, v in failures.items()}, n


def _ram_solved(lined: TestSet, baseline, plan) -> TestSet:
    """Tests from the line-solved rows (a new target of ``plan`` holds there) with the contents of a cell a
    RAM read returns solved for ``plan``'s targets (:func:`tasm_env.solve_more.ram_rows`): the second
    condition of a difference that shows only where a downstream value, moved by RAM, is at its edge too."""
    bases = np.arange(lined.lanes_count)
    if not len(bases):
        return lined
    run = GroupRun([baseline, plan], lined.inputs)
    ram, seeds, offsets, pool = ram_rows(lined, [(run, 1, bases)], bases, LINE_RAM_ROWS, n_bases=LINE_RAM_BASES)
    return TestSet(ram, lined.shape, lined.input_types, seeds, offsets, pool, np.full(len(ram), SOLVED, dtype=np.int8))
