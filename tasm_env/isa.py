"""The Triton VM v7.0.0 instruction set: the one table every other module derives from.

Each :class:`InstructionSpec` records a mnemonic's opcode, size in words, argument kind and range, its effect on
the op stack (how many top slots it reads, pops and pushes), which operands must be u32 values, which crash
kinds it can raise, and its per-execution contributions to the op-stack, RAM and hash tables. The u32 table's
contribution depends on operand values and is computed by the VM (see :mod:`tasm_env.cost`).

Stack effects are given for the instruction's argument ``arg`` through :meth:`InstructionSpec.pops`,
:meth:`~InstructionSpec.pushes`, :meth:`~InstructionSpec.reads` and :meth:`~InstructionSpec.delta`.
Sources: ``triton-isa/src/instruction.rs`` and ``triton-vm/src/vm.rs`` at v7.0.0, summarised in the project's
``shared/docs/triton-vm.md``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Iterator

from .field import P


class Arg(enum.Enum):
    """What an instruction's argument is."""

    NONE = "none"
    FIELD = "field"  # push, addi: any field element (written as an integer in (-p, p))
    INDEX = "index"  # dup, swap, pick, place: a stack index 0..15
    COUNT = "count"  # pop, divine, read_mem, write_mem, read_io, write_io: a word count 1..5
    LABEL = "label"  # call: a label (an address once assembled)

    def range(self) -> range | None:
        if self is Arg.INDEX:
            return range(0, 16)
        if self is Arg.COUNT:
            return range(1, 6)
        return None

    def describe(self) -> str:
        return {
            Arg.NONE: "no argument",
            Arg.FIELD: f"an integer in the open interval (-{P}, {P})",
            Arg.INDEX: "a stack index 0..15",
            Arg.COUNT: "a word count 1..5",
            Arg.LABEL: "a label",
        }[self]


@dataclass(frozen=True)
class InstructionSpec:
    """One Triton VM instruction.

    Stack effect: the instruction needs ``reads(arg)`` top slots, removes ``pops(arg)`` of them and puts
    ``pushes(arg)`` new ones on top (for ``dup``/``swap``/``pick``/``place`` the slots it touches are moved or
    copied; ``pops``/``pushes`` then describe only the net size change). ``per_arg`` terms scale with a COUNT
    argument ``n``: e.g. ``pop n`` pops ``n``.
    """

    name: str
    opcode: int
    arg: Arg
    base_pops: int
    base_pushes: int
    pops_per_arg: int = 0
    pushes_per_arg: int = 0
    base_reads: int | None = None  # None: reads == pops; INDEX instructions read arg + 1
    u32_operands: tuple[int, ...] = ()  # stack positions (st_i) that must hold u32 values
    crashes: tuple[str, ...] = ()  # crash kinds besides "stack_too_shallow"
    ram_rows: int = 0  # RAM table rows per execution (COUNT instructions: per word, see ram_rows_for)
    ram_rows_per_arg: int = 0
    hash_permutations: int = 0  # Tip5 permutations (6 hash-table rows each)
    hash_rows_extra: int = 0  # hash-table rows that are not permutations (sponge_init)
    control_flow: bool = False
    extension: bool = field(default=False)  # works on extension-field (XFE) values

    # ---- derived facts
    @property
    def size(self) -> int:
        """Size in program words: 2 with an argument, else 1."""
        return 1 if self.arg is Arg.NONE else 2

    @property
    def is_u32(self) -> bool:
        return bool(self.opcode & 4)

    def _count(self, arg) -> int:
        """The word count ``n`` that per-arg terms scale with: only COUNT arguments count (a `push` value or a
        `call` label does not)."""
        return arg if self.arg is Arg.COUNT and arg is not None else 0

    def pops(self, arg: int | None = None) -> int:
        return self.base_pops + self.pops_per_arg * self._count(arg)

    def pushes(self, arg: int | None = None) -> int:
        return self.base_pushes + self.pushes_per_arg * self._count(arg)

    def reads(self, arg: int | None = None) -> int:
        """How many top slots must exist for the instruction to make sense (masks use it)."""
        if self.arg is Arg.INDEX:
            return int(arg) + 1
        if self.base_reads is not None:
            return self.base_reads
        return self.pops(arg)

    def delta(self, arg: int | None = None) -> int:
        """Net change of the op-stack size (Triton's ``op_stack_size_influence``)."""
        return self.pushes(arg) - self.pops(arg)

    def op_stack_rows(self, arg: int | None = None) -> int:
        """Op-stack table rows per execution: one per element moved to or from underflow memory, |delta|."""
        return abs(self.delta(arg))

    def ram_rows_for(self, arg: int | None = None) -> int:
        return self.ram_rows + self.ram_rows_per_arg * self._count(arg)

    def hash_rows(self) -> int:
        return 6 * self.hash_permutations + self.hash_rows_extra

    def check_arg(self, arg) -> str | None:
        """None if ``arg`` is acceptable, else a sentence saying what was expected."""
        if self.arg is Arg.NONE:
            return None if arg is None else f"`{self.name}` takes no argument"
        if arg is None:
            return f"`{self.name}` needs {self.arg.describe()}"
        if self.arg is Arg.LABEL:
            return None if isinstance(arg, (str, int)) and not isinstance(arg, bool) else "`call` needs a label"
        if not isinstance(arg, int) or isinstance(arg, bool):
            return f"`{self.name}` needs {self.arg.describe()}, got {arg!r}"
        valid = self.arg.range()
        if valid is None:
            return None if -P < arg < P else f"`{self.name}` needs {self.arg.describe()}, got {arg}"
        return None if arg in valid else f"`{self.name}` needs {self.arg.describe()}, got {arg}"


