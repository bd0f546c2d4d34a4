"""The classical TIR -> TASM compiler: the baseline every task's candidates are measured against.

It lowers one node at a time, the way a simple production compiler does (Trident's one-op-at-a-time
lowering): for each node in program order it copies the operands to the top with ``dup i`` (so the values stay
where they are for later uses), runs the instruction, leaves the results on the stack, and then frees every
value that has no later use (``pick`` it to the top, ``pop``). After the last node it brings the outputs to
the top in order and removes everything below them down to the block's context, so the block replaces its
inputs by its outputs.

Only where copying a wide node's operands would reach past ``st15`` (``hash`` among many live values) are the
operands at their last use moved with ``pick`` instead of copied; a program still out of reach raises
:class:`~tasm_env.errors.TaskError`.

It is meant to be correct and predictable, not clever: the cycles between its output and the optimum are
what agents compete for. Operands are fetched so that argument 0 ends in ``st0`` (Triton's first operand:
``lt`` pushes ``st0 < st1``, ``div_mod`` divides ``st0`` by ``st1``, ``pow`` raises ``st0`` to ``st1``,
``hash`` hashes ``st0..st9``, ``write_mem`` writes ``st1`` at ``st0``, ``write_io`` emits ``st0`` first,
extension elements have coefficient 0 on top); ``sub`` is the exception, lowered as ``push -1 mul add``
on ``_ a b``.
"""

from __future__ import annotations

from .. import isa
from ..asm import Instruction, Program
from ..errors import TaskError
from .tir import OPS, TIR, Node, Ref

REACH = 16
"""``dup``/``pick`` reach ``st0`` to ``st15``: no operand may lie deeper."""

_SIMPLE: dict[str, str] = {op: op for op in (*isa.VALUE_INSTRUCTIONS, "assert", "hash")}
"""TIR op -> the one Triton instruction of the same name it becomes (operands fetched with argument 0 on top)."""
assert set(_SIMPLE) <= set(OPS), "a TIR op the compiler lowers to one instruction is not a TIR op"

_Slot = Ref | None  # what a stack slot holds; None marks a value to be removed (the final cleanup)


