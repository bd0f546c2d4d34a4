"""The batched executor: straight-line TASM blocks on many inputs (and many programs) at once, in numpy.

How it works. A straight-line block's stack shape is static: which slot every instruction reads, how deep the
stack is, how many input tokens it consumes and how many words it outputs do not depend on the values. So a
block is first *compiled* (once, cached) by symbolic execution into a plan: a list of value-producing
operations (``add``, ``lt``, ``permute``, memory reads, ...) over numbered values, in which stack shuffling
(``dup``, ``swap``, ``pick``, ``place``, ``pop``, ``push``) has disappeared. RAM becomes dataflow too: a read
takes the value of the latest earlier write to the same address, else the initial contents, decided per lane
by comparing addresses. Crashes that depend only on the shape (stack too shallow, input exhausted, sponge not
initialised) are found at compile time; crashes that depend on values (u32 operands, division by zero, failed
assertions, ...) are flagged per lane while evaluating.

The plan is then *evaluated* over a value matrix ``V`` of shape (values, lanes): operations are grouped by
dependency level and kind, and each group is one vectorised numpy computation, across all the programs of a
group at once. Every lane records the first crash (the lowest cycle; within one instruction, Triton's check
order, which is the order of :data:`~tasm_env.errors.VM_ERROR_KINDS`).

Public entry points: :func:`compile_block`, :func:`run_batch` (one program, many inputs) and
:func:`run_group` (many programs, the same inputs; used by :mod:`tasm_env.verify`). The reference VM
(:mod:`tasm_env.vm`) is the oracle: property tests check that both agree on every straight-line program.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Mapping, Sequence

import numpy as np

from . import field as F
from . import tip5
from .asm import Program
from .errors import VM_ERROR_KINDS, BatchError, TasmError

_U64 = np.uint64
_U32_LIMIT = _U64(1 << 32)
_KIND_INDEX = {kind: i for i, kind in enumerate(VM_ERROR_KINDS)}
_KINDS_PER_CYCLE = 16  # crash code = cycle * 16 + kind index: the minimum is the first crash
NO_CRASH = np.iinfo(np.int64).max


# ------------------------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Shape:
    """What a plan depends on besides the program: initial stack depth and available input counts."""

    stack_depth: int
    public_inputs: int
    secret_inputs: int
    secret_digests: int

    @property
    def shared(self) -> int:
        """Number of value ids shared by every program run on the same inputs (the sources)."""
        return self.stack_depth + self.public_inputs + self.secret_inputs + 5 * self.secret_digests

    def public_id(self, k: int) -> int:
        return self.stack_depth + k

    def secret_id(self, k: int) -> int:
        return self.stack_depth + self.public_inputs + k

    def digest_id(self, k: int, word: int) -> int:
        return self.stack_depth + self.public_inputs + self.secret_inputs + 5 * k + word


@dataclass
class OpGroup:
    """All operations of one kind and arity in a plan (or a group of plans), as arrays."""

    level: np.ndarray  # (m,) dependency level
    inputs: np.ndarray  # (m, n_in) value ids
    outputs: np.ndarray  # (m,) first output id; outputs are consecutive
    cycle: np.ndarray  # (m,) cycle of the originating instruction
    program: np.ndarray  # (m,) index of the program in its group (0 for a single plan)


@dataclass
class Plan:
    """A compiled straight-line block. Value ids below ``shape.shared`` are the shared sources (initial stack
    slots, deepest first; then public tokens, secret tokens, secret digest words); the rest are this plan's own
    constants and results, ``n_local`` of them."""

    program: Program
    shape: Shape
    n_local: int
    constants: np.ndarray  # (c, 2): local id, value
    ops: dict[tuple[str, int], OpGroup]
    n_outputs: dict[str, int]  # kind -> outputs per op
    stack: np.ndarray  # final stack ids, deepest first
    output: np.ndarray  # ids of written public output, in write order
    writes: np.ndarray  # (w, 2): address id, value id, in program order
    touched: np.ndarray  # address ids of every RAM access, in order
    static_crash: int  # crash code found at compile time, or NO_CRASH
    cycles: int  # instructions executed (up to the crash, if any)
    public_consumed: int
    secret_consumed: int
    digests_consumed: int


class _Builder:
    """Symbolic execution of one straight-line program."""

    def __init__(self, shape: Shape):
        self.shape = shape
        self.stack: list[int] = list(range(shape.stack_depth))
        self.next_id = shape.shared
        self.level: dict[int, int] = {}
        self.constants: dict[int, int] = {}  # value -> id
        self.ops: dict[tuple[str, int], list[tuple[int, tuple[int, ...], int, int]]] = defaultdict(list)
        self.n_outputs: dict[str, int] = {}
        self.writes: list[tuple[int, int]] = []
        self.touched: list[int] = []
        self.output: list[int] = []
        self.sponge: list[int] | None = None
        self.public = self.secret = self.digests = 0
        self.cycle = 0

    # ---- values
    def const(self, value: int) -> int:
        value %= F.P
        if value not in self.constants:
            self.constants[value] = self.next_id
            self.next_id += 1
        return self.constants[value]

    def op(self, kind: str, inputs: Sequence[int], n_out: int) -> list[int]:
        level = 1 + max((self.level.get(i, 0) for i in inputs), default=0)
        first = self.next_id
        self.next_id += n_out
        for k in range(n_out):
            self.level[first + k] = level
        self.ops[(kind, len(inputs))].append((level, tuple(inputs), first, self.cycle))
        self.n_outputs[kind] = n_out
        return list(range(first, first + n_out))

    def add_const(self, value_id: int, constant: int) -> int:
        return value_id if constant % F.P == 0 else self.op("add", (value_id, self.const(constant)), 1)[0]

    # ---- stack
    def st(self, i: int) -> int:
        return self.stack[-1 - i]

    def pop(self, n: int = 1) -> list[int]:
        """Pop n values; returns them st0 first."""
        taken = self.stack[-1 : -1 - n : -1]
        del self.stack[len(self.stack) - n :]
        return taken

    def push(self, *ids: int) -> None:
        self.stack.extend(ids)

    # ---- RAM
    def mem_read(self, address: int) -> int:
        self.touched.append(address)
        flat = [x for pair in self.writes for x in pair]
        return self.op("mem_read", (address, *flat), 1)[0]

    def mem_write(self, address: int, value: int) -> None:
        self.touched.append(address)
        self.writes.append((address, value))


class _StaticCrash(Exception):
    def __init__(self, kind: str):
        self.kind = kind


def _step(b: _Builder, name: str, arg) -> None:
    """Symbolically execute one instruction (the stack-depth check has been done by the caller)."""
    if name == "push":
        b.push(b.const(arg))
    elif name == "pop":
        b.pop(arg)
    elif name == "dup":
        b.push(b.st(arg))
    elif name == "swap":
        b.stack[-1], b.stack[-1 - arg] = b.stack[-1 - arg], b.stack[-1]
    elif name == "pick":
        b.push(b.stack.pop(-1 - arg))
    elif name == "place":
        top = b.stack.pop()
        b.stack.insert(len(b.stack) - arg, top)
    elif name == "nop":
        pass
    elif name in ("add", "mul", "eq", "lt", "and", "xor", "pow"):
        a, c = b.pop(2)
        b.push(*b.op(name, (a, c), 1))
    elif name == "addi":
        b.push(b.add_const(b.pop()[0], arg))
    elif name in ("invert", "log_2_floor", "pop_count"):
        b.push(*b.op(name, b.pop(), 1))
    elif name == "split":
        b.push(*b.op("split", b.pop(), 2))  # hi, then lo on top
    elif name == "div_mod":
        b.push(*b.op("div_mod", b.pop(2), 2))  # quotient, then remainder on top
    elif name == "assert":
        b.op("assert", b.pop(), 0)
    elif name == "assert_vector":
        b.op("assert_vector", [b.st(i) for i in range(10)], 0)
        b.pop(5)
    elif name == "read_io":
        if b.public + arg > b.shape.public_inputs:
            raise _StaticCrash("public_input_exhausted")
        b.push(*(b.shape.public_id(b.public + k) for k in range(arg)))
        b.public += arg
    elif name == "divine":
        if b.secret + arg > b.shape.secret_inputs:
            raise _StaticCrash("secret_input_exhausted")
        b.push(*(b.shape.secret_id(b.secret + k) for k in range(arg)))
        b.secret += arg
    elif name == "write_io":
        b.output.extend(b.pop(arg))
    elif name == "read_mem":
        pointer = b.pop()[0]
        for k in range(arg):
            b.push(b.mem_read(b.add_const(pointer, -k)))
        b.push(b.add_const(pointer, -arg))
    elif name == "write_mem":
        pointer = b.pop()[0]
        for k in range(arg):
            b.mem_write(b.add_const(pointer, k), b.pop()[0])
        b.push(b.add_const(pointer, arg))
    elif name == "hash":
        ones = [b.const(1)] * 6  # fixed-length domain: capacity words are 1
        digest = b.op("permute", [*b.pop(10), *ones], 16)[:5]
        b.push(*reversed(digest))
    elif name == "sponge_init":
        b.sponge = [b.const(0)] * 16
    elif name in ("sponge_absorb", "sponge_squeeze", "sponge_absorb_mem"):
        if b.sponge is None:
            raise _StaticCrash("sponge_not_initialised")
        if name == "sponge_absorb":
            b.sponge = b.op("permute", [*b.pop(10), *b.sponge[10:]], 16)
        elif name == "sponge_squeeze":
            b.push(*reversed(b.sponge[:10]))
            b.sponge = b.op("permute", b.sponge, 16)
        else:
            pointer = b.pop()[0]
            words = [b.mem_read(b.add_const(pointer, i)) for i in range(10)]
            for i in range(4):  # Triton overwrites st0..st3 (below the new pointer) with the first 4 words
                b.stack[-1 - i] = words[i]
            b.push(b.add_const(pointer, 10))
            b.sponge = b.op("permute", [*words, *b.sponge[10:]], 16)
    elif name in ("merkle_step", "merkle_step_mem"):
        if name == "merkle_step":
            if b.digests >= b.shape.secret_digests:
                b.op("u32_check", (b.st(5),), 0)  # the u32 check on st5 comes first
                raise _StaticCrash("secret_digests_exhausted")
            sibling = [b.shape.digest_id(b.digests, w) for w in range(5)]
            b.digests += 1
        else:
            pointer = b.st(7)
            sibling = [b.mem_read(b.add_const(pointer, w)) for w in range(5)]
            b.stack[-8] = b.add_const(pointer, 5)
        out = b.op("merkle", [*(b.st(i) for i in range(6)), *sibling], 6)  # 5 digest words, parent index
        b.pop(5)
        b.stack[-1] = out[5]
        b.push(*reversed(out[:5]))
    elif name in ("xx_add", "xx_mul"):
        b.push(*reversed(b.op(name, b.pop(6), 3)))
    elif name == "x_invert":
        b.push(*reversed(b.op("x_invert", b.pop(3), 3)))
    elif name == "xb_mul":
        b.push(*reversed(b.op("xb_mul", b.pop(4), 3)))
    elif name in ("xx_dot_step", "xb_dot_step"):
        rhs_pointer, lhs_pointer = b.pop(2)
        accumulator = b.pop(3)
        rhs_words = 3 if name == "xx_dot_step" else 1
        rhs, lhs = [], []
        for i in range(3):  # Triton reads rhs and lhs words alternately
            if i < rhs_words:
                rhs.append(b.mem_read(b.add_const(rhs_pointer, i)))
            lhs.append(b.mem_read(b.add_const(lhs_pointer, i)))
        b.push(*reversed(b.op(name, [*accumulator, *rhs, *lhs], 3)))
        b.push(b.add_const(lhs_pointer, 3), b.add_const(rhs_pointer, rhs_words))
    else:  # pragma: no cover - every straight-line mnemonic is handled above
        raise BatchError(f"`{name}` is not supported by the batched executor")


def compile_block(program: Program | str, shape: Shape) -> Plan:
    """Compile a straight-line program for inputs of the given shape (cached per program and shape)."""
    program = Program.coerce(program)
    if not program.is_straight_line:
        bad = next(i.name for i in program if i.name != "halt" and i.spec.control_flow)
        raise BatchError(f"the batched executor runs straight-line blocks only; found `{bad}`")
    if shape.stack_depth < 16:
        raise BatchError(f"initial stacks need at least 16 elements, got {shape.stack_depth}")
    return _compile(program, shape)


@lru_cache(maxsize=65536)
def _compile(program: Program, shape: Shape) -> Plan:
    b = _Builder(shape)
    static_crash = NO_CRASH
    for instruction in program.instructions:
        name, spec = instruction.name, instruction.spec
        if name == "halt":
            b.cycle += 1
            break
        if len(b.stack) + spec.delta(instruction.arg) < 16:
            static_crash = b.cycle * _KINDS_PER_CYCLE + _KIND_INDEX["stack_too_shallow"]
            break
        try:
            _step(b, name, instruction.arg)
        except _StaticCrash as crash:
            static_crash = b.cycle * _KINDS_PER_CYCLE + _KIND_INDEX[crash.kind]
            break
        b.cycle += 1
    return _freeze(program, shape, b, static_crash)


def _freeze(program: Program, shape: Shape, b: _Builder, static_crash: int) -> Plan:
    ops = {}
    for key, entries in b.ops.items():
        level, inputs, first, cycle = zip(*entries)
        ops[key] = OpGroup(
            level=np.array(level, dtype=np.int64),
            inputs=np.array(inputs, dtype=np.int64).reshape(len(entries), key[1]),
            outputs=np.array(first, dtype=np.int64),
            cycle=np.array(cycle, dtype=np.int64),
            program=np.zeros(len(entries), dtype=np.int64),
        )
    constants = np.array([(i, v) for v, i in b.constants.items()], dtype=object).reshape(-1, 2)
    return Plan(
        program=program,
        shape=shape,
        n_local=b.next_id - shape.shared,
        constants=constants,
        ops=ops,
        n_outputs=dict(b.n_outputs),
        stack=np.array(b.stack, dtype=np.int64),
        output=np.array(b.output, dtype=np.int64),
        writes=np.array(b.writes, dtype=np.int64).reshape(-1, 2),
        touched=np.array(b.touched, dtype=np.int64),
        static_crash=static_crash,
        cycles=b.cycle,
        public_consumed=b.public,
        secret_consumed=b.secret,
        digests_consumed=b.digests,
    )


# ------------------------------------------------------------------------------------ the evaluators


def _crash(kind: str, mask: np.ndarray) -> tuple[int, np.ndarray]:
    return _KIND_INDEX[kind], mask


def _not_u32(*xs: np.ndarray) -> np.ndarray:
    mask = xs[0] >= _U32_LIMIT
    for x in xs[1:]:
        mask = mask | (x >= _U32_LIMIT)
    return mask


def _ev_add(x, ctx):
    return [F.vadd(x[0], x[1])], []


def _ev_mul(x, ctx):
    return [F.vmul(x[0], x[1])], []


def _ev_eq(x, ctx):
    return [(x[0] == x[1]).astype(_U64)], []


def _ev_invert(x, ctx):
    return [F.vinv(x[0])], [_crash("inverse_of_zero", x[0] == 0)]


def _ev_lt(x, ctx):
    return [(x[0] < x[1]).astype(_U64)], [_crash("u32_operand", _not_u32(x[0], x[1]))]


def _ev_and(x, ctx):
    return [x[0] & x[1]], [_crash("u32_operand", _not_u32(x[0], x[1]))]


def _ev_xor(x, ctx):
    return [x[0] ^ x[1]], [_crash("u32_operand", _not_u32(x[0], x[1]))]


def _ev_log_2_floor(x, ctx):
    a = x[0]
    bad = _not_u32(a)
    zero = (a == 0) & ~bad
    _, exponent = np.frexp(np.where(bad | zero, 1, a).astype(np.float64))  # exact below 2^53
    return [(exponent - 1).astype(_U64)], [_crash("u32_operand", bad), _crash("log_of_zero", zero)]


def _ev_pop_count(x, ctx):
    a = x[0] & _U64(0xFFFFFFFF)
    a = a - ((a >> _U64(1)) & _U64(0x55555555))
    a = (a & _U64(0x33333333)) + ((a >> _U64(2)) & _U64(0x33333333))
    a = (a + (a >> _U64(4))) & _U64(0x0F0F0F0F)
    a = (a * _U64(0x01010101)) & _U64(0xFFFFFFFF)
    return [a >> _U64(24)], [_crash("u32_operand", _not_u32(x[0]))]


def _ev_pow(x, ctx):
    base, exponent = x
    return [F.vpow(base, exponent & _U64(0xFFFFFFFF), bits=32)], [_crash("u32_operand", _not_u32(exponent))]


def _ev_div_mod(x, ctx):
    numerator, denominator = x
    bad = _not_u32(numerator, denominator)
    zero = (denominator == 0) & ~bad
    safe = np.where(denominator == 0, _U64(1), denominator)
    return [numerator // safe, numerator % safe], [_crash("u32_operand", bad), _crash("division_by_zero", zero)]


def _ev_split(x, ctx):
    return [x[0] >> _U64(32), x[0] & _U64(0xFFFFFFFF)], []


def _ev_assert(x, ctx):
    return [], [_crash("assertion_failed", x[0] != 1)]


def _ev_assert_vector(x, ctx):
    unequal = np.zeros(x[0].shape, dtype=bool)
    for i in range(5):
        unequal |= x[i] != x[i + 5]
    return [], [_crash("assertion_failed", unequal)]


def _ev_u32_check(x, ctx):
    return [], [_crash("u32_operand", _not_u32(x[0]))]


def _permute_rows(rows: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Tip5 permutation of 16 arrays of equal shape, lane by lane."""
    shape = rows[0].shape
    state = np.stack([np.asarray(r, dtype=_U64).reshape(-1) for r in rows])
    out = tip5.vpermutation(state)
    return [out[i].reshape(shape) for i in range(16)]


