"""The searched instructions as moves, and the default instruction set.

Every straight-line instruction but ``nop`` is a move: the stack moves (``dup swap pick place pop``, acting as
:func:`tasm_env.isa.move_stack` defines), ``push`` and the value instructions (:data:`PURE`, evaluated by the
batched executor's public evaluators), and the instructions with side effects (:data:`~.steps.STEPS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from ... import isa
from ...asm import Instruction, Program
from ...errors import TasmError
from ...field import P
from .pure import Memo, evaluate_pure
from .steps import STEPS, per_row

if TYPE_CHECKING:
    from .space import Space

FIXED_CONSTANTS: tuple[int, ...] = (0, 1, P - 1, 2)
"""Constants every search may push (``-1`` is ``p - 1``)."""
ARITHMETIC: tuple[str, ...] = isa.VALUE_INSTRUCTIONS
"""Value instructions every search tries."""


@dataclass(frozen=True)
class Move:
    """One searched instruction. Stack moves (``dup swap pick place pop``) permute ids; every other move is an
    *op*: it reads the top ``reads`` slots, removes the top ``consumes`` and pushes ``produces`` results
    (``results[:, 0]`` ends on top). ``evaluate(space, ids, meta) -> (results, meta, ok)`` runs on distinct
    operand tuples; ``uses_meta`` says whether its outcome depends on the meta columns (then the meta row is
    part of the operand tuple); ``crash_bits`` that its meta out holds (only) the crash lanes the tuple crashes
    on, to be added to the parent's (a partial baseline's value instructions, see :func:`.pure.compute_partial`)."""

    instruction: Instruction
    kind: str  # "dup", "swap", "pick", "place", "pop" or "op"
    arg: int = 0
    reads: int = 0
    consumes: int = 0
    produces: int = 0
    evaluate: Callable | None = field(default=None, repr=False, compare=False)
    uses_meta: bool = False
    crash_bits: bool = False  # a partial baseline's value instruction: its meta out holds the crash lanes hit

    @property
    def delta(self) -> int:
        """Net change of the stack depth (the ISA's)."""
        return self.instruction.spec.delta(self.instruction.arg)

    @property
    def touches(self) -> int:
        """How many top slots must hold live values for the move to be allowed (the ISA's ``reads``)."""
        return self.instruction.spec.reads(self.instruction.arg)


@dataclass(frozen=True)
class Pure:
    """A value instruction run through the batched executor's evaluator ``operation``: its inputs are the top
    ``stack_inputs`` slots (st0 first) then the constants; ``order`` lists the evaluator's results top-first.
    ``u32_inputs`` / ``nonzero_inputs``: stack inputs that crash the instruction unless u32 / non-zero."""

    operation: str
    stack_inputs: int
    constants: tuple[int, ...] = ()
    order: tuple[int, ...] = (0,)
    u32_inputs: tuple[int, ...] = ()
    nonzero_inputs: tuple[int, ...] = ()


def pure_spec(name: str, operation: str | None = None, **kw) -> Pure:
    """The value instruction ``name`` as the evaluator ``operation`` (default: the same name) sees it; the
    result order and the crash pre-checks come from the ISA."""
    spec = isa.spec(name)
    nonzero = (0,) if spec.crashes == ("inverse_of_zero",) and spec.reads() == 1 else ()
    order = tuple(spec.push_order(range(spec.pushes())))[::-1]  # top first
    return Pure(operation or name, spec.reads(), order=order, u32_inputs=spec.u32_operands, nonzero_inputs=nonzero,
                **kw)


PURE: dict[str, Pure] = {
    **{name: pure_spec(name) for name in (*isa.VALUE_INSTRUCTIONS, *sorted(isa.ASSERTIONS))},
    "hash": pure_spec("hash", "permute", constants=(1,) * 6),  # Tip5's fixed-length domain: capacity words are 1
}
"""Value instructions: one evaluator call each (``addi c`` is ``add`` with the constant ``c``)."""


def evaluate_push(constant_id: int):
    def evaluate(space, ids, meta):
        return np.full((len(ids), 1), constant_id, dtype=np.int64), meta, np.ones(len(ids), dtype=bool)
    return evaluate


def make_move(instruction: Instruction, space: "Space") -> Move:
    """The search move of any straight-line instruction (the stack effect comes from the ISA table)."""
    name, arg = instruction.name, instruction.arg
    spec = isa.spec(name)
    reads, consumes, produces = spec.reads(arg), spec.pops(arg), spec.pushes(arg)
    if spec.is_stack_move:
        return Move(instruction, name, arg, reads, consumes, produces)
    if spec.control_flow or name == "nop":
        raise TasmError(f"the exact search handles straight-line blocks only; found `{instruction}`")
    if name == "push":
        return Move(instruction, "op", 0, 0, 0, 1, evaluate_push(space.values.constant(arg)))
    pure = Pure("add", 1, constants=(arg,)) if name == "addi" else PURE.get(name)
    if pure is not None:
        memo = Memo(reads, produces, crash_bits=space.partial)
        return Move(instruction, "op", 0, reads, consumes, produces,
                    lambda s, i, m: evaluate_pure(pure, memo, s, i, m), crash_bits=space.partial)
    step = STEPS[name](arg)
    return Move(instruction, "op", 0, reads, consumes, produces, per_row(step, produces), uses_meta=True)


def stack_moves() -> list[Instruction]:
    moves = [Instruction("dup", i) for i in range(16)]
    moves += [Instruction("swap", i) for i in range(1, 16)]
    moves += [Instruction("pick", i) for i in range(2, 16)]
    moves += [Instruction("place", i) for i in range(2, 16)]
    moves += [Instruction("pop", n) for n in range(1, 6)]
    return moves


def instruction_set(baseline: Program, constants: Sequence[int], public: int = 0, secret: int = 0,
                    outputs: int = 0, addi_constants: Sequence[int] | None = None,
                    partial: bool = False) -> list[Instruction]:
    """The instructions searched for ``baseline`` (see the package docstring): stack moves, ``push c`` for
    ``constants`` and ``addi c`` for ``addi_constants`` (default: the non-zero ``constants``), the fixed
    arithmetic, I/O up to what the baseline reads and writes, and the baseline's own memory, hashing and
    assertion instructions; ``assert`` too when the baseline is ``partial`` (crashes on some valid inputs)."""
    used = {i.name for i in baseline}
    out = stack_moves()
    out += [Instruction("push", c) for c in constants]
    out += [Instruction("addi", c) for c in (constants if addi_constants is None else addi_constants) if c % P]
    out += [Instruction(name) for name in ARITHMETIC]
    out += [Instruction("read_io", n) for n in range(1, min(5, public) + 1)]
    out += [Instruction("divine", n) for n in range(1, min(5, secret) + 1)]
    out += [Instruction("write_io", n) for n in range(1, min(5, outputs) + 1)]
    if used & isa.USES_RAM:
        out += [Instruction("read_mem", n) for n in range(1, 6)] + [Instruction("write_mem", n) for n in range(1, 6)]
    assertions = used & isa.ASSERTIONS
    if partial:  # a block that may crash: an assertion may be the cheapest way to crash where it does
        assertions |= {"assert"}
    for name in sorted((used & (isa.USES_RAM | isa.USES_HASH_TABLE) | assertions) - {"read_mem", "write_mem"}):
        out.append(Instruction(name))
    return out


_COVERED = set(isa.STACK_MOVES) | {"push", "addi"} | set(PURE) | set(STEPS)
_EXPECTED = set(isa.STRAIGHT_LINE) - {"nop"}
assert _COVERED == _EXPECTED, f"the search's moves differ from the ISA's straight-line ones: {_COVERED ^ _EXPECTED}"
assert not _COVERED & isa.CONTROL_FLOW and set(ARITHMETIC) <= set(PURE)
