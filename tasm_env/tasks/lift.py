"""Lifting a straight-line TASM block to its dataflow graph (a :class:`~tasm_env.tasks.tir.TIR`).

The block's contract: its ``k`` inputs lie on top of the stack (input ``i`` is the ``i``-th declared, deepest
first); it may read and consume only them, and it leaves the context below them untouched with its outputs on
top (deepest first). Outputs may be copies of inputs.

Nothing here simulates the stack a second time: :func:`tasm_env.plan.compile_block` already runs the block on
value ids, so shuffling (``dup``, ``swap``, ``pick``, ``place``, ``pop``, ``push``) is compiled away and what
remains is a list of operations on ids. :func:`lift` maps those to TIR nodes:

==========================  ===========================================================================
plan                        TIR
==========================  ===========================================================================
input slot ``16 + i``       ``input`` node ``i``
constant (deduplicated)     one ``const`` node per value, placed before its first use
``add`` (also from addi)    ``add``              (operands in TASM order: st0, st1)
``mul`` ``eq`` ``and``      same op, same operands
``xor`` ``invert``
``lt`` (st0, st1)           ``lt(st0, st1)``: TASM's ``lt`` pushes st0 < st1, TIR's ``lt(a, b)`` is a < b
``div_mod`` (st0, st1)      ``div_mod(n=st0, d=st1)``, results (quotient, remainder)
``pow`` (st0, st1)          ``pow(base=st0, exp=st1)``
``split``                   ``split``, results (hi, lo)
``log_2_floor``             same
``pop_count``
``assert``                  ``assert``
``assert_vector``           five ``eq(st_i, st_{i+5})`` each followed by an ``assert``
``permute`` (from hash)     ``hash(st0, .., st9)``, result ``w`` = digest word ``w``
``mem_read``                ``read_mem(address)`` (earlier writes are ordered before it)
RAM writes (address, value) ``write_mem(address, value)``, one per word of ``write_mem n``
public tokens               one ``read_io`` node (attr n) per ``read_io n``, result ``k`` = k-th token read
secret tokens               one ``divine`` node (attr n) per ``divine n``
public output               one ``write_io`` node per ``write_io n``, arguments in write order (st0 first)
``xx_add`` ``xx_mul``       same op; coefficient 0 = the top slot of each operand, as the TIR expects
``xb_mul`` ``x_invert``
==========================  ===========================================================================

Nodes are emitted in the block's instruction order, so effects (I/O, memory, assertions) keep their order.
Then dead code is dropped: a node whose results nobody uses is removed when it can neither crash nor has an
effect (``const``, ``add``, ``mul``, ``eq``, ``split``, ``hash`` and the extension-field products). So
``read_mem 1 pop 1`` lifts to one ``read_mem``, without the dead pointer arithmetic ``p - 1``. Ops that may
crash (``invert``, the u32 ops, ``assert``) stay even when dead: the crash is part of the block's meaning.

:func:`lowered_op_counts` states what lifting the classical compiler's output of a TIR gives back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from .. import isa
from ..asm import Program
from ..errors import VM_ERROR_KINDS, TaskError
from ..field import P
from ..plan import KINDS_PER_CYCLE, NO_CRASH, OPERATIONS, Plan, Shape, compile_block
from ..value_types import INPUT_TYPES
from ..verify import CONTEXT_DEPTH
from .tir import OPS, TIR, Node, Ref


def _unliftable_reason(spec: isa.InstructionSpec) -> str:
    if spec.sponge:
        return "it uses the Tip5 sponge, which TIR has no state for"
    what = "Merkle-step" if spec.category == "hashing" else "dot-step"
    return f"TIR has no {what} operation" + (" (it reads secret digests)" if spec.stream == "secret_digests" else "")


UNLIFTABLE: dict[str, str] = {spec.name: _unliftable_reason(spec) for spec in isa.INSTRUCTIONS
                              if spec.name in isa.SPONGE | isa.MANY_IN_ONE}
"""Straight-line mnemonics a block may not contain, with the reason (their effects are not TIR operations)."""

LIFTABLE_MNEMONICS: tuple[str, ...] = tuple(
    spec.name for spec in isa.INSTRUCTIONS if not spec.control_flow and spec.name not in UNLIFTABLE
)
"""Every mnemonic :func:`lift` accepts."""

TOTAL_PURE_OPS = frozenset(op for op, spec in OPS.items()
                           if op != "input" and not spec.effect and op not in isa.CRASHING)
"""TIR ops that never crash and have no effect: when their results are unused they are dead code."""

# plan operations whose TIR node takes the plan's operands unchanged, in the same order (see the table above)
_SAME_OPERANDS = frozenset(isa.VALUE_INSTRUCTIONS) | {"assert"}


def lift(program: Program | str, inputs: Iterable[str]) -> TIR:
    """The dataflow graph of a straight-line block whose inputs have the given types (deepest first).

    Raises :class:`~tasm_env.errors.TaskError` saying what is wrong when the block has control flow, uses
    sponge / Merkle / dot-step instructions, reads or changes the context below its inputs, crashes whatever
    its inputs, or feeds a value not known to be u32 to a u32 operand.
    """
    program = Program.coerce(program)
    inputs = tuple(inputs)
    _check_inputs(inputs)
    _check_instructions(program)
    plan = compile_block(program, _shape(program, len(inputs)))
    _check_static_crash(plan, len(inputs))
    lifter = _Lifter(plan, inputs)
    lifter.emit_all()
    outputs = lifter.outputs()
    _check_types(TIR(inputs, tuple(lifter.nodes), tuple(outputs)), lifter.instruction_of)
    nodes, outputs = _drop_dead_code(lifter.nodes, outputs, len(inputs))
    tir = TIR(inputs, tuple(nodes), tuple(outputs))
    tir.validate()
    return tir


# ------------------------------------------------------------------------------------------- checks


def _check_inputs(inputs: tuple[str, ...]) -> None:
    for t in inputs:
        if t not in INPUT_TYPES:
            raise TaskError(f"unknown input type {t!r}: expected one of {', '.join(INPUT_TYPES)}")


def _check_instructions(program: Program) -> None:
    for index, instruction in enumerate(program.instructions):
        name = instruction.name
        if name == "halt":
            raise TaskError(f"instruction {index} (`halt`): a block is straight-line code that falls through; "
                            "remove the `halt`")
        if name in isa.CONTROL_FLOW:
            raise TaskError(f"instruction {index} (`{instruction}`): control flow; only straight-line blocks "
                            "can be lifted to a dataflow graph")
        if name in UNLIFTABLE:
            raise TaskError(f"instruction {index} (`{name}`) is not expressible in TIR: {UNLIFTABLE[name]}")


def _shape(program: Program, k: int) -> Shape:
    """The context is Triton's minimum of 16 elements (as in the verifier's tests), so any net pop below the
    inputs is a static stack_too_shallow crash; offer exactly the tokens the block asks for."""
    public = sum(i.arg for i in program.instructions if i.name == "read_io")
    secret = sum(i.arg for i in program.instructions if i.name == "divine")
    return Shape(CONTEXT_DEPTH + k, public, secret, 0)


def _check_static_crash(plan: Plan, k: int) -> None:
    if plan.static_crash == NO_CRASH:
        return
    cycle, kind_index = divmod(plan.static_crash, KINDS_PER_CYCLE)
    kind = VM_ERROR_KINDS[kind_index]
    where = f"instruction {cycle} (`{plan.program.instructions[cycle]}`)"
    if kind == "stack_too_shallow":
        raise TaskError(f"{where} pops below the block's {k} input(s), consuming the context below them")
    raise TaskError(f"{where} crashes whatever the inputs ({kind})")


def _check_types(tir: TIR, instruction_of: list[int | None]) -> None:
    """u32 operands must be values known to be u32 (TIR's type promise), with a message in TASM terms."""
    for i, node in enumerate(tir.nodes):
        spec = node.spec
        if spec.args is None:
            continue
        for j, (wanted, ref) in enumerate(zip(spec.args, node.args)):
            got = tir.type_of(ref)
            if wanted == "u32" and got not in ("u32", "bool"):
                source = tir.nodes[ref.node]
                if source.op == "input":
                    what = (f"input {source.attr}, declared {tir.inputs[source.attr]!r}; declare it 'u32' if it "
                            "always holds one")
                else:
                    what = (f"the result of `{source.op}`; TIR only feeds u32 operands values known to be u32: "
                            "u32 inputs, constants below 2^32 and results of u32 operations")
                raise TaskError(f"instruction {instruction_of[i]} (`{node.op}`): operand st{j} must be a u32 "
                                f"value, but it is a {got} value ({what})")


# --------------------------------------------------------------------------------- plan -> TIR nodes


@dataclass
class _Lifter:
    """Walks the plan in instruction order, appending TIR nodes and mapping value ids to TIR references."""

    plan: Plan
    inputs: tuple[str, ...]
    nodes: list[Node] = field(default_factory=list)
    instruction_of: list[int | None] = field(default_factory=list)  # node -> instruction index (None: input)
    refs: dict[int, Ref] = field(default_factory=dict)  # value id -> TIR reference
    const_values: dict[int, int] = field(default_factory=dict)  # const value id -> value

    def __post_init__(self):
        k = len(self.inputs)
        for i in range(k):
            self.refs[CONTEXT_DEPTH + i] = Ref(self._append(Node("input", (), i), None))
        self.const_values = dict(zip(self.plan.const_ids, self.plan.const_values))

    def _append(self, node: Node, instruction: int | None) -> int:
        self.nodes.append(node)
        self.instruction_of.append(instruction)
        return len(self.nodes) - 1

    def ref(self, value_id: int, cycle: int | None, what: str) -> Ref:
        """The TIR reference of a value id, creating const nodes on first use; a context id is an error.
        ``cycle`` (None: the end of the block) and ``what`` say who uses the value, for that error."""
        found = self.refs.get(value_id)
        if found is not None:
            return found
        if value_id in self.const_values:
            self.refs[value_id] = Ref(self._append(Node("const", (), self.const_values[value_id]), cycle))
            return self.refs[value_id]
        if value_id < CONTEXT_DEPTH:
            who = "the block" if cycle is None else f"instruction {cycle} (`{self.plan.program.instructions[cycle]}`)"
            raise TaskError(f"{who} {what} a value from the context ({CONTEXT_DEPTH - value_id} below the deepest "
                            f"of the block's {len(self.inputs)} input(s)); a block may only use its own inputs")
        raise AssertionError(f"value id {value_id} has no TIR node (plan and lift disagree)")

    def emit_all(self) -> None:
        plan = self.plan
        starts = _input_offsets(plan)
        op = 0  # next plan operation
        public = secret = written = output = 0
        for cycle in range(plan.cycles):
            instruction = plan.program.instructions[cycle]
            name, n = instruction.name, instruction.arg
            if name == "read_io":
                self._tokens("read_io", n, plan.shape.public_id(public), cycle)
                public += n
            elif name == "divine":
                self._tokens("divine", n, plan.shape.secret_id(secret), cycle)
                secret += n
            while op < len(plan.kind) and plan.cycle[op] == cycle:
                ids = plan.inputs[starts[op]:starts[op] + plan.n_in[op]]
                self._operation(OPERATIONS[plan.kind[op]], ids, plan.out[op], cycle)
                op += 1
            if name == "write_mem":  # after this cycle's address arithmetic
                for w in range(written, written + n):
                    address, value = plan.writes[2 * w], plan.writes[2 * w + 1]
                    args = (self.ref(address, cycle, "writes to"), self.ref(value, cycle, "writes"))
                    self._append(Node("write_mem", args), cycle)
                written += n
            elif name == "write_io":
                args = tuple(self.ref(v, cycle, "writes") for v in plan.output[output:output + n])
                self._append(Node("write_io", args), cycle)
                output += n

    def _tokens(self, op: str, n: int, first_id: int, cycle: int) -> None:
        node = self._append(Node(op, (), n), cycle)
        for k in range(n):
            self.refs[first_id + k] = Ref(node, k)

    def _operation(self, kind: str, ids: list[int], out: int, cycle: int) -> None:
        def args(values: Iterable[int]) -> tuple[Ref, ...]:
            return tuple(self.ref(v, cycle, "reads") for v in values)

        if kind in _SAME_OPERANDS:
            node = self._append(Node(kind, args(ids)), cycle)
            for r in range(len(OPS[kind].results)):
                self.refs[out + r] = Ref(node, r)
        elif kind == "mem_read":  # inputs: address, then all earlier writes, which TIR orders by node order
            node = self._append(Node("read_mem", args(ids[:1])), cycle)
            self.refs[out] = Ref(node)
        elif kind == "permute":  # only `hash` permutes in a liftable block: st0..st9, then 6 capacity ones
            node = self._append(Node("hash", args(ids[:10])), cycle)
            for w in range(5):
                self.refs[out + w] = Ref(node, w)
        elif kind == "assert_vector":  # st0..st9: st_i must equal st_{i+5}
            refs = args(ids)
            for i in range(5):
                equal = self._append(Node("eq", (refs[i], refs[i + 5])), cycle)
                self._append(Node("assert", (Ref(equal),)), cycle)
        else:
            raise AssertionError(f"instruction {cycle}: plan operation `{kind}` has no TIR counterpart")

    def outputs(self) -> list[Ref]:
        """The final stack above the untouched context, deepest first."""
        final = self.plan.stack
        if final[:CONTEXT_DEPTH] != list(range(CONTEXT_DEPTH)):
            raise TaskError(f"the block leaves the context below its {len(self.inputs)} input(s) changed "
                            "(it moves, replaces or removes values below its inputs)")
        return [self.ref(v, None, "leaves as an output") for v in final[CONTEXT_DEPTH:]]


def _input_offsets(plan: Plan) -> list[int]:
    """Where each plan operation's inputs start in the flattened ``plan.inputs``."""
    offsets, at = [], 0
    for n in plan.n_in:
        offsets.append(at)
        at += n
    return offsets


# ----------------------------------------------------------------------------------------- dead code


def _live(nodes: list[Node], outputs: list[Ref], k: int) -> list[bool]:
    """A node is live when it is an input, may crash or has an effect, or a live node or an output uses it."""
    live = [i < k or node.op not in TOTAL_PURE_OPS for i, node in enumerate(nodes)]
    for ref in outputs:
        live[ref.node] = True
    for i in range(len(nodes) - 1, -1, -1):  # arguments always point backwards: one reverse sweep suffices
        if live[i]:
            for ref in nodes[i].args:
                live[ref.node] = True
    return live


def _drop_dead_code(nodes: list[Node], outputs: list[Ref], k: int) -> tuple[list[Node], list[Ref]]:
    live = _live(nodes, outputs, k)
    renumber: dict[int, int] = {}
    kept: list[Node] = []
    for i, node in enumerate(nodes):
        if live[i]:
            renumber[i] = len(kept)
            kept.append(Node(node.op, tuple(Ref(renumber[a.node], a.index) for a in node.args), node.attr))
    return kept, [Ref(renumber[r.node], r.index) for r in outputs]


# ------------------------------------------------------------------------- the compiler round trip


def lowered_op_counts(tir: TIR) -> dict[str, int]:
    """The op counts of ``lift(compile_tir(tir))``: the TIR's own counts after the compiler's lowering.

    The rule, in order:

    1. ``sub(a, b)`` becomes ``add(a, mul(b, const -1))`` and ``neg(a)`` becomes ``mul(a, const -1)`` (TASM has
       neither; the compiler writes ``push -1 mul add`` and ``push -1 mul``). Every other op maps 1:1: one
       ``read_io n`` / ``divine n`` / ``write_io n`` node per node, one ``read_mem`` / ``write_mem`` per word
       (the pointer arithmetic of ``read_mem 1 pop 1`` is dead and dropped by step 2).
    2. Dead code is dropped as :func:`lift` does: nodes in :data:`TOTAL_PURE_OPS` whose results no live node
       and no output uses (so unused constants and unused ``add`` / ``mul`` / ``split`` / ``hash`` ... vanish,
       while unused ``invert`` / u32 ops / effects stay).
    3. Constants count once per distinct value among the live ones (the symbolic executor keeps one id per
       value, so the TIR's own ``const -1`` and the ``-1`` of every ``sub``/``neg`` are one ``const``).

    Inputs are not counted (as in :meth:`TIR.op_counts`). Checked against ``compile_tir`` by the tests.
    """
    nodes: list[Node] = list(tir.nodes[:len(tir.inputs)])
    where: dict[int, int] = {i: i for i in range(len(tir.inputs))}  # old node -> new node
    constants: dict[int, int] = {}  # value -> new node

    def constant(value: int) -> Ref:
        if value not in constants:
            constants[value] = len(nodes)
            nodes.append(Node("const", (), value))
        return Ref(constants[value])

    minus_one = P - 1
    for i, node in enumerate(tir.nodes[len(tir.inputs):], start=len(tir.inputs)):
        args = tuple(Ref(where[a.node], a.index) for a in node.args)
        if node.op == "const":
            where[i] = constant(node.attr).node
            continue
        if node.op == "sub":
            nodes.append(Node("mul", (args[1], constant(minus_one))))
            node = Node("add", (args[0], Ref(len(nodes) - 1)))
        elif node.op == "neg":
            node = Node("mul", (args[0], constant(minus_one)))
        else:
            node = Node(node.op, args, node.attr)
        where[i] = len(nodes)
        nodes.append(node)
    outputs = [Ref(where[r.node], r.index) for r in tir.outputs]
    live, _ = _drop_dead_code(nodes, outputs, len(tir.inputs))
    counts: dict[str, int] = {}
    for node in live[len(tir.inputs):]:
        counts[node.op] = counts.get(node.op, 0) + 1
    return counts
