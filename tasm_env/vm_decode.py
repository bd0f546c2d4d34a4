"""Programs prepared for the reference VM: blocks of (handler, argument) ops with their static facts.

A program is decoded into *blocks*, maximal runs of instructions that end at the first control-flow
instruction. A block's stack-depth requirement, cycle count, op-stack/RAM/hash rows and how deep it reaches
into the stack are static, so the interpreter (:mod:`tasm_env.vm`) checks them once per block.

Decoding a fresh program must be cheap (a new program is often run once): every instruction's op and facts
come from a table keyed by ``(name, arg)`` that is shared by all programs, and the per-block sums and minima
are taken with C-level builtins over columns of that table. Only control-flow instructions get a
program-specific op (their argument is an instruction index in this program).
"""

from __future__ import annotations

import functools
import itertools
import operator
from bisect import bisect_left
from collections import OrderedDict
from typing import Any, NamedTuple, Sequence

from . import cost, isa
from .asm import Instruction, Program
from .errors import TasmError
from .vm_handlers import HANDLERS, INLINE_TEMPLATES, P, Crash, Handler

MIN_STACK = 16
"""Triton's op stack never holds fewer than 16 elements (``OpStackElement::COUNT``)."""
DIGEST_TOP_INDEX = 4
"""List index (deepest = 0) of the topmost initial-stack slot that holds a program digest word (st11)."""

Op = tuple[Handler, Any]  # (handler, decoded argument)


class Block(NamedTuple):
    """What the interpreter runs for the block starting at some instruction ``start``."""

    ops: tuple[Op, ...]  # interpreted ops, or one compiled op once the block is hot
    size: int  # instructions (= cycles) in the block
    need: int  # stack elements needed at entry so that no instruction would leave fewer than 16
    fall_through: int  # the next instruction index, or -1: the last op (control flow) sets machine.jump_to
    touch: int  # at entry with fewer elements than this, some instruction reaches the digest slots
    plain: tuple[Op, ...]  # the interpreted ops (run one by one when the block might crash on depth or cycles)
    rows: int  # the block's static table rows, packed (see unpack_rows)


# The facts of one `(name, arg)`, shared by every program that contains the instruction, as a plain tuple
# (decoding transposes many of them at once): (op, delta, reach, rows, control flow). `reach` is how many top
# slots the instruction reads, writes or moves; `rows` packs its op-stack rows, RAM rows, permutations and
# sponge inits into one int, _ROW_BITS bits each, so that one `sum` adds all four over a block.
_Entry = tuple
_ROW_BITS = 48  # a block's sums stay far below 2^48
_ROW_MASK = (1 << _ROW_BITS) - 1


@functools.lru_cache(maxsize=None)
def _facts(name: str, count: int | None) -> tuple:
    """Everything but the op, for a COUNT argument ``count`` (None for other arguments; an index instruction's
    reach is raised to its index by :func:`_make_entry`): at most 46 * 6 different ones."""
    spec = isa.spec(name)
    rows = cost.static_rows(name, count)
    packed = sum(value << (_ROW_BITS * i) for i, value in enumerate(rows))
    reach = max(spec.reads(0 if spec.arg is isa.Arg.INDEX else count), spec.pops(count))
    return (spec.delta(count), reach, packed, spec.control_flow)


def unpack_rows(packed: int) -> tuple[int, int, int, int]:
    """Op-stack rows, RAM rows, permutations and sponge inits from a (sum of) packed row counts."""
    return (packed & _ROW_MASK, (packed >> _ROW_BITS) & _ROW_MASK, (packed >> 2 * _ROW_BITS) & _ROW_MASK,
            packed >> 3 * _ROW_BITS)


def _make_entry(name: str, arg: Any) -> _Entry:
    spec = isa.spec(name)
    kind = spec.arg
    if kind is isa.Arg.INDEX:
        facts = _facts(name, None)
        facts = (facts[0], max(facts[1], arg + 1)) + facts[2:]  # dup/swap/pick/place i touch st_i
        decoded_arg = arg if name == "place" else -1 - arg  # the list index s[a] for dup/swap/pick
    else:
        facts = _facts(name, arg if kind is isa.Arg.COUNT else None)
        decoded_arg = arg
    return ((HANDLERS[name], decoded_arg),) + facts


class _EntryTable(dict):
    """``(name, arg) -> entry``, filled on first use. ``push``/``addi`` arguments are unbounded, so the
    table is cleared when it grows past a limit (entries are cheap to rebuild)."""

    LIMIT = 1 << 14

    def __missing__(self, key: tuple[str, Any]) -> _Entry:
        if len(self) >= self.LIMIT:
            self.clear()
        name, arg = key
        tail = _FIELD_FACTS.get(name)  # the common miss, a fresh `push`/`addi` literal, without the ISA lookups
        entry = self[key] = ((HANDLERS[name], arg),) + tail if tail is not None else _make_entry(name, arg)
        return entry


def _check_stack_moves() -> None:
    """The inlined stack moves, with their arguments decoded as here, must act as the ISA defines them."""
    for name in isa.STACK_MOVES:
        for i in range(1, 6):
            (handler, arg), *_ = _make_entry(name, i)
            stack = list(range(20))
            handler(stack, arg, None)
            assert stack == isa.move_stack(name, i, list(range(20))), f"the VM's `{name}` differs from isa.move_stack"


_check_stack_moves()
_FIELD_FACTS = {s.name: _facts(s.name, None) for s in isa.INSTRUCTIONS if s.arg is isa.Arg.FIELD}
_ENTRIES = _EntryTable()
_NONE: list[int] = []  # shared, never mutated: most programs have no control flow
_NO_ADDRESSES: dict[int, int] = {}
_KEY = operator.attrgetter("key")


