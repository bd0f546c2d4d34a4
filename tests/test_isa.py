"""The ISA table against facts transcribed from triton-vm v7.0.0 (``triton-isa/src/instruction.rs``:
``opcode``, ``size``, ``op_stack_size_influence``, ``is_u32_instruction``; RAM and hash rows from ``vm.rs``)."""

import pytest

from tasm_env import isa
from tasm_env.field import P

# name: (opcode, op_stack_size_influence with n = 1 for word counts), from instruction.rs
SOURCE = {
    "pop": (3, -1), "push": (1, 1), "divine": (9, 1), "pick": (17, 0), "place": (25, 0), "dup": (33, 1),
    "swap": (41, 0), "halt": (0, 0), "nop": (8, 0), "skiz": (2, -1), "call": (49, 0), "return": (16, 0),
    "recurse": (24, 0), "recurse_or_return": (32, 0), "assert": (10, -1), "read_mem": (57, 1),
    "write_mem": (11, -1), "hash": (18, -5), "assert_vector": (26, -5), "sponge_init": (40, 0),
    "sponge_absorb": (34, -10), "sponge_absorb_mem": (48, 0), "sponge_squeeze": (56, 10), "add": (42, -1),
    "addi": (65, 0), "mul": (50, -1), "invert": (64, 0), "eq": (58, -1), "split": (4, 1), "lt": (6, -1),
    "and": (14, -1), "xor": (22, -1), "log_2_floor": (12, 0), "pow": (30, -1), "div_mod": (20, 0),
    "pop_count": (28, 0), "xx_add": (66, -3), "xx_mul": (74, -3), "x_invert": (72, 0), "xb_mul": (82, -1),
    "read_io": (73, 1), "write_io": (19, -1), "merkle_step": (36, 0), "merkle_step_mem": (44, 0),
    "xx_dot_step": (80, 0), "xb_dot_step": (88, 0),
}  # fmt: skip
TWO_WORD = {"pop", "push", "divine", "pick", "place", "dup", "swap", "call", "read_mem", "write_mem", "addi",
            "read_io", "write_io"}
U32 = {"split", "lt", "and", "xor", "log_2_floor", "pow", "div_mod", "pop_count", "merkle_step", "merkle_step_mem"}
WORD_COUNT = {"pop": -1, "divine": 1, "read_mem": 1, "write_mem": -1, "read_io": 1, "write_io": -1}
RAM_ROWS = {"sponge_absorb_mem": 10, "merkle_step_mem": 5, "xx_dot_step": 6, "xb_dot_step": 4}
PERMUTATIONS = {"hash", "sponge_absorb", "sponge_absorb_mem", "sponge_squeeze", "merkle_step", "merkle_step_mem"}


def test_46_mnemonics_with_unique_opcodes():
    assert len(isa.MNEMONICS) == 46 == len(set(isa.MNEMONICS))
    assert set(isa.MNEMONICS) == set(SOURCE)
    assert len(isa.BY_OPCODE) == 46


@pytest.mark.parametrize("spec", isa.INSTRUCTIONS, ids=lambda s: s.name)
def test_opcode_and_delta_match_the_source(spec):
    opcode, delta = SOURCE[spec.name]
    assert spec.opcode == opcode
    n = 1 if spec.arg is isa.Arg.COUNT else None
    assert spec.delta(n) == delta


@pytest.mark.parametrize("name, per_word", sorted(WORD_COUNT.items()))
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_word_count_instructions_scale_with_n(name, per_word, n):
    spec = isa.spec(name)
    assert spec.delta(n) == per_word * n  # read_mem/write_mem pop and push the pointer: no net effect
    assert spec.op_stack_rows(n) == n


@pytest.mark.parametrize("spec", isa.INSTRUCTIONS, ids=lambda s: s.name)
def test_opcode_bit_conventions(spec):
    n = 1 if spec.arg is isa.Arg.COUNT else None
    assert bool(spec.opcode & 1) == (spec.size == 2) == (spec.name in TWO_WORD), "bit 0: two words"
    assert bool(spec.opcode & 2) == (spec.delta(n) < 0), "bit 1: shrinks the op stack"
    assert bool(spec.opcode & 4) == spec.is_u32 == (spec.name in U32), "bit 2: u32 instruction"


@pytest.mark.parametrize("spec", isa.INSTRUCTIONS, ids=lambda s: s.name)
def test_u32_operands_go_with_the_u32_crash(spec):
    assert bool(spec.u32_operands) == ("u32_operand" in spec.crashes)
    if spec.u32_operands:
        assert spec.is_u32


def test_split_is_u32_but_never_crashes():
    assert isa.spec("split").is_u32 and not isa.spec("split").u32_operands


@pytest.mark.parametrize("spec", isa.INSTRUCTIONS, ids=lambda s: s.name)
def test_ram_and_hash_rows(spec):
    n = 3 if spec.arg is isa.Arg.COUNT else None
    expected_ram = 3 if spec.name in ("read_mem", "write_mem") else RAM_ROWS.get(spec.name, 0)
    assert spec.ram_rows_for(n) == expected_ram
    assert spec.hash_permutations == (spec.name in PERMUTATIONS)
    assert spec.hash_rows() == (6 if spec.name in PERMUTATIONS else 1 if spec.name == "sponge_init" else 0)


def test_control_flow_set():
    assert isa.CONTROL_FLOW == {"halt", "skiz", "call", "return", "recurse", "recurse_or_return"}


def test_stack_effects_are_consistent():
    for spec in isa.INSTRUCTIONS:
        n = 2 if spec.arg is isa.Arg.COUNT else 3 if spec.arg is isa.Arg.INDEX else None
        assert spec.delta(n) == spec.pushes(n) - spec.pops(n)
        assert spec.reads(n) >= spec.pops(n)
        assert spec.op_stack_rows(n) == abs(spec.delta(n))


