"""TASM text: :class:`Instruction`, :class:`Program`, parsing and printing.

The syntax is Triton VM's (``triton-isa/src/parser.rs``): instructions separated by any whitespace, labels as
``name:``, ``call name``, ``//`` line comments and ``/* ... */`` block comments, ``assert error_id N``, and
integer literals in (-p, p) for ``push``/``addi`` (negative ones are reduced mod p, so ``push -1`` is
``push 18446744069414584320``). Malformed text raises :class:`~tasm_env.errors.ParseError` with the line, the
column and what was expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, Sequence, Union

from . import isa
from .errors import ParseError
from .field import P

_LABEL_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*\Z")
_INT_RE = re.compile(r"-?[0-9]+\Z")
_KEYWORDS = frozenset({"hint", "error_id", "error_message", "break"})


@dataclass(frozen=True)
class Instruction:
    """One instruction: a mnemonic and its argument (an int, a label for ``call``, or None).

    Field-element arguments are stored in canonical form (``push -1`` holds ``p - 1``).
    """

    name: str
    arg: int | str | None = None
    error_id: int | None = None  # `assert error_id N`: kept for printing, no effect on execution

    def __post_init__(self):
        try:
            spec = isa.spec(self.name)
        except KeyError as err:
            raise ValueError(str(err.args[0])) from None
        problem = spec.check_arg(self.arg)
        if problem:
            raise ValueError(problem)
        if spec.arg is isa.Arg.FIELD:
            object.__setattr__(self, "arg", self.arg % P)
        object.__setattr__(self, "_hash", hash((self.name, self.arg, self.error_id)))

    def __hash__(self) -> int:  # cached: programs hash their instructions often (dedup, caches)
        return self._hash

    @property
    def spec(self) -> isa.InstructionSpec:
        return isa.BY_NAME[self.name]

    @property
    def size(self) -> int:
        return 1 if self.arg is None else 2

    def __str__(self) -> str:
        text = self.name if self.arg is None else f"{self.name} {self.arg}"
        return text if self.error_id is None else f"{text} error_id {self.error_id}"


@dataclass(frozen=True)
class _Token:
    text: str
    line: int
    column: int


def _tokens(text: str) -> Iterator[_Token]:
    """Whitespace-separated tokens with their 1-based positions; comments removed; `name:push` split."""
    line, column, i, n = 1, 1, 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            line, column, i = line + 1, 1, i + 1
        elif ch.isspace():
            column, i = column + 1, i + 1
        elif text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise ParseError("unterminated `/*` comment: expected `*/`", line, column)
            for c in text[i:end + 2]:
                line, column = (line + 1, 1) if c == "\n" else (line, column + 1)
            i = end + 2
        else:
            start, start_col = i, column
            while i < n and not text[i].isspace() and not text.startswith("//", i) and not text.startswith(
                "/*", i
            ):
                i += 1
                column += 1
                if text[i - 1] == ":":  # a label definition ends at its colon, even with no space after
                    break
            yield _Token(text[start:i], line, start_col)


class Program:
    """A TASM program: instructions plus labels (label name -> index of the instruction it precedes).

    ``Program.parse(text)`` reads text; ``str(program)`` prints canonical text, one instruction per line.
    Programs compare equal when their instructions and labels are equal, and are hashable.
    """

    __slots__ = ("instructions", "labels", "_addresses", "_hash")

    def __init__(self, instructions: Iterable[Instruction] = (), labels: Mapping[str, int] | None = None):
        self.instructions: tuple[Instruction, ...] = tuple(instructions)
        self.labels: dict[str, int] = dict(labels or {})
        for label, index in self.labels.items():
            if not _LABEL_RE.match(label) or label in isa.BY_NAME or label in _KEYWORDS:
                raise ValueError(f"invalid label name {label!r}")
            if not 0 <= index <= len(self.instructions):
                raise ValueError(f"label {label!r} points at instruction {index}, outside the program")
        for instruction in self.instructions:
            if instruction.name == "call" and isinstance(instruction.arg, str) and instruction.arg not in self.labels:
                raise ValueError(f"`call {instruction.arg}`: undefined label")
        addresses, address = [], 0
        for instruction in self.instructions:
            addresses.append(address)
            address += instruction.size
        addresses.append(address)
        self._addresses = tuple(addresses)
        self._hash = None

    # ---- construction
    @classmethod
    def parse(cls, text: str) -> "Program":
        """Parse TASM text; raise :class:`ParseError` (line, column, what was expected) on malformed input."""
        if not isinstance(text, str):
            raise ParseError(f"expected TASM text (a str), got {type(text).__name__}", 1, 1)
        instructions: list[Instruction] = []
        labels: dict[str, int] = {}
        calls: list[tuple[str, _Token]] = []
        tokens = list(_tokens(text))
        k = 0
        while k < len(tokens):
            tok = tokens[k]
            k += 1
            word = tok.text
            if word.endswith(":"):
                label = word[:-1]
                if not _LABEL_RE.match(label):
                    raise ParseError(f"invalid label {label!r}: expected a letter or `_` then letters, digits, "
                                     "`_` or `-`", tok.line, tok.column)
                if label in isa.BY_NAME or label in _KEYWORDS:
                    raise ParseError(f"label {label!r} is an instruction or keyword name", tok.line, tok.column)
                if label in labels:
                    raise ParseError(f"duplicate label {label!r}", tok.line, tok.column)
                labels[label] = len(instructions)
                continue
            if word in ("hint", "break"):
                raise ParseError(f"`{word}` (a debugger directive) is not supported; expected an instruction",
                                 tok.line, tok.column)
            spec = isa.BY_NAME.get(word)
            if spec is None:
                hint = " (`or` is not a Triton VM instruction)" if word == "or" else ""
                raise ParseError(f"unknown mnemonic {word!r}{hint}: expected one of Triton VM's instructions",
                                 tok.line, tok.column)
            arg: int | str | None = None
            if spec.arg is not isa.Arg.NONE:
                if k >= len(tokens) or tokens[k].text.endswith(":") or (
                    tokens[k].text in isa.BY_NAME and spec.arg is not isa.Arg.LABEL
                ):
                    where = tokens[k] if k < len(tokens) else tok
                    raise ParseError(f"`{word}` needs {spec.arg.describe()}", where.line,
                                     where.column if k < len(tokens) else tok.column + len(word))
                arg_tok = tokens[k]
                k += 1
                arg = _parse_arg(spec, arg_tok)
                if spec.arg is isa.Arg.LABEL:
                    calls.append((arg, arg_tok))
            error_id = None
            if word in ("assert", "assert_vector") and k < len(tokens) and tokens[k].text == "error_id":
                if k + 1 >= len(tokens) or not _INT_RE.match(tokens[k + 1].text) or tokens[k + 1].text[0] == "-":
                    where = tokens[k + 1] if k + 1 < len(tokens) else tokens[k]
                    raise ParseError("`error_id` needs a non-negative integer", where.line, where.column)
                error_id = int(tokens[k + 1].text)
                k += 2
            instructions.append(Instruction(word, arg, error_id))
        for label, tok in calls:
            if label not in labels:
                raise ParseError(f"`call {label}`: undefined label", tok.line, tok.column)
        return cls(instructions, labels)

    @classmethod
    def coerce(cls, program: Union["Program", str, Sequence[Instruction]]) -> "Program":
        """Accept a Program, TASM text or a sequence of instructions."""
        if isinstance(program, Program):
            return program
        if isinstance(program, str):
            return cls.parse(program)
        return cls(program)

    # ---- views
    def __str__(self) -> str:
        at: dict[int, list[str]] = {}
        for label, index in self.labels.items():
            at.setdefault(index, []).append(label)
        lines: list[str] = []
        for index, instruction in enumerate(self.instructions):
            lines.extend(f"{label}:" for label in at.get(index, ()))
            lines.append(str(instruction))
        lines.extend(f"{label}:" for label in at.get(len(self.instructions), ()))
        return "\n".join(lines)

    def __repr__(self) -> str:
        text = " ".join(str(i) for i in self.instructions[:12])
        more = " ..." if len(self.instructions) > 12 else ""
        return f"Program({text!r}{more})" if not self.labels else f"Program({len(self)} instructions, labels)"

    def __len__(self) -> int:
        return len(self.instructions)

    def __iter__(self) -> Iterator[Instruction]:
        return iter(self.instructions)

    def __getitem__(self, index):
        return self.instructions[index]

    def __eq__(self, other) -> bool:
        return isinstance(other, Program) and self.instructions == other.instructions and self.labels == other.labels

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash((self.instructions, tuple(sorted(self.labels.items()))))
        return self._hash

    @property
    def words(self) -> int:
        """Program length in words (instructions with an argument take two)."""
        return self._addresses[-1]

    def address_of(self, index: int) -> int:
        """Word address of instruction ``index`` (``len(self)`` gives the end)."""
        return self._addresses[index]

    def label_address(self, label: str) -> int:
        return self._addresses[self.labels[label]]

    def index_at(self, address: int) -> int | None:
        """Index of the instruction starting at word ``address``, or None if no instruction starts there."""
        from bisect import bisect_left

        i = bisect_left(self._addresses, address)
        return i if i < len(self._addresses) - 1 and self._addresses[i] == address else None

    def to_words(self) -> list[int]:
        """The program as Triton encodes it: opcode, then the argument for two-word instructions."""
        words: list[int] = []
        for instruction in self.instructions:
            words.append(instruction.spec.opcode)
            if instruction.arg is not None:
                arg = instruction.arg
                words.append(self.label_address(arg) if isinstance(arg, str) else arg)
        return words

    @property
    def is_straight_line(self) -> bool:
        """True when no control flow other than ``halt`` occurs (what the batched executor runs)."""
        return all(i.name == "halt" or i.name not in isa.CONTROL_FLOW for i in self.instructions)


def _parse_arg(spec: isa.InstructionSpec, tok: _Token) -> int | str:
    text = tok.text
    if spec.arg is isa.Arg.LABEL:
        if not _LABEL_RE.match(text) or text in isa.BY_NAME or text in _KEYWORDS:
            raise ParseError(f"`call` needs a label, got {text!r}", tok.line, tok.column)
        return text
    if not _INT_RE.match(text):
        raise ParseError(f"`{spec.name}` needs {spec.arg.describe()}, got {text!r}", tok.line, tok.column)
    value = int(text)
    problem = spec.check_arg(value)
    if problem:
        raise ParseError(problem, tok.line, tok.column)
    return value
