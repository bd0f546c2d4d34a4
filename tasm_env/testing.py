"""Hypothesis strategies for property-testing code built on tasm-env (the project's own tests use them).

    from hypothesis import given
    from tasm_env import testing as tst

    @given(tst.straight_line_programs(max_length=20), tst.stacks())
    def test_my_optimiser_keeps_semantics(program, stack): ...

Values are canonical field elements (Python ints in [0, p)); stacks are tuples with the top last.

* values and machine state: :func:`field_elements`, :func:`u32_values`, :func:`stack_values`, :func:`stacks`,
  :func:`input_tokens`, :func:`digests`;
* typed inputs, as tasks declare them: :func:`input_types`, :func:`typed_values`, :func:`typed_inputs`;
* programs: :func:`instructions`, :func:`straight_line_programs`, :func:`runnable_programs`;
* tasks and equivalent programs: :func:`tasks` (whole :class:`~tasm_env.tasks.Task` objects from the
  generators), :func:`equivalent_pairs` (a task's baseline and a rewritten program that the verifier accepts).

``docs/testing.md`` has an example property test (run by the project's own tests).
"""

from __future__ import annotations

from typing import Iterator, NamedTuple, Sequence

import numpy as np
from hypothesis import strategies as st

from . import isa, value_types
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


def _preparation(spec: isa.InstructionSpec) -> tuple[Instruction, ...]:
    """Instructions that usually let ``spec`` pass: a 1 for ``assert``, a copy of the top five words for
    ``assert_vector``, u32 operands from ``split`` (moved down to st5 for the Merkle steps)."""
    if spec.category == "assertion":
        return (Instruction("push", 1),) if spec.pops() == 1 else (Instruction("dup", 4),) * 5
    if spec.u32_operands == (5,):
        return _U32_PAIR + (Instruction("place", 5),)
    return _U32_PAIR if spec.u32_operands else ()


_PREPARE = {spec.name: prefix for spec in isa.INSTRUCTIONS if (prefix := _preparation(spec))}


# ------------------------------------------------------------------------------------------ typed inputs

INPUT_TYPES: tuple[str, ...] = value_types.INPUT_TYPES
"""The input types a task can declare (one home: :mod:`tasm_env.value_types`)."""


def input_types(min_size: int = 1, max_size: int = 4) -> st.SearchStrategy[tuple[str, ...]]:
    """A task's input types, deepest first, e.g. ``("field", "u32")``."""
    return st.lists(st.sampled_from(INPUT_TYPES), min_size=min_size, max_size=max_size).map(tuple)


def typed_values(kind: str) -> st.SearchStrategy[int]:
    """Values of one input type, edge values drawn often: ``field`` (any element), ``nonzero``, ``u32``,
    ``u32_nonzero`` (a divisor) or ``bool`` (0 or 1)."""
    if kind == "field":
        return field_elements()
    if kind == "nonzero":
        return field_elements().filter(bool)
    if kind == "u32":
        return u32_values()
    if kind == "u32_nonzero":
        return u32_values().filter(bool)
    if kind == "bool":
        return st.sampled_from((0, 1))
    raise ValueError(f"unknown input type {kind!r}: expected one of {', '.join(INPUT_TYPES)}")


def typed_inputs(types: Sequence[str]) -> st.SearchStrategy[tuple[int, ...]]:
    """One value per input type, in the same order (deepest first: pass them as ``te.run(..., stack=...)``)."""
    return st.tuples(*(typed_values(kind) for kind in types))


# -------------------------------------------------------------------------------- tasks and equivalence

TIERS: tuple[str, ...] = ("easy", "medium", "hard")


@st.composite
def tasks(draw, tier: str | Sequence[str] = "easy"):
    """A whole :class:`~tasm_env.tasks.Task` from the project's random generator (a typed dataflow program,
    compiled to its baseline), of ``tier`` or of one of several tiers. Shrinks towards seed 0."""
    from .tasks import Task
    from .tasks.generate import random_tir

    tiers = (tier,) if isinstance(tier, str) else tuple(tier)
    chosen = draw(st.sampled_from(tiers))
    seed = draw(st.integers(0, 2**32 - 1))
    tir = random_tir(chosen, np.random.default_rng(seed))
    return Task.from_tir(tir, name=f"{chosen}-{seed}", tier=chosen)


