"""The exact optimum search: known optima, minimality against brute force, semantics against the verifier,
limits, and the task-level record."""

import itertools
import random
from types import SimpleNamespace

import pytest

import tasm_env as te
from tasm_env.asm import Program
from tasm_env.tasks import search as optimal
from tasm_env.tasks.search import SearchResult, search, to_optimum
from tasm_env.tasks.search.layers import StateSet
from tasm_env.tasks.search.pure import batch_inverse
from tasm_env.tasks.task import Optimum
from tasm_env.verify import Verifier, verify

F = "field"


def _check(result: SearchResult, baseline: str, inputs) -> None:
    """Invariants of every result: a verified program, never longer than the baseline, a consistent bound."""
    assert result.program is not None
    assert result.cycles == len(result.program) <= len(Program.parse(baseline))
    assert verify(baseline, result.program, inputs=inputs, n_tests=64, seed=123).ok
    assert result.lower_bound <= result.cycles
    assert result.proved == (result.lower_bound == result.cycles)
    assert result.instruction_set and all(isinstance(i, str) for i in result.instruction_set)


@pytest.mark.parametrize("baseline, inputs, optimum", [
    ("dup 1 dup 1 add", (F, F), 3),                      # keep both inputs, add: nothing shorter
    ("push 0 add", (F,), 0),                             # adding zero is the empty program
    ("swap 1 swap 1 add", (F, F), 1),                    # add is commutative
    ("dup 0 dup 0 mul mul", (F,), 3),                    # x^3 = push 3 swap 1 pow (3 is a vocabulary constant)
    ("push -1 mul add", (F, F), 3),                      # a - b
    ("push 1 mul", ("u32",), 0),
    ("dup 0 add", (F,), 2),                              # 2x: `dup 0 add` or `push 2 mul`
    ("dup 2 dup 2 mul dup 1 add swap 3 pop 3", (F, F, F), 3),  # a*b + c as a compiler writes it
    ("pop 1 push 7", (F,), 2),
    ("read_io 1 read_io 1 swap 1", (), 2),               # read_io 2 swap 1: the first token ends deepest
    ("dup 0 write_io 1", (F,), 2),
])
def test_known_optima(baseline, inputs, optimum):
    result = search(baseline, inputs, time_limit=60)
    _check(result, baseline, inputs)
    assert result.proved and result.stopped == "proved"
    assert result.cycles == optimum


def test_constant_folding_finds_the_folded_constant():
    result = search("push 2 push 3 mul mul", (F,), time_limit=30)
    assert result.proved and result.cycles == 2  # push 6 mul: 6 is a constant the baseline computes
    assert "push 6" in result.instruction_set


def test_extension_field_instructions_are_searched():
    """a*c + b*d in five cycles through an extension-field product (found by this search; the compiler's
    block takes eleven)."""
    baseline = "dup 3 dup 2 mul dup 3 dup 2 mul add swap 4 pop 4"
    result = search(baseline, (F,) * 4, time_limit=120)
    _check(result, baseline, (F,) * 4)
    assert result.proved and result.cycles == 5


def test_a_task_is_accepted_and_recorded():
    task = SimpleNamespace(baseline=Program.parse("swap 1 swap 1 mul"), inputs=(F, F))
    result = search(task)
    assert result.cycles == 1 and result.proved
    optimum = to_optimum(result)
    assert optimum.cycles == 1 and optimum.proved and str(optimum.program) == "mul"
    assert Optimum.from_json(optimum.to_json()).program == optimum.program


# ------------------------------------------------------------------------------- minimality, brute force

BRUTE_FORCE = [
    ("dup 0 mul dup 0 mul", (F,), ["dup 0", "dup 1", "swap 1", "pop 1", "add", "mul", "push 1", "push -1"]),
    ("dup 2 dup 2 mul dup 1 add swap 3 pop 3", (F, F, F),
     ["swap 1", "swap 2", "pick 2", "dup 0", "dup 2", "pop 1", "mul", "add"]),
    ("push -1 mul add", (F, F), ["push -1", "push 1", "mul", "add", "swap 1", "dup 1", "pop 1", "addi -1"]),
    ("dup 1 dup 1 mul swap 2 add", (F, F), ["dup 0", "dup 1", "dup 2", "swap 1", "swap 2", "add", "mul", "pop 1"]),
]


