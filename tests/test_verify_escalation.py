"""The escalation round (``Verifier.escalates``): candidates that pass every test and whose dataflow is not the
baseline's run once more on test sets built with seeds derived from the verifier's. Each pair below is a seed-7
adversarial mutant of ``benchmarks/verify_soundness.py`` that the verifier without the round accepted and that
the round refutes."""

import pytest

import tasm_env as te
from tasm_env.verify import Verifier

CASES = [
    # st0 += [st0 == st1] inserted among the baseline's split/eq/lt chain
    ('basic-medium-053', 'push 10 dup 0 dup 3 mul pick 1 pop 1 dup 4 split pick 6 pop 1 dup 2 push 18446744069414584320 mul pick 3 pop 1 dup 0 split pick 2 pop 1 push 4294967296 dup 5 dup 1 push 18446744069414584320 mul add pick 1 pick 6 pop 2 dup 6 push 18446744069414584320 mul pick 7 pop 1 dup 6 split pick 8 pop 2 dup 5 dup 3 eq pick 3 pick 6 pop 2 dup 3 dup 1 dup 1 eq add dup 1 and pick 1 pick 4 pop 2 dup 3 dup 1 lt pick 1 pick 4 pop 2'),
    # an assertion that st0 = a + 1/b is nonzero, inserted after the baseline's `dup 3 invert dup 4 dup 2 add`
    ('basic-hard-040', 'dup 0 log_2_floor dup 0 dup 2 lt dup 2 invert divine 1 dup 0 split pick 2 pop 1 dup 3 dup 2 add pick 2 pick 4 pop 2 push 7187670449312851778 dup 2 dup 1 pow pick 1 pop 1 dup 2 dup 4 mul pick 4 pop 1 dup 5 log_2_floor dup 6 dup 1 mul pick 1 pop 1 dup 5 dup 5 and pick 6 pop 1 dup 2 dup 2 add pick 2 pick 3 pop 2 dup 0 dup 2 dup 1 dup 6 xb_mul pick 3 pick 4 pick 6 pop 3 dup 3 dup 1 write_io 2 pick 3 pop 2 push 18446744069414584320 dup 0 dup 2 mul pick 1 pick 2 pop 2 push 5 dup 0 dup 2 mul pick 1 pick 2 pop 2 dup 3 invert dup 4 dup 2 add dup 0 push 0 eq push 0 eq assert pick 2 pick 5 pop 2 divine 2 dup 5 dup 3 pow dup 1 dup 5 dup 5 x_invert pick 4 pick 7 pop 2 dup 6 write_io 1 pick 6 pop 1 dup 6 dup 6 pow pick 6 pick 7 pop 2 dup 4 dup 6 write_io 2 pick 4 pick 5 pop 2 dup 1 dup 3 dup 5 dup 3 pick 4 pick 5 pick 6 pick 7 pop 4'),
    # st0 += [st0 == 1] inserted at the end of a block of invert, split, pow and log_2_floor
    ('basic-medium-044', 'dup 1 invert dup 1 split pick 3 pop 1 dup 1 dup 1 pow pick 1 pick 2 pop 2 dup 0 split pick 2 pop 1 dup 3 log_2_floor pick 4 pop 1 dup 0 dup 2 dup 5 dup 5 dup 0 push 1 eq add pick 4 pick 5 pick 6 pick 7 pop 4'),
]


def _task(name):
    return next(t for t in te.load_suite("tasm-basic-v0") if t.name == name)


@pytest.mark.parametrize("task_name, candidate", CASES)
def test_the_escalation_round_refutes_what_the_other_rounds_missed(task_name, candidate):
    task = _task(task_name)
    without = Verifier(task)
    without.escalates = False
    assert without.check([candidate])[0].ok  # the rounds before the escalation miss it
    verdict = Verifier(task).check([candidate])[0]
    assert not verdict.ok, verdict.reason
    assert verdict.reason.startswith("escalation round: ") and verdict.counterexample is not None


@pytest.mark.parametrize("task_name", sorted({name for name, _ in CASES}))
def test_an_equivalent_candidate_of_another_dataflow_passes_the_escalation_round(task_name):
    task = _task(task_name)
    verdict = Verifier(task).check([str(task.baseline) + "\npush 0 add"])[0]  # a new operation: not the same key
    assert verdict.ok and verdict.status == "tested", verdict.reason
    assert "in the escalation round" in verdict.bound


def test_the_escalation_tests_are_the_same_for_every_run_of_one_verifier():
    task = _task(CASES[0][0])
    first = Verifier(task).check([CASES[0][1]])[0]
    again = Verifier(task).check([CASES[0][1]])[0]
    assert first.reason == again.reason