def _ev_permute(x, ctx):
    return _permute_rows(x), []


def _ev_merkle(x, ctx):
    accumulator, index, sibling = x[0:5], x[5], x[6:11]
    even = (index & _U64(1)) == 0
    left = [np.where(even, a, s) for a, s in zip(accumulator, sibling)]
    right = [np.where(even, s, a) for a, s in zip(accumulator, sibling)]
    ones = [np.ones_like(index)] * 6
    digest = _permute_rows(left + right + ones)[:5]
    return digest + [(index & _U64(0xFFFFFFFF)) >> _U64(1)], [_crash("u32_operand", _not_u32(index))]


def _ev_xx_add(x, ctx):
    return list(F.vxadd(x[0:3], x[3:6])), []


def _ev_xx_mul(x, ctx):
    return list(F.vxmul(x[0:3], x[3:6])), []


def _ev_x_invert(x, ctx):
    zero = (x[0] == 0) & (x[1] == 0) & (x[2] == 0)
    return list(F.vxinv(x[0:3])), [_crash("inverse_of_zero", zero)]


def _ev_xb_mul(x, ctx):
    return list(F.vxbmul(x[0], x[1:4])), []


def _ev_xx_dot_step(x, ctx):
    return list(F.vxadd(x[0:3], F.vxmul(x[3:6], x[6:9]))), []


