"""Candidates with the baseline's dataflow are accepted without tests; their keys must mean equal behaviour."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasm_env import batch, testing as tst
from tasm_env.asm import Program
from tasm_env.dataflow import QUIET, dataflow_key
from tasm_env.plan import Shape
from tasm_env.verify import SAME_DATAFLOW, Verifier, verify, verify_many

SHAPE = Shape(20, 4, 4, 1)


def key(text: str, table: dict) -> tuple:
    return dataflow_key(batch.compile_block(Program.parse(text), SHAPE), table)


@pytest.mark.parametrize("a, b", [
    ("dup 1 dup 1 add", "dup 0 dup 2 add"),                 # the same operation on the same sources
    ("add", "swap 1 add"),                                  # commutative operands
    ("dup 0 mul", "dup 0 dup 1 mul swap 1 pop 1"),
    ("dup 2 dup 2 mul dup 4 dup 4 add", "dup 3 dup 3 add dup 3 dup 3 mul swap 1"),  # independent, reordered
    ("push 3 add", "dup 0 dup 0 mul pop 1 push 3 add"),     # a dead operation that cannot crash
    ("push 7 eq assert", "push 7 swap 1 eq assert"),
    ("read_io 1 add", "read_io 1 swap 1 add"),
    ("push 5 write_mem 1 pop 1", "push 5 write_mem 1 pop 1"),
])
def test_the_same_dataflow_written_differently_has_one_key(a, b):
    table: dict = {}
    assert key(a, table) == key(b, table)


@pytest.mark.parametrize("a, b", [
    ("lt", "swap 1 lt"),                                    # not commutative
    ("push 3 add", "dup 0 invert pop 1 push 3 add"),        # a dead operation that may crash stays
    ("push 3 add", "dup 0 push 1 lt pop 1 push 3 add"),     # ... a dead u32 check too
    ("push 7 eq", "push 8 eq"),                             # another constant
    ("add", "add dup 0 write_io 1"),                        # public output is state
    ("push 1 write_mem 1 pop 1", "push 2 write_mem 1 pop 1"),  # RAM writes are state
    ("dup 0 push 1 write_mem 1 pop 1 push 1 write_mem 1 pop 1", "push 1 write_mem 1 pop 1"),  # ... each of them
    ("sponge_init", "sponge_init dup 9 dup 9 dup 9 dup 9 dup 9 dup 9 dup 9 dup 9 dup 9 dup 9 sponge_absorb"),
    ("dup 0", "dup 1"),
])
def test_different_dataflows_have_different_keys(a, b):
    table: dict = {}
    assert key(a, table) != key(b, table)


def test_operations_counted_as_quiet_never_report_a_crash():
    """The key leaves out dead operations of the kinds it counts as never crashing: their evaluators must
    return no crash at all, on the edge values too."""
    quiet = sorted(QUIET)
    assert "add" in quiet and "invert" not in quiet and "lt" not in quiet and "mem_read" not in quiet
    edge = np.array([0, 1, 2, (1 << 32) - 1, 1 << 32, (1 << 64) - (1 << 32)], dtype=np.uint64)
    for name in quiet:
        results, crashes = batch.evaluator(name)([edge] * 16, None)
        assert crashes == [], name


def test_a_candidate_with_the_baseline_dataflow_is_proved_after_the_first_round(monkeypatch):
    verifier = Verifier("dup 2 dup 2 mul dup 4 dup 4 add mul", ("field",) * 4)
    lanes = []
    real = batch.GroupRun
    monkeypatch.setattr(batch, "GroupRun", lambda plans, inputs: lanes.append(inputs.lanes) or real(plans, inputs))
    verdict = verifier.check(["dup 3 dup 3 add dup 3 dup 3 mul mul"])[0]
    assert verdict is SAME_DATAFLOW and verdict.ok and verdict.status == "proved"
    assert lanes == [len(verifier.rounds[0])]  # the cheap round only: no other test, none solved for it
    verifier.same_dataflow_proves = False
    lanes.clear()
    verdict = verifier.check(["dup 3 dup 3 add dup 3 dup 3 mul mul"])[0]
    assert verdict.ok and verdict.status == "tested" and len(lanes) > 1


def test_an_equivalent_candidate_of_another_dataflow_is_still_tested():
    verdict = verify("dup 0 add", "push 2 mul", inputs=("field",))
    assert verdict.ok and verdict.status == "tested"


def test_candidates_of_one_dataflow_share_a_verdict_that_names_each():
    # two spellings of the same wrong program (x + 1 for x + 2): run once, refuted for both
    a, b = "push 1 add", "push 1 swap 1 add"
    verdicts = verify_many("push 2 add", [a, b, "push 2 add"], inputs=("field",))
    assert not verdicts[0].ok and not verdicts[1].ok and verdicts[2].ok
    assert verdicts[0].reason == verdicts[1].reason
    assert str(verdicts[0].counterexample.programs[1]) == str(Program.parse(a))
    assert str(verdicts[1].counterexample.programs[1]) == str(Program.parse(b))


EQUAL_KEYS: list = []


def _swapped(program: Program, at: int) -> Program:
    instructions = list(program.instructions)
    at %= max(len(instructions) - 1, 1)
    instructions[at:at + 2] = instructions[at:at + 2][::-1]
    return Program(instructions)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tst.runnable_programs(24, max_length=12), st.integers(0, 64), st.integers(0, 2**32))
def test_equal_keys_mean_equal_runs(program, at, seed):
    """Two adjacent instructions exchanged (often a reordering of independent work): where the keys are equal,
    both programs crash on the same lanes and agree on everything else."""
    other = _swapped(program, at)
    rng = np.random.default_rng(seed)
    shape = Shape(24, 16, 16, 3)
    plans = [batch.compile_block(p, shape) for p in (program, other)]
    table: dict = {}
    if plans[0].static_crash != batch.NO_CRASH or plans[1].static_crash != batch.NO_CRASH:
        return
    if dataflow_key(plans[0], table) != dataflow_key(plans[1], table):
        return
    EQUAL_KEYS.append(1)
    edge = np.array([0, 1, 2, 3, (1 << 32) - 1, 1 << 32, (1 << 64) - (1 << 32)], dtype=np.uint64)
    stack = rng.choice(edge, size=(64, 24)) if seed % 2 else rng.integers(0, 1 << 32, size=(64, 24), dtype=np.uint64)
    inputs = batch.Inputs(stack, rng.choice(edge, size=(64, 16)), rng.choice(edge, size=(64, 16)),
                          rng.choice(edge, size=(64, 3, 5)), ram_seed=seed % 3)
    run = batch.GroupRun(plans, inputs)
    a, b = batch.result_of(run, 0), batch.result_of(run, 1)
    assert (a.crashed == b.crashed).all()
    ok = ~a.crashed
    assert (a.stack[ok] == b.stack[ok]).all() and (a.output[ok] == b.output[ok]).all()
    if a.sponge is not None:
        assert (a.sponge[ok] == b.sponge[ok]).all()
    addresses = np.concatenate([a.ram_addresses, b.ram_addresses], axis=1).T
    assert (run.final_ram(0, addresses)[:, ok] == run.final_ram(1, addresses)[:, ok]).all()


def test_the_property_saw_equal_keys():
    """Not vacuous: many of the exchanged pairs above had equal keys (run after it, in file order)."""
    assert len(EQUAL_KEYS) >= 30, len(EQUAL_KEYS)
