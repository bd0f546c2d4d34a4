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
    u32_results: tuple[int, ...] = ()  # result positions (st_i after it) always u32 besides the u32 ops' own
    crashes: tuple[str, ...] = ()  # crash kinds besides "stack_too_shallow"
    ram_rows: int = 0  # RAM table rows per execution (COUNT instructions: per word, see ram_rows_for)
    ram_rows_per_arg: int = 0
    hash_permutations: int = 0  # Tip5 permutations (6 hash-table rows each)
    hash_rows_extra: int = 0  # hash-table rows that are not permutations (sponge_init)
    control_flow: bool = False
    extension: bool = field(default=False)  # works on extension-field (XFE) values
    category: str = ""  # one of CATEGORIES (filled in from the table's sections)
    first_result_on_top: bool = False  # see push_order
    stream: str | None = None  # the stream it reads (public/secret input, secret digests) or writes, see STREAMS
    sponge: str | None = None  # "starts" (sponge_init) or "needs" (the other sponge instructions)
    many_in_one: bool = False  # does several steps of a larger computation at once (Merkle and dot steps)
    polynomial: bool = False  # every result is a polynomial over F_p in the popped operands (and the argument)

    # ---- derived facts
    @property
    def reads_input(self) -> bool:
        """Consumes public input, secret input or secret digests (``stream`` says which)."""
        return self.stream in ("public_input", "secret_input", "secret_digests")

    @property
    def uses_ram(self) -> bool:
        """Reads or writes RAM (every such instruction adds RAM-table rows)."""
        return bool(self.ram_rows or self.ram_rows_per_arg)

    @property
    def uses_hash_table(self) -> bool:
        """Runs Tip5 or touches the sponge (adds hash-table rows)."""
        return self.hash_rows() > 0

    @property
    def can_crash(self) -> bool:
        """Can crash on some values or some input (besides a too shallow stack)."""
        return bool(self.crashes)

    @property
    def is_stack_move(self) -> bool:
        """Only moves, copies or drops stack slots (see :func:`move_stack`)."""
        return self.name in _MOVES

    def push_order(self, results):
        """The instruction's results as they are pushed, deepest first. ``results`` are in the order Triton's
        definition lists them: ``split`` (hi, lo), ``div_mod`` (quotient, remainder), ``hash`` and the Merkle
        steps digest[0..4], the extension-field ops coefficients 0..2, ``sponge_squeeze`` state[0..9],
        ``read_io``/``divine`` the tokens in read order. Result 0 ends on top where ``first_result_on_top``."""
        results = list(results)
        return results[::-1] if self.first_result_on_top else results

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


CATEGORIES: tuple[str, ...] = ("stack", "control", "assertion", "memory", "hashing", "arithmetic", "u32",
                               "extension", "io")
"""What an instruction is for (``InstructionSpec.category``)."""
STREAMS: tuple[str, ...] = ("public_input", "public_output", "secret_input", "secret_digests")
"""The streams an instruction may use (``InstructionSpec.stream``)."""


_U32 = ("u32_operand",)