@pytest.mark.parametrize("touch_context", [True, False])
@pytest.mark.parametrize("baseline, inputs, instructions", BRUTE_FORCE)
def test_proved_optimum_matches_brute_force(baseline, inputs, instructions, touch_context):
    """Every program over the same instruction set (and scope) that is shorter than the proved optimum fails
    the verifier."""
    result = search(baseline, inputs, instructions=instructions, touch_context=touch_context, time_limit=60)
    _check(result, baseline, inputs)
    assert result.proved
    assert set(result.instruction_set) == {str(Program.parse(i)[0]) for i in instructions}
    verifier = Verifier(baseline, inputs, n_tests=32, seed=5)
    for length in range(result.cycles):
        candidates = [" ".join(p) for p in itertools.product(instructions, repeat=length)]
        if not touch_context:
            candidates = [c for c in candidates
                          if not optimal.reads_below_inputs(Program.parse(c), len(inputs))]
        verdicts = verifier.check(candidates)
        assert not any(v.ok for v in verdicts), [c for c, v in zip(candidates, verdicts) if v.ok]


def test_fingerprint_collisions_are_resolved_with_more_tests():
    """With one fingerprint test, wrong programs meet the goal (`add` looks like `xor` on many bit pairs);
    they fail verification, the search restarts with more tests and still proves the optimum."""
    grew = False
    for seed in range(4):
        result = search("dup 1 dup 1 xor", ("bool", "bool"), fingerprint_tests=1, seed=seed)
        _check(result, "dup 1 dup 1 xor", ("bool", "bool"))
        assert result.proved and result.cycles == 3
        grew |= result.fingerprint_tests > 1
    assert grew


# ------------------------------------------------------------------------------ semantics, by construction

_POOL = ["dup 0", "dup 1", "swap 1", "pick 2", "place 2", "pop 1", "push 3", "addi 5", "add", "mul", "eq",
         "invert", "split", "pow", "lt", "and", "xor", "div_mod", "pop_count", "xx_add", "xx_mul", "x_invert",
         "xb_mul", "read_io 1", "divine 1", "write_io 1", "read_mem 1", "read_mem 2", "write_mem 1", "hash",
         "sponge_init", "sponge_absorb", "sponge_squeeze", "sponge_absorb_mem", "merkle_step", "xx_dot_step",
         "xb_dot_step", "assert"]
_TYPES = ["field", "u32", "bool", "nonzero", "u32_nonzero"]


def _random_blocks(seed: int, count: int, below_inputs: bool, max_length: int = 3, max_inputs: int = 5):
    """Random short blocks (and their input types) that run on valid inputs, reading below their inputs or
    not."""
    rng = random.Random(seed)
    found = 0
    while found < count:
        types = tuple(rng.choice(_TYPES) for _ in range(rng.randint(0, max_inputs)))
        text = " ".join(rng.choice(_POOL) for _ in range(rng.randint(1, max_length)))
        if optimal.reads_below_inputs(Program.parse(text), len(types)) != below_inputs:
            continue
        try:
            verifier = Verifier(text, types, n_tests=64, seed=7919)  # the tests the search verifies with (seed 0)
        except te.TaskError:
            continue  # crashes on every test: not a block
        if verifier.baseline_crashes.any():
            continue  # crashes on some valid inputs: the exact search takes blocks that never crash
        found += 1
        yield text, types


@pytest.mark.parametrize("below_inputs", [False, True])
def test_the_search_reproduces_any_short_block(below_inputs):
    """A block padded with two useless instructions must be found again at its own length or shorter: every
    instruction's simulation inside the search (stack, I/O, RAM, sponge, hashing) agrees with the verifier's."""
    for text, types in _random_blocks(11 + below_inputs, 12, below_inputs):
        baseline = text + " push 0 pop 1"
        result = search(baseline, types, time_limit=60)
        _check(result, baseline, types)
        assert result.cycles <= len(Program.parse(text)), (text, types, str(result))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [21, 22, 23])
