"""Parsing and printing TASM: errors with line and column, labels, comments, literals, round trips."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasm_env import isa
from tasm_env import testing as tst
from tasm_env.asm import Instruction, Program
from tasm_env.errors import ParseError
from tasm_env.field import P


@pytest.mark.parametrize("text, line, column, needle", [
    ("push 1\nfoo", 2, 1, "unknown mnemonic 'foo'"),
    ("push 1\n  or", 2, 3, "`or` is not a Triton VM instruction"),
    (f"push {P}", 1, 6, "open interval"),
    (f"push -{P}", 1, 6, "open interval"),
    ("push x", 1, 6, "got 'x'"),
    ("dup 16", 1, 5, "stack index 0..15"),
    ("swap -1", 1, 6, "stack index 0..15"),
    ("pop 0", 1, 5, "word count 1..5"),
    ("pop 6", 1, 5, "word count 1..5"),
    ("push", 1, 5, "`push` needs"),
    ("nop\npush 1 dup", 2, 11, "`dup` needs a stack index"),
    ("read_io\nadd", 2, 1, "`read_io` needs a word count"),
    ("halt\ncall nowhere", 2, 6, "undefined label"),
    ("a: nop\n  a: nop", 2, 3, "duplicate label 'a'"),
    ("nop: push 1", 1, 1, "instruction or keyword"),
    ("push 1 /* never closed", 1, 8, "unterminated"),
    ("assert error_id", 1, 8, "error_id"),
    # Triton's whole syntax (issue 9): i128 error ids, type hints, breakpoints, labels with a space
    ("assert error_id 170141183460469231731687303715884105728", 1, 17, "outside i128"),
    ("assert error_id -170141183460469231731687303715884105729", 1, 17, "outside i128"),
    ("assert\n error_id x", 2, 11, "i128"),
    ("push 1 error_id 3", 1, 8, "must directly follow `assert`"),
    ("assert break error_id 3", 1, 14, "must directly follow `assert`"),
    ("hint = stack[0]", 1, 6, "variable name"),
    ("hint Big = stack[0]", 1, 6, "variable name"),
    ("hint x: = stack[0]", 1, 9, "type name"),
    ("hint x stack[0]", 1, 8, "`=`"),
    ("push 1\nhint x = stack [0]", 2, 15, "`[` right after `stack`"),
    ("hint x = stack[]", 1, 16, "stack position"),
    ("hint x = stack[3..3]", 1, 1, "non-empty"),
    ("hint x = stack[0..]", 1, 19, "end of the stack range"),
    ("hint x = stack[0", 1, 17, "`]`"),
    ("hint x: Pair<u32 u64> = stack[0]", 1, 18, "`,` or `>`"),
    ("break: nop", 1, 1, "instruction or keyword"),
    ("hint: nop", 1, 1, "instruction or keyword"),
    ("push 1 /* ok */ pop 1\n\tdup 99", 2, 6, "stack index 0..15"),
    ("a : nop\nb: nop\na: nop", 3, 1, "duplicate label 'a'"),
])
def test_parse_errors_say_where_and_what(text, line, column, needle):
    with pytest.raises(ParseError) as info:
        Program.parse(text)
    err = info.value
    assert (err.line, err.column) == (line, column), err
    assert needle in err.message
    assert f"line {line}, column {column}" in str(err)


def test_labels_comments_and_negative_literals():
    program = Program.parse("""// a comment line
        start: push -1 /* a block
        comment */ call f halt   // trailing comment
        f:push 4 return
    """)
    assert [str(i) for i in program] == [f"push {P - 1}", "call f", "halt", "push 4", "return"]
    assert program.labels == {"start": 0, "f": 3}
    assert program.words == 8
    assert program.label_address("f") == 5  # push (2 words), call (2), halt (1)
    assert program.to_words() == [1, P - 1, 49, 5, 0, 1, 4, 16]
    assert [program.address_of(k) for k in range(6)] == [0, 2, 4, 5, 7, 8]
    assert program.index_at(4) == 2 and program.index_at(3) is None and program.index_at(8) is None


def test_assert_error_id_is_kept_and_printed():
    program = Program.parse("push 1 assert error_id 7")
    assert program[1] == Instruction("assert", None, 7)
    assert str(program) == "push 1\nassert error_id 7"


def test_printing_is_canonical():
    assert str(Program.parse("  push   -1 dup 0\n\n add ")) == f"push {P - 1}\ndup 0\nadd"


def test_instruction_validation():
    assert Instruction("push", -1).arg == P - 1
    for bad in [("push", None), ("add", 1), ("dup", 16), ("pop", 0), ("frobnicate", None)]:
        with pytest.raises(ValueError):
            Instruction(*bad)


def test_coerce():
    program = Program.parse("push 1")
    assert Program.coerce(program) is program
    assert Program.coerce("push 1") == program
    assert Program.coerce([Instruction("push", 1)]) == program


def test_straight_line():
    assert Program.parse("push 1 halt").is_straight_line
    assert not Program.parse("push 1 skiz halt").is_straight_line


_label_names = st.from_regex(r"[a-z_][a-z0-9_]{0,5}", fullmatch=True).filter(
    lambda name: name not in isa.BY_NAME and name not in ("hint", "error_id", "error_message", "break"))


@st.composite
def programs_with_labels(draw):
    body = draw(st.lists(tst.instructions(tst.STRAIGHT_LINE_MNEMONICS + ("halt", "return", "skiz")),
                         max_size=12))
    names = draw(st.lists(_label_names, max_size=3, unique=True))
    labels = {name: draw(st.integers(0, len(body))) for name in names}
    if names:  # some calls to the labels, anywhere
        for _ in range(draw(st.integers(0, 3))):
            body.insert(draw(st.integers(0, len(body))), Instruction("call", draw(st.sampled_from(names))))
        labels = {name: min(index, len(body)) for name, index in labels.items()}
    return Program(body, labels)


@settings(max_examples=200, deadline=None)
@given(programs_with_labels())
def test_print_then_parse_round_trips(program):
    assert Program.parse(str(program)) == program


@settings(max_examples=100, deadline=None)
@given(programs_with_labels())
def test_words_match_the_encoding(program):
    words = program.to_words()
    assert len(words) == program.words
    for k, instruction in enumerate(program):
        assert words[program.address_of(k)] == instruction.spec.opcode
        assert program.index_at(program.address_of(k)) == k


# ---------------------------------------------------------------------- Triton's whole syntax (issue 9)

from tasm_env import asm_parse  # noqa: E402
from tasm_env.asm import Breakpoint, TypeHint  # noqa: E402


def test_type_hints_and_breakpoints_carry_no_instruction_word_and_round_trip():
    text = """
        hint counter: u32 = stack[0]
        push 3
        break
        hint pair: Pair<u32, *Foo> = stack[1..3]   hint x = stack[2]
        loop: add halt
        hint  after_all :  XFieldElement  =  stack[ 0 .. 3 ]
    """
    program = Program.parse(text)
    assert [str(i) for i in program] == ["push 3", "add", "halt"]
    assert program.words == 4 and program.to_words() == Program.parse("push 3 add halt").to_words()
    assert program.directives == (
        (0, TypeHint("counter", "u32", 0, 1)), (1, Breakpoint()),
        (1, TypeHint("pair", "Pair<u32, *Foo>", 1, 2)), (1, TypeHint("x", None, 2, 1)),
        (3, TypeHint("after_all", "XFieldElement", 0, 3)),
    )
    assert program == Program.parse("push 3 loop: add halt")  # directives do not change what it does
    printed = str(program)
    assert "hint pair: Pair<u32, *Foo> = stack[1..3]" in printed and "break" in printed
    again = Program.parse(printed)
    assert again.directives == program.directives and again.labels == program.labels and str(again) == printed


@pytest.mark.parametrize("n", [0, -1, 7, -(1 << 127), (1 << 127) - 1, 1 << 100])
def test_error_id_takes_any_i128(n):
    for mnemonic in ("assert", "assert_vector"):
        program = Program.parse(f"push 1 {mnemonic} error_id {n} nop")
        assert program[1] == Instruction(mnemonic, None, n)
        assert Program.parse(str(program))[1].error_id == n


def test_a_label_may_have_whitespace_before_its_colon():
    assert Program.parse("f : push 1 call f").labels == {"f": 0}


def test_instruction_error_id_validation():
    with pytest.raises(ValueError, match="i128"):
        Instruction("assert", None, 1 << 127)
    with pytest.raises(ValueError, match="takes no error_id"):
        Instruction("push", 1, 3)


# ------------------------------------------------------------------ the fast path and the full parser


_PIECES = st.sampled_from(["push", "push -1", "pop 2", "dup 15", "dup 16", "swap 3", "add", "f:", "g:", "call f",
                           "call g", "assert", "error_id", "error_id 4", "hint", "break", "x", "007", "-5", "::",
                           "f:add", "push 18446744069414584321", "nop", "halt", "\n", "\t", "  ", "pop", "é",
                           # fresh literals as canonical text prints them, and look-alikes the fast path must refuse
                           "push 12", "addi 7", "push 007", "push 18446744069414584320", "push \uff15", "push \u00b2",
                           "push 1_0", "push +3", "push  4"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=12), st.sampled_from([" ", "\n", "\r\n", " \n"]))
def test_the_fast_path_agrees_with_the_full_parser(pieces, separator):
    """Whatever the fast path accepts, the full parser gives the same program; what it refuses, it leaves to
    the full parser, whose result or error stands. One instruction per line is what the line table serves."""
    text = separator.join(pieces)
    fast = asm_parse._parse_plain(text)
    try:
        full = asm_parse._Parser(text).program()
    except ParseError:
        assert fast is None
        return
    if fast is not None:
        assert fast == full and fast.directives == full.directives


def test_canonical_text_takes_the_fast_path():
    program = Program.parse("push -1 dup 3 f: call f pop 2 halt")
    assert asm_parse._parse_plain(str(program)) == program


def test_instructions_are_frozen_and_survive_copies():
    """Instructions have __slots__ (no __dict__): assignment is refused, and copies rebuild an equal one."""
    import copy
    import dataclasses

    instruction = Instruction("assert", None, -7)
    with pytest.raises(dataclasses.FrozenInstanceError):
        instruction.arg = 3
    assert not hasattr(instruction, "__dict__")
    program = Program.parse("push -1 dup 3 assert error_id -7 split")
    for copied in (copy.copy(program), copy.deepcopy(program)):
        assert copied == program and hash(copied) == hash(program)
        assert [(i.name, i.arg, i.error_id, i.size, i.key) for i in copied] == [
            (i.name, i.arg, i.error_id, i.size, i.key) for i in program]
    assert copy.deepcopy(instruction) == instruction and copy.deepcopy(instruction).error_id == -7
    assert [f.name for f in dataclasses.fields(Instruction)] == ["name", "arg", "error_id"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.lists(_PIECES, max_size=8), st.sampled_from(["\n", " ", "\r\n"])), max_size=6))
def test_a_batch_looked_up_line_by_line_is_what_parse_gives(texts):
    """asm_parse.plain_blocks (the verifier's batch intake): each text gets the instructions parse() gives it,
    or None; a text made of canonical lines (as str(program) prints a block) always gets its instructions."""
    texts = [separator.join(pieces) for pieces, separator in texts]
    texts += [str(Program.parse(text)) for text in texts if _parses_to_a_block(text)]  # canonical, one per line
    blocks = asm_parse.plain_blocks(texts)
    assert len(blocks) == len(texts)
    for text, block in zip(texts, blocks):
        if block is None:
            assert not (_parses_to_a_block(text) and text == str(Program.parse(text)))
            continue
        program = Program.parse(text)
        assert block == program.instructions and not program.labels and not program.directives


def _parses_to_a_block(text: str) -> bool:
    try:
        program = Program.parse(text)
    except ParseError:
        return False
    return bool(program.instructions) and not program.labels and not program.directives
