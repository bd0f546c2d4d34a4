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

import copy
import dataclasses
from dataclasses import dataclass
from functools import lru_cache

from . import isa
from .asm import Program
from .errors import BatchError
from .field import P
from .isa import move_stack
from .plan_static import EFFECTS, KINDS_PER_CYCLE, NO_CRASH, Summary, crash_code, static_rows, summarize

__all__ = ["KINDS_PER_CYCLE", "NO_CRASH", "OPERATIONS", "OUTPUTS", "Plan", "Shape", "Summary", "compile_block",
           "crash_code", "static_rows", "summarize"]

_BINARY, _UNARY = object(), object()  # how the walk (_compile) does an operation inline

OUTPUTS: dict[str, int] = {
    # one operation per value-computing instruction and assertion: the extension-field ones give one XFE (3
    # words; the dot steps' pointer updates are constant additions), the others what they push
    **{s.name: 3 if s.extension else s.pushes() for s in isa.INSTRUCTIONS
       if s.category in ("arithmetic", "u32", "extension", "assertion") and s.arg is isa.Arg.NONE},
    "u32_check": 0, "permute": 16, "merkle": 6, "mem_read": 1,
}
"""Every operation kind a plan can contain, with its number of results."""
OPERATIONS: tuple[str, ...] = tuple(OUTPUTS)
_CODE = {name: i for i, name in enumerate(OPERATIONS)}


@dataclass(frozen=True)
class Shape:
    """What a plan depends on besides the program: initial stack depth and available input counts."""

    stack_depth: int
    public_inputs: int
    secret_inputs: int
    secret_digests: int

    @property
    def shared(self) -> int:
        return self.stack_depth + self.public_inputs + self.secret_inputs + 5 * self.secret_digests

    def public_id(self, k: int) -> int:
        return self.stack_depth + k

    def secret_id(self, k: int) -> int:
        return self.stack_depth + self.public_inputs + k

    def digest_id(self, k: int, word: int) -> int:
        return self.stack_depth + self.public_inputs + self.secret_inputs + 5 * k + word


@dataclass(frozen=True)
class Plan:
    """A compiled straight-line block (plain Python lists, so that many plans concatenate cheaply).

    Operation ``j`` has kind code ``kind[j]`` (index into :data:`OPERATIONS`), dependency level ``level[j]``,
    originating instruction ``cycle[j]``, results at ids ``out[j], out[j] + 1, ...`` and its ``n_in[j]``
    input ids in ``inputs`` (flattened, in operation order)."""

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
    sponge: list[int] | None = None  # the sponge's 16 state ids after the block, None if it was never initialised


class _Builder:
    """Symbolic execution state of one program."""

    def __init__(self, shape: Shape):
        self.shape = shape
        self.stack: list[int] = list(range(shape.stack_depth))
        self.lv: list[int] = [0] * shape.shared  # dependency level of every id so far
        self.constants: dict[int, int] = {}
        self.kind: list[int] = []
        self.level: list[int] = []
        self.cycle_of: list[int] = []
        self.out: list[int] = []
        self.n_in: list[int] = []
        self.inputs: list[int] = []
        self.writes: list[int] = []
        self.touched: list[int] = []
        self.output: list[int] = []
        self.sponge: list[int] | None = None
        self.public = self.secret = self.digests = 0
        self.cycle = 0

    def const(self, value: int) -> int:
        value %= P
        found = self.constants.get(value)
        if found is None:
            found = self.constants[value] = len(self.lv)
            self.lv.append(0)
        return found

    def op(self, kind: str, inputs: list[int]) -> int:
        """Record an operation; returns the id of its first result (the others follow)."""
        lv = self.lv
        level = 1 + max(map(lv.__getitem__, inputs))
        first = len(lv)
        n_out = OUTPUTS[kind]
        lv.extend([level] * n_out)
        self.kind.append(_CODE[kind])
        self.level.append(level)
        self.cycle_of.append(self.cycle)
        self.out.append(first)
        self.n_in.append(len(inputs))
        self.inputs.extend(inputs)
        return first

    def ops(self, kind: str, inputs: list[int]) -> list[int]:
        first = self.op(kind, inputs)
        return list(range(first, first + OUTPUTS[kind]))

    def add_const(self, value_id: int, constant: int) -> int:
        return value_id if constant % P == 0 else self.op("add", [value_id, self.const(constant)])

    def pop(self, n: int) -> list[int]:
        """Remove the top n ids; returns them st0 first."""
        stack = self.stack
        taken = stack[:-n - 1:-1]
        del stack[-n:]
        return taken

    def mem_read(self, address: int) -> int:
        self.touched.append(address)
        return self.op("mem_read", [address, *self.writes])

    def mem_write(self, address: int, value: int) -> None:
        self.touched.append(address)
        self.writes += (address, value)


