"""The exact search on partial baselines (blocks that crash on some valid inputs): the optimum keeps the
crash behaviour, refuted fingerprint matches do not end the search, minimality against brute force."""

import itertools
import random

import pytest

import tasm_env as te
from tasm_env.asm import Program
from tasm_env.tasks.search import reads_below_inputs, search, to_optimum
from tasm_env.tasks.task import Optimum
from tasm_env.verify import Verifier, verify

F = "field"


def _check(result, baseline: str, inputs) -> None:
    """A verified program (crash pattern included), never longer than the baseline, a consistent bound, and a
    record that says where the fingerprints came from."""
    assert result.program is not None
    assert result.cycles == len(result.program) <= len(Program.parse(baseline))
    assert verify(baseline, result.program, inputs=inputs, n_tests=64, seed=123).ok
    assert result.proved == (result.lower_bound == result.cycles)
    assert "non-crashing region" in result.relative_to.fingerprints


def test_the_assertion_is_kept_and_pop_is_refuted():
    """`push 7 eq assert` consumes x and crashes unless x = 7: `pop 1` agrees wherever the baseline passes
    and is refuted by its crash pattern; the proved optimum crashes where the baseline does."""
    result = te.optimize("push 7 eq assert", inputs=(F,))
    _check(result, "push 7 eq assert", (F,))
    assert result.proved and result.cycles == 3
    refuted = verify("push 7 eq assert", "pop 1", inputs=(F,))
    assert not refuted.ok and refuted.part == "crash"
    assert "assert" in result.relative_to.instructions


def test_a_refuted_fingerprint_match_does_not_end_the_search():
    """With one fingerprint test the baseline passes and one it crashes on, wrong programs meet the goal
    (`log_2_floor pop 1` crashes on a random field element and passes 7); the verifier refutes them, the
    search goes on with more tests and still proves the optimum."""
    grew = False
    for seed in range(3):
        result = search("push 7 eq assert", (F,), fingerprint_tests=1, seed=seed)
        _check(result, "push 7 eq assert", (F,))
        assert result.proved and result.cycles == 3
        grew |= result.fingerprint_tests > 1
    assert grew


@pytest.mark.parametrize("baseline, inputs, cycles", [
    ("dup 0 invert mul", (F,), 3),                       # 1, crashing at 0
    ("dup 0 assert swap 1 swap 1", (F,), 2),             # x is 1 where it passes: `assert push 1`
    ("push 0 pop 1 assert", (F,), 1),                    # an assertion inside an otherwise redundant block
    ("dup 0 log_2_floor pop 1 push 3 mul", ("u32",), 4),  # 3x, crashing at 0: `invert invert push 3 mul`
    ("dup 1 dup 1 div_mod pop 2 add", ("u32", "u32"), 4),  # a + b, crashing at a zero divisor
])
def test_partial_blocks(baseline, inputs, cycles):
    result = search(baseline, inputs, time_limit=120)
    _check(result, baseline, inputs)
    assert result.proved and result.cycles <= cycles, str(result)


BRUTE_FORCE = [
    ("push 7 eq assert", (F,), ["push 7", "push 1", "eq", "assert", "pop 1", "dup 0", "addi -6", "add"]),
    ("dup 0 invert mul", (F,), ["dup 0", "invert", "mul", "pop 1", "push 1", "swap 1", "add", "assert"]),
    ("dup 1 assert dup 0 add", (F, F), ["dup 0", "dup 1", "assert", "add", "push 2", "mul", "pop 1", "swap 1"]),
    ("dup 0 log_2_floor pop 1 push 3 mul", ("u32",),
     ["invert", "push 3", "mul", "dup 0", "pop 1", "log_2_floor", "swap 1", "add"]),
]


@pytest.mark.parametrize("baseline, inputs, instructions", BRUTE_FORCE)
def test_proved_partial_optimum_matches_brute_force(baseline, inputs, instructions):
    """Every program over the same instruction set that is shorter than the proved optimum fails the verifier
    (crash pattern included), and the optimum itself passes."""
    result = search(baseline, inputs, instructions=instructions, time_limit=60)
    _check(result, baseline, inputs)
    assert result.proved
    verifier = Verifier(baseline, inputs, n_tests=32, seed=5)
    assert verifier.check([result.program])[0].ok
    for length in range(result.cycles):
        candidates = [" ".join(p) for p in itertools.product(instructions, repeat=length)]
        candidates = [c for c in candidates if not reads_below_inputs(Program.parse(c), len(inputs))]
        verdicts = verifier.check(candidates)
        assert not any(v.ok for v in verdicts), [c for c, v in zip(candidates, verdicts) if v.ok]


def test_brute_force_finds_the_two_cycle_assertion():
    """Over a set holding `addi -6`, `push 7 eq assert` has a 2-cycle equivalent, `addi -6 assert`: the search
    must reach it (an assertion on a value other than the baseline's)."""
    instructions = ["push 7", "eq", "assert", "pop 1", "dup 0", "addi -6"]
    result = search("push 7 eq assert", (F,), instructions=instructions)
    assert result.proved and result.program == Program.parse("addi -6 assert")


_POOL = ["dup 0", "dup 1", "swap 1", "pop 1", "push 3", "addi 5", "add", "mul", "eq", "invert", "split", "lt",
         "and", "div_mod", "log_2_floor", "pop_count", "assert", "x_invert", "pow"]
_TYPES = ["field", "u32", "bool", "nonzero"]


def _partial_blocks(seed: int, count: int, max_length: int = 3):
    """Random short blocks (and input types) that crash on some valid inputs and pass others."""
    rng = random.Random(seed)
    found = 0
    while found < count:
        types = tuple(rng.choice(_TYPES) for _ in range(rng.randint(1, 3)))
        text = " ".join(rng.choice(_POOL) for _ in range(rng.randint(1, max_length)))
        if reads_below_inputs(Program.parse(text), len(types)):
            continue
        try:
            verifier = Verifier(text, types, n_tests=64, seed=7919)
        except te.TaskError:
            continue  # crashes on every test
        if not verifier.baseline_crashes.any():
            continue
        found += 1
        yield text, types


def test_the_search_reproduces_short_partial_blocks():
    """A partial block padded with two useless instructions is found again at its own length or shorter:
    the search's per-lane crashes agree with the verifier's."""
    for text, types in _partial_blocks(5, 10):
        baseline = text + " push 0 pop 1"
        result = search(baseline, types, time_limit=60)
        _check(result, baseline, types)
        assert result.cycles <= len(Program.parse(text)), (text, types, str(result))


def test_the_record_says_where_the_fingerprints_came_from():
    optimum = to_optimum(search("push 7 eq assert", (F,)))
    again = Optimum.from_json(optimum.to_json())
    assert again.relative_to == optimum.relative_to
    assert "non-crashing region" in again.relative_to.describe()
    total = search("dup 1 add", (F, F)).relative_to
    assert "crashes on none" in total.fingerprints
