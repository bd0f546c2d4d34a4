"""Programs prepared for the reference VM: blocks of (handler, argument) ops.

A program is decoded into *blocks*, maximal runs of instructions that end at the first control-flow
instruction. The interpreter (:mod:`tasm_env.vm`) runs a block's ops one after the other.

Decoding a fresh program must be cheap (a new program is often run once), so it is one pass: every
instruction's op comes from a table keyed by ``(name, arg)`` shared by all programs, and nothing else is
computed per instruction. The op's handler carries its own checks (:func:`tasm_env.vm_handlers.interpreted`):
an instruction that pops checks the stack depth (Triton's ``stack_too_shallow``) and a stack move that can
reach st11..st15 writes the pending program digest first. Only control-flow instructions get a
program-specific op (their argument is an instruction index in this program), built with their block.

A straight-line program's first run needs no decoding at all: :data:`ANY_ARG_HANDLERS` has one handler per
mnemonic that takes the instruction's own argument, its depth requirement and digest guard looked up by the
argument (from the same facts as the decoded ops' checks).

The static facts of a block (its depth requirement, how deep it reaches, its table rows) are computed only
where they are used: the depth requirement and the reach when a hot block is compiled (compiled code has no
per-instruction checks, so the interpreter checks them once per block), the table rows when a caller reads
them from the :class:`~tasm_env.vm_execution.Execution` (:func:`table_rows`).
"""

from __future__ import annotations

import functools
import itertools
import operator
import re
from bisect import bisect_left
from collections import OrderedDict
from typing import Any, Mapping, NamedTuple, Sequence

from . import cost, isa
from .asm import Instruction, Program
from .errors import TasmError
from .vm_handlers import (DIGEST_TOP_INDEX, HANDLERS, INLINE_TEMPLATES, MIN_STACK, P, Crash, Handler, inline_source,
                          interpreted)

__all__ = ["ANY_ARG_HANDLERS", "DIGEST_TOP_INDEX", "MIN_STACK", "Block", "Decoded", "Halted", "clear_cache",
           "compile_block", "decoded", "kept", "table_rows"]

Op = tuple[Handler, Any]  # (handler, decoded argument)


class Block(NamedTuple):
    """What the interpreter runs for the block starting at some instruction ``start``."""

    ops: Sequence[Op]  # interpreted ops (never mutated), or one compiled op once the block is hot
    size: int  # instructions (= cycles) in the block
    need: int  # stack elements needed at entry (compiled blocks; 0 while interpreted: the handlers check)
    fall_through: int  # the next instruction index, or -1: the last op (control flow) sets machine.jump_to
    touch: int  # compiled blocks: at entry with fewer elements than this, the block reaches the digest slots
    plain: Sequence[Op]  # the interpreted ops (run one by one when the block might run out of cycles)


_USES_ARG = re.compile(r"\ba\b")  # a template that still reads its argument `a`
_ROW_BITS = 48  # a block's sums stay far below 2^48
_ROW_MASK = (1 << _ROW_BITS) - 1
_REACHES_DIGEST = MIN_STACK - DIGEST_TOP_INDEX  # an instruction reaching this many slots can touch st11 at depth 16


@functools.lru_cache(maxsize=4096)
def _facts(name: str, arg: Any) -> tuple[int, int, int]:
    """(delta, reach, packed rows) of ``name arg``: ``reach`` is how many top slots the instruction reads,
    writes or moves; ``rows`` packs its op-stack rows, RAM rows, permutations and sponge inits into one int,
    _ROW_BITS bits each, so that one ``sum`` adds all four. Field and label arguments change nothing here, so
    callers pass None for them (a bounded cache)."""
    spec = isa.spec(name)
    count = arg if spec.arg is isa.Arg.COUNT else None
    rows = cost.static_rows(name, count)
    packed = sum(value << (_ROW_BITS * i) for i, value in enumerate(rows))
    reach = max(spec.reads(0 if spec.arg is isa.Arg.INDEX else count), spec.pops(count))
    if spec.arg is isa.Arg.INDEX:
        reach = max(reach, arg + 1)  # dup/swap/pick/place i touch st_i
    return (spec.delta(count), reach, packed)


