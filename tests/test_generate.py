"""The TIR generators: tier limits and op mix, reproducibility, no duplicates, programs that never crash on
typed inputs, and the degeneracy predicate on hand-made degenerate programs."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasm_env.errors import TaskError
from tasm_env.tasks.interpret import evaluate
from tasm_env.tasks.generate import TIER_SPECS, TIERS, canonical_key, degeneracy, generate, random_tir
from tasm_env.tasks.task import Task
from tasm_env.tasks.tir import TIR, Node, Ref
from tasm_env.verify import make_tests

N = 40


@pytest.fixture(scope="module", params=TIERS)
def batch(request):
    return request.param, generate(request.param, N, seed=2024)


def check_limits(tier: str, tir: TIR) -> None:
    spec = TIER_SPECS[tier]
    assert spec.inputs[0] <= len(tir.inputs) <= spec.inputs[1]
    assert spec.operations[0] <= len(tir) <= spec.operations[1]
    assert 1 <= len(tir.outputs) <= 4
    ops = set(tir.op_counts())
    assert ops <= set(spec.menu) | {"const"}, ops - set(spec.menu)
    if spec.own:
        assert ops & spec.own, f"a {tier} program without any {tier} operation"


def test_tiers_respect_their_limits(batch):
    tier, programs = batch
    assert len(programs) == N
    for tir in programs:
        check_limits(tier, tir)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TIERS), st.integers(0, 2**32 - 1))
def test_random_programs_respect_their_tier(tier, seed):
    tir = random_tir(tier, np.random.default_rng(seed))
    check_limits(tier, tir)
    assert degeneracy(tir) is None


def test_easy_programs_are_field_arithmetic():
    for tir in generate("easy", 30, seed=3):
        assert set(tir.inputs) == {"field"}
        assert set(tir.op_counts()) <= {"add", "sub", "mul", "neg", "const"}


def test_the_harder_tiers_use_all_their_operations():
    seen = {op for tir in generate("hard", 80, seed=5) for op in tir.op_counts()}
    assert seen == set(TIER_SPECS["hard"].menu) | {"const"}
    seen = {op for tir in generate("medium", 80, seed=5) for op in tir.op_counts()}
    assert seen == set(TIER_SPECS["medium"].menu) | {"const"}


def test_generation_is_reproducible_and_seeded(batch):
    tier, programs = batch
    assert generate(tier, N, seed=2024) == programs
    assert generate(tier, N // 2, seed=2024) == programs[:N // 2]
    assert generate(tier, N, seed=2025) != programs


def test_no_duplicates(batch):
    tier, programs = batch
    keys = [canonical_key(t) for t in programs]
    assert len(set(keys)) == len(keys)


def test_programs_never_crash_on_their_typed_inputs(batch):
    """The verifier's own tests (seed 42, the ones a Task's baseline must survive) and fresh ones."""
    tier, programs = batch
    for seed in (42, 7):
        for tir in programs:
            tests = make_tests(tir.inputs, 40, seed, public_tokens=16, secret_tokens=16).inputs
            k = len(tir.inputs)
            for t in range(40):
                evaluate(tir, [int(v) for v in tests.stack[t][16:16 + k]],
                         public_input=[int(v) for v in tests.public_input[t]],
                         secret_input=[int(v) for v in tests.secret_input[t]],
                         ram_seed=int(tests.ram_seed[t]))


def test_every_generated_program_passes_the_degeneracy_check(batch):
    tier, programs = batch
    assert all(degeneracy(tir) is None for tir in programs)


def test_generated_programs_make_tasks():
    for tier in TIERS:
        tir = generate(tier, 1, seed=9)[0]
        task = Task.from_tir(tir, name=f"{tier}-0", tier=tier)
        assert task.baseline_cycles > 0 and task.inputs == tir.inputs


def test_bad_arguments():
    with pytest.raises(TaskError, match="unknown tier 'expert'"):
        generate("expert", 3, 0)
    with pytest.raises(TaskError, match="n must be a non-negative int"):
        generate("easy", -1, 0)
    assert generate("easy", 0, 0) == []


# ------------------------------------------------------------------------------------- degeneracy


def tir(inputs, body, outputs) -> TIR:
    return TIR.build(inputs, [Node("input", (), i) for i in range(len(inputs))] + body, outputs)


F2 = ("field", "field")


def test_a_sound_program_is_not_degenerate():
    assert degeneracy(tir(F2, [Node("add", (Ref(0), Ref(1)))], [Ref(2)])) is None
    assert degeneracy(tir(("field",), [Node("write_io", (Ref(0),)), Node("neg", (Ref(0),))], [Ref(2)])) is None


@pytest.mark.parametrize("inputs, body, outputs, says", [
    # no output or effect depends on any input
    (F2, [Node("const", (), 3), Node("const", (), 4), Node("add", (Ref(2), Ref(3)))], [Ref(4)],
     "no output or effect depends on any input"),
    (F2, [Node("read_io", (), 1), Node("neg", (Ref(2),))], [Ref(3)], "no output or effect depends on any input"),
    # outputs that are the inputs themselves, or recompute them
    (F2, [Node("write_io", (Ref(0),))], [Ref(1), Ref(0)], "every output is an input"),
    (F2, [Node("add", (Ref(0), Ref(1))), Node("sub", (Ref(2), Ref(1)))], [Ref(3)],
     "every output is a copy of an input"),
    (("field",), [Node("neg", (Ref(0),)), Node("neg", (Ref(1),))], [Ref(2)], "every output is a copy"),
    # a constant output, next to a sound one
    (F2, [Node("sub", (Ref(0), Ref(0))), Node("mul", (Ref(0), Ref(1)))], [Ref(3), Ref(2)], "output 1 is constant"),
    (F2, [Node("const", (), 3), Node("mul", (Ref(0), Ref(2))), Node("eq", (Ref(3), Ref(1)))], [Ref(4)],
     "output 0 is nearly constant"),  # 3x == y: only ever true when both are 0
    (("u32",), [Node("split", (Ref(0),))], [Ref(1, 1), Ref(1, 0)], "output 1 is constant"),  # hi of a u32
    # crashes on valid inputs
    (("field",), [Node("invert", (Ref(0),))], [Ref(1)], "crashes"),
    (("u32", "u32"), [Node("div_mod", (Ref(0), Ref(1)))], [Ref(2, 0)], "crashes"),
])
def test_degenerate_programs_are_caught(inputs, body, outputs, says):
    assert says in (degeneracy(tir(inputs, body, outputs)) or "")


def test_declared_nonzero_inputs_make_division_sound():
    assert degeneracy(tir(("nonzero",), [Node("invert", (Ref(0),))], [Ref(1)])) is None
    assert degeneracy(tir(("u32", "u32_nonzero"), [Node("div_mod", (Ref(0), Ref(1)))], [Ref(2, 0)])) is None
