"""Hypothesis strategies for property-testing code built on tasm-env (the project's own tests use them).

    from hypothesis import given
    from tasm_env import testing as tst

    @given(tst.straight_line_programs(max_length=20), tst.stacks())
    def test_my_optimiser_keeps_semantics(program, stack): ...

Values are canonical field elements (Python ints in [0, p)); stacks are tuples with the top last.
"""

from __future__ import annotations

from hypothesis import strategies as st

from . import isa
from .asm import Instruction, Program
from .field import P

EDGE_VALUES = (0, 1, 2, P - 1, P - 2, (1 << 32) - 1, 1 << 32, 1 << 31, 1 << 63, (1 << 64) - (1 << 32))


def field_elements() -> st.SearchStrategy[int]:
    """Any field element, with edge values and small numbers drawn often."""
    return st.one_of(st.sampled_from(EDGE_VALUES), st.integers(0, 16), st.integers(0, P - 1))


def u32_values() -> st.SearchStrategy[int]:
    """Values below 2^32, with 0, 1 and 2^32 - 1 drawn often."""
    return st.one_of(st.sampled_from((0, 1, 2, (1 << 32) - 1, 1 << 31)), st.integers(0, 64),
                     st.integers(0, (1 << 32) - 1))


def stack_values() -> st.SearchStrategy[int]:
    """A mix that lets u32 instructions succeed often and still covers the whole field."""
    return st.one_of(u32_values(), field_elements())


def stacks(min_depth: int = 16, max_depth: int = 28) -> st.SearchStrategy[tuple[int, ...]]:
    """Whole op stacks (top last), at least 16 deep as Triton's always is."""
    return st.lists(stack_values(), min_size=min_depth, max_size=max_depth).map(tuple)


STRAIGHT_LINE_MNEMONICS: tuple[str, ...] = tuple(
    spec.name for spec in isa.INSTRUCTIONS if not spec.control_flow
)


def instructions(mnemonics=STRAIGHT_LINE_MNEMONICS) -> st.SearchStrategy[Instruction]:
    """One instruction with a valid argument, from the given mnemonics."""

    def with_arg(name: str) -> st.SearchStrategy[Instruction]:
        kind = isa.BY_NAME[name].arg
        if kind is isa.Arg.NONE:
            return st.just(Instruction(name))
        if kind is isa.Arg.FIELD:
            return stack_values().map(lambda v: Instruction(name, v))
        if kind is isa.Arg.LABEL:
            raise ValueError("`call` needs a label; use programs with labels instead")
        return st.sampled_from(list(kind.range())).map(lambda a: Instruction(name, a))

    return st.sampled_from(list(mnemonics)).flatmap(with_arg)


def straight_line_programs(min_length: int = 0, max_length: int = 24,
                           mnemonics=STRAIGHT_LINE_MNEMONICS) -> st.SearchStrategy[Program]:
    """Programs without control flow (``halt`` may occur and ends them), as the batched executor runs."""
    return st.lists(instructions(mnemonics), min_size=min_length, max_size=max_length).map(Program)


def input_tokens(max_size: int = 12) -> st.SearchStrategy[tuple[int, ...]]:
    """Public or secret input: a tuple of field elements."""
    return st.lists(stack_values(), max_size=max_size).map(tuple)


def digests(max_size: int = 3) -> st.SearchStrategy[tuple[tuple[int, ...], ...]]:
    """Secret digests for ``merkle_step``: tuples of five field elements."""
    return st.lists(st.tuples(*[field_elements()] * 5), max_size=max_size).map(tuple)


@st.composite
def runnable_programs(draw, stack_depth: int = 24, min_length: int = 1, max_length: int = 24,
                      mnemonics=STRAIGHT_LINE_MNEMONICS, sponge_first: float = 0.8):
    """Straight-line programs that never shrink a stack of ``stack_depth`` elements below Triton's 16 (so they
    run long instead of crashing at once), starting with ``sponge_init`` with probability ``sponge_first``
    when the mnemonics include sponge instructions. Value-dependent crashes (u32 operands, assertions, ...)
    and running out of input can still happen, as they should."""
    out: list[Instruction] = []
    if "sponge_init" in mnemonics and draw(st.floats(0, 1)) < sponge_first:
        out.append(Instruction("sponge_init"))
    depth = stack_depth
    for _ in range(draw(st.integers(min_length, max_length))):
        instruction = draw(instructions(mnemonics))
        # usually set up what the instruction needs, so that runs go on past it
        prefix = _PREPARE.get(instruction.name, ()) if draw(st.floats(0, 1)) < 0.7 else ()
        for step in (*prefix, instruction):
            if depth + step.spec.delta(step.arg) < 16:
                break  # would crash for sure: leave it out
            depth += step.spec.delta(step.arg)
            out.append(step)
    return Program(out)


_U32_PAIR = (Instruction("split"),)  # leaves two u32 values (hi, lo) on top
_PREPARE = {
    "assert": (Instruction("push", 1),),
    "assert_vector": (Instruction("dup", 4),) * 5,
    **{name: _U32_PAIR for name in ("lt", "and", "xor", "pow", "div_mod", "log_2_floor", "pop_count")},
    "merkle_step": (Instruction("split"), Instruction("place", 5)),
    "merkle_step_mem": (Instruction("split"), Instruction("place", 5)),
}
