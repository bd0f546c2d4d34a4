"""Downstream-solved tests (:mod:`tasm_env.solve_downstream`), run in the escalation round: a survivor's new
sensitive operation together with an operation downstream of it (or one computing a downstream operation's
other operand) at its own target, where the difference is not masked."""

import pytest

import tasm_env as te
from tasm_env import solve_downstream
from tasm_env.asm_parse import parse
from tasm_env.batch import compile_block
from tasm_env.plan import OPERATIONS
from tasm_env.verify import Verifier


def _task(name):
    return next(t for t in te.load_suite("tasm-basic-v0") if t.name == name)


def _inserted(task, snippet, at):
    """The baseline with ``snippet`` inserted before its instruction ``at`` (how
    benchmarks/verify_soundness.py builds its adversarial mutants)."""
    words = str(task.baseline).split("\n")
    return "\n".join(words[:at] + [snippet] + words[at:])


SUM_ZERO = "dup 1 dup 1 add push 0 eq add"  # st0 += [st0 + st1 == 0]
EQUAL = "dup 1 dup 1 eq add"                # st0 += [st0 == st1]

# Adversarial mutants of benchmarks/verify_soundness.py that the default verdict accepted before these tests
# (seed, mutant index): (task, snippet, position)
CASES = {
    # seed 7, 1471: st0 = x1 xor log_2_floor(x1), st1 a field value; the +1 shows only as an `lt` crash where
    # st0 = 2^32 - 1 (x1 = 2^32 - 32) and st0 + st1 = 0 at once; before, only the SMT solver refuted it
    "7/1471": ("basic-hard-007", SUM_ZERO, 36),
    # seed 7, 5109: the same task, the snippet after a `write_mem`
    "7/5109": ("basic-hard-007", SUM_ZERO, 27),
    # seed 11, 7069: [st0 == st1] between a field value and an `xor` of a `split` of a RAM read
    "11/7069": ("basic-hard-050", EQUAL, 66),
    # seed 11, 8982: the +1 reaches the state only through a `mul` by an `eq` of a `split`'s high half that is
    # mostly 0: that eq must hold as well
    "11/8982": ("basic-hard-003", SUM_ZERO, 45),
}


# Since the backward-solved rows are shared fairly among the targets (tests/test_verify_solved_context.py),
# 7/1471 and 11/8982 are refuted before the escalation round too: a downstream target's rows are no longer cut
# off behind the others'. The other two still need the downstream-solved tests.
ONLY_DOWNSTREAM = {"7/5109", "11/7069"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_masked_rare_differences_are_refuted_by_the_default_verdict(case, monkeypatch):
    name, snippet, at = CASES[case]
    task = _task(name)
    mutant = _inserted(task, snippet, at)
    verdict = Verifier(task).check([mutant])[0]
    assert not verdict.ok and verdict.counterexample is not None, (case, verdict.reason)
    if case not in ONLY_DOWNSTREAM:
        return
    assert "escalation round" in verdict.reason, (case, verdict.reason)
    monkeypatch.setattr(solve_downstream, "DOWNSTREAM_ROWS", 0)  # without the downstream-solved tests
    assert Verifier(task).check([mutant])[0].ok, case  # accepted (wrongly): the tests are what refutes it


@pytest.mark.parametrize("case", sorted(CASES))
def test_equivalent_rewrites_at_the_same_points_are_accepted(case):
    name, _, at = CASES[case]
    task = _task(name)
    rewrites = [_inserted(task, snippet, at) for snippet in (
        "dup 1 dup 1 add push 0 eq push 0 mul add",  # the same eq, its result multiplied away
        "dup 1 dup 1 eq pop 1",                      # an eq whose result is dropped
        "dup 0 push 1 add dup 1 eq add",             # st0 += [st0 + 1 == st0]: never holds
    )]
    verdicts = Verifier(task).check(rewrites)
    for text, verdict in zip(rewrites, verdicts):
        assert verdict.ok, (case, text, verdict.reason)
    assert "in the escalation round" in verdicts[-1].bound  # a new eq: it went through every solved test


def test_downstream_operations_and_their_other_operands():
    program = parse("dup 0 dup 2 eq add dup 1 push 5 eq mul dup 0 split pop 1 dup 2 add")
    plan = compile_block(program, Verifier(program, inputs=("field", "field")).shape)
    names = [OPERATIONS[k] for k in plan.kind]
    first_eq = names.index("eq")
    later, side = solve_downstream.downstream(plan, [first_eq])
    assert names == ["eq", "add", "eq", "mul", "split", "add"], names
    assert later == [1, 3, 4, 5]  # add, mul, split and the last add: all read the first eq's result
    assert side == [2]  # the eq whose result the mul multiplies by (x0 of the last add is a source)
    assert solve_downstream.downstream(plan, []) == ([], [])
