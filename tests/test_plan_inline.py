"""The builder's inline ``add_const``, ``offsets``, ``mem_read``, ``reads`` and ``mem_writes`` (tasm_env.plan_ops): the
plans they compile equal the plans of the generic path (each one an ``op()`` call, one read or write at a time, as
before they were inlined), on Hypothesis-generated blocks heavy in memory instructions."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from tasm_env import isa
from tasm_env.asm import Instruction, Program
from tasm_env.plan import Plan, Shape, compile_block
from tasm_env.plan_ops import Builder
from tasm_env.field import P


def _generic_add_const(b: Builder, value_id: int, constant: int) -> int:
    return value_id if constant % P == 0 else b.op("add", [value_id, b.const(constant)])


def _generic_offsets(b: Builder, value_id: int, constants) -> list[int]:
    return [_generic_add_const(b, value_id, c) for c in constants]


def _generic_mem_read(b: Builder, address: int) -> int:
    b.touched.append(address)
    return b.op("mem_read", [address, *b.writes])


def _generic_reads(b: Builder, pointer: int, constants) -> list[int]:
    return [b.mem_read(b.add_const(pointer, c)) for c in constants]


def _generic_mem_writes(b: Builder, addresses, values) -> None:
    for address, value in zip(addresses, values):
        b.touched.append(address)
        b.writes += (address, value)
        b.write_level = max(b.write_level, b.lv[address], b.lv[value])


# the RAM instructions, from isa's table: word-count ones at a few counts, the others (dot, Merkle, sponge steps)
_MEMORY = [Instruction(spec.name, n) for spec in isa.BY_NAME.values() if spec.ram_rows_per_arg
           for n in (1, 2, 3, 5)] + [Instruction(spec.name, None) for spec in isa.BY_NAME.values()
                                     if spec.ram_rows and spec.arg is isa.Arg.NONE]
_OTHERS = [Instruction("push", v) for v in (0, 1, 7, P - 1, 1 << 40)] + [
    Instruction("dup", k) for k in (0, 3, 9)] + [Instruction("swap", k) for k in (1, 5)] + [
    Instruction("addi", v) for v in (0, 2, P - 3)] + [Instruction(name, None) for name in ("add", "mul", "pop_count")
                                                       if name in isa.BY_NAME and isa.BY_NAME[name].arg is isa.Arg.NONE
                                                       ] + [Instruction("pop", 2), Instruction("sponge_init", None),
                                                            Instruction("sponge_absorb_mem", None)]
blocks = st.lists(st.sampled_from(_MEMORY) | st.sampled_from(_OTHERS), min_size=1, max_size=20)
shapes = st.builds(Shape, st.integers(16, 22), st.integers(0, 3), st.integers(0, 3), st.integers(0, 1))


def _fields(plan: Plan) -> tuple:
    return tuple(getattr(plan, f.name) for f in dataclasses.fields(Plan))


@settings(max_examples=300, deadline=None)
@given(block=blocks, shape=shapes)
def test_inline_memory_steps_compile_the_generic_plan(block, shape):
    program = Program(tuple(block))
    fast = compile_block(program, shape, keep=False)
    names = ("add_const", "mem_read", "offsets", "reads", "mem_writes")
    inline = [getattr(Builder, name) for name in names]
    try:
        for name, generic_step in zip(names, (_generic_add_const, _generic_mem_read, _generic_offsets, _generic_reads,
                                              _generic_mem_writes)):
            setattr(Builder, name, generic_step)
        generic = compile_block(program, shape, keep=False)
    finally:
        for name, step in zip(names, inline):
            setattr(Builder, name, step)
    assert _fields(fast) == _fields(generic)


def test_the_blocks_exercise_reads_after_writes():
    """The strategy's blocks reach the inline paths: a read after writes, a nonzero offset."""
    program = Program((Instruction("push", 5), Instruction("write_mem", 2), Instruction("read_mem", 3)))
    plan = compile_block(program, Shape(20, 0, 0, 0), keep=False)
    reads = [j for j, n in enumerate(plan.n_in) if n > 2]
    assert reads and plan.writes


@settings(max_examples=200, deadline=None)
@given(value=st.integers(0, 40), constants=st.lists(st.integers(-3, 3) | st.sampled_from([P, P - 1, 1 << 63]),
                                                    max_size=8), depth=st.integers(16, 20))
def test_offsets_is_the_generic_add_one_by_one(value, constants, depth):
    """``offsets`` (and ``add_const``, one constant through it) build what one generic ``op("add")`` per
    constant builds: the same ids and the same builder state."""
    generic, many, single = (Builder(Shape(depth, 4, 4, 4)) for _ in range(3))
    value = value % generic.shape.shared
    expected = [_generic_add_const(generic, value, c) for c in constants]
    assert many.offsets(value, constants) == expected
    assert [single.add_const(value, c) for c in constants] == expected
    assert vars(generic) == vars(many) == vars(single)
