"""TASM text: :class:`Instruction`, :class:`Program`, parsing and printing.

The syntax is Triton VM's (``triton-isa/src/parser.rs``): instructions separated by any whitespace, labels as
``name:``, ``call name``, ``//`` line comments and ``/* ... */`` block comments, ``assert error_id N`` (any
i128 ``N``), integer literals in (-p, p) for ``push``/``addi`` (negative ones are reduced mod p, so ``push -1``
is ``push 18446744069414584320``), and the two debugger directives, which carry no instruction word: type hints
``hint name: type = stack[a..b]`` and breakpoints ``break``. A :class:`Program` keeps the directives (with the
instruction index they precede) so that printing round-trips them. Malformed text raises
:class:`~tasm_env.errors.ParseError` with the line, the column and what was expected (see
:mod:`tasm_env.asm_parse`).
"""

from __future__ import annotations

import itertools
import operator
import re
from bisect import bisect_left
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, Sequence, Union

from . import isa
from .field import P

LABEL_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*\Z")
"""A label: a letter or `_`, then letters, digits, `_` or `-`."""
KEYWORDS = frozenset({"hint", "error_id", "error_message", "break"})
"""Words that are neither instructions nor allowed as labels."""
I128_MIN, I128_MAX = -(1 << 127), (1 << 127) - 1
"""The range of an assertion's ``error_id`` (Rust's ``i128``)."""


class _InstructionSlots:
    """The storage of :class:`Instruction` (a mutable class, so that a new instruction is filled in with
    plain attribute stores; see :func:`_build`)."""

    __slots__ = ("name", "arg", "error_id", "size", "key", "opcode", "_hash")


@dataclass(frozen=True, init=False)
class Instruction(_InstructionSlots):
    """One instruction: a mnemonic and its argument (an int, a label for ``call``, or None).

    Field-element arguments are stored in canonical form (``push -1`` holds ``p - 1``). ``error_id`` is the
    assertion context of ``assert``/``assert_vector`` (any i128; kept for printing, no effect on execution).
    Three attributes are set on construction: ``size``, the length in words (2 with an argument, else 1),
    ``key``, the pair ``(name, arg)`` that determines what the instruction does (the error_id does not), and
    ``opcode``, the mnemonic's opcode (the static pass reads it for a whole batch of programs in C).

    Instructions are immutable, so the ones without an argument or with a bounded one (``dup 3``, ``pop 2``)
    are shared: ``Instruction("dup", 3)`` returns the same object every time (a dict lookup, and programs
    hold fewer objects for the garbage collector to go over).
    """

    # slots (in the base), not a __dict__: programs hold many instructions, and fewer objects means less
    # garbage-collector work for everyone who makes programs (the parser, the emitters, generators)
    __slots__ = ()
    name: str
    arg: int | str | None
    error_id: int | None

    def __new__(cls, name: str, arg: int | str | None = None, error_id: int | None = None):
        # written out (not the dataclass's __init__): parsers and emitters make many
        if error_id is None and cls is Instruction and (arg is None or arg.__class__ is int) \
                and name.__class__ is str:
            shared = _SHARED.get((name, arg))
            if shared is not None:
                return shared
        spec = _SPECS.get(name) if type(name) is str else None
        if spec is None:
            raise ValueError(f"unknown mnemonic {name!r}")
        if spec.arg is isa.Arg.FIELD and type(arg) is int and -P < arg < P:
            arg %= P  # the common case of a fresh literal, checked here (the spec would say the same)
        else:
            problem = spec.check_arg(arg)
            if problem:
                raise ValueError(problem)
            if spec.arg is isa.Arg.FIELD:
                arg %= P
        if error_id is not None:
            if name not in ("assert", "assert_vector"):
                raise ValueError(f"`{name}` takes no error_id (only `assert` and `assert_vector` do)")
            if type(error_id) is not int or not I128_MIN <= error_id <= I128_MAX:
                raise ValueError(f"error_id: expected an int in the i128 range [-2^127, 2^127), got {error_id!r}")
        return _build(cls, name, arg, error_id)

    def __reduce__(self):  # copy, deepcopy: rebuilt through __init__ (a frozen instance takes no state)
        return Instruction, (self.name, self.arg, self.error_id)

    def __hash__(self) -> int:  # cached: programs hash their instructions often (dedup, caches)
        return self._hash

    @property
    def spec(self) -> isa.InstructionSpec:
        return isa.BY_NAME[self.name]

    def __str__(self) -> str:
        text = self.name if self.arg is None else f"{self.name} {self.arg}"
        return text if self.error_id is None else f"{text} error_id {self.error_id}"


