"""Compiling a straight-line TASM block into a dataflow plan, by symbolic execution.

A straight-line block's stack shape is static: which slot every instruction reads, how deep the stack is, how
many input tokens it consumes and how many words it outputs do not depend on the values. So the block is run
once on *value ids* instead of values. Stack shuffling (``dup``, ``swap``, ``pick``, ``place``, ``pop``,
``push``) just moves ids around and disappears; what remains is a list of operations (``add``, ``lt``,
``permute``, memory reads, ...) that turn input ids into new ids. RAM becomes dataflow too: a read takes the
value of the latest earlier write to the same address, else the initial contents, which the evaluator decides
per lane by comparing addresses. Crashes that depend only on the shape (stack too shallow, input exhausted,
sponge not initialised) are found here; crashes that depend on values are left to the evaluator
(:mod:`tasm_env.batch`), which runs the plan on many lanes at once.

Value ids below ``shape.shared`` are the sources every program run on the same inputs shares: the initial
stack slots (deepest first), then the public input tokens, the secret input tokens and the secret digests'
words. The plan's own constants and results follow.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property, lru_cache

from .asm import Program
from .errors import BatchError
from .field import P
from .isa import STACK_MOVES, stack_move
from .plan_ops import ADDI, BINARY, HANDLERS, MOVE, OPERATIONS, OUTPUTS, PUSH, UNARY, Builder
from .plan_static import (EFFECTS, KINDS_PER_CYCLE, NO_CRASH, Summary, crash_code, static_rows, static_summary,
                          summarize)

__all__ = ["KINDS_PER_CYCLE", "NO_CRASH", "OPERATIONS", "OUTPUTS", "Plan", "Shape", "Summary", "clear_compiled", "compile_block",
           "crash_code", "static_rows", "static_summary", "summarize"]


@dataclass(frozen=True)
class Shape:
    """What a plan depends on besides the program: initial stack depth and available input counts."""

    stack_depth: int
    public_inputs: int
    secret_inputs: int
    secret_digests: int

    @cached_property  # read for every plan compiled and run
    def shared(self) -> int:
        return self.stack_depth + self.public_inputs + self.secret_inputs + 5 * self.secret_digests

    def public_id(self, k: int) -> int:
        return self.stack_depth + k

    def secret_id(self, k: int) -> int:
        return self.stack_depth + self.public_inputs + k

    def digest_id(self, k: int, word: int) -> int:
        return self.stack_depth + self.public_inputs + self.secret_inputs + 5 * k + word


_PLAN_FIELDS = ("program", "shape", "n_local", "const_ids", "const_values", "kind", "level", "cycle", "out", "n_in",
                "inputs", "stack", "output", "writes", "touched", "static_crash", "cycles", "public_consumed",
                "secret_consumed", "digests_consumed", "sponge")


class _PlanSlots:
    """The storage of :class:`Plan` (a mutable class, so that the compiler fills a new plan in with plain
    attribute stores; see :func:`_walk`)."""

    __slots__ = _PLAN_FIELDS


@dataclass(frozen=True)
class Plan(_PlanSlots):
    """A compiled straight-line block (plain Python lists, so that many plans concatenate cheaply).

    Operation ``j`` has kind code ``kind[j]`` (index into :data:`OPERATIONS`), dependency level ``level[j]``,
    originating instruction ``cycle[j]``, results at ids ``out[j], out[j] + 1, ...`` and its ``n_in[j]``
    input ids in ``inputs`` (flattened, in operation order)."""

    __slots__ = ()  # slots (in the base), not a __dict__: one object for the garbage collector, not two
    program: Program
    shape: Shape
    n_local: int
    const_ids: list[int]
    const_values: list[int]
    kind: list[int]
    level: list[int]
    cycle: list[int]
    out: list[int]
    n_in: list[int]
    inputs: list[int]
    stack: list[int]  # final stack ids, deepest first
    output: list[int]  # public output ids in write order
    writes: list[int]  # address id, value id, address id, value id, ... in program order
    touched: list[int]  # address ids of every RAM access
    static_crash: int  # crash code found while compiling, or NO_CRASH
    cycles: int  # instructions executed, up to a static crash
    public_consumed: int
    secret_consumed: int
    digests_consumed: int
    sponge: list[int] | None  # the sponge's 16 state ids after the block, None if it was never initialised

    def __reduce__(self):  # copy.copy / deepcopy: rebuilt through __init__ (a frozen instance takes no state)
        return Plan, tuple(getattr(self, name) for name in _PLAN_FIELDS)


_EFFECTS = {name: (*EFFECTS[name], HANDLERS[name]) for name in HANDLERS}
"""(net stack change, change per COUNT argument, what the instruction consumes or needs, handler)."""


def compile_block(program: Program | str, shape: Shape, keep: bool = True) -> Plan:
    """The plan of a straight-line program for inputs of the given shape (cached per program and shape; with
    ``keep=False`` not kept, for a program unlikely to come again: kept plans are lists that the garbage
    collector goes over, and the more are kept, the more often it does)."""
    program = Program.coerce(program)
    if shape.stack_depth < 16:
        raise BatchError(f"initial stacks need at least 16 elements, got {shape.stack_depth}")
    return _compile(program, shape) if keep else _walk(program, shape, False)


_RESUMABLE: dict[tuple, list[tuple[tuple, Builder]]] = {}
"""Builders of recently compiled programs that ran to their end (no static crash, no ``halt``): a program one
instruction longer resumes a copy instead of starting over (emission compiles every prefix of a growing block).
Keyed by (length, first and last instruction, shape), with the instructions beside each builder to confirm a
hit: hashing whole instruction tuples would cost a fresh program more than the walk saves. A key holds the
latest ``_RESUMABLE_PER_KEY`` builders, not one: a beam's siblings share their length, first instruction and,
from different parents, their last one, and with one builder per key each evicted the others (most of a beam's
children then walked their whole prefix)."""
_RESUMABLE_SIZE = 1 << 13  # builders kept in all
_RESUMABLE_PER_KEY = 32
_resumable_count = 0


def _resume(instructions: tuple, shape: Shape) -> tuple[Builder, int]:
    """A builder that has run the longest known prefix of ``instructions`` (its own copy), and its length."""
    n = len(instructions)
    if n > 1:
        bucket = _RESUMABLE.get((n - 1, instructions[0], instructions[-2], shape))
        if bucket:
            prefix = instructions[:-1]
            for known, parent in reversed(bucket):  # the latest first: a beam extends what it just compiled
                if known == prefix:
                    return _extension(parent, instructions[-1]), n - 1
    return Builder(shape), 0


_PUSH_STATE = ("stack", "lv", "constants")
"""What a push may change in a builder (a new constant's id and level)."""
_OPERATION_STATE = _PUSH_STATE + ("kind", "level", "cycle_of", "out", "n_in", "inputs")
"""What an inline operation (addi, a one-result operation) may change in a builder."""
_TOUCHES = {}
"""Per straight-line mnemonic, the builder's lists (and dicts) its walk step may change: a stack move only the
stack, a push :data:`_PUSH_STATE`, an inline operation :data:`_OPERATION_STATE`, any other instruction
everything (None)."""


def _extension(parent: Builder, instruction) -> Builder:
    """A builder for ``parent``'s program plus ``instruction``: a copy of ``parent`` that shares every list the
    instruction leaves alone (append-only sharing: a kept builder's lists, and the plans made of them, are never
    changed again, so a child may read them; it copies only what its one instruction writes)."""
    b = object.__new__(Builder)
    state = b.__dict__
    state.update(parent.__dict__)
    touched = _TOUCHES.get(instruction.name)
    for name in _BUILDER_STATE if touched is None else touched:  # the sponge is replaced, never written into
        state[name] = state[name].copy()
    return b


def _keep(instructions: tuple, shape: Shape, b: Builder) -> None:
    global _resumable_count
    if instructions:
        if _resumable_count >= _RESUMABLE_SIZE:
            _RESUMABLE.clear()  # cheaper than evicting one by one from the front of a dict
            _resumable_count = 0
        bucket = _RESUMABLE.setdefault((len(instructions), instructions[0], instructions[-1], shape), [])
        bucket.append((instructions, b))
        _resumable_count += 1
        if len(bucket) > _RESUMABLE_PER_KEY:
            del bucket[0]
            _resumable_count -= 1


_STEP = {name: (*getattr(h, "inline", (None, 0)), stack_move(name) if name in STACK_MOVES else None, *_EFFECTS[name])
         for name, h in HANDLERS.items()}
"""Per straight-line mnemonic: how the walk does it inline (or None for its handler), its operation kind code,
its stack move function (for a stack move), and its :data:`_EFFECTS`."""
assert tuple(f.name for f in dataclasses.fields(Plan)) == _PLAN_FIELDS
_TOUCHES.update({name: ("stack",) if step[0] is MOVE else _PUSH_STATE if step[0] is PUSH
                 else _OPERATION_STATE if step[0] in (BINARY, UNARY, ADDI) else None for name, step in _STEP.items()})
_BUILDER_STATE = tuple(name for name, value in vars(Builder(Shape(16, 0, 0, 0))).items()
                       if isinstance(value, (list, dict)))
"""Every list and dict of a builder (the sponge, None until initialised, apart)."""


def _static_crash(b: Builder, depth: int, need, arg) -> str | None:
    """The crash an instruction with this depth after it and this need has before it runs (as summarize)."""
    if depth < 16:
        return "stack_too_shallow"
    if need is None or need == "output" or need == "sponge_init":
        return None
    if need == "public":
        return "public_input_exhausted" if b.public + arg > b.shape.public_inputs else None
    if need == "secret":
        return "secret_input_exhausted" if b.secret + arg > b.shape.secret_inputs else None
    if need == "digest":
        return "secret_digests_exhausted" if b.digests + 1 > b.shape.secret_digests else None
    return None if b.sponge is not None else "sponge_not_initialised"


_compile = lru_cache(maxsize=1 << 16)(lambda program, shape: _walk(program, shape, True))


def clear_compiled() -> None:
    """Forget every kept plan and resumable builder: the next :func:`compile_block` of any program walks it
    from the start (a test's clean slate; plans are the same either way)."""
    global _resumable_count
    _compile.cache_clear()
    _RESUMABLE.clear()
    _resumable_count = 0


def _walk(program: Program, shape: Shape, keep: bool) -> Plan:
    """One walk over the program: the static checks of :func:`summarize` and the symbolic execution together;
    the frequent instructions (stack moves, push, addi, one-result operations) inline. With ``keep``, it
    resumes from a kept builder of its prefix, and keeps its own if it runs to its end."""
    instructions = program.instructions
    b, start = _resume(instructions, shape) if keep else (Builder(shape), 0)
    stack, lv, constants = b.stack, b.lv, b.constants
    kinds, levels, cycle_of, outs, n_in, inputs = b.kind, b.level, b.cycle_of, b.out, b.n_in, b.inputs
    crash, halts, end = None, False, len(instructions)
    steps = _STEP
    for k in range(start, end):
        instruction = instructions[k]
        step = steps.get(instruction.name)
        if step is None:
            if instruction.name != "halt":
                raise BatchError(f"the batched executor runs straight-line blocks only; found `{instruction.name}`")
            halts, end = True, k + 1
            break
        how, code, move, fixed, per_arg, need, handler = step
        if how is MOVE:
            if per_arg and len(stack) + fixed + per_arg * instruction.arg < 16:  # pop n
                crash, end = "stack_too_shallow", k
                break
            move(stack, instruction.arg)
        elif how is PUSH:
            value = instruction.arg % P
            found = constants.get(value)
            if found is None:
                found = constants[value] = len(lv)
                lv.append(0)
            stack.append(found)
        elif how is BINARY or how is UNARY or how is ADDI:
            x = stack[-1]
            level = lv[x] + 1
            if how is UNARY:
                inputs.append(x)
                n_in.append(1)
            else:
                if how is BINARY:
                    if len(stack) < 17:
                        crash, end = "stack_too_shallow", k
                        break
                    y = stack.pop(-2)
                else:  # addi c: add st0 and the constant c (none for c = 0)
                    value = instruction.arg % P
                    if not value:
                        continue
                    y = constants.get(value)
                    if y is None:
                        y = constants[value] = len(lv)
                        lv.append(0)
                if lv[y] >= level:
                    level = lv[y] + 1
                inputs.append(x)
                inputs.append(y)
                n_in.append(2)
            first = len(lv)
            lv.append(level)
            kinds.append(code)
            levels.append(level)
            cycle_of.append(k)
            outs.append(first)
            stack[-1] = first
        else:
            b.cycle = k
            arg = instruction.arg
            crash = _static_crash(b, len(stack) + fixed + per_arg * arg if per_arg else len(stack) + fixed, need, arg)
            if crash:
                end = k
                break
            handler(b, arg)
    b.cycle = end
    if crash is None and not halts and keep:
        _keep(instructions, shape, b)  # never changed again: a resumed builder is a copy
    elif crash == "secret_digests_exhausted":
        b.op("u32_check", [stack[-6]])  # Triton checks merkle_step's st5 before taking the digest
    plan = object.__new__(_PlanSlots)  # filled in as the mutable class, then made a Plan: compiling is hot
    plan.program, plan.shape, plan.n_local = program, shape, len(lv) - shape.shared
    plan.const_ids, plan.const_values = list(constants.values()), list(constants.keys())
    plan.kind, plan.level, plan.cycle, plan.out, plan.n_in, plan.inputs = kinds, levels, cycle_of, outs, n_in, inputs
    plan.stack, plan.output, plan.writes, plan.touched = stack, b.output, b.writes, b.touched
    plan.static_crash, plan.cycles = NO_CRASH if crash is None else crash_code(end, crash), end
    plan.public_consumed, plan.secret_consumed, plan.digests_consumed = b.public, b.secret, b.digests
    plan.sponge = b.sponge
    plan.__class__ = Plan
    return plan