_FACT_ARGS = frozenset((isa.Arg.COUNT, isa.Arg.INDEX))


def _facts_of(instruction: Instruction) -> tuple[int, int, int]:
    return _facts(instruction.name, instruction.arg if instruction.spec.arg in _FACT_ARGS else None)


def unpack_rows(packed: int) -> tuple[int, int, int, int]:
    """Op-stack rows, RAM rows, permutations and sponge inits from a (sum of) packed row counts."""
    return (packed & _ROW_MASK, (packed >> _ROW_BITS) & _ROW_MASK, (packed >> 2 * _ROW_BITS) & _ROW_MASK,
            packed >> 3 * _ROW_BITS)


def _checked_handler(name: str, arg: Any) -> Handler:
    """The interpreter's handler for ``name arg``, with the depth check and digest guard it needs."""
    kind = isa.spec(name).arg
    delta, reach, _ = _facts(name, arg if kind in _FACT_ARGS else None)
    return interpreted(name, MIN_STACK - delta, DIGEST_TOP_INDEX + reach if reach >= _REACHES_DIGEST else 0,
                       arg if kind is isa.Arg.INDEX else None)


def _make_op(name: str, arg: Any) -> Op | None:
    """The op of ``name arg``, or None for control flow (its op depends on the program)."""
    spec = isa.spec(name)
    if spec.control_flow:
        return None
    return (_checked_handler(name, arg), arg)


def _any_arg_handler(name: str) -> Handler:
    """The interpreter's handler for ``name`` with any of its arguments: the depth requirement and the digest
    guard of a word count or stack index looked up by the argument (the same values :func:`_checked_handler`
    bakes in)."""
    spec = isa.spec(name)
    if spec.arg not in _FACT_ARGS:
        return _checked_handler(name, None)
    args = spec.arg.range()
    needs, guards = [0] * args.stop, [0] * args.stop
    for arg in args:
        delta, reach, _ = _facts(name, arg)
        needs[arg] = MIN_STACK - delta
        guards[arg] = DIGEST_TOP_INDEX + reach if reach >= _REACHES_DIGEST else 0
    need = needs[args.start] if len(set(needs[args.start:])) == 1 else tuple(needs)
    guard = tuple(guards) if any(guards) else 0
    return interpreted(name, need, guard)


class Halted(Exception):
    """Raised by ``halt`` in a run straight from the instructions (:data:`ANY_ARG_HANDLERS`)."""


def _halt_and_stop(s, a, m) -> None:
    m.halted = True
    raise Halted


ANY_ARG_HANDLERS: dict[str, Handler] = {name: _any_arg_handler(name) for name in isa.STRAIGHT_LINE}
"""Mnemonic -> a handler that takes the instruction's own argument, for a straight-line program run once:
``ANY_ARG_HANDLERS[i.name](stack, i.arg, machine)`` runs instruction ``i`` with every check (no decoding);
``halt`` raises :class:`Halted`."""
ANY_ARG_HANDLERS["halt"] = _halt_and_stop


class _OpTable(dict):
    """``(name, arg) -> op`` (None for control flow), filled on first use. A ``push``/``addi`` literal is not
    kept: its op is made on each miss (inserting every fresh literal cost four times as much, and fills the
    table); ``call`` labels are unbounded too, so the table is cleared when it grows past a limit."""

    LIMIT = 1 << 12

    def __missing__(self, key: tuple[str, Any]) -> Op | None:
        handler = _FIELD_HANDLERS.get(key[0])
        if handler is not None:  # the common miss, a fresh literal
            return (handler, key[1])
        if len(self) >= self.LIMIT:
            self.clear()
        op = self[key] = _make_op(*key)
        return op