@dataclass(frozen=True)
class TypeHint:
    """A debugger type hint, ``hint variable: type_name = stack[start..start + length]`` (no instruction
    word, no effect on execution). ``type_name`` is None when the hint gives none."""

    variable: str
    type_name: str | None
    start: int
    length: int = 1

    def __str__(self) -> str:
        type_part = "" if self.type_name is None else f": {self.type_name}"
        where = f"{self.start}" if self.length == 1 else f"{self.start}..{self.start + self.length}"
        return f"hint {self.variable}{type_part} = stack[{where}]"


@dataclass(frozen=True)
class Breakpoint:
    """A debugger breakpoint, ``break`` (no instruction word, no effect on execution)."""

    def __str__(self) -> str:
        return "break"


Directive = Union[TypeHint, Breakpoint]
_NAME = operator.attrgetter("name")
_OPCODES = {spec.name: spec.opcode for spec in isa.INSTRUCTIONS}
_SPECS = isa.BY_NAME
_JUMPS = isa.CONTROL_FLOW - {"halt"}
_set = object.__setattr__


def _build(cls: type, name: str, arg: int | str | None, error_id: int | None) -> Instruction:
    """A new instruction of checked fields. It is filled in as the mutable storage class and then given its
    frozen class (the frozen class's ``__setattr__`` refuses plain stores, and ``object.__setattr__`` per
    field costs three times as much)."""
    if cls is not Instruction:  # a subclass may have a different layout
        instruction = object.__new__(cls)
        for field, value in (("name", name), ("arg", arg), ("error_id", error_id), ("size", 1 if arg is None else 2),
                             ("key", (name, arg)), ("opcode", _OPCODES[name]), ("_hash", hash((name, arg, error_id)))):
            _set(instruction, field, value)
        return instruction
    instruction = _new(_InstructionSlots)
    instruction.name = name
    instruction.arg = arg
    instruction.error_id = error_id
    instruction.size = 1 if arg is None else 2
    instruction.key = (name, arg)
    instruction.opcode = _OPCODES[name]
    instruction._hash = hash((name, arg, error_id))
    instruction.__class__ = Instruction
    return instruction


_new = object.__new__
_SHARED: dict[tuple[str, int | None], Instruction] = {}
"""Every instruction without an argument or with a bounded one (stack index, word count), by ``(name, arg)``."""
for _spec in isa.INSTRUCTIONS:
    if _spec.arg in (isa.Arg.NONE, isa.Arg.INDEX, isa.Arg.COUNT):
        for _arg in _spec.arg.range() or (None,):
            if not _spec.check_arg(_arg):
                _SHARED[(_spec.name, _arg)] = _build(Instruction, _spec.name, _arg, None)
del _spec, _arg
_SIZE = operator.attrgetter("size")
_CACHED_HASH = operator.attrgetter("_hash")