# ---- one handler per straight-line mnemonic: (builder, argument) -> None


def _push(b, a):
    b.stack.append(b.const(a))


def _move(name):
    def handler(b, arg):
        isa.move_stack(name, arg, b.stack)  # the ISA's one definition of the stack moves
    return handler


def _nop(b, _):
    pass


def _binary(kind):
    def handler(b, _):
        s = b.stack
        x = b.op(kind, [s[-1], s[-2]])  # st0, st1
        del s[-2:]
        s.append(x)
    handler.inline = (_BINARY, _CODE[kind])  # the walk (_compile) does this inline
    return handler


def _unary(kind):
    def handler(b, _):
        s = b.stack
        s[-1] = b.op(kind, [s[-1]])
    handler.inline = (_UNARY, _CODE[kind])
    return handler


def _addi(b, a):
    b.stack[-1] = b.add_const(b.stack[-1], a)


def _results(name: str, first: int, n: int) -> list[int]:
    """Ids ``first .. first + n - 1`` (the operation's results in Triton's order) as the instruction pushes them."""
    return isa.BY_NAME[name].push_order(range(first, first + n))


def _split(b, _):
    s = b.stack
    first = b.op("split", [s[-1]])
    s[-1:] = _results("split", first, 2)


def _div_mod(b, _):
    s = b.stack
    first = b.op("div_mod", [s[-1], s[-2]])  # numerator st0, denominator st1
    s[-2:] = _results("div_mod", first, 2)


def _assert(b, _):
    b.op("assert", [b.stack.pop()])


def _assert_vector(b, _):
    b.op("assert_vector", b.stack[:-11:-1])
    del b.stack[-5:]


def _read_io(b, n):
    b.stack.extend(b.shape.public_id(b.public + k) for k in range(n))
    b.public += n


def _divine(b, n):
    b.stack.extend(b.shape.secret_id(b.secret + k) for k in range(n))
    b.secret += n


def _write_io(b, n):
    b.output += b.pop(n)


def _read_mem(b, n):
    pointer = b.stack.pop()
    for k in range(n):
        b.stack.append(b.mem_read(b.add_const(pointer, -k)))
    b.stack.append(b.add_const(pointer, -n))


def _write_mem(b, n):
    pointer = b.stack.pop()
    for k in range(n):
        b.mem_write(b.add_const(pointer, k), b.stack.pop())
    b.stack.append(b.add_const(pointer, n))


def _hash(b, _):
    first = b.op("permute", [*b.pop(10), *[b.const(1)] * 6])  # fixed-length domain: capacity words are 1
    b.stack.extend(_results("hash", first, 5))


def _sponge_init(b, _):
    b.sponge = [b.const(0)] * 16


def _sponge_absorb(b, _):
    b.sponge = b.ops("permute", [*b.pop(10), *b.sponge[10:]])


def _sponge_squeeze(b, _):
    b.stack.extend(isa.BY_NAME["sponge_squeeze"].push_order(b.sponge[:10]))
    b.sponge = b.ops("permute", b.sponge)


def _sponge_absorb_mem(b, _):
    pointer = b.stack.pop()
    words = [b.mem_read(b.add_const(pointer, i)) for i in range(10)]
    for i in range(4):  # Triton overwrites the 4 slots below the pointer with the first 4 words
        b.stack[-1 - i] = words[i]
    b.stack.append(b.add_const(pointer, 10))
    b.sponge = b.ops("permute", [*words, *b.sponge[10:]])


def _merkle(b, sibling):
    s = b.stack
    first = b.op("merkle", [*s[:-7:-1], *sibling])  # st0..st4 digest, st5 node index, then the sibling
    del s[-6:]
    s.append(first + 5)  # parent index where the node index was
    s.extend(_results("merkle_step", first, 5))