class _Lowering:
    """The stack model of one compilation: ``stack`` mirrors the block's part of the op stack (top last)."""

    def __init__(self, tir: TIR):
        self.tir = tir
        self.code: list[Instruction] = []
        self.stack: list[_Slot] = [Ref(i) for i in range(len(tir.inputs))]
        self.last_use = _last_uses(tir)
        self.where = "the block's start"

    # ---- instructions, with the stack model kept in step
    def emit(self, name: str, arg: int | None = None) -> None:
        self.code.append(Instruction(name, arg))

    def depth_of(self, slot: _Slot, below: int = 0) -> int:
        """Depth of the shallowest copy of ``slot`` at depth ``below`` or deeper (a value may be on the stack
        twice: as itself and as an operand just fetched)."""
        depth = next(d for d in range(below, len(self.stack)) if self.stack[-1 - d] == slot)
        self.check_reach(depth)
        return depth

    def check_reach(self, depth: int) -> None:
        if depth >= REACH:
            raise TaskError(f"{self.where}: needs a value at stack depth {depth}, beyond `dup 15`: the program "
                            f"keeps too many values live at once ({len(self.stack)} on the block's stack), more "
                            "than the classical compiler can lower")

    def dup(self, ref: Ref) -> None:
        self.emit("dup", self.depth_of(ref))
        self.stack.append(ref)

    def move(self, ref: Ref, fetched: int) -> None:
        """Bring ``ref`` itself, not one of the ``fetched`` operands above it, to the top (``pick``; nothing when
        it is already there)."""
        depth = self.depth_of(ref, below=fetched)
        if depth:
            self.emit("pick", depth)
            self.stack.append(self.stack.pop(-1 - depth))

    def fetch(self, i: int, order: list[Ref]) -> None:
        """Put node ``i``'s operands on top, ``order[0]`` deepest. They are copied with ``dup``; only when the
        copies would reach past ``st15`` (a wide node such as ``hash`` among many live values) are the operands
        this node uses for the last time moved with ``pick`` instead."""
        move_last_uses = not self.copies_fit(order)
        for pos, ref in enumerate(order):
            if move_last_uses and self.last_use[ref] == i and ref not in order[pos + 1:]:
                self.move(ref, fetched=pos)
            else:
                self.dup(ref)

    def copies_fit(self, order: list[Ref]) -> bool:
        stack = list(self.stack)
        for ref in order:
            if next(d for d in range(len(stack)) if stack[-1 - d] == ref) >= REACH:
                return False
            stack.append(ref)
        return True

    def consume(self, n: int) -> None:
        """The instruction just emitted popped the ``n`` operands on top."""
        del self.stack[len(self.stack) - n:]

    def drop(self, is_dead) -> None:
        """Remove every slot for which ``is_dead(slot)`` holds: pick each buried one to the top (shallowest
        first, so the dead ones gather on top), then pop them in chunks of up to 5."""
        while True:
            top_run = 0
            while top_run < len(self.stack) and is_dead(self.stack[-1 - top_run]):
                top_run += 1
            buried = [d for d in range(top_run, len(self.stack)) if is_dead(self.stack[-1 - d])]
            if not buried:
                break
            depth = buried[0]
            self.check_reach(depth)
            self.emit("pick", depth)
            self.stack.append(self.stack.pop(-1 - depth))
        while top_run:
            n = min(top_run, 5)
            self.emit("pop", n)
            del self.stack[-n:]
            top_run -= n

    def free_dead(self, after: int) -> None:
        """Free the values no node after ``after`` uses and no output needs."""
        self.drop(lambda slot: self.last_use.get(slot, -1) <= after)

    # ---- nodes
    def lower(self, i: int, node: Node) -> None:
        self.where = f"node {i} (`{node.op}`)"
        results = [Ref(i, j) for j in range(node.n_results())]
        op = node.op
        if op == "const":
            self.emit("push", node.attr)
        elif op in ("read_io", "divine"):
            self.emit(op, node.attr)  # the first token read ends deepest, as result 0
        elif op == "sub":  # a - b = a + (-1) * b, on `_ a b`
            self.fetch(i, list(node.args))
            self.emit("push", -1)
            self.emit("mul")
            self.emit("add")
            self.consume(2)
        elif op == "neg":
            self.fetch(i, list(node.args))
            self.emit("push", -1)
            self.emit("mul")
            self.consume(1)
        else:
            self.fetch(i, list(reversed(node.args)))  # argument 0 ends on top
            if op == "write_io":
                self.emit("write_io", len(node.args))
            elif op == "write_mem":  # `_ value address` -> `_ (address+1)`
                self.emit("write_mem", 1)
                self.emit("pop", 1)
            elif op == "read_mem":  # `_ address` -> `_ m[address] (address-1)`
                self.emit("read_mem", 1)
                self.emit("pop", 1)
            else:
                self.emit(_SIMPLE[op])
            self.consume(len(node.args))
        # the instruction pushes its results in the ISA's order (result 0 on top for `hash` and the
        # extension-field ops); the other nodes' results come off with result 0 deepest
        mnemonic = _SIMPLE.get(op, op)
        self.stack.extend(isa.BY_NAME[mnemonic].push_order(results) if mnemonic in isa.BY_NAME else results)

    def finish(self) -> None:
        """Leave exactly the outputs, in order, above the block's context."""
        self.where = "the block's end"
        outputs = list(self.tir.outputs)
        if self.stack == outputs:
            return
        for ref in outputs:
            self.dup(ref)
        below = len(self.stack) - len(outputs)
        self.stack[:below] = [None] * below
        self.drop(lambda slot: slot is None)


def _last_uses(tir: TIR) -> dict[Ref, int]:
    """For each value: the last node that reads it; outputs count as read after every node."""
    last: dict[Ref, int] = {}
    for i, node in enumerate(tir.nodes):
        for ref in node.args:
            last[ref] = i
    for ref in tir.outputs:
        last[ref] = len(tir.nodes)
    return last


def compile_tir(tir: TIR) -> Program:
    """The classical compiler's TASM for ``tir``: a straight-line block that replaces the inputs (on top of the
    stack, deepest first) by the outputs, with the effects in node order. Deterministic. Raises
    :class:`~tasm_env.errors.TaskError` for an invalid TIR or one that keeps too many values live for ``dup 15``
    to reach them."""
    tir.validate()
    lowering = _Lowering(tir)
    k = len(tir.inputs)
    lowering.free_dead(after=k - 1)  # inputs nothing reads
    for i in range(k, len(tir.nodes)):
        lowering.lower(i, tir.nodes[i])
        lowering.free_dead(after=i)
    lowering.finish()
    return Program(lowering.code)
