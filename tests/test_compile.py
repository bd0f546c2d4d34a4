"""The classical TIR -> TASM compiler: operand orders, cleanup, the reach limit, determinism, and (the property
that matters) its output run on the reference VM agrees with the TIR's own evaluator on generated programs of
every tier: final stack, public output, input consumed, RAM and crash kind."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasm_env import field as ff
from tasm_env import testing as tst
from tasm_env.asm import Program
from tasm_env.errors import TaskError, VMError
from tasm_env.tasks.compiler import compile_tir
from tasm_env.tasks.interpret import TirCrash, evaluate
from tasm_env.tasks.generate import TIERS, random_tir
from tasm_env.tasks.tir import OPS, TIR, Node, Ref
from tasm_env.verify import verify
from tasm_env.vm import run

P = ff.P
FLOOR = tuple(range(100, 116))  # a recognisable context below the block


def one_op(op: str, types, attr=None) -> TIR:
    k = len(types)
    nodes = [Node("input", (), i) for i in range(k)] + [Node(op, tuple(Ref(i) for i in range(k)), attr)]
    outputs = [Ref(k, j) for j in range(nodes[-1].n_results())] or [Ref(0)]
    return TIR.build(types, nodes, outputs)


def block_result(tir: TIR, inputs, **kwargs):
    """(final stack above the floor, the run) of the compiled block."""
    ex = run(compile_tir(tir), stack=inputs, floor=FLOOR, **kwargs)
    assert ex.stack[:16] == FLOOR, "the block must not touch its context"
    return ex.stack[16:], ex


# -------------------------------------------------------------------------------------- the lowering


@pytest.mark.parametrize("op, types, tasm", [
    # two inputs x (deepest) and y: fetch y then x so that x (argument 0) is st0, then drop both inputs
    ("add", ("field", "field"), "dup 0 dup 2 add pick 1 pick 2 pop 2"),
    ("lt", ("u32", "u32"), "dup 0 dup 2 lt pick 1 pick 2 pop 2"),            # st0 < st1 is x < y
    ("div_mod", ("u32", "u32_nonzero"), "dup 0 dup 2 div_mod pick 2 pick 3 pop 2"),  # numerator st0
    ("pow", ("field", "u32"), "dup 0 dup 2 pow pick 1 pick 2 pop 2"),       # base st0, exponent st1
    ("sub", ("field", "field"), "dup 1 dup 1 push -1 mul add pick 1 pick 2 pop 2"),  # x + (-1) * y
    ("neg", ("field",), "dup 0 push -1 mul pick 1 pop 1"),
    ("split", ("field",), "dup 0 split pick 2 pop 1"),
    ("write_mem", ("field", "field"), "dup 0 dup 2 write_mem 1 pop 1 pop 2"),  # RAM[x] = y: `_ y x`
    ("read_mem", ("field",), "dup 0 read_mem 1 pop 1 pick 1 pop 1"),
    ("write_io", ("field", "field"), "dup 0 dup 2 write_io 2 pop 2"),      # x is st0, written first
    ("assert", ("bool",), "dup 0 assert pop 1"),
])
def test_lowering_of_one_op(op, types, tasm):
    tir = one_op(op, types)
    if op in ("write_mem", "write_io", "assert"):  # no results: keep nothing
        tir = TIR.build(types, tir.nodes, [])
    assert compile_tir(tir) == Program.parse(tasm)


def test_const_is_a_push_and_outputs_already_in_place_cost_nothing():
    tir = TIR.build(("field",), [Node("input", (), 0), Node("const", (), 7), Node("mul", (Ref(0), Ref(1)))],
                    [Ref(2)])
    assert compile_tir(tir) == Program.parse("push 7 dup 0 dup 2 mul pick 1 pick 2 pop 2")
    identity = TIR.build(("field", "u32"), [Node("input", (), 0), Node("input", (), 1)], [Ref(0), Ref(1)])
    assert len(compile_tir(identity)) == 0


@pytest.mark.parametrize("outputs", [[Ref(1), Ref(0)], [Ref(0), Ref(0)], [Ref(1)], [Ref(0), Ref(1), Ref(0)], []])
def test_reshuffling_inputs(outputs):
    tir = TIR.build(("field", "field"), [Node("input", (), 0), Node("input", (), 1)], outputs)
    stack, _ = block_result(tir, (5, 9))
    assert stack == evaluate(tir, (5, 9)).outputs


@pytest.mark.parametrize("op", sorted(set(OPS) - {"input", "const", "read_io", "divine", "write_io"}))
def test_every_op_agrees_with_the_evaluator(op):
    spec = OPS[op]
    types = tuple("u32" if t == "u32" else "field" for t in spec.args)
    tir = one_op(op, types)
    rng = np.random.default_rng(1)
    for _ in range(20):
        values = [int(rng.integers(1, 1 << 32)) if t == "u32" else int(rng.integers(0, P, dtype=np.uint64))
                  for t in types]
        if op == "assert":
            values = [1]
        stack, ex = block_result(tir, values, ram_seed=3)
        out = evaluate(tir, values, ram_seed=3)
        assert (stack, ex.ram) == (out.outputs, out.ram)


def test_read_io_and_divine_tokens_land_as_results_in_order():
    tir = TIR.build((), [Node("read_io", (), 3), Node("divine", (), 2)],
                    [Ref(1, 1), Ref(0, 0), Ref(0, 2), Ref(1, 0)])
    stack, ex = block_result(tir, (), public_input=(1, 2, 3), secret_input=(8, 9))
    assert stack == (9, 1, 3, 8) == evaluate(tir, (), public_input=(1, 2, 3), secret_input=(8, 9)).outputs


# ------------------------------------------------------------------------------------------ reach


def test_more_than_sixteen_live_values_is_a_task_error():
    k = 17  # all inputs are outputs, so all stay live; the add needs input 0 from depth 17
    nodes = [Node("input", (), i) for i in range(k)] + [Node("add", (Ref(0), Ref(1)))]
    tir = TIR.build(("field",) * k, nodes, [Ref(i) for i in range(k + 1)])
    with pytest.raises(TaskError, match=r"node 17 \(`add`\): needs a value at stack depth 17.*too many values live"):
        compile_tir(tir)


def test_sixteen_inputs_summed_fit():
    # the first add cannot copy both operands (input 0 would be 16 deep), so it moves them: they die there
    k = 16
    nodes = [Node("input", (), i) for i in range(k)] + [Node("add", (Ref(0), Ref(1)))]
    nodes += [Node("add", (Ref(k + j), Ref(j + 2))) for j in range(k - 2)]
    tir = TIR.build(("field",) * k, nodes, [Ref(len(nodes) - 1)])
    assert str(compile_tir(tir)).startswith("pick 14\npick 15\nadd")
    values = tuple(range(1, k + 1))
    stack, _ = block_result(tir, values)
    assert stack == (sum(values),)


def test_hash_of_ten_inputs_moves_its_operands():
    wide = one_op("hash", ("field",) * 10)
    tir = TIR.build(wide.inputs, wide.nodes, wide.outputs[::-1])  # digest[0] on top, as `hash` leaves it
    assert compile_tir(tir) == Program.parse("pick 1 pick 2 pick 3 pick 4 pick 5 pick 6 pick 7 pick 8 pick 9 hash")
    values = tuple(range(20, 30))
    stack, _ = block_result(tir, values)
    assert stack == evaluate(tir, values).outputs


def test_moving_operands_keeps_a_repeated_operand_apart_from_its_copy():
    # 9 live inputs and hash(x0, x0, x1, ..., x8): copying all would reach 16 deep, so the last uses move; x0 is
    # copied for its first occurrence and moved (from below the fetched operands) for its last
    args = (Ref(0), Ref(0)) + tuple(Ref(i) for i in range(1, 9))
    nodes = [Node("input", (), i) for i in range(9)] + [Node("hash", args)]
    tir = TIR.build(("field",) * 9, nodes, [Ref(9, j) for j in range(5)])
    assert "dup 8\npick 9\nhash" in str(compile_tir(tir))
    values = tuple(range(40, 49))
    stack, _ = block_result(tir, values)
    assert stack == evaluate(tir, values).outputs


def test_dead_values_are_freed_as_the_block_goes():
    # a chain of 30 single-use values never keeps more than a few live
    nodes = [Node("input", (), 0)] + [Node("add", (Ref(j), Ref(j))) for j in range(30)]
    tir = TIR.build(("field",), nodes, [Ref(30)])
    stack, _ = block_result(tir, (3,))
    assert stack == (3 * 2**30 % P,)


# --------------------------------------------------------------------------------- determinism


def test_compiler_is_deterministic():
    rng = np.random.default_rng(7)
    for tier in TIERS:
        tir = random_tir(tier, rng)
        first = compile_tir(tir)
        assert compile_tir(tir) == first
        assert compile_tir(TIR.from_json(tir.to_json())) == first
        assert str(compile_tir(tir)) == str(first)


def test_bad_tir_is_rejected_before_lowering():
    tir = TIR(("field",), (Node("input", (), 0), Node("frobnicate", (Ref(0),))), (Ref(1),))
    with pytest.raises(TaskError, match="node 1: unknown op 'frobnicate'"):
        compile_tir(tir)


# ------------------------------------------------------------------------- compiled VM == evaluator

_VALUES = {
    "field": tst.field_elements(),
    "nonzero": tst.field_elements().map(lambda v: v or 1),
    "u32": tst.u32_values(),
    "u32_nonzero": tst.u32_values().map(lambda v: v or 1),
    "bool": st.integers(0, 1),
}


def _tokens(tir: TIR, op: str) -> int:
    return sum(n.attr for n in tir.nodes if n.op == op)


@st.composite
def generated_runs(draw, typed: bool = True):
    """A generated TIR of a random tier and everything one run of it needs."""
    tier = draw(st.sampled_from(TIERS))
    tir = random_tir(tier, np.random.default_rng(draw(st.integers(0, 2**32 - 1))))
    if typed:
        inputs = tuple(draw(_VALUES[t]) for t in tir.inputs)
    else:  # anything: the block may crash, and must crash as the TIR does
        inputs = tuple(draw(tst.stack_values()) for _ in tir.inputs)
    public = tuple(draw(st.lists(tst.stack_values(), min_size=_tokens(tir, "read_io"),
                                 max_size=_tokens(tir, "read_io") + 2)))
    secret = tuple(draw(st.lists(tst.stack_values(), min_size=_tokens(tir, "divine"),
                                 max_size=_tokens(tir, "divine") + 2)))
    floor = tuple(draw(st.lists(tst.field_elements(), min_size=16, max_size=16)))
    ram = draw(st.dictionaries(st.sampled_from((0, 1, 2, 7, 64, 1000, 1 << 32, P - 1)), tst.field_elements(),
                               max_size=3))
    ram_seed = draw(st.sampled_from((0, 0, 1)) | st.integers(1, 2**63))
    return tier, tir, dict(inputs=inputs, public_input=public, secret_input=secret, ram=ram, ram_seed=ram_seed,
                           floor=floor)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(generated_runs())
def test_compiled_block_on_the_vm_equals_the_evaluator(case):
    tier, tir, kw = case
    out = evaluate(tir, kw["inputs"], kw["public_input"], kw["secret_input"], kw["ram"], kw["ram_seed"])
    ex = run(compile_tir(tir), stack=kw["inputs"], floor=kw["floor"], public_input=kw["public_input"],
             secret_input=kw["secret_input"], ram=kw["ram"], ram_seed=kw["ram_seed"])
    assert ex.stack[:16] == kw["floor"]
    assert ex.stack[16:] == out.outputs
    assert ex.output == out.output
    assert ex.ram == out.ram
    assert (ex.public_input_consumed, ex.secret_input_consumed) == (out.public_consumed, out.secret_consumed)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(generated_runs(typed=False))
def test_compiled_block_crashes_exactly_when_the_evaluator_does(case):
    tier, tir, kw = case
    try:
        out = evaluate(tir, kw["inputs"], kw["public_input"], kw["secret_input"], kw["ram"], kw["ram_seed"])
        expected = None
    except TirCrash as crash:
        expected = crash.kind
    try:
        ex = run(compile_tir(tir), stack=kw["inputs"], floor=kw["floor"], public_input=kw["public_input"],
                 secret_input=kw["secret_input"], ram=kw["ram"], ram_seed=kw["ram_seed"])
        got = None
    except VMError as crash:
        got = crash.kind
    assert got == expected
    if got is None:
        assert (ex.stack[16:], ex.output, ex.ram) == (out.outputs, out.output, out.ram)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TIERS), st.integers(0, 2**32 - 1))
def test_compiled_block_is_equivalent_to_itself_under_the_verifier(tier, seed):
    tir = random_tir(tier, np.random.default_rng(seed))
    program = compile_tir(tir)
    verdict = verify(program, program, inputs=tir.inputs)
    assert verdict.ok, verdict.reason
