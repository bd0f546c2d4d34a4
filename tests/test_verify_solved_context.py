"""Solved tests that keep what they were solved for: every target its share of the backward-solved rows,
every row the RAM of the base test it was solved from, and RAM contents solved where the value is quadratic
in them (issue 9)."""

import numpy as np

import tasm_env as te
from tasm_env import escalation, solve_more, vm
from tasm_env.asm_parse import parse
from tasm_env.batch import GroupRun, compile_block
from tasm_env import coverage
from tasm_env.field import P
from tasm_env.solve import operands, sensitive
from tasm_env.solve_back import back_rows
from tasm_env.solve_downstream import downstream_rows
from tasm_env.verify import Verifier


def test_a_target_reached_only_by_a_re_solve_keeps_its_share():
    # x xor log_2_floor(x) = 2^32 - 1 only at x = 2^32 - 32: a re-solved row, which settles after the rows of
    # the 64 log_2_floor targets; a plain cut of the list at the limit dropped it
    baseline = "dup 0 log_2_floor xor push 4294967295 eq"
    verdict = te.verify(baseline, "pop 1 push 0", inputs=("u32_nonzero",))
    assert not verdict.ok and verdict.part == "op stack", verdict.reason
    assert verdict.counterexample.stack[-1] == (1 << 32) - 32
    tests = Verifier(baseline, ("u32_nonzero",)).tests
    assert ((1 << 32) - 32 == tests.values[:, 16]).any()
    assert te.verify(baseline, "dup 0 log_2_floor xor push 4294967295 eq", inputs=("u32_nonzero",)).ok


BASELINE = "push 100 read_mem 1 pop 1 mul push 7 eq"  # [x1 * RAM[100] == 7]: solved through the RAM read
MUTANT = "dup 0 push 12345 eq add " + BASELINE         # x1 += [x1 == 12345] before it: the final eq downstream


def _target_holds(tests, plan, rows, seeds, offsets):
    """The fraction of ``rows`` (with that RAM) on which the plan's last eq holds."""
    mine = coverage.TestSet(rows, tests.shape, tests.input_types, seeds, offsets, tests.ram_pool,
                   np.zeros(len(rows), dtype=np.int8))
    run = GroupRun([plan], mine.inputs)
    j, (fn, targets) = sensitive(plan)[-1]
    return float(np.isin(fn(operands(run, 0, j)) % P, [int(t) % P for t in targets]).mean())


def test_backward_solved_rows_keep_their_base_tests_ram():
    verifier = Verifier(parse(BASELINE), ("field", "field"))
    tests = verifier.tests
    run = GroupRun([verifier.plan], tests.inputs)
    bases = np.flatnonzero(~verifier.baseline_crashes)
    rows, at = back_rows(tests, [(run, 0, np.arange(tests.lanes_count))], bases, 32, n_bases=16)
    assert len(rows) == len(at) > 0
    assert (tests.values[at, :16] == rows[:, :16]).all()  # each row is its base with sources changed
    assert _target_holds(tests, verifier.plan, rows, tests.ram_seed[at], tests.ram_offset[at]) == 1.0
    ones = np.ones(len(rows), dtype=np.uint64)
    assert _target_holds(tests, verifier.plan, rows, ones, np.full(len(rows), -1)) < 0.5  # another RAM: missed


def test_downstream_solved_rows_keep_their_base_tests_ram():
    verifier = Verifier(parse(BASELINE), ("field", "field"))
    tests = verifier.tests
    plan = compile_block(parse(MUTANT), verifier.shape)
    bases = np.flatnonzero(~verifier.baseline_crashes)[:48]
    rows, at = downstream_rows(tests, verifier.plan, plan, bases)
    assert len(rows) == len(at) > 0 and set(at) <= set(bases.tolist())
    assert _target_holds(tests, plan, rows, tests.ram_seed[at], tests.ram_offset[at]) == 1.0
    ones = np.ones(len(rows), dtype=np.uint64)
    assert _target_holds(tests, plan, rows, ones, np.full(len(rows), -1)) < 0.5


def _task(name):
    return next(t for t in te.load_suite("tasm-basic-v0") if t.name == name)


def _inserted(task, snippet, at):
    words = str(task.baseline).split("\n")
    return "\n".join(words[:at] + [snippet] + words[at:])


def test_ram_contents_solved_where_the_value_is_quadratic_in_them(monkeypatch):
    # benchmarks/verify_soundness.py, seed 13, adversarial mutant 5350: `[st0 == st1]` inserted where
    # st0 = 4 m (x - m) - 3 and st1 = 3, m = RAM[x]: the eq holds only where m (x - m) = 3/2, a parabola in
    # the cell's contents; moving x moves the cell read, so no solve along a stack source reaches it
    task = _task("basic-hard-048")
    mutant = _inserted(task, "dup 1 dup 1 eq add", 42)
    verdict = Verifier(task).check([mutant])[0]
    assert not verdict.ok and verdict.part == "op stack", verdict.reason
    control = _inserted(task, "dup 1 dup 1 eq pop 1", 42)  # the same eq, its result dropped: equivalent
    assert Verifier(task).check([control])[0].ok
    monkeypatch.setattr(solve_more, "MAX_CURVED", 0)  # RAM contents solved only where the value is affine
    assert Verifier(task).check([mutant])[0].ok  # accepted (wrongly): the parabola's roots are what refute it


def test_a_new_eq_and_a_ram_cell_at_their_targets_at_once(monkeypatch):
    # MUTANT differs from BASELINE only where x1 = 12345 and RAM[100] = 7 / 12346: the line-solved rows put
    # x1 on 12345, and on them the cell's contents are solved for the final eq (a RAM-reading block whose
    # difference needs the RAM of the row it is solved on)
    verdict = te.verify(BASELINE, MUTANT, inputs=("field", "field"))
    assert not verdict.ok and "RAM-solved" in verdict.reason, verdict.reason
    example = verdict.counterexample
    assert example.stack[-1] == 12345 and example.ram[100] * 12346 % P == 7
    outputs = [vm.run(p, stack=example.stack[16:], floor=example.stack[:16], ram=example.ram).stack[-1]
               for p in (BASELINE, MUTANT)]
    assert outputs == [0, 1]
    control = te.verify(BASELINE, "dup 0 push 12345 eq push 0 mul add " + BASELINE, inputs=("field", "field"))
    assert control.ok and "escalation round" in control.bound
    monkeypatch.setattr(escalation, "LINE_RAM_ROWS", 0)  # without the RAM-solved rows of the escalation round
    assert te.verify(BASELINE, MUTANT, inputs=("field", "field")).ok  # accepted (wrongly)
