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
