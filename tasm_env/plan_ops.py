"""The symbolic execution of straight-line instructions on value ids (what :mod:`tasm_env.plan` compiles with).

:class:`Builder` is the state of one program's walk: the stack of value ids, the operations recorded so far
and the input consumed; :data:`HANDLERS` has one handler per straight-line mnemonic. The compiler's walk
(:func:`tasm_env.plan.compile_block`) does the frequent instructions inline (a handler's ``inline`` says how)
and calls the handler for the others.
"""

from __future__ import annotations

from . import isa
from .field import P

BINARY, UNARY, MOVE, PUSH, ADDI = (object() for _ in range(5))
"""How the walk does an instruction inline (a handler's ``inline``: (how, operation kind code))."""

OUTPUTS: dict[str, int] = {
    # one operation per value-computing instruction and assertion: the extension-field ones give one XFE (3
    # words; the dot steps' pointer updates are constant additions), the others what they push
    **{s.name: 3 if s.extension else s.pushes() for s in isa.INSTRUCTIONS
       if s.category in ("arithmetic", "u32", "extension", "assertion") and s.arg is isa.Arg.NONE},
    "u32_check": 0, "permute": 16, "merkle": 6, "mem_read": 1,
}
"""Every operation kind a plan can contain, with its number of results."""
OPERATIONS: tuple[str, ...] = tuple(OUTPUTS)
CODE = {name: i for i, name in enumerate(OPERATIONS)}
_ADD, _MEM_READ = CODE["add"], CODE["mem_read"]


class Builder:
    """Symbolic execution state of one program (``shape`` a :class:`tasm_env.plan.Shape`)."""

    def __init__(self, shape):
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
        self.write_level = 0  # the highest level of any id in ``writes`` (a read's level is above it)
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
        self.kind.append(CODE[kind])
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
        """``op("add", [value_id, const(constant)])``, or ``value_id`` for a zero constant; inline, as memory
        instructions call it once per word (the constant's level is 0, so the sum's is one above the id's)."""
        return self.offsets(value_id, (constant,))[0]

    def pop(self, n: int) -> list[int]:
        """Remove the top n ids; returns them st0 first."""
        stack = self.stack
        taken = stack[:-n - 1:-1]
        del stack[-n:]
        return taken

    def offsets(self, value_id: int, constants) -> list[int]:
        """``[add_const(value_id, c) for c in constants]`` in one call (ids allocated in the same order)."""
        lv, table, inputs, outs = self.lv, self.constants, self.inputs, self.out
        kinds, levels, cycle_of, n_in = self.kind, self.level, self.cycle_of, self.n_in
        level, cycle, result = lv[value_id] + 1, self.cycle, []
        for constant in constants:
            constant %= P
            if not constant:
                result.append(value_id)
                continue
            found = table.get(constant)
            if found is None:
                found = table[constant] = len(lv)
                lv.append(0)
            first = len(lv)
            lv.append(level)
            kinds.append(_ADD)
            levels.append(level)
            cycle_of.append(cycle)
            outs.append(first)
            n_in.append(2)
            inputs += (value_id, found)
            result.append(first)
        return result

    def mem_read(self, address: int) -> int:
        """``op("mem_read", [address, *writes])``, inline (one per word read)."""
        self.touched.append(address)
        lv, writes = self.lv, self.writes
        level = lv[address]
        if level < self.write_level:
            level = self.write_level
        level += 1
        first = len(lv)
        lv.append(level)
        self.kind.append(_MEM_READ)
        self.level.append(level)
        self.cycle_of.append(self.cycle)
        self.out.append(first)
        self.n_in.append(1 + len(writes))
        self.inputs.append(address)
        self.inputs += writes
        return first

    def reads(self, pointer: int, constants) -> list[int]:
        """``[mem_read(add_const(pointer, c)) for c in constants]``: the memory instructions read word by word,
        each address addition right before its read (the order lifted task graphs number their nodes in)."""
        return [self.mem_read(self.add_const(pointer, c)) for c in constants]

    def mem_writes(self, addresses, values) -> None:
        """Write each value id to its address id, in order (a write makes no ids)."""
        lv, touched, writes, level = self.lv, self.touched, self.writes, self.write_level
        for address, value in zip(addresses, values):
            touched.append(address)
            writes += (address, value)
            if lv[address] > level:
                level = lv[address]
            if lv[value] > level:
                level = lv[value]
        self.write_level = level


# ---- one handler per straight-line mnemonic: (builder, argument) -> None


def _push(b, a):
    b.stack.append(b.const(a))


_push.inline = (PUSH, 0)


def _move(name):
    def handler(b, arg):
        isa.move_stack(name, arg, b.stack)  # the ISA's one definition of the stack moves
    handler.inline = (MOVE, 0)
    return handler


def _nop(b, _):
    pass


def _binary(kind):
    def handler(b, _):
        s = b.stack
        x = b.op(kind, [s[-1], s[-2]])  # st0, st1
        del s[-2:]
        s.append(x)
    handler.inline = (BINARY, CODE[kind])
    return handler


def _unary(kind):
    def handler(b, _):
        s = b.stack
        s[-1] = b.op(kind, [s[-1]])
    handler.inline = (UNARY, CODE[kind])
    return handler


def _addi(b, a):
    b.stack[-1] = b.add_const(b.stack[-1], a)


_addi.inline = (ADDI, CODE["add"])


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
    b.stack += b.reads(pointer, range(0, -n, -1))
    b.stack.append(b.add_const(pointer, -n))


def _write_mem(b, n):
    pointer = b.stack.pop()
    addresses = b.offsets(pointer, range(n + 1))  # a write makes no ids: the additions may all come first
    b.mem_writes(addresses[:n], b.pop(n))  # st0 to the pointer, st1 to the next word, ...
    b.stack.append(addresses[n])


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
    words = b.reads(pointer, range(10))
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
    sibling = b.reads(pointer, range(5))
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
                rhs += b.reads(rhs_pointer, (i,))
            lhs += b.reads(lhs_pointer, (i,))
        first = b.op(kind, [*accumulator, *rhs, *lhs])
        b.stack.extend(_results(kind, first, 3))
        b.stack.extend((b.add_const(lhs_pointer, 3), b.add_const(rhs_pointer, rhs_words)))
    return handler


HANDLERS = {
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
assert set(HANDLERS) == set(isa.STRAIGHT_LINE), \
    f"plan handlers differ from the ISA's straight-line instructions: {set(HANDLERS) ^ set(isa.STRAIGHT_LINE)}"

