"""Equivalence of a candidate block to a baseline, by testing under the real Triton VM semantics.

Both programs run (on the batched executor) on the same tests: the typed inputs on top of a random context,
edge values (0, 1, p-1, 2^32-1, powers of two), tests whose inputs are all equal, random public and secret
input, random secret digests and random RAM. They are equivalent on a test when the whole final stack, the
public output, the final contents of every RAM cell either program touched, and the amount of public input,
secret input and secret digests consumed are all equal, and neither crashes. The baseline must not crash on
valid typed inputs: if it does, the task is broken and :class:`~tasm_env.errors.TaskError` says so.

Most candidates in training are wrong, so tests run in two rounds: a few tests for every candidate, the rest
only for the survivors. Differences visible without running anything (final stack depth, number of outputs,
input consumed, a crash on every input) reject a candidate before any evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from . import batch
from .asm import Program
from .errors import VM_ERROR_KINDS, BatchError, ParseError, TaskError, TasmError
from .field import P
from .plan import NO_CRASH, Summary, summarize
from .value_types import INPUT_TYPES  # re-exported: verify.INPUT_TYPES is public

CONTEXT_DEPTH = 16  # random elements below the inputs, so the 16-element floor is never the inputs
FIRST_ROUND = 8  # tests every candidate runs before the rest are run for the survivors
EXTRA_TOKENS = 4  # public/secret tokens offered beyond what the baseline consumes
_MAX_PROBE_TOKENS = 256

_FIELD_EDGES = (0, 1, P - 1, P - 2, (1 << 32) - 1, 1 << 32, 1 << 31, 1 << 63, 2, (1 << 64) - (1 << 32))
_U32_EDGES = (0, 1, 2, (1 << 32) - 1, (1 << 32) - 2, 1 << 31, 1 << 16, 255, 256)


@dataclass(frozen=True)
class Counterexample:
    """The first test on which the programs differ: its inputs and what each program did there.

    The inputs are read from the test set only when asked for (most verdicts in training are never looked at).
    """

    test: int
    baseline: str
    candidate: str
    tests: "TestSet" = field(repr=False, compare=False)

    @property
    def stack(self) -> tuple[int, ...]:
        """The whole initial stack, top last."""
        return tuple(int(v) for v in self.tests.inputs.stack[self.test])

    @property
    def public_input(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.tests.inputs.public_input[self.test])

    @property
    def secret_input(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.tests.inputs.secret_input[self.test])

    @property
    def secret_digests(self) -> tuple[tuple[int, ...], ...]:
        return tuple(tuple(int(v) for v in d) for d in self.tests.inputs.secret_digests[self.test])

    @property
    def ram_seed(self) -> int:
        """Never-written RAM cells read ``field.mix(address, ram_seed)``; 0 means all-zero RAM."""
        return int(self.tests.inputs.ram_seed[self.test])

    def __str__(self) -> str:
        top = ", ".join(str(v) for v in self.stack[-8:])
        return (f"test {self.test}: stack top [... {top}] (top last); baseline -> {self.baseline}; "
                f"candidate -> {self.candidate}")


@dataclass(frozen=True)
class Verdict:
    """``ok`` is True when no test told the programs apart; ``reason`` is one line; ``counterexample`` the
    first failing test where one exists (None for static differences and for ok verdicts)."""

    ok: bool
    reason: str
    counterexample: Counterexample | None = None

    def __bool__(self) -> bool:
        return self.ok


# ------------------------------------------------------------------------------------------- the tests


@dataclass
class TestSet:
    """The tests a baseline is checked on, as batched-executor inputs (one lane per test)."""

    inputs: batch.Inputs
    input_types: tuple[str, ...]

    def lanes(self, which: slice | np.ndarray) -> batch.Inputs:
        i = self.inputs
        return batch.Inputs(i.stack[which], i.public_input[which], i.secret_input[which], i.secret_digests[which],
                            None, i.ram_seed[which])

    def counterexample(self, test: int, baseline: str, candidate: str) -> Counterexample:
        return Counterexample(test, baseline, candidate, self)


def _random_values(rng: np.random.Generator, kind: str, n: int) -> np.ndarray:
    if kind in ("u32", "u32_nonzero"):
        values = rng.integers(0 if kind == "u32" else 1, 1 << 32, size=n, dtype=np.uint64)
        return values
    if kind == "bool":
        return rng.integers(0, 2, size=n, dtype=np.uint64)
    values = rng.integers(0, 1 << 64, size=n, dtype=np.uint64, endpoint=False) % np.uint64(P)
    if kind == "nonzero":
        values[values == 0] = 1
    return values


def _edge_values(rng: np.random.Generator, kind: str, n: int) -> np.ndarray:
    edges = {"field": _FIELD_EDGES, "nonzero": _FIELD_EDGES[1:], "u32": _U32_EDGES, "u32_nonzero": _U32_EDGES[1:],
             "bool": (0, 1)}[kind]
    powers = [1 << int(k) for k in rng.integers(0, 64 if kind in ("field", "nonzero") else 32, size=n)]
    pool = np.array(edges, dtype=np.uint64)
    values = pool[rng.integers(0, len(pool), size=n)]
    use_power = rng.random(n) < 0.3 if kind != "bool" else np.zeros(n, dtype=bool)
    return np.where(use_power, np.array(powers, dtype=np.uint64) % np.uint64(P), values)


def _equal_across_types(rng: np.random.Generator, types: tuple[str, ...], stack: np.ndarray, rows: np.ndarray) -> None:
    """On ``rows``, give every input whose type admits it one shared u32 value (a field input equal to a u32
    input is a case a candidate dropping an ``eq`` between them must get right)."""
    n = len(stack)
    shared = np.where(rng.random(n) < 0.5, _edge_values(rng, "u32", n), _random_values(rng, "u32", n))
    admits = {"field": np.ones(n, dtype=bool), "u32": np.ones(n, dtype=bool), "nonzero": shared != 0,
              "u32_nonzero": shared != 0, "bool": shared < 2}
    for j, kind in enumerate(types):
        column = CONTEXT_DEPTH + j
        stack[:, column] = np.where(rows & admits[kind], shared, stack[:, column])


def make_tests(
    input_types: Sequence[str],
    n_tests: int = 40,
    seed: int | np.random.Generator = 42,
    public_tokens: int = 0,
    secret_tokens: int = 0,
    secret_digests: int = 0,
) -> TestSet:
    """Tests for a block whose inputs (deepest first, top last) have the given types.

    Tests cycle through four flavours: random typed inputs; edge values; all inputs of a type equal (and, in every
    other such test, all inputs of every type that admits the value equal: a field input equal to a u32 input);
    random inputs with all-zero RAM. Every test has a random context of 16 elements below the inputs, random public
    and secret input and random secret digests.
    """
    types = tuple(input_types)
    for kind in types:
        if kind not in INPUT_TYPES:
            raise TasmError(f"unknown input type {kind!r}: expected one of {', '.join(INPUT_TYPES)}")
    if n_tests < 1:
        raise TasmError(f"n_tests must be at least 1, got {n_tests}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    k = len(types)
    stack = np.empty((n_tests, CONTEXT_DEPTH + k), dtype=np.uint64)
    stack[:, :CONTEXT_DEPTH] = _random_values(rng, "field", n_tests * CONTEXT_DEPTH).reshape(n_tests, -1)
    flavour = np.arange(n_tests) % 4
    for j, kind in enumerate(types):
        column = _random_values(rng, kind, n_tests)
        edges = _edge_values(rng, kind, n_tests)
        stack[:, CONTEXT_DEPTH + j] = np.where(flavour == 1, edges, column)
    for kind in set(types):  # flavour 2: every input of this type takes one value
        cols = [CONTEXT_DEPTH + j for j, t in enumerate(types) if t == kind]
        shared = np.where(rng.random(n_tests) < 0.5, _edge_values(rng, kind, n_tests),
                          _random_values(rng, kind, n_tests))
        for c in cols:
            stack[:, c] = np.where(flavour == 2, shared, stack[:, c])
    if len(set(types)) > 1:  # every other flavour-2 test: inputs of different types equal too, where they can be
        _equal_across_types(rng, types, stack, (flavour == 2) & (np.arange(n_tests) // 4 % 2 == 1))
    seeds = rng.integers(1, 1 << 63, size=n_tests, dtype=np.uint64)
    seeds[flavour == 3] = 0
    inputs = batch.Inputs(
        stack=stack,
        public_input=_random_values(rng, "field", n_tests * public_tokens).reshape(n_tests, public_tokens),
        secret_input=_random_values(rng, "field", n_tests * secret_tokens).reshape(n_tests, secret_tokens),
        secret_digests=_random_values(rng, "field", n_tests * secret_digests * 5).reshape(n_tests, secret_digests, 5),
        ram_seed=seeds,
    )
    return TestSet(inputs, types)


# -------------------------------------------------------------------------------------------- verifying


def _baseline_and_types(baseline, inputs) -> tuple[Program, tuple[str, ...], str]:
    """Accept a Task-like object (``.baseline`` and ``.inputs``) or a program with explicit input types."""
    if hasattr(baseline, "baseline") and hasattr(baseline, "inputs"):
        name = getattr(baseline, "name", "task")
        return _program(baseline.baseline, "baseline"), tuple(baseline.inputs), name
    if inputs is None:
        raise TasmError("verify needs the input types of the baseline, e.g. inputs=('field', 'u32')")
    return _program(baseline, "baseline"), tuple(inputs), "baseline"


def _program(program, role: str) -> Program:
    try:
        program = Program.coerce(program)
    except ParseError as err:
        raise ParseError(f"{role}: {err.message}", err.line, err.column) from None
    return program


class Verifier:
    """Checks candidates against one baseline on a fixed set of tests (build once, reuse for many batches)."""

    def __init__(self, baseline, inputs: Sequence[str] | None = None, n_tests: int = 40, seed=42):
        self.baseline, self.input_types, self.name = _baseline_and_types(baseline, inputs)
        depth = CONTEXT_DEPTH + len(self.input_types)
        probe = batch.compile_block(self.baseline, batch.Shape(depth, _MAX_PROBE_TOKENS, _MAX_PROBE_TOKENS, 16))
        self.tests = make_tests(
            self.input_types, n_tests, seed,
            public_tokens=probe.public_consumed + EXTRA_TOKENS,
            secret_tokens=probe.secret_consumed + EXTRA_TOKENS,
            secret_digests=probe.digests_consumed + 1,
        )
        self.shape = self.tests.inputs.shape
        self.plan = batch.compile_block(self.baseline, self.shape)
        self.summary = summarize(self.baseline, self.shape)
        self._check_baseline()

    def _check_baseline(self) -> None:
        run = batch.GroupRun([self.plan], self.tests.inputs)
        crashed = np.flatnonzero(run.crash[0] != batch.NO_CRASH)
        if len(crashed):
            t = int(crashed[0])
            what = _describe_crash(int(run.crash[0][t]))
            example = self.tests.counterexample(t, what, "-")
            raise TaskError(f"{self.name}: the baseline crashes on valid inputs ({what}) at {example}")

    # ---- static comparison: shape only
    def _static_difference(self, summary: Summary) -> str | None:
        base = self.summary
        if summary.static_crash != NO_CRASH:
            return f"candidate always crashes: {_describe_crash(summary.static_crash)}"
        if summary.final_depth != base.final_depth:
            return (f"final stack depth differs: baseline leaves {base.final_depth} elements, candidate "
                    f"{summary.final_depth}")
        if summary.outputs != base.outputs:
            return f"public output length differs: baseline writes {base.outputs}, candidate {summary.outputs}"
        for what, b, c in (("public input", base.public_consumed, summary.public_consumed),
                           ("secret input", base.secret_consumed, summary.secret_consumed),
                           ("secret digests", base.digests_consumed, summary.digests_consumed)):
            if b != c:
                return f"{what} consumed differs: baseline reads {b}, candidate {c}"
        return None

    def check(self, candidates: Sequence) -> list[Verdict]:
        """One verdict per candidate (Programs or TASM text), in order."""
        verdicts: list[Verdict | None] = [None] * len(candidates)
        unique: dict[Program, list[int]] = {}
        for i, candidate in enumerate(candidates):
            try:
                program = _program(candidate, "candidate")
            except TasmError as err:
                verdicts[i] = Verdict(False, f"candidate is not a straight-line program: {err}")
                continue
            unique.setdefault(program, []).append(i)
        pending: list[tuple[Program, batch.Plan]] = []
        for program in unique:
            try:
                difference = self._static_difference(summarize(program, self.shape))
            except BatchError as err:
                difference = f"candidate is not a straight-line program: {err}"
            if difference:
                for i in unique[program]:
                    verdicts[i] = Verdict(False, difference)
            else:
                pending.append((program, batch.compile_block(program, self.shape)))
        n = self.tests.inputs.lanes
        rounds = [np.arange(min(FIRST_ROUND, n)), np.arange(min(FIRST_ROUND, n), n)]
        for lanes in rounds:
            if not pending or not len(lanes):
                continue
            run = batch.GroupRun([self.plan] + [plan for _, plan in pending], self.tests.lanes(lanes))
            failures = self._dynamic_differences(run, lanes)
            survivors = []
            for p, (program, plan) in enumerate(pending):
                if p in failures:
                    for i in unique[program]:
                        verdicts[i] = failures[p]
                else:
                    survivors.append((program, plan))
            pending = survivors
        for program, _ in pending:
            for i in unique[program]:
                verdicts[i] = Verdict(True, f"equivalent on all {n} tests")
        return verdicts  # type: ignore[return-value]

    def _dynamic_differences(self, run: batch.GroupRun, lanes: np.ndarray) -> dict[int, Verdict]:
        """Verdicts for the candidates (plans 1.. of the run, numbered from 0 here) that differ on some lane.

        All candidates passed the static check, so their final stacks and outputs have the baseline's length and
        compare as one array each. On the first failing lane, a crash is reported before a stack difference,
        then output, then RAM."""
        plans = run.plans[1:]
        ok = run.crash[1:] == batch.NO_CRASH  # (candidates, lanes)
        bad = ~ok
        findings = []  # (what, candidate x slot x lane mismatch, baseline values, candidate values)
        for what, base_ids, ids in (("final stack", self.plan.stack, [p.stack for p in plans]),
                                    ("public output", self.plan.output, [p.output for p in plans])):
            if not base_ids:
                continue
            ids = np.array(ids, dtype=np.int64)
            rows = np.where(ids < run.shared, ids, ids + run.offsets[1:, None])
            base = run.V[run.rows(0, base_ids)]  # (slots, lanes)
            cand = run.V[rows]  # (candidates, slots, lanes)
            diff = (cand != base[None]) & ok[:, None, :]
            bad |= diff.any(axis=1)
            findings.append((what, diff, base, cand))
        ram_said = {}
        for c, plan in enumerate(plans):
            if self.plan.touched or plan.touched:
                said = self._ram_difference(run, c + 1, ok[c])
                if said:
                    bad[c, said[0]] = True
                    ram_said[c] = said
        verdicts = {}
        for c in np.flatnonzero(bad.any(axis=1)):
            t = int(np.argmax(bad[c]))
            if not ok[c, t]:
                said_b, said_c = "no crash", _describe_crash(int(run.crash[c + 1, t]))
            else:
                for what, diff, base, cand in findings:
                    if diff[c, :, t].any():
                        slot = int(np.argmax(diff[c, :, t]))
                        where = f"st{diff.shape[1] - 1 - slot}" if what == "final stack" else f"word {slot}"
                        said_b = f"{what} {where} = {int(base[slot, t])}"
                        said_c = f"{what} {where} = {int(cand[c, slot, t])}"
                        break
                else:
                    said_b, said_c = ram_said[c][1:]
            test = int(lanes[t])
            verdicts[int(c)] = Verdict(False, f"differs on test {test}: baseline {said_b}, candidate {said_c}",
                                       self.tests.counterexample(test, said_b, said_c))
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


def _describe_crash(code: int) -> str:
    cycle, kind = divmod(code, 16)
    return f"crash {VM_ERROR_KINDS[kind]} at cycle {cycle}"


def verify(baseline, candidate, inputs: Sequence[str] | None = None, n_tests: int = 40, seed=42) -> Verdict:
    """Is ``candidate`` equivalent to ``baseline``? ``baseline`` is a Task or a program (then ``inputs``
    gives its input types, deepest first); programs may be :class:`Program` objects or TASM text."""
    return Verifier(baseline, inputs, n_tests, seed).check([candidate])[0]


def verify_many(baseline, candidates: Sequence, inputs: Sequence[str] | None = None, n_tests: int = 40,
                seed=42) -> list[Verdict]:
    """One verdict per candidate, all run together on the batched executor (same tests as :func:`verify`)."""
    return Verifier(baseline, inputs, n_tests, seed).check(candidates)