def _merkle_step(b, _):
    _merkle(b, [b.shape.digest_id(b.digests, w) for w in range(5)])
    b.digests += 1


def _merkle_step_mem(b, _):
    pointer = b.stack[-8]
    sibling = [b.mem_read(b.add_const(pointer, w)) for w in range(5)]
    b.stack[-8] = b.add_const(pointer, 5)
    _merkle(b, sibling)


def _extension(kind, pops):
    def handler(b, _):
        first = b.op(kind, b.pop(pops))
        b.stack.extend(_results(kind, first, 3))
    return handler


def _dot_step(rhs_words):
    kind = "xx_dot_step" if rhs_words == 3 else "xb_dot_step"

    def handler(b, _):
        rhs_pointer, lhs_pointer = b.pop(2)
        accumulator = b.pop(3)
        rhs, lhs = [], []
        for i in range(3):  # Triton reads the rhs and lhs words alternately
            if i < rhs_words:
                rhs.append(b.mem_read(b.add_const(rhs_pointer, i)))
            lhs.append(b.mem_read(b.add_const(lhs_pointer, i)))
        first = b.op(kind, [*accumulator, *rhs, *lhs])
        b.stack.extend(_results(kind, first, 3))
        b.stack.extend((b.add_const(lhs_pointer, 3), b.add_const(rhs_pointer, rhs_words)))
    return handler


_HANDLERS = {
    **{name: _move(name) for name in isa.STACK_MOVES}, "push": _push, "nop": _nop,
    "add": _binary("add"), "mul": _binary("mul"), "eq": _binary("eq"), "lt": _binary("lt"),
    "and": _binary("and"), "xor": _binary("xor"), "pow": _binary("pow"), "addi": _addi,
    "invert": _unary("invert"), "log_2_floor": _unary("log_2_floor"), "pop_count": _unary("pop_count"),
    "split": _split, "div_mod": _div_mod, "assert": _assert, "assert_vector": _assert_vector,
    "read_io": _read_io, "divine": _divine, "write_io": _write_io, "read_mem": _read_mem, "write_mem": _write_mem,
    "hash": _hash, "sponge_init": _sponge_init, "sponge_absorb": _sponge_absorb,
    "sponge_squeeze": _sponge_squeeze, "sponge_absorb_mem": _sponge_absorb_mem, "merkle_step": _merkle_step,
    "merkle_step_mem": _merkle_step_mem, "xx_add": _extension("xx_add", 6), "xx_mul": _extension("xx_mul", 6),
    "x_invert": _extension("x_invert", 3), "xb_mul": _extension("xb_mul", 4),
    "xx_dot_step": _dot_step(3), "xb_dot_step": _dot_step(1),
}
assert set(_HANDLERS) == set(isa.STRAIGHT_LINE), \
    f"plan handlers differ from the ISA's straight-line instructions: {set(_HANDLERS) ^ set(isa.STRAIGHT_LINE)}"


_EFFECTS = {name: (*EFFECTS[name], _HANDLERS[name]) for name in _HANDLERS}
"""(net stack change, change per COUNT argument, what the instruction consumes or needs, handler)."""


def compile_block(program: Program | str, shape: Shape) -> Plan:
    """The plan of a straight-line program for inputs of the given shape (cached per program and shape)."""
    program = Program.coerce(program)
    if shape.stack_depth < 16:
        raise BatchError(f"initial stacks need at least 16 elements, got {shape.stack_depth}")
    return _compile(program, shape)


_RESUMABLE: dict[tuple, tuple[tuple, _Builder]] = {}
"""Builders of recently compiled programs that ran to their end (no static crash, no ``halt``): a program one
instruction longer resumes a copy instead of starting over (emission compiles every prefix of a growing block).
Keyed by (length, first and last instruction, shape), with the instructions beside the builder to confirm a
hit: hashing whole instruction tuples would cost a fresh program more than the walk saves."""
_RESUMABLE_SIZE = 1 << 13


