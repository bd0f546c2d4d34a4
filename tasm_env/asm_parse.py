"""Parsing TASM text into a :class:`~tasm_env.asm.Program` (``Program.parse`` calls :func:`parse`).

Two paths give the same result. Text without comments, type hints, breakpoints or assertion contexts (what
``str(program)`` prints, and what agents emit) goes through a fast path: ``str.split`` and a table of
instruction objects shared by every program (instructions are immutable). Anything that path does not
accept, malformed text included, goes through the full parser, which follows ``triton-isa/src/parser.rs``
(v7.0.0) and reports errors with their line and column.

Grammar notes (Triton's): a label is ``name:`` (whitespace before the colon allowed, none needed after);
``error_id N`` must follow ``assert`` or ``assert_vector`` directly and takes any i128 ``N``; a type hint is
``hint variable[: type] = stack[a]`` or ``stack[a..b]`` with ``b > a``, the variable made of lowercase
letters, digits and ``_`` (not starting with a digit), the type ``*``-prefixed letters, digits and ``_``,
optionally with generic arguments ``<T, U>``; ``break`` is a breakpoint.
"""

from __future__ import annotations

import itertools
import operator
import re
from bisect import bisect_right
from typing import Sequence

from . import isa
from .asm import I128_MAX, I128_MIN, KEYWORDS, LABEL_RE, Breakpoint, Instruction, Program, TypeHint
from .errors import ParseError
from .field import P

_INT_RE = re.compile(r"-?[0-9]+\Z")
_I128_RE = re.compile(r"[+-]?[0-9]+\Z")
_VARIABLE_RE = re.compile(r"[a-z_][a-z0-9_]*")
_TYPE_NAME_RE = re.compile(r"\**[A-Za-z_][A-Za-z0-9_]*")
_DIGITS_RE = re.compile(r"[0-9]+")
_SPACE_RE = re.compile(r"\s*")


def parse(text: str) -> Program:
    """Parse TASM text; raise :class:`ParseError` (line, column, what was expected) on malformed input."""
    if not isinstance(text, str):
        raise ParseError(f"expected TASM text (a str), got {type(text).__name__}", 1, 1)
    if "/" not in text:
        program = _parse_plain(text)
        if program is not None:
            return program
    return _Parser(text).program()


# ---------------------------------------------------------------------------------------------- fast path

_NO_ARG: dict[str, Instruction] = {s.name: Instruction(s.name) for s in isa.INSTRUCTIONS if s.arg is isa.Arg.NONE}
_WITH_ARG: frozenset[str] = frozenset(s.name for s in isa.INSTRUCTIONS if s.arg is not isa.Arg.NONE)
# "mnemonic" or "mnemonic argument" -> the shared instruction: every instruction with a bounded argument, then
# field literals as they come, up to a limit (never cleared: the bounded ones must stay)
_LINES: dict[str, Instruction] = dict(_NO_ARG)
_LINES.update({f"{s.name} {arg}": Instruction(s.name, arg) for s in isa.INSTRUCTIONS
               if s.arg in (isa.Arg.INDEX, isa.Arg.COUNT) for arg in range(16) if not s.check_arg(arg)})
_LINES_LIMIT = 1 << 14
_FIELD_NAMES: frozenset[str] = frozenset(s.name for s in isa.INSTRUCTIONS if s.arg is isa.Arg.FIELD)


def _intern(word: str, arg_text: str) -> Instruction | None:
    """The instruction ``word arg_text``, or None if the argument is not acceptable."""
    spec = isa.BY_NAME[word]
    if spec.arg is isa.Arg.LABEL:
        if not LABEL_RE.match(arg_text) or arg_text in isa.BY_NAME or arg_text in KEYWORDS:
            return None
        arg: int | str = arg_text
    else:
        if not _INT_RE.match(arg_text):
            return None
        arg = int(arg_text)
    try:
        instruction = Instruction(word, arg)  # checks the argument
    except ValueError:
        return None
    # not `call`: a whole-line hit must not need the program's labels
    if spec.arg is not isa.Arg.LABEL and len(_LINES) < _LINES_LIMIT:
        _LINES[f"{word} {arg_text}"] = instruction
    return instruction