def _ev_xb_dot_step(x, ctx):
    return list(F.vxadd(x[0:3], F.vxbmul(x[3], x[4:7]))), []


def _ev_mem_read(x, ctx):
    address = x[0]
    value = ctx.initial_ram(address)
    for k in range(1, len(x), 2):  # later writes win
        value = np.where(x[k] == address, x[k + 1], value)
    return [value], []


_EVALUATORS: dict[str, Callable] = {
    name[4:]: fn for name, fn in globals().items() if name.startswith("_ev_")
}


# ------------------------------------------------------------------------------------------ evaluation


@dataclass
class Inputs:
    """Inputs for many lanes. ``stack`` is (lanes, depth) with the top in the LAST column and depth >= 16;
    ``public_input``/``secret_input`` are (lanes, n); ``secret_digests`` is (lanes, n, 5); ``ram`` holds
    initial cells shared by all lanes; other cells read ``field.mix(address, ram_seed[lane])``, or 0 where the
    seed is 0. All values are canonical field elements."""

    stack: np.ndarray
    public_input: np.ndarray | None = None
    secret_input: np.ndarray | None = None
    secret_digests: np.ndarray | None = None
    ram: Mapping[int, int] | None = None
    ram_seed: np.ndarray | int = 0

    def __post_init__(self):
        self.stack = _as_u64(self.stack, 2, "stack")
        lanes = self.stack.shape[0]
        self.public_input = _as_u64(self.public_input, 2, "public_input", (lanes, 0))
        self.secret_input = _as_u64(self.secret_input, 2, "secret_input", (lanes, 0))
        self.secret_digests = _as_u64(self.secret_digests, 3, "secret_digests", (lanes, 0, 5))
        for name in ("public_input", "secret_input", "secret_digests"):
            if getattr(self, name).shape[0] != lanes:
                raise TasmError(f"{name} has {getattr(self, name).shape[0]} lanes, the stack has {lanes}")
        if self.secret_digests.shape[2] != 5:
            raise TasmError("secret_digests must have shape (lanes, n, 5)")
        self.ram_seed = np.broadcast_to(np.asarray(self.ram_seed, dtype=_U64), (lanes,))
        cells = dict(self.ram or {})
        self._ram_keys = np.array(sorted(cells), dtype=_U64)
        self._ram_values = np.array([cells[k] for k in sorted(cells)], dtype=_U64)

    @property
    def lanes(self) -> int:
        return self.stack.shape[0]

    @property
    def shape(self) -> Shape:
        return Shape(self.stack.shape[1], self.public_input.shape[1], self.secret_input.shape[1],
                     self.secret_digests.shape[1])

    def initial_ram(self, address: np.ndarray) -> np.ndarray:
        """Initial contents at ``address`` (any shape ending in lanes)."""
        seed = np.broadcast_to(self.ram_seed, address.shape)
        value = np.where(seed == 0, _U64(0), F.mix(address, seed))
        if len(self._ram_keys):
            slot = np.minimum(np.searchsorted(self._ram_keys, address), len(self._ram_keys) - 1)
            hit = self._ram_keys[slot] == address
            value = np.where(hit, self._ram_values[slot], value)
        return value