def test_the_search_reproduces_more_blocks(seed):
    for text, types in _random_blocks(seed, 30, bool(seed % 2), max_length=4, max_inputs=3):
        baseline = text + " push 0 pop 1"
        result = search(baseline, types, time_limit=300)
        _check(result, baseline, types)
        assert result.cycles <= len(Program.parse(text)), (text, types, str(result))


def test_ram_writes_in_another_order_are_found():
    """The baseline writes cell 11, then cell 10; the optimum writes both at once (the RAM goal is compared
    as final contents, not as a write order)."""
    baseline = "push 11 write_mem 1 pop 1 push 10 write_mem 1 pop 1"
    result = search(baseline, (F, F), time_limit=120)
    _check(result, baseline, (F, F))
    assert result.proved and str(result.program).split("\n") == ["swap 1", "push 10", "write_mem 2", "pop 1"]


# ------------------------------------------------------------------------------------------------ limits


def test_time_limit_returns_the_baseline_unproved():
    baseline = "dup 1 dup 1 add pick 2 pick 2 push -1 mul add mul"
    result = search(baseline, (F, F), time_limit=0.0)
    assert result.stopped == "time" and not result.proved
    assert result.program == Program.parse(baseline) and result.cycles == 9
    assert result.lower_bound < 9


def test_node_limit_is_honoured():
    baseline = "dup 1 dup 1 add pick 2 pick 2 push -1 mul add mul"
    result = search(baseline, (F, F), node_limit=500, time_limit=60)
    assert result.stopped == "nodes" and not result.proved and result.nodes <= 500
    _check(result, baseline, (F, F))


def test_max_cycles_limits_the_depth():
    baseline = "dup 1 dup 1 add pick 2 pick 2 push -1 mul add mul"
    result = search(baseline, (F, F), max_cycles=3, time_limit=60)
    assert result.stopped == "depth" and not result.proved
    assert result.lower_bound == 4 and result.cycles == 9


def test_an_optimal_baseline_is_proved_optimal():
    result = search("mul", (F, F))
    assert result.proved and result.cycles == 1 and result.lower_bound == 1 and str(result.program) == "mul"


def test_bad_requests_say_what_is_wrong():
    with pytest.raises(te.TasmError, match="input types"):
        search("add")
    with pytest.raises(te.TasmError, match="straight-line"):
        search("add halt", (F, F))
    with pytest.raises(te.TasmError, match="nop"):
        search("add", (F, F), instructions=["nop", "add"])


def test_same_seed_same_result():
    a = search("dup 2 dup 2 mul dup 1 add swap 3 pop 3", (F, F, F), seed=3)
    b = search("dup 2 dup 2 mul dup 1 add swap 3 pop 3", (F, F, F), seed=3)
    assert a.program == b.program and a.nodes == b.nodes and a.instruction_set == b.instruction_set


# -------------------------------------------------------------------------------------------- internals


