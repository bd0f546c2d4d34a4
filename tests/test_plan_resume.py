"""The append-only resume of kept builders (tasm_env.plan): a child program's builder shares every list of its
parent's that its one new instruction leaves alone. Plans must equal a fresh walk's, also after the children
of their program were compiled (a shared list written by a child would change its parent's plan)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tasm_env import isa, plan
from tasm_env.asm import Instruction, Program
from tasm_env.errors import BatchError
from tasm_env.plan import Shape, clear_compiled, compile_block


def _pool() -> list[Instruction]:
    """Straight-line instructions with arguments: every mnemonic, a few arguments each (stack moves and the
    inline operations weighted up: the beam's children are mostly those)."""
    rng, pool = np.random.default_rng(0), []
    for name in isa.STRAIGHT_LINE:
        spec = isa.BY_NAME[name]
        if spec.arg is isa.Arg.LABEL:
            continue
        for _ in range(4 if name in isa.STACK_MOVES or name in isa.VALUE_INSTRUCTIONS or name == "push" else 1):
            arg = None if spec.arg is isa.Arg.NONE else int(rng.integers(0, 1 << 63)) \
                if spec.arg is isa.Arg.FIELD else int(rng.integers(0, 17))
            if not spec.check_arg(arg):
                pool.append(Instruction(name, arg))
    return pool


POOL = _pool()
instructions = st.lists(st.sampled_from(POOL), min_size=1, max_size=12)
shapes = st.builds(Shape, st.integers(16, 20), st.integers(0, 5), st.integers(0, 5), st.integers(0, 2))


@settings(max_examples=150, deadline=None)
@given(trunk=instructions, branches=st.lists(instructions, min_size=1, max_size=6), shape=shapes,
       forks=st.lists(st.integers(0, 11), min_size=6, max_size=6))
def test_resumed_plans_equal_fresh_walks_after_their_children_are_compiled(trunk, branches, shape, forks):
    """A tree of programs (branches forking off a trunk, as a beam's rows fork off their ancestors), every
    prefix compiled in order, so that siblings resume one parent builder: each plan equals a fresh walk
    (``keep=False``) of its program, checked after the whole tree was compiled."""
    clear_compiled()
    programs = [trunk] + [trunk[:fork % (len(trunk) + 1)] + branch for fork, branch in zip(forks, branches)]
    compiled: dict[Program, plan.Plan] = {}
    for instructions_ in programs:
        for t in range(1, len(instructions_) + 1):
            program = Program(instructions_[:t])
            try:
                compiled[program] = compile_block(program, shape)
            except BatchError:
                break
    for program, kept in compiled.items():
        assert kept == compile_block(Program(program.instructions), shape, keep=False), str(program)


def test_a_child_of_each_kind_resumes_and_leaves_its_parent_plan_alone(monkeypatch):
    """One parent, a child per kind of step (stack move, push, inline operation, handler, crash): each child
    resumes (no fresh builder) and the parent's plan is still its fresh walk's after all of them."""
    clear_compiled()
    shape = Shape(16, 2, 1, 1)
    parent = Program([Instruction("push", 5), Instruction("dup", 0), Instruction("add"), Instruction("read_io", 1)])
    parent_plan = compile_block(parent, shape)
    tails = [Instruction("swap", 1), Instruction("push", 9), Instruction("mul"), Instruction("addi", 3),
             Instruction("write_io", 1), Instruction("sponge_init"), Instruction("divine", 1),
             Instruction("merkle_step"), Instruction("pop", 5)]
    walks = []

    class Counting(plan.Builder):
        def __init__(self, shape_):
            walks.append(shape_)
            super().__init__(shape_)

    monkeypatch.setattr(plan, "Builder", Counting)
    children = {t: compile_block(Program(parent.instructions + (t,)), shape) for t in tails}
    assert not walks  # every child resumed its parent's builder
    assert parent_plan == compile_block(Program(parent.instructions), shape, keep=False)
    for tail, child in children.items():
        assert child == compile_block(Program(parent.instructions + (tail,)), shape, keep=False), str(tail)