def _resume(instructions: tuple, shape: Shape) -> tuple[_Builder, int]:
    """A builder that has run the longest known prefix of ``instructions`` (its own copy), and its length."""
    n = len(instructions)
    found = _RESUMABLE.get((n - 1, instructions[0], instructions[-2], shape)) if n > 1 else None
    if found is None or found[0] != instructions[:-1]:
        return _Builder(shape), 0
    parent = found[1]
    b = copy.copy(parent)
    for name, value in vars(parent).items():
        if isinstance(value, (list, dict)):
            setattr(b, name, value.copy())
    return b, n - 1


def _keep(instructions: tuple, shape: Shape, b: _Builder) -> None:
    if instructions:
        if len(_RESUMABLE) >= _RESUMABLE_SIZE:
            _RESUMABLE.clear()  # cheaper than evicting one by one from the front of a dict
        _RESUMABLE[(len(instructions), instructions[0], instructions[-1], shape)] = (instructions, b)


_INLINE_MOVE, _INLINE_PUSH, _INLINE_ADDI = object(), object(), object()
_ADD = _CODE["add"]
_STEP = {name: (getattr(h, "inline", (_INLINE_MOVE if name in isa.STACK_MOVES else
                                      _INLINE_PUSH if h is _push else _INLINE_ADDI if h is _addi else None, 0)),
                _EFFECTS[name]) for name, h in _HANDLERS.items()}
"""Per straight-line mnemonic: (how the walk does it inline, or None for its handler; its operation kind code),
and its :data:`_EFFECTS`."""
_PLAN_FIELDS = tuple(f.name for f in dataclasses.fields(Plan))


def _static_crash(b: _Builder, depth: int, need, arg) -> str | None:
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


@lru_cache(maxsize=1 << 16)
def _compile(program: Program, shape: Shape) -> Plan:
    """One walk over the program: the static checks of :func:`summarize` and the symbolic execution together;
    the frequent instructions (stack moves, push, addi, one-result operations) inline."""
    instructions = program.instructions
    b, start = _resume(instructions, shape)
    stack, lv, constants = b.stack, b.lv, b.constants
    kinds, levels, cycle_of, outs, n_in, inputs = b.kind, b.level, b.cycle_of, b.out, b.n_in, b.inputs
    crash, halts, end = None, False, len(instructions)
    for k in range(start, end):
        instruction = instructions[k]
        step = _STEP.get(instruction.name)
        if step is None:
            if instruction.name != "halt":
                raise BatchError(f"the batched executor runs straight-line blocks only; found `{instruction.name}`")
            halts, end = True, k + 1
            break
        (how, code), effect = step
        if how is _INLINE_MOVE:
            if effect[1] and len(stack) + effect[0] + effect[1] * instruction.arg < 16:  # pop n
                crash, end = "stack_too_shallow", k
                break
            move_stack(instruction.name, instruction.arg, stack)
        elif how is _INLINE_PUSH:
            value = instruction.arg % P
            found = constants.get(value)
            if found is None:
                found = constants[value] = len(lv)
                lv.append(0)
            stack.append(found)
        elif how is _BINARY or how is _UNARY or how is _INLINE_ADDI:
            x = stack[-1]
            level = lv[x] + 1
            if how is _UNARY:
                inputs.append(x)
                n_in.append(1)
            else:
                if how is _BINARY:
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
                    code = _ADD
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
            fixed, per_arg, need, handler = effect
            crash = _static_crash(b, len(stack) + fixed + per_arg * arg if per_arg else len(stack) + fixed, need, arg)
            if crash:
                end = k
                break
            handler(b, arg)
    b.cycle = end
    if crash is None and not halts:
        _keep(instructions, shape, b)  # never changed again: a resumed builder is a copy
    elif crash == "secret_digests_exhausted":
        b.op("u32_check", [stack[-6]])  # Triton checks merkle_step's st5 before taking the digest
    plan = object.__new__(Plan)  # the frozen dataclass's __init__ sets 21 fields one by one: compiling is hot
    plan.__dict__.update(zip(_PLAN_FIELDS, (
        program, shape, len(lv) - shape.shared, list(constants.values()), list(constants.keys()),
        kinds, levels, cycle_of, outs, n_in, inputs, stack, b.output, b.writes, b.touched,
        NO_CRASH if crash is None else crash_code(end, crash), end, b.public, b.secret, b.digests, b.sponge)))
    return plan
