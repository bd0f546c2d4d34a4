"""The static pass: the batch version (plan.static_rows) and the compiler's own checks (plan.compile_block) agree
with plan.summarize on random straight-line blocks, control flow, I/O and sponge use included."""

from dataclasses import astuple

import numpy as np
import pytest

from tasm_env import isa
from tasm_env.asm import Instruction, Program
from tasm_env.errors import BatchError
from tasm_env import plan
from tasm_env.plan import NO_CRASH, Shape, clear_compiled, compile_block, static_rows, summarize

_ALL = list(isa.BY_NAME)
_STACK_ONLY = [name for name in isa.STRAIGHT_LINE if name in isa.STACK_MOVES or name in isa.VALUE_INSTRUCTIONS
               or name == "push"]


def _instruction(rng: np.random.Generator, names: list[str]) -> Instruction:
    name = names[int(rng.integers(len(names)))]
    spec = isa.BY_NAME[name]
    for _ in range(40):
        if spec.arg is isa.Arg.NONE:
            arg = None
        elif spec.arg is isa.Arg.LABEL:
            return Instruction("nop")
        elif spec.arg is isa.Arg.FIELD:
            arg = int(rng.integers(0, 1 << 63))
        else:
            arg = int(rng.integers(0, 17))
        if not spec.check_arg(arg):
            return Instruction(name, arg)
    return Instruction("nop")


def _programs(seed: int, count: int) -> tuple[list[Program], Shape]:
    rng = np.random.default_rng(seed)
    names = _ALL if seed % 3 == 0 else _STACK_ONLY  # mostly blocks that only move and compute: the vector path
    programs = [Program([_instruction(rng, names) for _ in range(int(rng.integers(0, 30)))]) for _ in range(count)]
    shape = Shape(16 + int(rng.integers(0, 5)), int(rng.integers(0, 6)), int(rng.integers(0, 6)),
                  int(rng.integers(0, 3)))
    return programs, shape


@pytest.mark.parametrize("seed", range(24))
def test_static_rows_are_summarize_row_by_row(seed):
    programs, shape = _programs(seed, 60)
    rows, errors = static_rows(programs, shape)
    assert rows.shape == (len(programs), 9)
    for i, program in enumerate(programs):
        try:
            expected = summarize(program, shape)
        except BatchError as err:
            assert str(errors[i]) == str(err)
            continue
        assert i not in errors
        assert rows[i].tolist() == [int(v) for v in astuple(expected)], (str(program), shape)


def test_static_rows_of_no_programs_and_of_empty_programs():
    shape = Shape(16, 0, 0, 0)
    rows, errors = static_rows([], shape)
    assert rows.shape == (0, 9) and not errors
    rows, errors = static_rows([Program([]), Program.parse("pop 1")], shape)
    assert rows[0].tolist() == [int(v) for v in astuple(summarize(Program([]), shape))]
    assert rows[1, 6] != NO_CRASH  # 15 elements left: too shallow at cycle 0


@pytest.mark.parametrize("seed", range(24))
def test_the_compilers_static_checks_are_summarize(seed):
    """compile_block walks the program once, making the static checks itself: its crash, cycles, depth, output
    and input consumed are what summarize says."""
    programs, shape = _programs(seed + 100, 40)
    for program in programs:
        try:
            summary = summarize(program, shape)
        except BatchError:
            with pytest.raises(BatchError):
                compile_block(program, shape)
            continue
        plan = compile_block(program, shape)
        assert (plan.static_crash, plan.cycles) == (summary.static_crash, summary.cycles), str(program)
        if summary.static_crash == NO_CRASH:
            assert (len(plan.stack), len(plan.output), plan.public_consumed, plan.secret_consumed,
                    plan.digests_consumed, plan.sponge is not None) == (
                summary.final_depth, summary.outputs, summary.public_consumed, summary.secret_consumed,
                summary.digests_consumed, summary.sponge_initialised), str(program)


@pytest.mark.parametrize("seed", range(6))
def test_a_plan_not_kept_is_the_kept_plan_and_plans_copy(seed):
    """compile_block(keep=False) (the verifier's candidates) walks afresh and keeps nothing: the same plan as
    the cached walk, which may resume from a kept prefix. Plans (slotted, frozen) copy to equals."""
    import copy

    programs, shape = _programs(seed + 300, 30)
    for program in programs:
        longer = Program(program.instructions + (Instruction("dup", 0), Instruction("add")))
        for p in (program, Program(program.instructions + (Instruction("dup", 0),)), longer):  # resumed when kept
            try:
                kept = compile_block(p, shape)
            except BatchError:
                continue
            fresh = compile_block(Program(p.instructions), shape, keep=False)
            assert fresh == kept and fresh is not kept
            assert copy.deepcopy(kept) == kept and copy.copy(kept) == kept
    with pytest.raises(Exception):
        kept.kind = []  # frozen


def test_siblings_that_share_length_first_and_last_instruction_each_resume_their_own_prefix(monkeypatch):
    """A beam compiles many siblings of one length with the same first and last instruction (one per parent),
    then the children of some: every child resumes its own parent's builder (no fresh walk) and its plan is
    the fresh walk's."""
    fresh_walks = []

    class Counting(plan.Builder):
        def __init__(self, shape):
            fresh_walks.append(shape)
            super().__init__(shape)

    clear_compiled()
    monkeypatch.setattr(plan, "Builder", Counting)
    shape = Shape(16, 0, 0, 0)
    parents = [Program([Instruction("push", 7), Instruction("push", 100 + i), Instruction("add"),
                        Instruction("dup", 0)]) for i in range(20)]
    for parent in parents:
        compile_block(parent, shape)
    assert len(fresh_walks) == len(parents)
    children = [Program(p.instructions + (Instruction("mul"),)) for p in parents]
    kept = [compile_block(child, shape) for child in children]
    assert len(fresh_walks) == len(parents)  # all resumed
    assert kept == [compile_block(Program(c.instructions), shape, keep=False) for c in children]