class Program:
    """A TASM program: instructions plus labels (label name -> index of the instruction it precedes) plus
    debugger directives (type hints and breakpoints with the index they precede; no instruction words).

    ``Program.parse(text)`` reads text; ``str(program)`` prints canonical text, one instruction, label or
    directive per line. Programs compare equal when their instructions and labels are equal (directives do
    not change what a program does, so they do not count), and are hashable.
    """

    __slots__ = ("instructions", "labels", "directives", "_addresses", "_hash", "_jumps")

    def __init__(self, instructions: Iterable[Instruction] = (), labels: Mapping[str, int] | None = None,
                 directives: Iterable[tuple[int, Directive]] = ()):
        self.instructions: tuple[Instruction, ...] = tuple(instructions)
        self.labels: dict[str, int] = dict(labels) if labels else {}
        self.directives: tuple[tuple[int, Directive], ...] = tuple(directives)
        """Type hints and breakpoints, each with the index of the instruction it precedes, in text order."""
        n = len(self.instructions)
        for label, index in self.labels.items():
            if not isinstance(label, str) or not LABEL_RE.match(label) or label in isa.BY_NAME or label in KEYWORDS:
                raise ValueError(f"invalid label name {label!r}")
            if type(index) is not int or not 0 <= index <= n:
                raise ValueError(f"label {label!r} points at instruction {index}, outside the program")
        for index, directive in self.directives:
            if not isinstance(directive, (TypeHint, Breakpoint)) or type(index) is not int or not 0 <= index <= n:
                raise ValueError(f"a directive is (instruction index 0..{n}, TypeHint or Breakpoint), got "
                                 f"({index!r}, {directive!r})")
        # one scan in C: whether any control flow but `halt` occurs (then `call` labels must be defined)
        self._jumps = not _JUMPS.isdisjoint(map(_NAME, self.instructions))
        if self._jumps and "call" in map(_NAME, self.instructions):
            for instruction in self.instructions:
                arg = instruction.arg
                if instruction.name == "call" and isinstance(arg, str) and arg not in self.labels:
                    raise ValueError(f"`call {arg}`: undefined label")
        self._addresses: tuple[int, ...] | None = None  # computed on first use: a fresh program may never need them
        self._hash = None

    # ---- construction
    @classmethod
    def parse(cls, text: str) -> "Program":
        """Parse TASM text; raise :class:`ParseError` (line, column, what was expected) on malformed input."""
        from .asm_parse import parse  # the parser builds Programs, so it imports this module

        return parse(text)

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
            at.setdefault(index, []).append(f"{label}:")
        for index, directive in self.directives:
            at.setdefault(index, []).append(str(directive))
        if not at:
            return "\n".join(map(str, self.instructions))
        lines: list[str] = []
        for index, instruction in enumerate(self.instructions):
            lines.extend(at.get(index, ()))
            lines.append(str(instruction))
        lines.extend(at.get(len(self.instructions), ()))
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
            # the instructions' cached hashes, read in C: hashing the tuple would call Instruction.__hash__
            self._hash = hash((tuple(map(_CACHED_HASH, self.instructions)), tuple(sorted(self.labels.items()))))
        return self._hash

    @property
    def addresses(self) -> tuple[int, ...]:
        """Word address of every instruction, then the end (``len(self) + 1`` entries)."""
        if self._addresses is None:
            self._addresses = tuple(itertools.accumulate(map(_SIZE, self.instructions), initial=0))
        return self._addresses

    @property
    def words(self) -> int:
        """Program length in words (instructions with an argument take two)."""
        return self.addresses[-1]

    def address_of(self, index: int) -> int:
        """Word address of instruction ``index`` (``len(self)`` gives the end)."""
        return self.addresses[index]

    def label_address(self, label: str) -> int:
        return self.addresses[self.labels[label]]

    def index_at(self, address: int) -> int | None:
        """Index of the instruction starting at word ``address``, or None if no instruction starts there."""
        i = bisect_left(self.addresses, address)
        return i if i < len(self.addresses) - 1 and self.addresses[i] == address else None

    def to_words(self) -> list[int]:
        """The program as Triton encodes it: opcode, then the argument for two-word instructions."""
        words: list[int] = []
        opcode = _OPCODES.__getitem__
        for instruction in self.instructions:
            words.append(opcode(instruction.name))
            arg = instruction.arg
            if arg is not None:
                words.append(self.label_address(arg) if isinstance(arg, str) else arg)
        return words

    @property
    def is_straight_line(self) -> bool:
        """True when no control flow other than ``halt`` occurs (what the batched executor runs)."""
        return not self._jumps

    def __getattr__(self, name: str):  # only for slots never set (a Program made without __init__)
        if name == "_jumps":
            self._jumps = not _JUMPS.isdisjoint(map(_NAME, self.instructions))
            return self._jumps
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