def test_state_set_reports_each_state_once():
    import numpy as np

    s = StateSet(capacity=8)
    h1 = np.array([5, 7, 5, 0, 9, 7], dtype=np.uint64)
    h2 = np.array([1, 2, 1, 3, 4, 9], dtype=np.uint64)
    new = s.add_new(h1, h2)
    assert new.tolist() in ([True, True, False, True, True, True], [False, True, True, True, True, True])
    assert not s.add_new(h1, h2).any()
    many = np.arange(1, 5000, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    assert s.add_new(many, many).all() and not s.add_new(many, many).any()


def test_batch_inverse_matches_the_field():
    import numpy as np

    from tasm_env.field import P, inv

    values = np.array([1, 2, 3, P - 1, 12345678901234567, 7, 1 << 40], dtype=np.uint64)
    got = batch_inverse([values], "mul", "invert")[0]
    assert [int(g) for g in got] == [inv(int(v)) for v in values]
    from tasm_env.field import xinv

    xfe = [np.array(c, dtype=np.uint64) for c in ([1, 0, 5, P - 2, 9], [0, 1, 6, 3, 0], [0, 0, 7, 1, 1 << 50])]
    got = batch_inverse(xfe, "xx_mul", "x_invert")
    assert [tuple(int(c[i]) for c in got) for i in range(5)] == [xinv(tuple(int(c[i]) for c in xfe)) for i in range(5)]


def test_the_deprecated_module_still_works():
    import importlib
    import sys

    sys.modules.pop("tasm_env.tasks.optimal", None)
    with pytest.warns(DeprecationWarning):
        old = importlib.import_module("tasm_env.tasks.optimal")
    assert old.search is search and old.SearchResult is SearchResult


@pytest.mark.parametrize("baseline, inputs", [("dup 1 dup 1 add", (F, F)), ("push -1 mul add", (F, F))])
def test_default_instruction_set_minimality_by_brute_force(baseline, inputs):
    """With the default instruction set: no program of the searched set shorter than the proved optimum
    (here 3) is equivalent."""
    result = search(baseline, inputs)
    assert result.proved and result.cycles == 3
    verifier = Verifier(baseline, inputs, n_tests=32, seed=5)
    instructions = list(result.instruction_set)
    for length in range(result.cycles):
        candidates = [" ".join(p) for p in itertools.product(instructions, repeat=length)]
        candidates = [c for c in candidates if not optimal.reads_below_inputs(Program.parse(c), len(inputs))]
        assert not any(v.ok for v in verifier.check(candidates))


@pytest.mark.slow
def test_x_cubed_needs_three_instructions_by_brute_force():
    """Every 2-instruction program over the default (widened) set fails for x^3; `push 3 swap 1 pow` works."""
    baseline, inputs = "dup 0 dup 0 mul mul", (F,)
    result = search(baseline, inputs)
    assert result.proved and result.cycles == 3
    instructions = [Program.parse(i)[0] for i in result.instruction_set]
    verifier = Verifier(baseline, inputs, n_tests=32, seed=5)
    candidates = [Program(p) for p in itertools.product(instructions, repeat=2)]
    candidates = [c for c in candidates if not optimal.reads_below_inputs(c, len(inputs))]
    for lo in range(0, len(candidates), 4096):
        assert not any(v.ok for v in verifier.check(candidates[lo:lo + 4096]))


@pytest.mark.parametrize("touch_context", [False, True])
def test_incremental_state_hashes_match_the_built_rows(touch_context):
    """The engine hashes a child from its parent's hash and the move (before building the row); the sum must
    equal the hash of the row once built, for every move kind (so the dedup compares the right states)."""
    import time

    import numpy as np

    from tasm_env.tasks.search.engine import Engine
    from tasm_env.tasks.search.layers import StateSet
    from tasm_env.tasks.search.moves import instruction_set
    from tasm_env.tasks.search.space import Space

    baseline = Program.parse("dup 1 dup 1 mul push 3 add swap 2 pop 1")
    searched = instruction_set(baseline, [0, 1, 3, P_MINUS_1])
    space = Space(baseline, (F, F), searched, 8, 1, touch_context, (0, 0, 0, 0))
    engine = Engine(space, 6, time.perf_counter() + 60, 10**7, 0)
    layer, seen = engine.initial(), StateSet()
    seen.add_new(layer.h1, layer.h2)
    kinds = set()
    for d in range(3):
        batches, _ = engine.expand(layer, d, 6, seen)
        kinds |= {space.moves[b.move].kind for b in batches}
        layer = engine.merge(layer, batches)
        h1, h2 = engine.row_hash(layer.rows, layer.depth, layer.meta)
        assert np.array_equal(h1, layer.h1) and np.array_equal(h2, layer.h2)
    assert kinds >= {"dup", "swap", "pick", "place", "pop", "op"}


P_MINUS_1 = te.P - 1
