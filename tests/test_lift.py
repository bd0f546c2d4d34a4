"""Lifting straight-line TASM to TIR: known graphs, clear errors, and the same semantics as the VM."""

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import tasm_env as te
from tasm_env import testing as tst
from tasm_env import isa
from tasm_env.asm import Instruction, Program
from tasm_env.errors import TaskError, VMError
from tasm_env.field import P
from tasm_env.tasks.interpret import TirCrash, evaluate
from tasm_env.tasks.idioms import IDIOMS
from tasm_env.tasks.lift import LIFTABLE_MNEMONICS, lift, lowered_op_counts
from tasm_env.tasks.tir import TIR, Node, Ref
from tasm_env.tip5 import hash_10
from tasm_env.verify import INPUT_TYPES
from tasm_env.vm import run


def ops(tir: TIR) -> list[str]:
    return [n.op for n in tir.nodes[len(tir.inputs):]]


# ------------------------------------------------------------------------------------ known graphs


def test_add_keeping_both_inputs():
    tir = lift("dup 1 dup 1 add", ("field", "field"))
    assert ops(tir) == ["add"]
    assert set(tir.nodes[2].args) == {Ref(0), Ref(1)}
    assert tir.outputs == (Ref(0), Ref(1), Ref(2))


def test_swap_only_reorders_outputs():
    tir = lift("swap 1", ("field", "u32"))
    assert ops(tir) == []
    assert tir.outputs == (Ref(1), Ref(0))


def test_empty_block_is_the_identity():
    tir = lift("", ("field", "bool"))
    assert ops(tir) == [] and tir.outputs == (Ref(0), Ref(1))


@pytest.mark.parametrize("x, expected", [(5, 1), (2, 0), (3, 0), ((1 << 32) - 1, 1)])
def test_lt_keeps_tasm_operand_meaning(x, expected):
    # `push 3 lt` on `_ x 3` pushes st0 < st1, i.e. 3 < x
    tir = lift("push 3 lt", ("u32",))
    assert ops(tir) == ["const", "lt"]
    assert evaluate(tir, (x,)).outputs == (expected,)
    assert run("push 3 lt", stack=(x,)).stack[-1] == expected


def test_div_mod_numerator_is_st0():
    tir = lift("div_mod", ("u32_nonzero", "u32"))  # `_ d n`
    lt = tir.nodes[2]
    assert lt.op == "div_mod" and lt.args == (Ref(1), Ref(0))
    assert evaluate(tir, (7, 31)).outputs == (4, 3)


def test_pow_base_is_st0():
    tir = lift("pow", ("u32", "field"))  # `_ e b`
    assert tir.nodes[2].args == (Ref(1), Ref(0))
    assert evaluate(tir, (10, 2)).outputs == (1024,)


def test_split_results_hi_then_lo():
    tir = lift("split swap 1", ("field",))
    assert tir.outputs == (Ref(1, 1), Ref(1, 0))
    assert evaluate(tir, (P - 1,)).outputs == (0, (1 << 32) - 1)


def test_io_block():
    tir = lift("read_io 2 add write_io 1", ())
    assert ops(tir) == ["read_io", "add", "write_io"]
    assert tir.nodes[0].attr == 2 and tir.outputs == ()
    outcome = evaluate(tir, (), public_input=(4, 5))
    assert outcome.output == (9,) and outcome.public_consumed == 2


def test_effects_keep_program_order():
    tir = lift("read_io 1 write_io 1 divine 2 write_io 1 read_io 1", ())
    assert ops(tir) == ["read_io", "write_io", "divine", "write_io", "read_io"]
    assert tir.outputs == (Ref(2, 0), Ref(4, 0))
    outcome = evaluate(tir, (), public_input=(1, 2), secret_input=(7, 8))
    assert outcome.output == (1, 8) and outcome.outputs == (7, 2)


def test_store_writes_value_at_address():
    tir = lift("write_mem 1 pop 1", ("field", "field"))  # `_ v p`
    assert ops(tir) == ["write_mem"]  # the dead pointer arithmetic p + 1 is dropped
    assert tir.nodes[2].args == (Ref(1), Ref(0))
    assert evaluate(tir, (42, 1000)).ram == {1000: 42}


def test_read_mem_reads_downwards():
    tir = lift("read_mem 2 pop 1", ("field",))
    assert ops(tir) == ["read_mem", "const", "add", "read_mem"]
    outcome = evaluate(tir, (10,), ram={10: 5, 9: 6})
    assert outcome.outputs == (5, 6)


def test_memory_round_trip_orders_reads_after_writes():
    tir = lift("dup 0 read_mem 1 pop 1 addi 1 dup 1 write_mem 1 pop 1 read_mem 1 pop 1", ("field",))
    assert ops(tir) == ["read_mem", "const", "add", "write_mem", "read_mem"]
    assert evaluate(tir, (3,), ram={3: 41}).outputs == (42,)