class EquivalentPair(NamedTuple):
    """A baseline and a different program the verifier accepts as equivalent to it, with the rewrite used."""

    task: object  # the Task the baseline belongs to
    baseline: Program
    variant: Program
    rewrite: str


def _neutral_snippets(draw) -> list[Instruction]:
    """A short sequence with no effect on any part of the state (on a stack of at least 16, as Triton's is)."""
    i = draw(st.integers(1, 15))
    c = draw(field_elements())
    return draw(st.sampled_from([
        [Instruction("push", c), Instruction("pop", 1)],
        [Instruction("dup", i), Instruction("pop", 1)],
        [Instruction("swap", i), Instruction("swap", i)],
        [Instruction("pick", i), Instruction("place", i)],
        [Instruction("place", i), Instruction("pick", i)],
        [Instruction("push", 0), Instruction("add")],
        [Instruction("push", 1), Instruction("mul")],
        [Instruction("nop")],
    ]))


_COMMUTED = frozenset(name for name in isa.COMMUTATIVE if isa.BY_NAME[name].category == "arithmetic")


def _commuted(draw, instructions: list[Instruction]) -> tuple[list[Instruction], str] | None:
    """`add`/`mul`/`eq`/`xx_add` preceded by `swap 1` computes the same (they are commutative)."""
    places = [k for k, ins in enumerate(instructions) if ins.name in _COMMUTED]
    if not places:
        return None
    k = draw(st.sampled_from(places))
    return instructions[:k] + [Instruction("swap", 1)] + instructions[k:], f"swap 1 before {instructions[k]}"


@st.composite
def equivalent_pairs(draw, task_strategy: st.SearchStrategy | None = None, n_tests: int = 40):
    """(task, baseline, variant, rewrite): a task's baseline and a sound rewrite of it, which the verifier
    (:func:`tasm_env.verify`) accepts. Rewrites: a neutral snippet inserted anywhere (``push c pop 1``,
    ``dup i pop 1``, ``swap i swap i``, ``pick i place i``, ``place i pick i``, ``push 0 add``,
    ``push 1 mul``, ``nop``), or ``swap 1`` before a commutative instruction; one to three of them.

    Use them as positive controls: whatever checks equivalence must accept each pair, whatever optimises must
    keep the variant's meaning."""
    from .verify import verify

    task = draw(task_strategy if task_strategy is not None else tasks())
    instructions = list(task.baseline.instructions)
    done = []
    for _ in range(draw(st.integers(1, 3))):
        commuted = _commuted(draw, instructions) if draw(st.booleans()) else None
        if commuted is not None:
            instructions, what = commuted
        else:
            snippet = _neutral_snippets(draw)
            k = draw(st.integers(0, len(instructions)))
            instructions = instructions[:k] + snippet + instructions[k:]
            what = f"`{' '.join(map(str, snippet))}` at {k}"
        done.append(what)
    variant = Program(instructions)
    verdict = verify(task.baseline, variant, inputs=task.inputs, n_tests=n_tests)
    if not verdict.ok:  # a sound rewrite refused: a bug in the verifier or in these rewrites, never skipped
        raise AssertionError(f"the verifier refuses a sound rewrite ({'; '.join(done)}): {verdict.reason}")
    return EquivalentPair(task, task.baseline, variant, "; ".join(done))


def known_good_programs(tasks: Sequence) -> Iterator[tuple[int, object, Program, str]]:
    """Every task's baseline and, where the suite records one, its optimum, as ``(index, task, program, kind)``
    with ``kind`` ``"baseline"`` or ``"optimum"``: the programs no sound mask or early end may ever cut."""
    for index, task in enumerate(tasks):
        yield index, task, task.baseline, "baseline"
        if task.optimum is not None:
            yield index, task, task.optimum.program, "optimum"