class Decoded:
    """A program prepared for execution. ``blocks[i]`` is built on first use for a block starting at ``i``
    (a program without control flow gets its one block at once): the interpreted ops at first, a single
    compiled op once the block is hot."""

    __slots__ = ("program", "n", "ops", "deltas", "reaches", "rows", "control_at", "index_of_address", "blocks",
                 "runs")

    def __init__(self, program: Program):
        instructions = program.instructions
        self.program = program
        self.n = n = len(instructions)
        entries = list(map(_ENTRIES.__getitem__, map(_KEY, instructions)))
        self.ops, self.deltas, self.reaches, self.rows, control = tuple(zip(*entries)) if entries else ((),) * 5
        # control-flow instruction indices; where calls and returns go (only programs with control flow need it)
        self.control_at = list(itertools.compress(range(n), control)) if True in control else _NONE
        self.index_of_address = dict(zip(program.addresses, range(n + 1))) if self.control_at else _NO_ADDRESSES
        self.blocks: dict[int, Block] = {}
        self.runs: dict[int, int] = {}  # successful executions of each block over all runs, until compiled
        if not self.control_at and n:
            self.block(0)  # the only block: built now, while the columns are at hand

    def block(self, start: int) -> Block:
        """The block starting at instruction ``start``: up to and including the first control-flow
        instruction, or to the end of the program."""
        control_at = self.control_at
        if control_at and control_at[-1] >= start:
            end = control_at[bisect_left(control_at, start)] + 1
            ops = self.ops[start:end - 1] + ((self.ops[end - 1][0], self._control_arg(end - 1)),)
            fall_through = -1  # the handler sets machine.jump_to
        else:
            end = self.n
            ops = self.ops[start:end]
            fall_through = end
        depths = list(itertools.accumulate(self.deltas[start:end], initial=0))  # before each instruction, then after
        # instruction j touches list indices >= entry + depths[j] - reach[j]; the digest sits at <= 4
        deepest = max(map(operator.sub, self.reaches[start:end], depths), default=0)
        block = tuple.__new__(Block, (ops, end - start, MIN_STACK - min(depths), fall_through,
                                      DIGEST_TOP_INDEX + 1 + deepest, ops, sum(self.rows[start:end])))
        self.blocks[start] = block
        return block

    def _control_arg(self, k: int) -> Any:
        """The decoded argument of a control-flow instruction (instruction indices to go to)."""
        instruction = self.program.instructions[k]
        name, arg = instruction.name, instruction.arg
        if name == "call":
            destination = self.program.label_address(arg) if isinstance(arg, str) else arg
            if destination not in self.index_of_address:
                raise TasmError(f"`call {arg}` at instruction {k}: address {destination} is not the start of an "
                                "instruction")
            return ((self.program.address_of(k) + 2, destination), self.index_of_address[destination])
        if name == "skiz":
            after_next = k + 2 if k + 1 < self.n else k + 1
            return (k + 1, after_next)
        if name == "halt":
            return self.n
        return arg

    def compile(self, start: int) -> None:
        """Replace the block's interpreted ops by one op that runs the whole block as compiled Python."""
        block = self.blocks.get(start) or self.block(start)
        compiled = compile_block(self.program.instructions, block.plain, start)
        self.blocks[start] = block._replace(ops=((compiled, None),))

    def is_compiled(self, start: int) -> bool:
        """Whether the block starting at ``start`` runs as compiled Python."""
        block = self.blocks.get(start)
        return block is not None and block.ops is not block.plain


def compile_block(instructions: Sequence[Instruction], ops: tuple[Op, ...], start: int) -> Handler:
    """One Python function for a whole block: templated instructions inline, the others as handler calls.
    Before each call, ``k`` holds the instruction index, so a crash can say where it happened."""
    namespace: dict[str, Any] = {"P": P, "Crash": Crash}
    lines = ["def block(s, _, m):", "    k = None", "    try:"]
    for j, (handler, arg) in enumerate(ops):
        k = start + j
        template = INLINE_TEMPLATES.get(instructions[k].name)
        if template is None:
            namespace[f"h{j}"], namespace[f"a{j}"] = handler, arg
            lines += [f"        k = {k}", f"        h{j}(s, a{j}, m)"]
        else:
            if arg is not None:  # the arguments of templated instructions are ints
                lines.append(f"        a = {int(arg)}")
            lines += ["        " + line for line in template.splitlines()]
    lines += ["    except Crash as crash:", "        crash.index = k", "        raise"]
    exec(compile("\n".join(lines), "<tasm_env.vm compiled block>", "exec"), namespace)
    return namespace["block"]


_CACHE_SIZE = 512
_cache: OrderedDict[int, tuple[Program, Decoded]] = OrderedDict()
_seen: OrderedDict[int, Program] = OrderedDict()  # programs run once, by id: their decoded forms were not kept


def decoded(program: Program) -> Decoded:
    """The decoded form of ``program``, cached by identity from its second use on: hashing a long program costs
    more than a run, and while the cache holds the program, no other object can have its id. A program used
    once (most fresh programs) leaves only an entry in ``_seen`` behind: keeping every decoded form would move
    its objects into the garbage collector's older generations, whose collections then cost every fresh run
    more than the decoding saves."""
    key = id(program)
    entry = _cache.get(key)
    if entry is not None and entry[0] is program:
        _cache.move_to_end(key)
        return entry[1]
    result = Decoded(program)
    if _seen.get(key) is program:
        del _seen[key]
        _cache[key] = (program, result)
        if len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    else:
        _seen[key] = program
        if len(_seen) > _CACHE_SIZE:
            _seen.popitem(last=False)
    return result


def clear_cache() -> None:
    """Forget every decoded program (tests use it to start from the interpreted tier)."""
    _cache.clear()
    _seen.clear()