def _as_u64(values, ndim: int, name: str, empty_shape=None) -> np.ndarray:
    if values is None:
        return np.zeros(empty_shape, dtype=_U64)
    if isinstance(values, np.ndarray) and values.dtype == _U64:
        array = values
    else:
        array = np.asarray(values, dtype=object)
        if array.size and not all(isinstance(v, (int, np.integer)) and 0 <= int(v) < F.P for v in array.flat):
            raise TasmError(f"{name}: expected canonical field elements (integers in [0, p))")
        array = array.astype(_U64) if array.size else np.zeros(array.shape, dtype=_U64)
    if array.ndim != ndim:
        raise TasmError(f"{name}: expected a {ndim}-dimensional array, got shape {array.shape}")
    if array.size and (array >= _U64(F.P)).any():
        raise TasmError(f"{name}: expected canonical field elements (integers in [0, p))")
    return array


class GroupRun:
    """The evaluated value matrix of a group of plans on shared inputs, with accessors per program."""

    def __init__(self, plans: Sequence[Plan], inputs: Inputs):
        self.plans = list(plans)
        self.inputs = inputs
        shape = inputs.shape
        for plan in self.plans:
            if plan.shape != shape:
                raise BatchError("every plan in a group must be compiled for the inputs' shape")
        self.shared = shape.shared
        self.bases = np.cumsum([self.shared] + [p.n_local for p in self.plans])
        lanes = inputs.lanes
        V = np.empty((int(self.bases[-1]), lanes), dtype=_U64)
        V[: shape.stack_depth] = inputs.stack.T
        s = shape.stack_depth
        V[s : s + shape.public_inputs] = inputs.public_input.T
        s += shape.public_inputs
        V[s : s + shape.secret_inputs] = inputs.secret_input.T
        s += shape.secret_inputs
        V[s : s + 5 * shape.secret_digests] = inputs.secret_digests.reshape(lanes, -1).T
        for p, plan in enumerate(self.plans):
            if len(plan.constants):
                rows = self.rows(p, plan.constants[:, 0].astype(np.int64))
                V[rows] = np.array(plan.constants[:, 1].astype(_U64))[:, None]
        self.V = V
        self.crash = np.array([[plan.static_crash] for plan in self.plans], dtype=np.int64).repeat(lanes, axis=1)
        self._evaluate()

    def rows(self, p: int, ids: np.ndarray) -> np.ndarray:
        """Global rows of program ``p``'s value ids."""
        ids = np.asarray(ids, dtype=np.int64)
        return np.where(ids < self.shared, ids, ids - self.shared + self.bases[p])

    def _evaluate(self) -> None:
        merged: dict[tuple[str, int], list[tuple[int, OpGroup]]] = defaultdict(list)
        for p, plan in enumerate(self.plans):
            for key, group in plan.ops.items():
                merged[key].append((p, group))
        work = []  # (level, key, inputs rows, first output rows, cycles, programs)
        for key, parts in merged.items():
            level = np.concatenate([g.level for _, g in parts])
            inputs = np.concatenate([self.rows(p, g.inputs) for p, g in parts])
            outputs = np.concatenate([self.rows(p, g.outputs) for p, g in parts])
            cycle = np.concatenate([g.cycle for _, g in parts])
            program = np.concatenate([np.full(len(g.level), p) for p, g in parts])
            for lv in np.unique(level):
                sel = level == lv
                work.append((int(lv), key, inputs[sel], outputs[sel], cycle[sel], program[sel]))
        work.sort(key=lambda w: w[0])
        V = self.V
        for _, (kind, n_in), inputs, outputs, cycle, program in work:
            x = V[inputs.T] if n_in else []  # (n_in, m, lanes)
            results, crashes = _EVALUATORS[kind](list(x), self.inputs)
            for k, result in enumerate(results):
                V[outputs + k] = result
            for kind_index, mask in crashes:
                if mask.any():
                    code = np.where(mask, (cycle * _KINDS_PER_CYCLE + kind_index)[:, None], NO_CRASH)
                    np.minimum.at(self.crash, program, code)

    # ---- per-program views
    def values(self, p: int, ids: np.ndarray) -> np.ndarray:
        return self.V[self.rows(p, ids)]

    def final_ram(self, p: int, addresses: np.ndarray) -> np.ndarray:
        """Program p's RAM contents after its run at the given address values, shape (k, lanes)."""
        plan = self.plans[p]
        value = self.inputs.initial_ram(addresses)
        if len(plan.writes):
            written_at = self.values(p, plan.writes[:, 0])
            written = self.values(p, plan.writes[:, 1])
            for k in range(len(plan.writes)):
                value = np.where(written_at[k][None, :] == addresses, written[k][None, :], value)
        return value