_FIELD_HANDLERS = {s.name: _checked_handler(s.name, None) for s in isa.INSTRUCTIONS if s.arg is isa.Arg.FIELD}
_OPS = _OpTable()
_NO_ADDRESSES: dict[int, int] = {}
_KEY = operator.attrgetter("key")
_NOT = operator.not_


def _check_stack_moves() -> None:
    """The inlined stack moves, in both handler families, must act as the ISA defines them."""
    for name in isa.STACK_MOVES:
        for i in range(1, 6):
            for handler, arg in (_make_op(name, i), (ANY_ARG_HANDLERS[name], i)):
                stack = list(range(24))
                handler(stack, arg, None)
                assert stack == isa.move_stack(name, i, list(range(24))), \
                    f"the VM's `{name}` differs from isa.move_stack"


_check_stack_moves()


class Decoded:
    """A program prepared for execution. ``blocks[i]`` is built on first use for a block starting at ``i``
    (a program without control flow gets its one block at once): the interpreted ops at first, a single
    compiled op once the block is hot."""

    __slots__ = ("program", "n", "ops", "control_at", "index_of_address", "blocks", "runs")

    def __init__(self, program: Program):
        instructions = program.instructions
        self.program = program
        self.n = n = len(instructions)
        self.ops = ops = list(map(_OPS.__getitem__, map(_KEY, instructions)))
        self.blocks: dict[int, Block] = {}
        self.runs: dict[int, int] = {}  # successful executions of each block over all runs, until compiled
        if None in ops:  # control flow: instruction indices, and where calls and returns go
            self.control_at = list(itertools.compress(range(n), map(_NOT, ops)))
            self.index_of_address = dict(zip(program.addresses, range(n + 1)))
        else:
            self.control_at = ()
            self.index_of_address = _NO_ADDRESSES
            if n:  # the only block, built now
                self.blocks[0] = tuple.__new__(Block, (ops, n, 0, n, 0, ops))

    def block(self, start: int) -> Block:
        """The block starting at instruction ``start``: up to and including the first control-flow
        instruction, or to the end of the program."""
        control_at = self.control_at
        if control_at and control_at[-1] >= start:
            last = control_at[bisect_left(control_at, start)]
            ops = self.ops[start:last] + [self._control_op(last)]
            end, fall_through = last + 1, -1  # the last handler sets machine.jump_to
        else:
            end = fall_through = self.n
            ops = self.ops[start:end]
        block = tuple.__new__(Block, (ops, end - start, 0, fall_through, 0, ops))
        self.blocks[start] = block
        return block

    def _control_op(self, k: int) -> Op:
        """The op of a control-flow instruction (its argument: instruction indices to go to)."""
        instruction = self.program.instructions[k]
        name, arg = instruction.name, instruction.arg
        handler = _checked_handler(name, None)
        if name == "call":
            destination = self.program.label_address(arg) if isinstance(arg, str) else arg
            if destination not in self.index_of_address:
                raise TasmError(f"`call {arg}` at instruction {k}: address {destination} is not the start of an "
                                "instruction")
            return (handler, ((self.program.address_of(k) + 2, destination), self.index_of_address[destination]))
        if name == "skiz":
            after_next = k + 2 if k + 1 < self.n else k + 1
            return (handler, (k + 1, after_next))
        if name == "halt":
            return (handler, self.n)
        return (handler, arg)

    def compile(self, start: int) -> None:
        """Replace the block's interpreted ops by one op that runs the whole block as compiled Python. Compiled
        code checks nothing per instruction, so the block's depth requirement and reach are computed here."""
        block = self.blocks.get(start) or self.block(start)
        facts = list(map(_facts_of, self.program.instructions[start:start + block.size]))
        depths = list(itertools.accumulate((f[0] for f in facts), initial=0))  # before each instruction, then after
        # instruction j touches list indices >= entry + depths[j] - reach[j]; the digest sits at <= 4
        deepest = max(map(operator.sub, (f[1] for f in facts), depths), default=0)
        compiled = compile_block(self.program.instructions, block.plain, start)
        self.blocks[start] = block._replace(ops=((compiled, None),), need=MIN_STACK - min(depths),
                                            touch=DIGEST_TOP_INDEX + 1 + deepest)

    def is_compiled(self, start: int) -> bool:
        """Whether the block starting at ``start`` runs as compiled Python."""
        block = self.blocks.get(start)
        return block is not None and block.ops is not block.plain