def test_label_and_field_arguments_do_not_scale_anything():
    # `call label` and `push value` have fixed effects whatever the argument is
    assert isa.spec("call").delta("somewhere") == 0 and isa.spec("call").ram_rows_for("somewhere") == 0
    assert isa.spec("push").delta(P - 1) == 1 and isa.spec("addi").delta(12) == 0


@pytest.mark.parametrize("name, arg, ok", [
    ("push", P - 1, True), ("push", -(P - 1), True), ("push", P, False), ("push", None, False),
    ("dup", 0, True), ("dup", 15, True), ("dup", 16, False), ("swap", 0, True), ("pick", -1, False),
    ("pop", 0, False), ("pop", 1, True), ("pop", 5, True), ("pop", 6, False), ("read_io", True, False),
    ("add", None, True), ("add", 1, False), ("call", "label", True), ("call", None, False),
])
def test_check_arg(name, arg, ok):
    assert (isa.spec(name).check_arg(arg) is None) == ok


def test_unknown_mnemonic():
    with pytest.raises(KeyError, match="unknown mnemonic"):
        isa.spec("or")


# ---- the facts other modules derive from the table (issue 10 item 2)


def test_every_instruction_has_a_known_category_and_every_category_is_used():
    assert {s.category for s in isa.INSTRUCTIONS} == set(isa.CATEGORIES)
    assert isa.spec("assert").category == isa.spec("assert_vector").category == "assertion"
    assert {s.name for s in isa.INSTRUCTIONS if s.category == "io"} == {"read_io", "write_io", "divine"}


@pytest.mark.parametrize("name", ["dup", "swap", "pick", "place", "pop"])
@pytest.mark.parametrize("arg", [1, 2, 3, 5])
def test_move_stack_acts_as_the_vm(name, arg):
    from tasm_env.vm import run

    floor, above = list(range(100, 116)), list(range(200, 208))
    after = list(run(f"{name} {arg}", stack=above, floor=floor).stack)
    assert isa.move_stack(name, arg, floor + above) == after


@pytest.mark.parametrize("program, first_on_top", [
    ("push 77 push 12884901893 split", False),           # hi = 3, then lo = 5 on top
    ("push 7 push 23 div_mod", False),                   # quotient, then remainder on top
    ("push 1 push 2 push 3 push 4 push 5 push 6 xx_add", True),  # coefficient 0 on top
])
def test_push_order_matches_the_vm(program, first_on_top):
    from tasm_env.batch import evaluator
    from tasm_env.vm import run
    import numpy as np

    ins = Program_parse(program)
    spec = ins[-1].spec
    assert spec.first_result_on_top is first_on_top
    before = list(run(Program_parse(program)[:-1]).stack)
    operands = [np.array([v], dtype=np.uint64) for v in before[::-1][:spec.reads()]]  # st0 first
    results = [int(r[0]) for r in evaluator(ins[-1].name)(operands, None)[0]]
    after = list(run(program).stack)
    pushed = spec.push_order(results)
    assert after[len(after) - len(pushed):] == pushed


def Program_parse(text):
    from tasm_env.asm import Program

    return Program.parse(text)


def test_streams_and_sponge_use_agree_with_the_crashes():
    for s in isa.INSTRUCTIONS:
        assert s.reads_input == any(c.endswith("_exhausted") for c in s.crashes), s.name
        assert (s.sponge == "needs") == ("sponge_not_initialised" in s.crashes), s.name
    assert isa.spec("write_io").stream == "public_output" and isa.spec("read_io").stream == "public_input"
    assert isa.spec("divine").stream == "secret_input" and isa.spec("merkle_step").stream == "secret_digests"
    assert not isa.spec("write_io").reads_input
    assert isa.spec("sponge_init").sponge == "starts"


def test_derived_families():
    assert isa.CRASHING == {s.name for s in isa.INSTRUCTIONS if s.crashes}
    assert isa.USES_RAM == {"read_mem", "write_mem", "sponge_absorb_mem", "merkle_step_mem", "xx_dot_step",
                            "xb_dot_step"}
    assert "halt" not in isa.STRAIGHT_LINE and "nop" in isa.STRAIGHT_LINE


def test_graph_and_lift_derive_the_crashing_ops_from_the_table():
    """The two hand lists they used to keep, now derived (the same sets)."""
    from tasm_env.tasks.graph import CRASHING_OPS
    from tasm_env.tasks.lift import TOTAL_PURE_OPS

    assert CRASHING_OPS == {"invert", "lt", "and", "xor", "div_mod", "pow", "log_2_floor", "pop_count", "assert",
                            "x_invert", "read_io", "divine"}
    assert TOTAL_PURE_OPS == {"const", "add", "sub", "mul", "neg", "eq", "split", "hash", "xx_add", "xx_mul",
                              "xb_mul"}


def test_every_handler_table_covers_the_straight_line_instructions():
    """The plan compiler, the batched executor and the search accept every straight-line instruction (their
    tables assert exact coverage at import)."""
    from tasm_env.plan import Shape, compile_block
    from tasm_env.tasks.search.moves import PURE
    from tasm_env.tasks.search.steps import STEPS

    for name in isa.STRAIGHT_LINE:
        spec = isa.spec(name)
        arg = 1 if spec.arg is not isa.Arg.NONE else None
        compile_block(f"{name} {arg}" if arg is not None else name, Shape(40, 8, 8, 2))
    assert set(PURE) | set(STEPS) | set(isa.STACK_MOVES) | {"push", "addi", "nop"} == set(isa.STRAIGHT_LINE)