def _parse_plain(text: str) -> Program | None:
    """Instructions and labels separated by whitespace; None for anything else (the full parser decides).

    Canonical text has one instruction per line, so each line is first looked up whole in a table of
    instruction texts (one dict lookup per line, in C); only the lines that miss (fresh literals, labels,
    several instructions on a line, other spacing) are split into words. An argument on another line than its
    mnemonic is left to the full parser."""
    lines = text.split("\n")
    found = list(map(_LINES.get, lines))
    # the lines that missed, found by identity (`None in found` would call Instruction.__eq__ on every line)
    misses = list(itertools.compress(itertools.count(), map(operator.is_, found, itertools.repeat(None))))
    if misses:
        misses = _fill_literals(lines, found, misses)
        if misses:
            return _parse_words(lines, found, misses)
    return Program(found)


def plain_blocks(texts: Sequence[str]) -> list[tuple[Instruction, ...] | None]:
    """For each text in canonical form with one instruction per line and nothing else (no labels, comments,
    directives or blank lines: what ``str(program)`` prints for a block), its instructions; None for any other
    text (:func:`parse` decides it). Where not None, ``parse(text)`` is ``Program(instructions)``.

    The whole batch is split and looked up at once, one dict lookup per line in C: a batch of mutations of
    one program shares most of its lines, so only fresh literals are parsed one by one."""
    if not texts:
        return []
    lines = "\n".join(texts).split("\n")
    found = list(map(_LINES.get, lines))
    ends = list(itertools.accumulate(map(operator.add, map(str.count, texts, itertools.repeat("\n")),
                                         itertools.repeat(1))))  # each text's end in `lines`
    misses = list(itertools.compress(itertools.count(), map(operator.is_, found, itertools.repeat(None))))
    refused = {bisect_right(ends, miss) for miss in _fill_literals(lines, found, misses)} if misses else ()
    flat = tuple(found)
    blocks: list[tuple[Instruction, ...] | None] = [flat[a:b] for a, b in zip([0, *ends], ends)]
    for k in refused:
        blocks[k] = None
    return blocks


def _fill_literals(lines: list[str], found: list, misses: list[int]) -> list[int]:
    """Put the instruction of every missed line of the form ``push 123`` (a fresh literal, as canonical text
    prints it) into ``found``; return the lines that still miss."""
    left = []
    field_names = _FIELD_NAMES
    for miss in misses:
        line = lines[miss]
        word, _, arg_text = line.partition(" ")
        if word in field_names and arg_text.isdigit() and arg_text.isascii() and int(arg_text) < P:
            found[miss] = instruction = Instruction(word, int(arg_text))
            if len(_LINES) < _LINES_LIMIT:
                _LINES[line] = instruction
        else:
            left.append(miss)
    return left


def _parse_words(lines: list[str], found: list, misses: list[int]) -> Program | None:
    """The program, with the lines that missed (``misses``) split into words; None if a word is not plain."""
    instructions: list[Instruction] = []
    append = instructions.append
    labels: dict[str, int] = {}
    with_arg = _WITH_ARG
    calls = False
    done = 0  # lines before this one are in `instructions`
    for miss in misses:
        instructions += found[done:miss]  # whole-line hits, in bulk
        done = miss + 1
        line = lines[miss]
        words = iter(line.split())
        for word in words:
            instruction = _NO_ARG.get(word)
            if instruction is None:
                if word in with_arg:
                    arg_text = next(words, None)
                    if arg_text is None:
                        return None
                    instruction = _LINES.get(f"{word} {arg_text}") or _intern(word, arg_text)
                    if instruction is None:
                        return None
                    calls = calls or word == "call"
                elif word[-1] == ":":
                    label = word[:-1]
                    if not LABEL_RE.match(label) or label in isa.BY_NAME or label in KEYWORDS or label in labels:
                        return None
                    labels[label] = len(instructions)
                    continue
                else:
                    return None
            append(instruction)
    instructions += found[done:]
    if calls and any(i.name == "call" and i.arg not in labels for i in instructions):
        return None
    return Program(instructions, labels)


