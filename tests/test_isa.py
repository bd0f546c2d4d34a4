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