def _spec(name, opcode, arg=Arg.NONE, pops=0, pushes=0, **kw) -> InstructionSpec:
    return InstructionSpec(name, opcode, arg, pops, pushes, **kw)


_U32 = ("u32_operand",)

# One record per mnemonic. Operand conventions (top of stack = st0) are in the VM; this is the accounting.
INSTRUCTIONS: tuple[InstructionSpec, ...] = (
    # stack manipulation
    _spec("push", 1, Arg.FIELD, 0, 1),
    _spec("pop", 3, Arg.COUNT, 0, 0, pops_per_arg=1),
    _spec("divine", 9, Arg.COUNT, 0, 0, pushes_per_arg=1, crashes=("secret_input_exhausted",)),
    _spec("pick", 17, Arg.INDEX, 0, 0),
    _spec("place", 25, Arg.INDEX, 0, 0),
    _spec("dup", 33, Arg.INDEX, 0, 1),
    _spec("swap", 41, Arg.INDEX, 0, 0),
    # control flow
    _spec("halt", 0, control_flow=True),
    _spec("nop", 8),
    _spec("skiz", 2, Arg.NONE, 1, 0, control_flow=True),
    _spec("call", 49, Arg.LABEL, control_flow=True),
    _spec("return", 16, crashes=("jump_stack_empty",), control_flow=True),
    _spec("recurse", 24, crashes=("jump_stack_empty",), control_flow=True),
    _spec("recurse_or_return", 32, base_reads=7, crashes=("jump_stack_empty",), control_flow=True),
    _spec("assert", 10, Arg.NONE, 1, 0, crashes=("assertion_failed",)),
    # memory
    _spec("read_mem", 57, Arg.COUNT, 1, 1, pushes_per_arg=1, ram_rows_per_arg=1),
    _spec("write_mem", 11, Arg.COUNT, 1, 1, pops_per_arg=1, ram_rows_per_arg=1),
    # hashing
    _spec("hash", 18, Arg.NONE, 10, 5, hash_permutations=1),
    _spec("assert_vector", 26, Arg.NONE, 5, 0, base_reads=10, crashes=("assertion_failed",)),
    _spec("sponge_init", 40, hash_rows_extra=1),
    _spec("sponge_absorb", 34, Arg.NONE, 10, 0, crashes=("sponge_not_initialised",), hash_permutations=1),
    _spec("sponge_absorb_mem", 48, Arg.NONE, 5, 5, crashes=("sponge_not_initialised",), ram_rows=10,
          hash_permutations=1),
    _spec("sponge_squeeze", 56, Arg.NONE, 0, 10, crashes=("sponge_not_initialised",), hash_permutations=1),
    # base-field arithmetic
    _spec("add", 42, Arg.NONE, 2, 1),
    _spec("addi", 65, Arg.FIELD, 1, 1),
    _spec("mul", 50, Arg.NONE, 2, 1),
    _spec("invert", 64, Arg.NONE, 1, 1, crashes=("inverse_of_zero",)),
    _spec("eq", 58, Arg.NONE, 2, 1),
    # bitwise / u32
    _spec("split", 4, Arg.NONE, 1, 2),
    _spec("lt", 6, Arg.NONE, 2, 1, u32_operands=(0, 1), crashes=_U32),
    _spec("and", 14, Arg.NONE, 2, 1, u32_operands=(0, 1), crashes=_U32),
    _spec("xor", 22, Arg.NONE, 2, 1, u32_operands=(0, 1), crashes=_U32),
    _spec("log_2_floor", 12, Arg.NONE, 1, 1, u32_operands=(0,), crashes=_U32 + ("log_of_zero",)),
    _spec("pow", 30, Arg.NONE, 2, 1, u32_operands=(1,), crashes=_U32),
    _spec("div_mod", 20, Arg.NONE, 2, 2, u32_operands=(0, 1), crashes=_U32 + ("division_by_zero",)),
    _spec("pop_count", 28, Arg.NONE, 1, 1, u32_operands=(0,), crashes=_U32),
    # extension field
    _spec("xx_add", 66, Arg.NONE, 6, 3, extension=True),
    _spec("xx_mul", 74, Arg.NONE, 6, 3, extension=True),
    _spec("x_invert", 72, Arg.NONE, 3, 3, crashes=("inverse_of_zero",), extension=True),
    _spec("xb_mul", 82, Arg.NONE, 4, 3, extension=True),
    # input / output
    _spec("read_io", 73, Arg.COUNT, 0, 0, pushes_per_arg=1, crashes=("public_input_exhausted",)),
    _spec("write_io", 19, Arg.COUNT, 0, 0, pops_per_arg=1),
    # many-in-one
    _spec("merkle_step", 36, Arg.NONE, 6, 6, u32_operands=(5,), crashes=_U32 + ("secret_digests_exhausted",),
          hash_permutations=1),
    _spec("merkle_step_mem", 44, Arg.NONE, 8, 8, u32_operands=(5,), crashes=_U32, ram_rows=5,
          hash_permutations=1),
    _spec("xx_dot_step", 80, Arg.NONE, 5, 5, ram_rows=6, extension=True),
    _spec("xb_dot_step", 88, Arg.NONE, 5, 5, ram_rows=4, extension=True),
)

BY_NAME: dict[str, InstructionSpec] = {spec.name: spec for spec in INSTRUCTIONS}
BY_OPCODE: dict[int, InstructionSpec] = {spec.opcode: spec for spec in INSTRUCTIONS}
MNEMONICS: tuple[str, ...] = tuple(BY_NAME)

CONTROL_FLOW: frozenset[str] = frozenset(s.name for s in INSTRUCTIONS if s.control_flow)
"""Instructions the straight-line executor refuses (``halt`` is allowed there: it ends the block)."""


def spec(name: str) -> InstructionSpec:
    """The record for ``name``; ``KeyError`` names the valid mnemonics."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown mnemonic {name!r}") from None


def iter_instructions() -> Iterator[InstructionSpec]:
    return iter(INSTRUCTIONS)