def table_rows(program: Program, runs: Mapping[int, int]) -> tuple[int, int, int, int]:
    """Op-stack rows, RAM rows, permutations and sponge inits of a run that executed the block starting at
    each ``start`` of ``runs`` ``runs[start]`` times (computed when a caller reads them, not per run)."""
    instructions = program.instructions
    control_at = [k for k, instruction in enumerate(instructions) if instruction.name in isa.CONTROL_FLOW]
    total = 0
    for start, count in runs.items():
        i = bisect_left(control_at, start)
        end = control_at[i] + 1 if i < len(control_at) else len(instructions)
        total += count * sum(map(operator.itemgetter(2), map(_facts_of, instructions[start:end])))
    return unpack_rows(total)


def compile_block(instructions: Sequence[Instruction], ops: tuple[Op, ...], start: int) -> Handler:
    """One Python function for a whole block: templated instructions inline, the others as handler calls.
    Before each call, ``k`` holds the instruction index, so a crash can say where it happened."""
    namespace: dict[str, Any] = {"P": P, "Crash": Crash}
    lines = ["def block(s, _, m):", "    k = None", "    try:"]
    for j, (_, arg) in enumerate(ops):
        k = start + j
        name = instructions[k].name
        if name not in INLINE_TEMPLATES:  # the plain handler: the block's depth and reach are checked before it runs
            namespace[f"h{j}"], namespace[f"a{j}"] = HANDLERS[name], arg
            lines += [f"        k = {k}", f"        h{j}(s, a{j}, m)"]
        else:
            index = int(arg) if isa.spec(name).arg is isa.Arg.INDEX else None
            source = inline_source(name, index)
            if _USES_ARG.search(source):  # the arguments of templated instructions are ints
                lines.append(f"        a = {int(arg)}")
            lines += ["        " + line for line in source.splitlines()]
    lines += ["    except Crash as crash:", "        crash.index = k", "        raise"]
    exec(compile("\n".join(lines), "<tasm_env.vm compiled block>", "exec"), namespace)
    return namespace["block"]


_CACHE_SIZE = 512
_cache: OrderedDict[int, tuple[Program, Decoded]] = OrderedDict()
_seen: OrderedDict[int, Program] = OrderedDict()  # programs run once, by id: their decoded forms were not kept


def decoded(program: Program) -> Decoded:
    """The decoded form of ``program``, cached by identity from its second use on (see :func:`kept`); on a
    first use, a decoded form that is not kept."""
    return kept(program) or Decoded(program)


def kept(program: Program) -> Decoded | None:
    """The decoded form of ``program`` if it is kept, or None on its first use. Decoded forms are cached by
    identity from a program's second use on: hashing a long program costs more than a run, and while the cache
    holds the program, no other object can have its id. A program used once (most fresh programs) leaves
    only an entry in ``_seen`` behind: keeping every decoded form would move its objects into the garbage
    collector's older generations, whose collections then cost every fresh run more than the decoding saves."""
    key = id(program)
    entry = _cache.get(key)
    if entry is not None and entry[0] is program:
        _cache.move_to_end(key)
        return entry[1]
    if _seen.get(key) is program:
        del _seen[key]
        result = Decoded(program)
        _cache[key] = (program, result)
        if len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
        return result
    _seen[key] = program
    if len(_seen) > _CACHE_SIZE:
        _seen.popitem(last=False)
    return None


def clear_cache() -> None:
    """Forget every decoded program (tests use it to start from the interpreted tier)."""
    _cache.clear()
    _seen.clear()