def test_hash_takes_st0_first_and_leaves_digest_0_on_top():
    tir = lift("hash", ("field",) * 10)
    node = tir.nodes[10]
    assert node.op == "hash" and node.args == tuple(Ref(i) for i in range(9, -1, -1))
    assert tir.outputs == tuple(Ref(10, w) for w in range(4, -1, -1))
    values = tuple(range(100, 110))
    digest = hash_10(values[::-1])
    assert evaluate(tir, values).outputs == tuple(digest[::-1])
    assert run("hash", stack=values).stack[-5:] == tuple(digest[::-1])


def test_extension_field_operands():
    tir = lift("xb_mul", ("field",) * 4)  # `_ a2 a1 a0 s`
    assert tir.nodes[4].args == (Ref(3), Ref(2), Ref(1), Ref(0))
    assert tir.outputs == (Ref(4, 2), Ref(4, 1), Ref(4, 0))


def test_assert_vector_becomes_pairwise_asserts():
    tir = lift("assert_vector", ("field",) * 10)
    assert ops(tir) == ["eq", "assert"] * 5
    assert len(tir.outputs) == 5
    with pytest.raises(TirCrash, match="assertion_failed"):
        evaluate(tir, tuple(range(10)))


def test_constants_are_shared_and_dead_code_dropped():
    tir = lift("push 5 mul push 5 add dup 0 dup 0 add pop 1", ("field",))
    assert ops(tir) == ["const", "mul", "add"]  # one `const 5`; the dead `add` is gone


def test_dead_ops_that_may_crash_stay():
    tir = lift("dup 0 invert pop 1", ("field",))
    assert ops(tir) == ["invert"]
    with pytest.raises(TirCrash, match="inverse_of_zero"):
        evaluate(tir, (0,))


def test_context_can_be_moved_and_restored():
    tir = lift("swap 3 swap 3 dup 5 pop 1", ("field",))
    assert ops(tir) == [] and tir.outputs == (Ref(0),)


@pytest.mark.parametrize("idiom", IDIOMS, ids=lambda i: i.name)
def test_every_idiom_lifts_and_agrees_with_the_vm(idiom):
    tir = lift(idiom.tasm, idiom.inputs)
    assert tir.inputs == idiom.inputs
    check_against_vm(Program.parse(idiom.tasm), tir, inputs=tuple(3 + i for i in range(len(idiom.inputs))),
                     context=tuple(range(1000, 1016)), public=(11, 12, 13), secret=(21, 22), ram_seed=9)


def test_task_from_tasm_uses_lift():
    task = te.Task.from_tasm("dup 1 dup 1 add", inputs=("field", "field"), name="add-keep")
    assert task.tir == lift("dup 1 dup 1 add", ("field", "field"))


# ------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("block, inputs, says", [
    ("add", ("field",), "reads a value from the context"),
    ("pop 2", ("field",), "pops below the block's 1 input"),
    ("swap 2", ("field",), "context below its 1 input(s) changed"),
    ("dup 1", ("field",), "leaves as an output a value from the context"),
    ("dup 3 write_io 1", (), "writes a value from the context"),
    ("skiz push 1", ("bool",), "control flow"),
    ("f: call f", (), "control flow"),
    ("push 1 halt", (), "`halt`"),
    ("sponge_init", (), "sponge"),
    ("sponge_absorb_mem", ("field",), "sponge"),
    ("merkle_step", ("field",) * 6, "Merkle"),
    ("xx_dot_step", ("field",) * 5, "dot-step"),
    ("lt", ("field", "u32"), "operand st1 must be a u32 value"),
    ("add dup 0 lt", ("u32", "u32"), "the result of `add`"),
    ("add", ("field", "int"), "unknown input type"),
])
def test_unliftable_blocks_say_why(block, inputs, says):
    with pytest.raises(TaskError) as err:
        lift(block, inputs)
    assert says in str(err.value)


def test_task_from_tasm_names_the_task_in_errors():
    with pytest.raises(TaskError, match="'bad'.*context"):
        te.Task.from_tasm("add", inputs=("field",), name="bad")


# -------------------------------------------------------------------- semantics: lift agrees with the VM


def check_against_vm(program, tir, inputs, context, public, secret, ram_seed):
    """The lifted TIR, run by the TIR evaluator, does what the VM does: same crash, or same final stack above
    the untouched context, output, input consumed and RAM."""
    try:
        ex = run(program, stack=inputs, floor=context, public_input=public, secret_input=secret,
                 ram_seed=ram_seed)
    except VMError as crash:
        with pytest.raises(TirCrash) as tir_crash:
            evaluate(tir, inputs, public, secret, ram_seed=ram_seed)
        assert tir_crash.value.kind == crash.kind
        return
    outcome = evaluate(tir, inputs, public, secret, ram_seed=ram_seed)
    assert ex.stack[:16] == context
    assert ex.stack[16:] == outcome.outputs
    assert ex.output == outcome.output
    assert ex.public_input_consumed == outcome.public_consumed
    assert ex.secret_input_consumed == outcome.secret_consumed
    assert ex.ram == outcome.ram


