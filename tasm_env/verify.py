"""Equivalence of a candidate block to a baseline, by testing under the real Triton VM semantics.

Both programs run (on the batched executor) on the same tests (:mod:`tasm_env.coverage`): random tests, edge
tests in which every source (each input, each of the 16 context slots below them, each public and secret
input token, each secret digest word, and RAM) meets every edge value of its type, tests in which every pair
of inputs is equal, and tests solved for (:mod:`tasm_env.solve`): inputs that pass the baseline's assertions,
and inputs that drive the operands of its (and, for a candidate that survives everything else, the
candidate's) ``eq``, ``invert``, ``lt``, ``log_2_floor``... onto the points where they change behaviour.

**A crash is an outcome.** On every test both programs crash or neither does, and where neither does, the
whole state agrees: the op stack (context included), the public output, RAM at every cell either touched, the
sponge (whether initialised, and its 16 words), input, secret input and secret digests consumed, and whether
the block halts. The kind of crash need not agree: Triton VM produces no proof of a crashing run, whatever
the crash, so two programs that fail on the same inputs are interchangeable in a proven program. A baseline
may crash on some inputs (``assert``, ``invert`` of 0, u32 operands out of range); only one that crashes on
every test is a :class:`~tasm_env.errors.TaskError`. The jump stack cannot differ: the batched executor runs
straight-line blocks only, and a candidate with control flow is refused.

Most candidates in training are wrong, so tests run in rounds: 8 tests for every candidate, all the other tests
(random and coverage) for the survivors, then the tests solved for each remaining candidate, and last an escalation round for a candidate that passed
everything but does not have the baseline's dataflow (:mod:`tasm_env.dataflow`; such candidates are rare, and
a reward or a result rests on them): the tests of two more verifiers built the same way with seeds derived
from this one's.
Differences visible without running anything (final stack depth, number of outputs, input consumed, sponge
use, ``halt``, a crash on every input) reject a candidate before any evaluation. An accepted verdict says how
certain it is (``status``): ``tested``, or ``proved`` when :mod:`tasm_env.prove` found an exact proof.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import astuple, replace
from itertools import chain
from typing import Sequence

import numpy as np

from . import batch, solve
from .solve_back import back_rows
from .solve_more import ram_rows, stepped_rows
from .asm import Program
from .dataflow import dataflow_key
from .escalation import Escalation
from .intake import as_program, distinct_blocks, program_of
from .coverage import (CONTEXT_DEPTH, EDGE, EQUAL, INPUT_TYPES, PAIR, PROBE, RANDOM, SOLVED, TestSet, check_input_types,
                       check_n_tests, edge_rows, equal_rows, field_pool, grid_rows, literals, make_tests, pair_rows,
                       probe_rows)
from .errors import TaskError, TasmError
from .plan import NO_CRASH, Summary, static_rows, summarize
from .verdict import SAME_DATAFLOW, Counterexample, Verdict, counterexample, refutation
from .verify_first import describe_crash as _describe_crash, random_tests, static_difference

__all__ = ["CONTEXT_DEPTH", "INPUT_TYPES", "SAME_DATAFLOW", "Counterexample", "TestSet", "Verdict", "Verifier", "make_tests",
           "verifier_of", "verify", "verify_many"]

FIRST_ROUND = 8  # tests every candidate runs before the rest are run for the survivors
PROBE_BASES = 4  # base tests the probe lanes vary one source of (the context: on the first only)
SOLVED_PER_PROGRAM = 96  # at most this many solved tests per program
STEPPED_PER_PROGRAM = 256  # at most this many stepped tests per surviving candidate
RAM_SOLVED_PER_PROGRAM = 32  # at most this many tests with RAM contents solved for, per surviving candidate
BACK_SOLVED_PER_PROGRAM = 64  # at most this many tests solved backwards through the plan, per surviving candidate
COMBINED_BASELINE = 8  # backward-solved rows combined with a second target (see solve_back.back_rows): baseline
COMBINED_CANDIDATE = 4  # ... and per surviving candidate
GRID_BASES = 16  # passing tests that fill the other sources of the survivors' pairwise edge grid
REPAIRED = 64  # at most this many crashing random tests are repaired into passing ones


def _baseline_and_types(baseline, inputs) -> tuple[Program, tuple[str, ...], str]:
    """Accept a Task-like object (``.baseline`` and ``.inputs``) or a program with explicit input types."""
    if hasattr(baseline, "baseline") and hasattr(baseline, "inputs"):
        name = getattr(baseline, "name", "task")
        return as_program(baseline.baseline, "baseline"), check_input_types(baseline.inputs), name
    if inputs is None:
        raise TasmError("verify needs the input types of the baseline, e.g. inputs=('field', 'u32')")
    return as_program(baseline, "baseline"), check_input_types(inputs), "baseline"


def _step_bases(crashed: np.ndarray, flavour: np.ndarray, rng) -> np.ndarray:
    """Base tests for :func:`tasm_env.solve_more.stepped_rows`: the passing non-probe tests, all-equal and
    solved ones first, each group shuffled."""
    groups = ((EQUAL, SOLVED), (EDGE, PAIR, RANDOM))
    return np.concatenate([rng.permutation(np.flatnonzero(~crashed & np.isin(flavour, g))) for g in groups])


class Verifier:
    """Checks candidates against one baseline on a fixed set of tests (build once, reuse for many batches).

    ``n_tests`` is the number of random tests (at least 1); the coverage tests, whose number depends on the
    task, come on top (``tests.counts()`` lists them)."""

    def __init__(self, baseline, inputs: Sequence[str] | None = None, n_tests: int = 40, seed=42):
        self.baseline, self.input_types, self.name = _baseline_and_types(baseline, inputs)
        n_tests = check_n_tests(n_tests)
        tests = random_tests(self.baseline, self.input_types, n_tests, seed, self.name)
        self.shape = tests.shape
        self.plan = batch.compile_block(self.baseline, self.shape)
        self.summary = summarize(self.baseline, self.shape)
        rng = np.random.default_rng([int(seed) if not isinstance(seed, np.random.Generator) else 0, 9])
        self.tests, self.baseline_crashes, self.rounds = self._coverage(tests, n_tests, rng)
        self.seed = seed
        self.escalates = True
        """Check the candidates that pass every test and whose dataflow is not the baseline's once more, on the
        tests of :data:`tasm_env.escalation.ESCALATIONS` verifiers built like this one with seeds derived from its own (built when
        first needed, then kept): more random tests, other edge shuffles, probe bases and solved tests."""
        self._escalation = Escalation(self._escalation_verifier, seed, self)
        self.same_dataflow_proves = True
        """Accept a candidate whose dataflow is the baseline's without running it (:data:`SAME_DATAFLOW`); set
        False to run every test on it (to test the tests)."""

    # ---- the tests
    def _coverage(self, tests: TestSet, n_random: int, rng) -> tuple[TestSet, np.ndarray, list[np.ndarray]]:
        constants = literals(self.baseline)
        pool = field_pool(constants)
        types = tests.column_types
        tests.ram_pool = pool
        edges = edge_rows(rng, types, pool)
        tests = tests.extended(edges, EDGE, np.full(len(edges), int(rng.integers(1, 1 << 63)), dtype=np.uint64))
        tests.ram_offset[-len(edges):] = np.arange(len(edges))
        tests = tests.extended(pair_rows(rng, types, self.input_types, pool), PAIR)
        n_before_equal = tests.lanes_count
        tests = tests.extended(equal_rows(rng, types, constants), EQUAL)
        sources = self._sources()
        crashed = self._crashes(tests)
        if crashed[:n_random].any():  # reach the region where the baseline runs: repair the random tests
            lanes = np.flatnonzero(crashed[:n_random])[:REPAIRED]
            rows = solve.repair(self.plan, tests, lanes, sources, pool, rng,
                                pool_columns=[c for c in sources if c >= CONTEXT_DEPTH])
            tests = tests.extended(rows, SOLVED, tests.ram_seed[lanes])
            crashed = self._crashes(tests)
        if crashed.all():
            code = int(batch.GroupRun([self.plan], tests.lanes(slice(0, 1))).crash[0, 0])
            who = "" if self.name == "baseline" else f"{self.name}: "
            raise TaskError(f"{who}the baseline crashes on every generated test ({_describe_crash(code)} on the "
                            f"first); the generator found no inputs that pass it")
        # probe bases: a test the baseline passes, and tests with every input equal (to 0, 1, 2... where it passes)
        passing = np.flatnonzero(~crashed)
        equal = passing[passing >= n_before_equal]
        bases = np.array(list(dict.fromkeys([int(passing[0])] + [int(i) for i in equal[:PROBE_BASES - 1]] +
                                            [int(i) for i in passing[1:PROBE_BASES]]))[:PROBE_BASES])
        rows, probes = probe_rows(types, tests.values[bases], sources, tests.lanes_count,
                                  one_base=range(CONTEXT_DEPTH))
        seeds = tests.ram_seed[bases[np.nonzero(probes.lanes[:, :, 0] >= 0)[0]]]
        tests = tests.extended(rows, PROBE, np.repeat(seeds, 4))
        tests.probes = probes
        run = batch.GroupRun([self.plan], tests.inputs)
        self._solved: set = set()  # (target, probe values) the tests already hold solutions for
        solved = solve.solved_rows(tests, [(run, 0, np.arange(tests.lanes_count))], SOLVED_PER_PROGRAM,
                                   self._solved)
        tests = tests.extended(solved, SOLVED)
        crashed = self._crashes(tests)
        run = batch.GroupRun([self.plan], tests.inputs)  # the same targets, stepped to from many passing tests
        tests = tests.extended(stepped_rows(tests, [(run, 0, np.arange(tests.lanes_count))],
                                            _step_bases(crashed, tests.flavour, rng), SOLVED_PER_PROGRAM), SOLVED)
        crashed = self._crashes(tests)
        run = batch.GroupRun([self.plan], tests.inputs)  # the same targets, solved backwards through the plan
        rows, at = back_rows(tests, [(run, 0, np.arange(tests.lanes_count))], _step_bases(crashed, tests.flavour, rng),
                             SOLVED_PER_PROGRAM, combine=COMBINED_BASELINE)
        tests = tests.extended(rows, SOLVED, tests.ram_seed[at], tests.ram_offset[at])  # with their bases' RAM
        crashed = self._crashes(tests)
        # rounds: 8 tests (mostly ones the baseline passes), then the other random tests and everything else
        random_lanes = np.arange(n_random)
        passing = [int(i) for i in random_lanes if not crashed[i]] + [  # probe lanes stay in the last round,
            int(i) for i in np.flatnonzero(~crashed & (tests.flavour != PROBE)) if i >= n_random]  # which solves
        first = passing[:FIRST_ROUND - 2] if crashed[:n_random].any() else passing[:FIRST_ROUND]
        first += [int(i) for i in random_lanes if crashed[i]][:FIRST_ROUND - len(first)]
        rest_random = [int(i) for i in random_lanes if int(i) not in set(first)]
        chosen = set(first) | set(rest_random)
        others = [i for i in range(tests.lanes_count) if i not in chosen]
        order = np.array(first + rest_random + others, dtype=np.int64)
        rounds = [np.arange(0, len(first)), np.arange(len(first), len(order))]  # one pass for the survivors
        self._step_bases = _step_bases(crashed[order], tests.flavour[order], rng)  # for the survivors' steps
        self._grid = grid_rows(types, self.input_types, tests.values[order][self._step_bases[:GRID_BASES]])
        return tests.take(order), crashed[order], [r for r in rounds if len(r)]

    def _sources(self) -> list[int]:
        """Source columns the solver may change: inputs, consumed tokens and digest words, then the context."""
        s, plan = self.shape, self.plan
        columns = list(range(CONTEXT_DEPTH, s.stack_depth))
        columns += [s.public_id(i) for i in range(plan.public_consumed)]
        columns += [s.secret_id(i) for i in range(plan.secret_consumed)]
        columns += [s.digest_id(d, w) for d in range(plan.digests_consumed) for w in range(5)]
        return columns + list(range(CONTEXT_DEPTH))

    def _crashes(self, tests: TestSet) -> np.ndarray:
        return batch.GroupRun([self.plan], tests.inputs).crash[0] != NO_CRASH

    def describe_tests(self) -> str:
        counts = self.tests.counts()
        return f"{self.tests.lanes_count} tests (" + ", ".join(f"{n} {k}" for k, n in counts.items()) + ")"

    def check(self, candidates: Sequence, prove: bool = False) -> list[Verdict]:
        """One verdict per candidate (Programs or TASM text), in order. With ``prove``, accepted candidates
        are also given to :func:`tasm_env.prove.prove` (status ``proved`` where it succeeds)."""
        verdicts: list[Verdict | None] = [None] * len(candidates)
        blocks, groups, not_programs = distinct_blocks(candidates)
        for i, err in not_programs.items():
            verdicts[i] = Verdict(False, f"candidate is not a straight-line program: {err}", part="program")
        unique: dict[Program, list[int]] = {}  # the candidates past the static pass, by program
        rows, errors = static_rows(blocks, self.shape)  # the static pass of the whole batch at once
        base = np.array(astuple(self.summary), dtype=np.int64)
        compared = [1, 2, 3, 4, 5, 7, 8]  # every field but the cycles and the crash
        differs = (rows[:, 6] != NO_CRASH) | (rows[:, compared] != base[compared]).any(axis=1)
        said: dict[tuple, Verdict] = {}  # candidates with the same static facts get the same verdict
        for p, (block, different, row) in enumerate(zip(blocks, differs.tolist(), rows.tolist())):
            if not different and p not in errors:
                unique.setdefault(program_of(block), []).extend(groups[p])
                continue
            row = tuple(row) if p not in errors else None
            verdict = said.get(row)
            if verdict is None:
                difference = (("program", f"candidate is not a straight-line program: {errors[p]}") if row is None
                              else static_difference(self.summary, Summary(*row[:7], bool(row[7]), bool(row[8]))))
                verdict = Verdict(False, difference[1], part=difference[0])
                if row is not None:
                    said[row] = verdict
            for i in groups[p]:
                verdicts[i] = verdict
        pending = [(program, batch.compile_block(program, self.shape, keep=False)) for program in unique]
        program_of_candidate = {i: program for program, group in unique.items() for i in group}
        merged: list[int] = []  # candidates whose verdict is another's with the same dataflow

        def settle(failures: dict[int, Verdict]) -> None:
            nonlocal pending
            for p in failures:
                for i in unique[pending[p][0]]:
                    verdicts[i] = failures[p]
            pending = [c for p, c in enumerate(pending) if p not in failures]

        run = None
        for r, lanes in enumerate(self.rounds):
            if not pending:
                break
            run = batch.GroupRun([self.plan] + [plan for _, plan in pending], self.tests.lanes(lanes))
            settle(self.differences(run, self.tests, lanes, self.baseline_crashes[lanes]))
            if r == 0 and self.same_dataflow_proves:  # after the cheap round: few are left to compare
                pending = self._by_dataflow(pending, unique, verdicts, merged)
        extra_lanes = 0
        if pending and run is not None:  # tests solved for the survivors' own sensitive operations
            position = np.full(self.tests.lanes_count, -1, dtype=np.int64)
            position[self.rounds[-1]] = np.arange(len(self.rounds[-1]))
            in_run = {id(plan): p for p, plan in enumerate(run.plans)}  # survivors are a subset of the run
            runs = [(run, in_run[id(plan)], position) for _, plan in pending]
            back, at = back_rows(self.tests, runs, self._step_bases, BACK_SOLVED_PER_PROGRAM, self._solved,
                                 combine=COMBINED_CANDIDATE, n_bases=8)
            rows = np.concatenate([solve.solved_rows(self.tests, runs, SOLVED_PER_PROGRAM, set(self._solved)),
                                   stepped_rows(self.tests, runs, self._step_bases, STEPPED_PER_PROGRAM,
                                                self._solved), self._grid])
            n = len(rows)  # the backward-solved rows keep their bases' RAM (seed, or an offset into the pool)
            sets = [TestSet(np.concatenate([rows, back]), self.shape, self.input_types,
                            np.concatenate([np.ones(n, dtype=np.uint64), self.tests.ram_seed[at]]),
                            np.concatenate([np.full(n, -1, dtype=np.int64), self.tests.ram_offset[at]]),
                            self.tests.ram_pool, np.full(n + len(back), SOLVED, dtype=np.int8))]
            ram, ram_seed, ram_offset, ram_pool = ram_rows(self.tests, runs, self._step_bases,
                                                           RAM_SOLVED_PER_PROGRAM, self._solved)
            sets.append(TestSet(ram, self.shape, self.input_types, ram_seed, ram_offset, ram_pool,
                                np.full(len(ram), SOLVED, dtype=np.int8)))  # a pool of their own
            for extra_set in sets:
                if extra_set.lanes_count and pending:
                    run = batch.GroupRun([self.plan] + [plan for _, plan in pending], extra_set.inputs)
                    settle(self.differences(run, extra_set, np.arange(extra_set.lanes_count),
                                            run.crash[0] != NO_CRASH, "candidate-solved "))
            extra_lanes = sum(t.lanes_count for t in sets)
        n = self.tests.lanes_count + extra_lanes
        coverage = (self.describe_tests() + (f" + {extra_lanes} solved for the candidate" if extra_lanes else "")
                    if pending else "")
        if pending and self.escalates:
            escalated = self._escalation.check([program for program, _ in pending])
            settle(escalated[0])
            if escalated[1]:
                n += escalated[1]
                coverage += f" + {escalated[1]} in the escalation round"
        for program, _ in pending:
            verdict = Verdict(True, f"equivalent on all {n} tests", status="tested", bound=coverage)
            if prove:
                from .prove import prove as exact

                verdict = exact(self, program, verdict)
            for i in unique[program]:
                verdicts[i] = verdict
        for i in merged:  # a counterexample names the candidate it is for (its RAM is replayed with it)
            example = verdicts[i].counterexample
            if example is not None:
                verdicts[i] = replace(verdicts[i], counterexample=replace(
                    example, programs=(self.baseline, program_of_candidate[i])))
        return verdicts  # type: ignore[return-value]

    def _escalation_verifier(self, n_tests: int, seed: int) -> "Verifier":
        verifier = Verifier(self.baseline, self.input_types, n_tests, seed)
        verifier.escalates = False
        verifier.name = self.name
        return verifier

    def _by_dataflow(self, pending: list, unique: dict, verdicts: list, merged: list) -> list:
        """The candidates still to test: of ``pending``, those with the baseline's dataflow get
        :data:`SAME_DATAFLOW`, and of several with one dataflow the first stands for all (its verdict is
        theirs; their indices are added to ``merged``)."""
        table: dict = {}  # keys compare only within one table
        baseline = dataflow_key(self.plan, table)
        flows: dict[tuple, Program] = {}
        left = []
        for program, plan in pending:
            key = dataflow_key(plan, table)
            if key == baseline:
                for i in unique[program]:
                    verdicts[i] = SAME_DATAFLOW
            elif key in flows:
                merged += unique[program]
                unique[flows[key]] += unique.pop(program)
            else:
                flows[key] = program
                left.append((program, plan))
        return left

    def differences(self, run: batch.GroupRun, tests: TestSet, lanes: np.ndarray, base_crash: np.ndarray,
                     label: str = "") -> dict[int, Verdict]:
        """Verdicts for the candidates (plans 1.. of the run, numbered from 0 here) that differ on some lane.

        All candidates passed the static check, so their final stacks, outputs and sponges have the baseline's
        shape and compare as one array each. On the first failing lane, a crash difference is reported first,
        then the op stack, public output, sponge and RAM."""
        plans = run.plans[1:]
        cand_crash = run.crash[1:] != batch.NO_CRASH  # (candidates, lanes)
        both = ~cand_crash & ~base_crash[None, :]
        bad = cand_crash != base_crash[None, :]
        findings = []  # (part, candidate x slot x lane mismatch, baseline values, candidate values)
        base_sponge = self.plan.sponge or []
        for part, base_ids, ids in (("op stack", self.plan.stack, [p.stack for p in plans]),
                                    ("public output", self.plan.output, [p.output for p in plans]),
                                    ("sponge", base_sponge, [p.sponge or [] for p in plans])):
            if not base_ids:
                continue
            if sum(map(len, ids)) != len(ids) * len(base_ids):  # the static check makes them equal
                raise AssertionError(f"a candidate's {part} has another size than the baseline's")
            ids = np.fromiter(chain.from_iterable(ids), np.int64, len(ids) * len(base_ids)).reshape(len(ids), -1)
            rows = np.where(ids < run.shared, ids, ids + run.offsets[1:, None])
            base = run.V[run.rows(0, base_ids)]  # (slots, lanes)
            cand = run.V[rows]  # (candidates, slots, lanes)
            diff = (cand != base[None]) & both[:, None, :]
            bad |= diff.any(axis=1)
            findings.append((part, diff, base, cand))
        ram_said = {}
        for c, plan in enumerate(plans):
            if self.plan.touched or plan.touched:
                said = self._ram_difference(run, c + 1, both[c])
                if said:
                    bad[c, said[0]] = True
                    ram_said[c] = said
        verdicts = {}
        failing = np.flatnonzero(bad.any(axis=1))
        if not len(failing):
            return verdicts
        first = bad[failing].argmax(axis=1)  # each failing candidate's first failing lane
        crash_differs = (cand_crash[failing, first] != base_crash[first]).tolist()
        found = []  # per part: does it differ on that lane, in which slot, and the two values there
        for part, diff, base, cand in findings:
            at = diff[failing, :, first]  # (failing, slots)
            slot = at.argmax(axis=1)
            found.append((part, diff.shape[1], at.any(axis=1).tolist(), slot.tolist(), base[slot, first].tolist(),
                          cand[failing, slot, first].tolist()))
        for k, (c, t) in enumerate(zip(failing.tolist(), first.tolist())):
            if crash_differs[k]:
                part = "crash"
                said_b = _describe_crash(int(run.crash[0, t])) if base_crash[t] else "no crash"
                said_c = _describe_crash(int(run.crash[c + 1, t])) if cand_crash[c, t] else "no crash"
            else:
                for part, slots, differs, slot, base_value, cand_value in found:
                    if differs[k]:
                        where = {"op stack": f"st{slots - 1 - slot[k]}", "public output": f"word {slot[k]}",
                                 "sponge": f"state[{slot[k]}]"}[part]
                        what = "final stack" if part == "op stack" else part
                        said_b = f"{what} {where} = {base_value[k]}"
                        said_c = f"{what} {where} = {cand_value[k]}"
                        break
                else:
                    part = "RAM"
                    said_b, said_c = ram_said[c][1:]
            test = int(lanes[t])
            example = counterexample(test, said_b, said_c, tests, part, (self.baseline, plans[c].program))
            verdicts[c] = refutation(f"differs on {label}test {test} ({part}): baseline {said_b}, candidate {said_c}",
                                     example, part)
        return verdicts

    def _ram_difference(self, run: batch.GroupRun, p: int, ok: np.ndarray) -> tuple[int, str, str] | None:
        """First lane where the final RAM differs at a cell either program touched: (lane, says, says)."""
        plan = run.plans[p]
        addresses = np.concatenate([run.values(0, self.plan.touched), run.values(p, plan.touched)])
        b = run.final_ram(0, addresses)
        c = run.final_ram(p, addresses)
        diff = (b != c) & ok[None, :]
        if not diff.any():
            return None
        t = int(np.argmax(diff.any(axis=0)))
        k = int(np.argmax(diff[:, t]))
        a = int(addresses[k, t])
        return t, f"RAM[{a}] = {int(b[k, t])}", f"RAM[{a}] = {int(c[k, t])}"


def verify(baseline, candidate, inputs: Sequence[str] | None = None, n_tests: int = 40, seed=42,
           prove: bool = False) -> Verdict:
    """Is ``candidate`` equivalent to ``baseline``? ``baseline`` is a Task or a program (then ``inputs``
    gives its input types, deepest first); programs may be :class:`Program` objects or TASM text. ``n_tests``
    random tests run besides the coverage tests; ``prove`` also tries an exact proof (:mod:`tasm_env.prove`)."""
    return verifier_of(baseline, inputs, n_tests, seed).check([candidate], prove=prove)[0]


def verify_many(baseline, candidates: Sequence, inputs: Sequence[str] | None = None, n_tests: int = 40,
                seed=42, prove: bool = False) -> list[Verdict]:
    """One verdict per candidate, all run together on the batched executor (same tests as :func:`verify`)."""
    return verifier_of(baseline, inputs, n_tests, seed).check(candidates, prove=prove)


_VERIFIERS: OrderedDict[tuple, Verifier] = OrderedDict()
VERIFIERS_KEPT = 256
"""The one cache of verifiers (:func:`verifier_of`, used by :func:`verify`, :func:`verify_many` and the reward
model): the last 256 used, least recently used dropped first (a verifier holds its
tests: 0.07-0.2 MB on tasm-basic-v1)."""


def verifier_of(baseline, inputs: Sequence[str] | None = None, n_tests: int = 40, seed=42) -> Verifier:
    """The Verifier for these arguments, reused across calls: its tests and the baseline's runs depend only on
    them (for an int seed), and building it costs more than checking a batch of candidates."""
    if type(seed) is not int or type(n_tests) is not int:  # a Generator seed draws new tests every time
        return Verifier(baseline, inputs, n_tests, seed)
    program, types, name = _baseline_and_types(baseline, inputs)
    key = (program, types, name, n_tests, seed)
    verifier = _VERIFIERS.get(key)
    if verifier is None:
        verifier = _VERIFIERS[key] = Verifier(baseline, inputs, n_tests, seed)
        if len(_VERIFIERS) > VERIFIERS_KEPT:
            _VERIFIERS.popitem(last=False)
    else:
        _VERIFIERS.move_to_end(key)
    return verifier
