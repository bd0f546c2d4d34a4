"""The coverage the verifier promises holds by construction, and the default verdict agrees with a re-check."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tasm_env as te
from tasm_env import testing as tst
from tasm_env.coverage import CONTEXT_DEPTH, INPUT_TYPES, field_pool, literals, typed_pool
from tasm_env.verify import Verifier

_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_BLOCKS = st.sampled_from(["add", "dup 0 mul", "push 7 mul", "addi 3 push -5 eq", "pop 1", "read_io 2 add",
                           "divine 1 mul", "push 4294967296 add", "dup 1 add"])


def _check_coverage(verifier: Verifier) -> None:
    tests = verifier.tests
    values = tests.values
    types = tests.column_types
    pool = field_pool(literals(verifier.baseline))
    for column, kind in enumerate(types):  # every source (context, inputs, tokens) meets every edge value
        seen = set(values[:, column].tolist())
        missing = set(typed_pool(kind, pool).tolist()) - seen
        assert not missing, f"column {column} ({kind}) never takes {sorted(missing)[:5]}"
    k = len(verifier.input_types)
    for a in range(k):  # every pair of inputs equal at least once
        for b in range(a + 1, k):
            equal = values[:, CONTEXT_DEPTH + a] == values[:, CONTEXT_DEPTH + b]
            assert equal.any(), (a, b)
    for j, kind in enumerate(verifier.input_types):  # and every value valid for its type
        column = values[:, CONTEXT_DEPTH + j]
        if kind in ("u32", "u32_nonzero"):
            assert (column < 2**32).all()
        if kind == "bool":
            assert (column < 2).all()
        if kind in ("nonzero", "u32_nonzero"):
            assert (column != 0).all()
    assert (values < te.P).all()
    # RAM: over the edge lanes, one address meets every value of the field pool
    edge = tests.ram_offset >= 0
    lanes = tests.lanes(np.flatnonzero(edge))
    for address in (0, 5, 2**40):
        seen = set(lanes.initial_ram(np.full(lanes.lanes, address, dtype=np.uint64)).tolist())
        assert set(pool.tolist()) <= seen


@_SETTINGS
@given(st.lists(st.sampled_from(INPUT_TYPES), min_size=1, max_size=4), _BLOCKS, st.integers(0, 2**32))
def test_every_source_meets_every_edge_value_and_every_pair_is_equal(types, block, seed):
    try:
        verifier = Verifier(block, tuple(types), n_tests=8, seed=seed)
    except te.TaskError:
        return  # the block needs more inputs than given (a static crash on every test)
    _check_coverage(verifier)


def test_coverage_includes_the_baselines_literals_and_neighbours():
    verifier = Verifier("push 123456 eq", ("field",))
    column = set(verifier.tests.values[:, CONTEXT_DEPTH].tolist())
    assert {123455, 123456, 123457, te.P - 123456, te.P - 123457, te.P - 123455} <= column
    u32 = Verifier("push 99 lt", ("u32",))
    assert {98, 99, 100} <= set(u32.tests.values[:, CONTEXT_DEPTH].tolist())


def test_coverage_check_fails_when_a_value_is_removed():
    """The property above can fail: drop one edge value from the tests and it does."""
    verifier = Verifier("add", ("field", "field"))
    column = CONTEXT_DEPTH + 1
    verifier.tests.values[verifier.tests.values[:, column] == 0, column] = 5
    try:
        _check_coverage(verifier)
    except AssertionError:
        return
    raise AssertionError("the coverage check did not notice a missing edge value")


# ---------------------------------------------------------------- random programs and single mutations


def _mutations(program: te.Program, rng: np.random.Generator, vocabulary: list[str]) -> list[str]:
    lines = str(program).split("\n") if len(program) else []
    out = []
    for _ in range(6):
        i = int(rng.integers(len(lines) + 1))
        new = vocabulary[int(rng.integers(len(vocabulary)))]
        if lines and rng.random() < 0.5:
            out.append("\n".join(lines[:i] + [new] + lines[i + 1:]))  # replace one instruction
        else:
            out.append("\n".join(lines[:i] + [new] + lines[i:]))  # insert one
    return out


_VOCABULARY = ["push 0", "push 1", "push -1", "push 7", "dup 0", "dup 1", "swap 1", "pop 1", "add", "mul", "eq",
               "invert", "lt", "and", "split", "log_2_floor", "pop_count", "assert", "addi 1", "div_mod", "xor",
               "push 0 eq", "dup 0 invert mul", "nop"]
RECHECK = {"pairs": 0, "differ": 0, "default_accepted_wrongly": 0}


@pytest.fixture(scope="module", autouse=True)
def _report_recheck_counts():
    """Prints the counts of the re-check property test (pairs sampled, pairs 5,000 tests refute) at the end."""
    yield
    print(f"\nre-check: {RECHECK['pairs']} pairs, {RECHECK['differ']} differ on 5,000 tests, "
          f"{RECHECK['default_accepted_wrongly']} of those accepted by the default verdict")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tst.runnable_programs(18, max_length=8, mnemonics=("push", "dup", "swap", "pop", "add", "mul", "eq", "lt",
                                                        "invert", "split", "and", "assert", "log_2_floor")),
       st.sampled_from([("field", "field"), ("u32", "u32"), ("field", "u32"), ("bool", "field")]),
       st.integers(0, 2**31))
def test_default_verdict_agrees_with_a_5000_test_recheck(program, types, seed):
    try:
        default = Verifier(program, types)
        strong = Verifier(program, types, n_tests=5000, seed=seed + 1)
    except te.TaskError:
        return  # a baseline that crashes on every test is not a task
    candidates = _mutations(program, np.random.default_rng(seed), _VOCABULARY)
    for candidate, verdict, recheck in zip(candidates, default.check(candidates), strong.check(candidates)):
        RECHECK["pairs"] += 1
        if not recheck.ok:
            RECHECK["differ"] += 1
            RECHECK["default_accepted_wrongly"] += verdict.ok
            assert not verdict.ok, f"default accepts {candidate!r} for {str(program)!r}: {recheck.reason}"