def typed_values(kind: str) -> st.SearchStrategy[int]:
    return {
        "field": tst.field_elements(),
        "nonzero": tst.field_elements().filter(bool),
        "u32": tst.u32_values(),
        "u32_nonzero": tst.u32_values().filter(bool),
        "bool": st.sampled_from((0, 1)),
    }[kind]


def lifts(program: Program, inputs: tuple[str, ...]) -> bool:
    try:
        lift(program, inputs)
    except TaskError:
        return False
    return True


@st.composite
def liftable_blocks(draw, max_inputs: int = 10, max_length: int = 16, types=INPUT_TYPES,
                    mnemonics=LIFTABLE_MNEMONICS):
    """(program, input types): instructions drawn from the liftable mnemonics, each kept only when the block
    so far still lifts (so it never touches the context and feeds u32 operands only u32 values). Stack
    indices are folded into the block's live depth, so that most `dup`/`swap`/`pick`/`place` draws are kept."""
    inputs = tuple(draw(st.lists(st.sampled_from(types), max_size=max_inputs)))
    length = draw(st.integers(1, max_length))
    instructions: list[Instruction] = []
    depth = len(inputs)
    for _ in range(4 * length):
        if len(instructions) == length:
            break
        instruction = draw(tst.instructions(mnemonics))
        if instruction.spec.arg is isa.Arg.INDEX and depth:
            instruction = Instruction(instruction.name, instruction.arg % min(depth, 16))
        if lifts(Program(instructions + [instruction]), inputs):
            instructions.append(instruction)
            depth += instruction.spec.delta(instruction.arg)
    return Program(instructions), inputs


U32_TYPES = ("u32", "u32_nonzero", "bool")
U32_MNEMONICS = ("push", "pop", "dup", "swap", "pick", "place", "split", "lt", "and", "xor", "log_2_floor", "pow",
                 "div_mod", "pop_count", "eq", "add", "mul")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(liftable_blocks(), liftable_blocks(types=U32_TYPES, mnemonics=U32_MNEMONICS)), st.data())
def test_lifted_tir_agrees_with_the_vm(block, data):
    program, types = block
    tir = lift(program, types)
    inputs = tuple(data.draw(typed_values(t)) for t in types)
    context = data.draw(st.tuples(*[tst.field_elements()] * 16))
    public = data.draw(tst.input_tokens(max_size=12))
    secret = data.draw(tst.input_tokens(max_size=12))
    ram_seed = data.draw(st.sampled_from((0, 1, 12345)))
    check_against_vm(program, tir, inputs, context, public, secret, ram_seed)


# ------------------------------------------------------------------ the compiler round trip: op counts


def test_lowered_counts_expand_sub_and_neg():
    tir = TIR.build(("field", "field"), [
        Node("input", (), 0), Node("input", (), 1), Node("sub", (Ref(0), Ref(1))), Node("neg", (Ref(2),)),
        Node("const", (), P - 1), Node("mul", (Ref(3), Ref(4))), Node("add", (Ref(0), Ref(0))),  # dead add
    ], [Ref(5)])
    assert lowered_op_counts(tir) == {"const": 1, "mul": 3, "add": 1}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(liftable_blocks(max_length=12))
def test_lifting_the_compiled_lift_gives_the_lowered_counts(block):
    from tasm_env.tasks.compiler import compile_tir

    program, types = block
    tir = lift(program, types)
    try:
        compiled = compile_tir(tir)
    except TaskError:
        assume(False)  # more than 16 live values: the classical compiler cannot lower it
    assert lift(compiled, types).op_counts() == lowered_op_counts(tir)


@pytest.mark.parametrize("tier", ["easy", "medium", "hard"])
def test_lift_of_compiled_generated_tirs_has_lowered_counts(tier):
    from tasm_env.tasks.compiler import compile_tir
    from tasm_env.tasks.generate import generate

    for tir in generate(tier, 12, seed=7):
        lifted = lift(compile_tir(tir), tir.inputs)
        assert lifted.op_counts() == lowered_op_counts(tir), tir.to_json()


@pytest.mark.slow
@pytest.mark.parametrize("tier", ["easy", "medium", "hard"])
def test_lift_of_compiled_generated_tirs_means_the_same(tier):
    """Many generated TIRs: the lifted compiled block has the lowered counts and evaluates like the TIR."""
    from tasm_env.tasks.compiler import compile_tir
    from tasm_env.tasks.generate import generate
    from tasm_env.verify import make_tests

    for tir in generate(tier, 80, seed=11):
        lifted = lift(compile_tir(tir), tir.inputs)
        assert lifted.op_counts() == lowered_op_counts(tir), tir.to_json()
        tests = make_tests(tir.inputs, n_tests=8, seed=3, public_tokens=30, secret_tokens=30).inputs
        for t in range(8):
            args = ([int(v) for v in tests.stack[t][16:]], [int(v) for v in tests.public_input[t]],
                    [int(v) for v in tests.secret_input[t]])
            expected = evaluate(tir, *args, ram_seed=int(tests.ram_seed[t]))
            assert evaluate(lifted, *args, ram_seed=int(tests.ram_seed[t])) == expected