@dataclass
class BatchResult:
    """One program's run on many lanes. Arrays are indexed by lane first. Where ``crashed[lane]`` is True,
    ``crash_kind`` and ``crash_cycle`` say how, and the other per-lane values are meaningless."""

    program: Program
    stack: np.ndarray  # (lanes, depth) final stack, top in the last column
    output: np.ndarray  # (lanes, n) public output in write order
    ram_addresses: np.ndarray  # (lanes, k) every RAM cell accessed (with repeats)
    ram_values: np.ndarray  # (lanes, k) final contents of those cells
    crashed: np.ndarray  # (lanes,) bool
    crash_code: np.ndarray = field(repr=False, default=None)
    cycles: int = 0
    public_input_consumed: int = 0
    secret_input_consumed: int = 0
    secret_digests_consumed: int = 0

    @property
    def crash_cycle(self) -> np.ndarray:
        return np.where(self.crashed, self.crash_code // _KINDS_PER_CYCLE, -1)

    @property
    def crash_kind_index(self) -> np.ndarray:
        return np.where(self.crashed, self.crash_code % _KINDS_PER_CYCLE, -1)

    def crash_kind(self, lane: int) -> str | None:
        return VM_ERROR_KINDS[int(self.crash_kind_index[lane])] if self.crashed[lane] else None

    def ram(self, lane: int) -> dict[int, int]:
        """The RAM cells lane ``lane`` accessed, with their final contents (as the reference VM reports)."""
        return {int(a): int(v) for a, v in zip(self.ram_addresses[lane], self.ram_values[lane])}


def result_of(run: GroupRun, p: int) -> BatchResult:
    plan = run.plans[p]
    addresses = run.values(p, plan.touched)
    crash = run.crash[p]
    return BatchResult(
        program=plan.program,
        stack=run.values(p, plan.stack).T,
        output=run.values(p, plan.output).T,
        ram_addresses=addresses.T,
        ram_values=run.final_ram(p, addresses).T,
        crashed=crash != NO_CRASH,
        crash_code=crash,
        cycles=plan.cycles,
        public_input_consumed=plan.public_consumed,
        secret_input_consumed=plan.secret_consumed,
        secret_digests_consumed=plan.digests_consumed,
    )


def run_group(programs: Sequence[Program | str], inputs: Inputs) -> GroupRun:
    """Run many straight-line programs on the same lanes of inputs, vectorised across programs."""
    shape = inputs.shape
    return GroupRun([compile_block(p, shape) for p in programs], inputs)


def run_batch(
    program: Program | str,
    stacks,
    public_input=None,
    secret_input=None,
    secret_digests=None,
    ram: Mapping[int, int] | None = None,
    ram_seed=0,
) -> BatchResult:
    """Run one straight-line program on many lanes at once.

    ``stacks`` is (lanes, depth >= 16), each row a whole initial op stack with the top LAST (as ``vm.run``'s
    ``floor + stack``). The other arguments are per-lane arrays as in :class:`Inputs`.
    """
    inputs = Inputs(np.asarray(stacks) if not isinstance(stacks, np.ndarray) else stacks, public_input,
                    secret_input, secret_digests, ram, ram_seed)
    return result_of(run_group([program], inputs), 0)