# ------------------------------------------------------------------------------------------- full parser


class _Parser:
    """Triton's grammar over the raw text; positions are character offsets, turned into (line, column) only
    for an error."""

    def __init__(self, text: str):
        self.text = text
        self.i = 0
        self.instructions: list[Instruction] = []
        self.labels: dict[str, int] = {}
        self.directives: list = []
        self.calls: list[tuple[str, int]] = []

    # ---- positions and errors
    def error(self, message: str, offset: int) -> ParseError:
        line = self.text.count("\n", 0, offset) + 1
        column = offset - (self.text.rfind("\n", 0, offset) + 1) + 1
        return ParseError(message, line, column)

    # ---- lexing
    def skip_space_and_comments(self) -> None:
        text, n = self.text, len(self.text)
        i = self.i
        while i < n:
            if text[i].isspace():
                i += 1
            elif text.startswith("//", i):
                end = text.find("\n", i)
                i = n if end < 0 else end
            elif text.startswith("/*", i):
                end = text.find("*/", i + 2)
                if end < 0:
                    raise self.error("unterminated `/*` comment: expected `*/`", i)
                i = end + 2
            else:
                break
        self.i = i

    def word(self) -> tuple[str, int] | None:
        """The next whitespace-delimited word and its offset (a label definition ends at its colon), or None
        at the end of the text."""
        self.skip_space_and_comments()
        text, n, start = self.text, len(self.text), self.i
        if start >= n:
            return None
        i = start
        while i < n and not text[i].isspace() and not text.startswith("//", i) and not text.startswith("/*", i):
            i += 1
            if text[i - 1] == ":":
                break
        self.i = i
        return text[start:i], start

    def peek(self) -> tuple[str, int] | None:
        saved = self.i
        token = self.word()
        self.i = saved
        return token

    # ---- grammar
    def program(self) -> Program:
        while (token := self.word()) is not None:
            word, at = token
            if word.endswith(":"):
                self.label(word[:-1], at)
                continue
            following = self.peek()
            if following is not None and following[0] == ":" and word not in KEYWORDS:
                self.word()  # `name :` is a label too
                self.label(word, at)
            elif word == "hint":
                self.directives.append((len(self.instructions), self.type_hint(at)))
            elif word == "break":
                self.directives.append((len(self.instructions), Breakpoint()))
            elif word == "error_id":
                raise self.error("`error_id` must directly follow `assert` or `assert_vector`", at)
            else:
                self.instruction(word, at)
        for label, at in self.calls:
            if label not in self.labels:
                raise self.error(f"`call {label}`: undefined label", at)
        return Program(self.instructions, self.labels, self.directives)

    def label(self, label: str, at: int) -> None:
        if not LABEL_RE.match(label):
            raise self.error(f"invalid label {label!r}: expected a letter or `_` then letters, digits, `_` or `-`",
                             at)
        if label in isa.BY_NAME or label in KEYWORDS:
            raise self.error(f"label {label!r} is an instruction or keyword name", at)
        if label in self.labels:
            raise self.error(f"duplicate label {label!r}", at)
        self.labels[label] = len(self.instructions)

    def instruction(self, word: str, at: int) -> None:
        spec = isa.BY_NAME.get(word)
        if spec is None:
            hint = " (`or` is not a Triton VM instruction)" if word == "or" else ""
            raise self.error(f"unknown mnemonic {word!r}{hint}: expected one of Triton VM's instructions", at)
        arg: int | str | None = None
        if spec.arg is not isa.Arg.NONE:
            token = self.word()
            if token is None:
                raise self.error(f"`{word}` needs {spec.arg.describe()}", at + len(word))
            arg_text, arg_at = token
            if arg_text.endswith(":") or (arg_text in isa.BY_NAME and spec.arg is not isa.Arg.LABEL):
                raise self.error(f"`{word}` needs {spec.arg.describe()}", arg_at)
            arg = self.argument(spec, arg_text, arg_at)
        error_id = None
        if word in ("assert", "assert_vector"):
            following = self.peek()
            if following is not None and following[0] == "error_id":
                self.word()
                error_id = self.error_id(following[1])
        self.instructions.append(Instruction(word, arg, error_id))

    def argument(self, spec: isa.InstructionSpec, text: str, at: int) -> int | str:
        if spec.arg is isa.Arg.LABEL:
            if not LABEL_RE.match(text) or text in isa.BY_NAME or text in KEYWORDS:
                raise self.error(f"`call` needs a label, got {text!r}", at)
            self.calls.append((text, at))
            return text
        if not _INT_RE.match(text):
            raise self.error(f"`{spec.name}` needs {spec.arg.describe()}, got {text!r}", at)
        value = int(text)
        problem = spec.check_arg(value)
        if problem:
            raise self.error(problem, at)
        return value

    def error_id(self, keyword_at: int) -> int:
        token = self.word()
        expected = "`error_id` needs an integer in the i128 range [-2^127, 2^127)"
        if token is None:
            raise self.error(expected, keyword_at)
        text, at = token
        if not _I128_RE.match(text):
            raise self.error(f"{expected}, got {text!r}", at)
        value = int(text)
        if not I128_MIN <= value <= I128_MAX:
            raise self.error(f"{expected}, got {text} (outside i128)", at)
        return value

    # ---- type hints: `hint variable[: type] = stack[a[..b]]`, scanned on the raw text
    def expect(self, pattern: re.Pattern | str, what: str) -> str:
        if isinstance(pattern, str):
            if self.text.startswith(pattern, self.i):
                self.i += len(pattern)
                return pattern
        else:
            match = pattern.match(self.text, self.i)
            if match:
                self.i = match.end()
                return match.group()
        raise self.error(f"type hint: expected {what}", self.i)

    def space(self) -> None:
        self.i = _SPACE_RE.match(self.text, self.i).end()

    def type_hint(self, at: int) -> TypeHint:
        self.skip_space_and_comments()
        variable = self.expect(_VARIABLE_RE, "a variable name (lowercase letters, digits and `_`)")
        self.space()
        type_name = None
        if self.text.startswith(":", self.i):
            self.i += 1
            self.skip_space_and_comments()
            type_name = self.type_name()
            self.space()
        self.expect("=", "`=`")
        self.skip_space_and_comments()
        self.expect("stack", "`stack`")
        self.expect("[", "`[` right after `stack`")
        self.skip_space_and_comments()
        start = int(self.expect(_DIGITS_RE, "a stack position"))
        self.space()
        end = None
        if self.text.startswith("..", self.i):
            self.i += 2
            self.skip_space_and_comments()
            end = int(self.expect(_DIGITS_RE, "the end of the stack range"))
            self.space()
        self.expect("]", "`]`")
        if end is not None and end <= start:
            raise self.error(f"type hint: the stack range {start}..{end} must be non-empty", at)
        return TypeHint(variable, type_name, start, 1 if end is None else end - start)

    def type_name(self) -> str:
        """``name`` or ``name<T, U>`` (generic arguments are types too), printed as Triton does."""
        name = self.expect(_TYPE_NAME_RE, "a type name")
        saved = self.i
        self.skip_space_and_comments()
        if not self.text.startswith("<", self.i):
            self.i = saved
            return name
        self.i += 1
        self.skip_space_and_comments()
        arguments: list[str] = []
        while not self.text.startswith(">", self.i):
            arguments.append(self.type_name())
            self.skip_space_and_comments()
            if self.text.startswith(",", self.i):
                self.i += 1
                self.skip_space_and_comments()
            elif not self.text.startswith(">", self.i):
                raise self.error("type hint: expected `,` or `>` in the type's generic arguments", self.i)
        self.i += 1
        return f"{name}<{', '.join(arguments)}>" if arguments else name