# One record per mnemonic, in Triton's own order. Operand conventions (top of stack = st0) are in the VM; this is
# the accounting.
_TOP = dict(first_result_on_top=True)
INSTRUCTIONS: tuple[InstructionSpec, ...] = (
    # stack manipulation
    _spec("push", 1, Arg.FIELD, 0, 1, category="stack"),
    _spec("pop", 3, Arg.COUNT, 0, 0, pops_per_arg=1, category="stack"),
    _spec("divine", 9, Arg.COUNT, 0, 0, pushes_per_arg=1, crashes=("secret_input_exhausted",),
          stream="secret_input", category="io"),
    _spec("pick", 17, Arg.INDEX, 0, 0, category="stack"),
    _spec("place", 25, Arg.INDEX, 0, 0, category="stack"),
    _spec("dup", 33, Arg.INDEX, 0, 1, category="stack"),
    _spec("swap", 41, Arg.INDEX, 0, 0, category="stack"),
    # control flow
    _spec("halt", 0, control_flow=True, category="control"),
    _spec("nop", 8, category="control"),
    _spec("skiz", 2, Arg.NONE, 1, 0, control_flow=True, category="control"),
    _spec("call", 49, Arg.LABEL, control_flow=True, category="control"),
    _spec("return", 16, crashes=("jump_stack_empty",), control_flow=True, category="control"),
    _spec("recurse", 24, crashes=("jump_stack_empty",), control_flow=True, category="control"),
    _spec("recurse_or_return", 32, base_reads=7, crashes=("jump_stack_empty",), control_flow=True,
          category="control"),
    _spec("assert", 10, Arg.NONE, 1, 0, crashes=("assertion_failed",), category="assertion"),
    # memory
    _spec("read_mem", 57, Arg.COUNT, 1, 1, pushes_per_arg=1, ram_rows_per_arg=1, category="memory"),
    _spec("write_mem", 11, Arg.COUNT, 1, 1, pops_per_arg=1, ram_rows_per_arg=1, category="memory"),
    # hashing
    _spec("hash", 18, Arg.NONE, 10, 5, hash_permutations=1, category="hashing", **_TOP),
    _spec("assert_vector", 26, Arg.NONE, 5, 0, base_reads=10, crashes=("assertion_failed",), category="assertion"),
    _spec("sponge_init", 40, hash_rows_extra=1, sponge="starts", category="hashing"),
    _spec("sponge_absorb", 34, Arg.NONE, 10, 0, crashes=("sponge_not_initialised",), hash_permutations=1,
          sponge="needs", category="hashing"),
    _spec("sponge_absorb_mem", 48, Arg.NONE, 5, 5, crashes=("sponge_not_initialised",), ram_rows=10,
          hash_permutations=1, sponge="needs", category="hashing"),
    _spec("sponge_squeeze", 56, Arg.NONE, 0, 10, crashes=("sponge_not_initialised",), hash_permutations=1,
          sponge="needs", category="hashing", **_TOP),
    # base-field arithmetic
    _spec("add", 42, Arg.NONE, 2, 1, polynomial=True, category="arithmetic"),
    _spec("addi", 65, Arg.FIELD, 1, 1, polynomial=True, category="arithmetic"),
    _spec("mul", 50, Arg.NONE, 2, 1, polynomial=True, category="arithmetic"),
    _spec("invert", 64, Arg.NONE, 1, 1, crashes=("inverse_of_zero",), category="arithmetic"),
    _spec("eq", 58, Arg.NONE, 2, 1, category="arithmetic"),
    # bitwise / u32
    _spec("split", 4, Arg.NONE, 1, 2, category="u32"),
    _spec("lt", 6, Arg.NONE, 2, 1, u32_operands=(0, 1), crashes=_U32, category="u32"),
    _spec("and", 14, Arg.NONE, 2, 1, u32_operands=(0, 1), crashes=_U32, category="u32"),
    _spec("xor", 22, Arg.NONE, 2, 1, u32_operands=(0, 1), crashes=_U32, category="u32"),
    _spec("log_2_floor", 12, Arg.NONE, 1, 1, u32_operands=(0,), crashes=_U32 + ("log_of_zero",), category="u32"),
    _spec("pow", 30, Arg.NONE, 2, 1, u32_operands=(1,), crashes=_U32, category="u32"),
    _spec("div_mod", 20, Arg.NONE, 2, 2, u32_operands=(0, 1), crashes=_U32 + ("division_by_zero",), category="u32"),
    _spec("pop_count", 28, Arg.NONE, 1, 1, u32_operands=(0,), crashes=_U32, category="u32"),
    # extension field
    _spec("xx_add", 66, Arg.NONE, 6, 3, polynomial=True, extension=True, category="extension", **_TOP),
    _spec("xx_mul", 74, Arg.NONE, 6, 3, polynomial=True, extension=True, category="extension", **_TOP),
    _spec("x_invert", 72, Arg.NONE, 3, 3, crashes=("inverse_of_zero",), extension=True, category="extension", **_TOP),
    _spec("xb_mul", 82, Arg.NONE, 4, 3, polynomial=True, extension=True, category="extension", **_TOP),
    # input / output
    _spec("read_io", 73, Arg.COUNT, 0, 0, pushes_per_arg=1, crashes=("public_input_exhausted",),
          stream="public_input", category="io"),
    _spec("write_io", 19, Arg.COUNT, 0, 0, pops_per_arg=1, stream="public_output", category="io"),
    # many-in-one
    _spec("merkle_step", 36, Arg.NONE, 6, 6, u32_operands=(5,), u32_results=(5,),
          crashes=_U32 + ("secret_digests_exhausted",),
          hash_permutations=1, stream="secret_digests", many_in_one=True, category="hashing", **_TOP),
    _spec("merkle_step_mem", 44, Arg.NONE, 8, 8, u32_operands=(5,), u32_results=(5,), crashes=_U32, ram_rows=5,
          hash_permutations=1, many_in_one=True, category="hashing", **_TOP),
    _spec("xx_dot_step", 80, Arg.NONE, 5, 5, ram_rows=6, extension=True, many_in_one=True, category="extension",
          **_TOP),
    _spec("xb_dot_step", 88, Arg.NONE, 5, 5, ram_rows=4, extension=True, many_in_one=True, category="extension",
          **_TOP),
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


# ---- families derived from the table (other modules use these, never their own lists)
CRASHING: frozenset[str] = frozenset(s.name for s in INSTRUCTIONS if s.can_crash)
"""Instructions that can crash on some values or input (besides a too shallow stack)."""
USES_RAM: frozenset[str] = frozenset(s.name for s in INSTRUCTIONS if s.uses_ram)
USES_HASH_TABLE: frozenset[str] = frozenset(s.name for s in INSTRUCTIONS if s.uses_hash_table)
ASSERTIONS: frozenset[str] = frozenset(s.name for s in INSTRUCTIONS if s.category == "assertion")
STRAIGHT_LINE: tuple[str, ...] = tuple(s.name for s in INSTRUCTIONS if not s.control_flow)
"""Mnemonics a straight-line block may contain (``halt`` ends one and is not among them)."""
INDEX_INSTRUCTIONS: tuple[str, ...] = tuple(s.name for s in INSTRUCTIONS if s.arg is Arg.INDEX)
"""The instructions whose argument is a stack index (``pick``, ``place``, ``dup``, ``swap``): they move or copy
slots."""
VALUE_INSTRUCTIONS: tuple[str, ...] = tuple(
    s.name for s in INSTRUCTIONS
    if s.category in ("arithmetic", "u32", "extension") and s.arg is Arg.NONE and not s.uses_ram)
"""Instructions that compute new values from their operands alone: no argument, no memory, I/O or sponge
(``addi`` is ``add`` with a constant; the dot steps read RAM)."""
SPONGE: frozenset[str] = frozenset(s.name for s in INSTRUCTIONS if s.sponge)
"""The instructions that start or use the Tip5 sponge."""
MANY_IN_ONE: frozenset[str] = frozenset(s.name for s in INSTRUCTIONS if s.many_in_one)
"""Triton's many-in-one instructions: a Merkle-tree step or a dot-product step in one instruction."""
USES_STATE: frozenset[str] = frozenset(s.name for s in INSTRUCTIONS if s.stream or s.uses_ram or s.sponge)
"""The instructions that read or change state beyond the op stack: an input or output stream, RAM or the sponge."""
COMMUTATIVE: frozenset[str] = frozenset({"add", "mul", "eq", "and", "xor"})
"""Binary instructions whose two operands (st0, st1) may be exchanged: ``swap 1`` before them changes nothing."""
POLYNOMIAL: frozenset[str] = frozenset(s.name for s in INSTRUCTIONS if s.polynomial)
"""Instructions whose every result is a polynomial over F_p in their operands (and argument): they never crash."""


# ---- the action of the stack moves: the one definition (the VM, the plan compiler and the search use it)
def _dup(stack, i):
    stack.append(stack[-1 - i])


def _swap(stack, i):
    stack[-1], stack[-1 - i] = stack[-1 - i], stack[-1]


def _pick(stack, i):
    stack.append(stack.pop(-1 - i))


def _place(stack, i):
    stack.insert(len(stack) - 1 - i, stack.pop())


def _pop(stack, n):
    del stack[len(stack) - n:]


_MOVES = {"dup": _dup, "swap": _swap, "pick": _pick, "place": _place, "pop": _pop}
STACK_MOVES: tuple[str, ...] = tuple(_MOVES)
"""The instructions that only move, copy or drop slots."""


def move_stack(name: str, arg: int, stack: list) -> list:
    """Apply the stack move ``name arg`` (``dup i``, ``swap i``, ``pick i``, ``place i``, ``pop n``) to ``stack``
    (a list, top last) in place and return it. ``dup i`` copies st_i to the top; ``swap i`` exchanges st0 and
    st_i; ``pick i`` moves st_i to the top; ``place i`` moves st0 down to position i; ``pop n`` drops n slots.
    The caller checks the depth (``InstructionSpec.reads``)."""
    _MOVES[name](stack, arg)
    return stack


def stack_move(name: str):
    """The function ``(stack, arg) -> None`` that :func:`move_stack` applies for ``name`` (for a hot loop that
    looks it up once)."""
    return _MOVES[name]


def _check_table() -> None:
    for s in INSTRUCTIONS:
        assert s.category in CATEGORIES, f"{s.name}: category {s.category!r}"
        assert s.stream in (None,) + STREAMS, f"{s.name}: stream {s.stream!r}"
        assert s.sponge in (None, "starts", "needs"), f"{s.name}: sponge {s.sponge!r}"
        exhausted = {"public_input": "public_input_exhausted", "secret_input": "secret_input_exhausted",
                     "secret_digests": "secret_digests_exhausted"}.get(s.stream)
        assert exhausted is None or exhausted in s.crashes, f"{s.name}: reads {s.stream} but cannot run out"
        assert (s.sponge == "needs") == ("sponge_not_initialised" in s.crashes), s.name
        assert not (s.polynomial and s.crashes), f"{s.name}: a polynomial cannot crash"
    assert set(_MOVES) <= set(BY_NAME) and all(BY_NAME[m].category == "stack" for m in _MOVES)


_check_table()
