"""Optima that mean what they say: the exact search's constant set (vocabulary, folded, solved), the record
of what a proof is relative to, and minimality over the widened set by brute force."""

import itertools

import numpy as np
import pytest

import tasm_env as te
from tasm_env.asm import Instruction, Program
from tasm_env.field import P
from tasm_env.tasks.search import reads_below_inputs, search, to_optimum
from tasm_env.tasks.search.constants import PUSH_CONSTANTS, solve_constants
from tasm_env.tasks.task import Optimum, SearchedSet
from tasm_env.verify import Verifier, verify

F = "field"


def _brute_force_finds_nothing_shorter(baseline, inputs, result, max_length=None):
    """Every program over the recorded instruction and constant set shorter than the proved optimum (up to
    ``max_length``) fails the verifier: an enumeration independent of the search's engine."""
    rel = result.relative_to
    instructions = [Program.parse(i)[0] for i in rel.instructions]
    instructions += [Instruction("push", c % P) for c in rel.push] + [Instruction("addi", c % P) for c in rel.addi]
    assert len(set(instructions)) == len(result.instruction_set)
    verifier = Verifier(baseline, inputs, n_tests=32, seed=11)
    for length in range(min(result.cycles, max_length or result.cycles)):
        candidates = [Program(p) for p in itertools.product(instructions, repeat=length)]
        candidates = [c for c in candidates if not reads_below_inputs(c, len(inputs))]
        for lo in range(0, len(candidates), 4096):
            verdicts = verifier.check(candidates[lo:lo + 4096])
            assert not any(v.ok for v in verdicts), [str(c) for c, v in zip(candidates[lo:], verdicts) if v.ok]


def test_every_constant_the_vocabulary_can_emit_is_searched():
    from tasm_env.vocab import Vocabulary

    vocab = Vocabulary.default()
    fixed = {(t.name, t.arg % P) for t in vocab.tokens if isinstance(t, Instruction) and t.name in ("push", "addi")}
    baseline = "push 12345 mul addi -77 dup 0 mul"
    result = search(baseline, (F,), time_limit=5)
    rel = result.relative_to
    searched = {("push", c % P) for c in rel.push} | {("addi", c % P) for c in rel.addi}
    assert fixed <= searched, sorted(fixed - searched)
    bound = vocab.bind(te.Task.from_tasm(baseline, (F,)))  # the slots hold the baseline's literals
    for c in bound.constants:
        assert ("push", c % P) in searched and ("addi", c % P) in searched
    folded = {(12345 + 12345) % P, 12345 * 12345 % P, (12345 - 77) % P, (-12345) % P}
    assert folded <= {c % P for c in rel.push}


@pytest.mark.parametrize("suite", ["tasm-basic-v1", "tasm-idioms-v1"])
def test_every_bound_slot_constant_is_in_every_record_of_the_bundled_suites(suite):
    """An optimum is proved over its record's constants; the env's agents emit the bound vocabulary's, whose
    free slots hold folds of the baseline's literals: they must be searched too (``push`` and ``addi``)."""
    from tasm_env.emission.vocab import Vocabulary

    vocab, loaded = Vocabulary.default(), te.load_suite(suite)
    assert not loaded.has_legacy_optima
    folded = 0
    for task in loaded:
        rel = task.optimum.relative_to
        push, addi = {c % P for c in rel.push}, {c % P for c in rel.addi}
        bound = vocab.bind(task)
        assert set(bound.constants) <= push & addi, (task.name, bound.constants)
        folded += len(bound.constants) > len(vocab.slot_constants(task.baseline))
    assert folded  # some tasks' free slots are filled


@pytest.mark.parametrize("name, cycles, program", [
    ("basic-easy-073", 2, "push 6 mul"),               # recorded 4 in tasm-basic-v0
    ("basic-easy-060", 4, "dup 0 mul push 40 mul"),    # recorded 6 in tasm-basic-v0
])
def test_the_issue_examples_are_found_and_proved(name, cycles, program):
    task = te.load_suite("tasm-basic-v0")[name]
    assert task.optimum.cycles > cycles  # the v0 record, over the narrow constant set
    result = search(task, time_limit=60)
    assert result.proved and result.cycles == cycles
    assert verify(task, program).ok and verify(task, result.program, n_tests=200, seed=3).ok


def test_a_constant_nobody_wrote_is_solved_for():
    """24x: no literal, not a vocabulary constant, not computed by the baseline; a final `push c mul` after
    the input needs c = 24, which the search solves for between iterations."""
    baseline = "dup 0 add dup 0 add dup 0 add dup 0 dup 0 add add"
    result = search(baseline, (F,), time_limit=60)
    assert result.proved and result.cycles == 2 and str(result.program) == "push 24\nmul"
    assert 24 in result.relative_to.push
    assert 24 not in PUSH_CONSTANTS
    without = search(baseline, (F,), time_limit=60, instructions=[i for i in result.instruction_set if i != "push 24"])
    assert without.cycles > 2  # so the solved constant is what made the difference


def test_solve_constants_finds_affine_and_scaled_matches():
    rng = np.random.default_rng(0)
    v = rng.integers(1, P, size=(3, 8), dtype=np.uint64)
    goals = np.stack([(v[1].astype(object) * 77 % P).astype(np.uint64),  # 77 * v1
                      ((v[2].astype(object) + 5) % P).astype(np.uint64),  # v2 + 5
                      np.full(8, 999, dtype=np.uint64)])  # the constant 999
    found = solve_constants(v, goals, known=set())
    assert {77, 5, 999} <= set(found)
    assert 5 not in solve_constants(v, goals, known={5})
    noise = rng.integers(1, P, size=(1, 8), dtype=np.uint64)
    assert solve_constants(v, noise, known=set()) == []


@pytest.mark.parametrize("baseline, inputs, max_length", [
    ("dup 0 add dup 0 add dup 0 add", (F,), None),             # 8x: push 8 mul
    ("dup 0 mul dup 0 mul", (F,), None),                       # x^4: push 4 swap 1 pow
    ("push 3 mul push 5 add", (F,), None),                     # 3x + 5: nothing shorter
    ("push -1 mul add", (F, F), None),                         # a - b
])
def test_minimality_over_the_widened_set_by_brute_force(baseline, inputs, max_length):
    result = search(baseline, inputs, time_limit=60)
    assert result.proved
    assert verify(baseline, result.program, inputs=inputs, n_tests=200, seed=9).ok
    _brute_force_finds_nothing_shorter(baseline, inputs, result, max_length)


@pytest.mark.slow
def test_minimality_of_basic_easy_060_by_brute_force():
    task = te.load_suite("tasm-basic-v0")["basic-easy-060"]
    result = search(task, time_limit=120)
    assert result.proved and result.cycles == 4
    _brute_force_finds_nothing_shorter(task.baseline, task.inputs, result)


def test_the_record_says_exactly_what_was_searched():
    result = search("push 2 push 3 mul mul", (F,), time_limit=30)
    rel = result.relative_to
    rebuilt = [*rel.instructions, *(f"push {c}" for c in rel.push), *(f"addi {c}" for c in rel.addi)]
    as_text = {str(Program.parse(i)[0]) for i in rebuilt}
    assert as_text == set(result.instruction_set)
    assert not rel.touch_context and -1 in rel.push and 6 in rel.push
    optimum = to_optimum(result)
    assert optimum.relative_to == rel
    again = Optimum.from_json(optimum.to_json())
    assert (again.cycles, again.program, again.proved) == (optimum.cycles, optimum.program, True)
    assert again.relative_to == rel
    assert SearchedSet.from_json(rel.to_json()) == rel


def test_a_user_instruction_set_is_recorded_as_given():
    result = search("dup 0 add", (F,), instructions=["dup 0", "add", "push 2", "mul"])
    rel = result.relative_to
    assert rel.instructions == ("dup 0", "add", "mul") and rel.push == (2,) and rel.addi == ()


def test_an_incumbent_is_kept_when_verified_and_ignored_when_wrong():
    block, types = "dup 3 dup 2 mul dup 3 dup 2 mul add swap 4 pop 4", (F,) * 4  # a*c + b*d
    shorter = "swap 3 mul place 2 mul add"
    assert verify(block, shorter, inputs=types).ok
    result = search(block, types, time_limit=0.01, incumbent=shorter)
    assert not result.proved and result.program == Program.parse(shorter)
    wrong = "swap 3 mul place 2 mul mul"
    assert search(block, types, time_limit=0.01, incumbent=wrong).program == Program.parse(block)
    proved = search("dup 0 add dup 0 add", (F,), incumbent="push 4 mul")
    assert proved.proved and proved.cycles == 2


def test_the_vocabulary_emits_exactly_the_searched_fixed_constants():
    """The default vocabulary's fixed push/addi constants are the search's (one home: tasks/search/constants)."""
    from tasm_env.asm import Instruction
    from tasm_env.emission.vocab import Vocabulary
    from tasm_env.field import P
    from tasm_env.tasks.search.constants import ADDI_CONSTANTS

    tokens = Vocabulary.default(n_slots=2).tokens
    for name, constants in (("push", PUSH_CONSTANTS), ("addi", ADDI_CONSTANTS)):
        emitted = [t.arg for t in tokens if isinstance(t, Instruction) and t.name == name]
        assert emitted == list(dict.fromkeys(c % P for c in constants)), name
