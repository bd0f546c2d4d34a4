"""TIR: the typed dataflow IR tasks are written in.

A :class:`TIR` program has typed inputs (as they lie on the stack, deepest first), a list of nodes in program
order, and outputs (values left on the stack, deepest first, in place of the inputs). Each node applies one
operation (:data:`OPS`) to earlier nodes' results; a result is referenced as ``Ref(node, index)``. Nodes
``0 .. len(inputs) - 1`` are always the ``input`` nodes. Operations with effects (I/O, memory, assertions)
happen in node order.

Semantics, operand by operand (they are the *meaning*; the compiler maps them to Triton's operand order):

=============  =======================  ==========================================================
op             args                     results
=============  =======================  ==========================================================
input          -   (attr: input index)  the input's value
const          -   (attr: value)        the constant (a field element)
add sub mul    a, b                     a + b, a - b, a * b
neg invert     a                        -a, a^-1 (crashes on 0)
eq             a, b                     1 if a == b else 0
lt             a, b (u32)               1 if a < b else 0
and xor        a, b (u32)               a & b, a ^ b
split          a                        hi, lo (the 32-bit halves of a's canonical value)
div_mod        n, d (u32)               n div d, n mod d (crashes on d = 0)
pow            base, exp (u32)          base ^ exp
log_2_floor    a (u32)                  floor(log2 a) (crashes on 0)
pop_count      a (u32)                  number of 1 bits of a
assert         a                        - (crashes unless a == 1)
read_io        - (attr: n, 1..5)        the next n public input tokens, first read first
write_io       v_1 .. v_n (n <= 5)      - (writes v_1 first)
divine         - (attr: n, 1..5)        the next n secret input tokens, first read first
read_mem       address                  RAM[address]
write_mem      address, value           - (RAM[address] = value)
hash           x_0 .. x_9               the 5 words of Tip5's hash_10(x_0, ..., x_9)
xx_add xx_mul  a0 a1 a2 b0 b1 b2        the 3 coefficients of a + b, a * b in F_p^3 (coefficient 0 first)
xb_mul         s, a0 a1 a2              the 3 coefficients of s * a
x_invert       a0 a1 a2                 the 3 coefficients of a^-1 (crashes on 0)
=============  =======================  ==========================================================

Value types are ``field``, ``u32`` and ``bool``; inputs may also be declared ``nonzero`` or ``u32_nonzero``
(the verifier draws such inputs without zeros). A constant below 2^32 is a ``u32`` value, a larger one a
``field`` value. Types are promises the generator keeps: u32 operands are
only ever fed values known to be u32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Sequence

from .. import isa
from ..errors import TaskError
from ..field import P
from ..value_types import INPUT_TYPES, VALUE_TYPE_OF_INPUT, VALUE_TYPES


class Ref(NamedTuple):
    """The ``index``-th result of node ``node``."""

    node: int
    index: int = 0


@dataclass(frozen=True)
class OpSpec:
    """One TIR operation. ``args`` gives the argument types required (None: any value; a variable count is
    written as ``n_args=None`` with ``min_args``/``max_args``); ``results`` the result types (for ``read_io``
    and ``divine`` repeated ``attr`` times)."""

    name: str
    args: tuple[str | None, ...] | None
    results: tuple[str, ...]
    effect: bool = False  # ordered with the other effects: I/O, memory, assertions
    attr: str | None = None  # what the integer attribute means, if the op has one
    min_args: int = 0
    max_args: int = 0


def _op(name, args, results, **kw) -> OpSpec:
    return OpSpec(name, args, results, **kw)


_F, _U = None, "u32"
OPS: dict[str, OpSpec] = {spec.name: spec for spec in (
    _op("input", (), ("field",), attr="input index"),
    _op("const", (), ("field",), attr="value"),
    _op("add", (_F, _F), ("field",)),
    _op("sub", (_F, _F), ("field",)),
    _op("mul", (_F, _F), ("field",)),
    _op("neg", (_F,), ("field",)),
    _op("invert", (_F,), ("field",)),
    _op("eq", (_F, _F), ("bool",)),
    _op("lt", (_U, _U), ("bool",)),
    _op("and", (_U, _U), ("u32",)),
    _op("xor", (_U, _U), ("u32",)),
    _op("split", (_F,), ("u32", "u32")),
    _op("div_mod", (_U, _U), ("u32", "u32")),
    _op("pow", (_F, _U), ("field",)),
    _op("log_2_floor", (_U,), ("u32",)),
    _op("pop_count", (_U,), ("u32",)),
    _op("assert", (_F,), (), effect=True),
    _op("read_io", (), ("field",), effect=True, attr="count"),
    _op("write_io", None, (), effect=True, min_args=1, max_args=5),
    _op("divine", (), ("field",), effect=True, attr="count"),
    _op("read_mem", (_F,), ("field",), effect=True),
    _op("write_mem", (_F, _F), (), effect=True),
    _op("hash", (_F,) * 10, ("field",) * 5),
    _op("xx_add", (_F,) * 6, ("field",) * 3),
    _op("xx_mul", (_F,) * 6, ("field",) * 3),
    _op("xb_mul", (_F,) * 4, ("field",) * 3),
    _op("x_invert", (_F,) * 3, ("field",) * 3),
)}

SOURCES: tuple[str, ...] = ("input", "const")
"""The ops that start the dataflow: they take no arguments."""
OPERATIONS: frozenset[str] = frozenset(OPS) - frozenset(SOURCES)
"""Every op that computes a value or has an effect (``len(tir)`` counts these)."""
FUNCTIONS: frozenset[str] = frozenset(
    op for op in OPERATIONS if not (op in isa.BY_NAME and (isa.BY_NAME[op].stream or isa.BY_NAME[op].uses_ram)))
"""The ops whose results (or crash) depend on their arguments alone: no I/O, no memory."""


@dataclass(frozen=True)
class Node:
    op: str
    args: tuple[Ref, ...] = ()
    attr: int | None = None

    @property
    def spec(self) -> OpSpec:
        return OPS[self.op]

    def n_results(self) -> int:
        if self.op in ("read_io", "divine"):
            return int(self.attr)
        return len(self.spec.results)


@dataclass(frozen=True)
class TIR:
    """A typed dataflow program. Construct with :meth:`build` or :meth:`from_json`; both validate."""

    inputs: tuple[str, ...]
    nodes: tuple[Node, ...]
    outputs: tuple[Ref, ...]

    # ---- construction and checks
    @classmethod
    def build(cls, inputs: Sequence[str], nodes: Sequence[Node], outputs: Sequence[Ref]) -> "TIR":
        tir = cls(tuple(inputs), tuple(nodes), tuple(Ref(*r) for r in outputs))
        tir.validate()
        return tir

    def validate(self) -> None:
        """Raise TaskError naming the first problem: unknown op, bad reference, wrong type or arity."""
        for t in self.inputs:
            if t not in INPUT_TYPES:
                raise TaskError(f"unknown input type {t!r}: expected one of {', '.join(INPUT_TYPES)}")
        k = len(self.inputs)
        if len(self.nodes) < k or any(self.nodes[i] != Node("input", (), i) for i in range(k)):
            raise TaskError(f"the first {k} nodes must be Node('input', (), i) for each input i")
        for i, node in enumerate(self.nodes):
            spec = OPS.get(node.op)
            if spec is None:
                raise TaskError(f"node {i}: unknown op {node.op!r}; expected one of {', '.join(OPS)}")
            if node.op == "input" and i >= k:
                raise TaskError(f"node {i}: `input` nodes come first, one per declared input")
            if spec.args is None:
                if not spec.min_args <= len(node.args) <= spec.max_args:
                    raise TaskError(f"node {i}: `{node.op}` takes {spec.min_args} to {spec.max_args} arguments")
            elif len(node.args) != len(spec.args):
                raise TaskError(f"node {i}: `{node.op}` takes {len(spec.args)} arguments, got {len(node.args)}")
            if spec.attr == "count" and node.attr not in range(1, 6):
                raise TaskError(f"node {i}: `{node.op}` needs a count 1..5, got {node.attr!r}")
            if node.op == "const" and not (isinstance(node.attr, int) and 0 <= node.attr < P):
                raise TaskError(f"node {i}: `const` needs a field element in [0, p), got {node.attr!r}")
            for j, ref in enumerate(node.args):
                self._check_ref(ref, before=i, where=f"node {i} argument {j}")
                wanted = spec.args[j] if spec.args is not None else None
                if wanted == "u32" and self.type_of(ref) not in ("u32", "bool"):
                    raise TaskError(f"node {i}: `{node.op}` argument {j} must be a u32 value, "
                                    f"got a {self.type_of(ref)} value")
        for j, ref in enumerate(self.outputs):
            self._check_ref(ref, before=len(self.nodes), where=f"output {j}")

    def _check_ref(self, ref: Ref, before: int, where: str) -> None:
        if not (0 <= ref.node < before):
            raise TaskError(f"{where}: refers to node {ref.node}, expected an earlier node")
        if not 0 <= ref.index < self.nodes[ref.node].n_results():
            raise TaskError(f"{where}: node {ref.node} (`{self.nodes[ref.node].op}`) has no result {ref.index}")

    def type_of(self, ref: Ref) -> str:
        """The value type of a result: field, u32 or bool (inputs declared nonzero count as field, u32_nonzero
        as u32)."""
        node = self.nodes[ref.node]
        if node.op == "input":
            declared = self.inputs[node.attr]
            return VALUE_TYPE_OF_INPUT[declared]
        if node.op == "const":
            # a constant's value is known, so a small one is a u32 value (`push 10 ... div_mod` must type-check)
            return "u32" if node.attr < (1 << 32) else "field"
        results = node.spec.results
        return results[min(ref.index, len(results) - 1)]

    # ---- views
    def op_counts(self) -> dict[str, int]:
        """How many nodes of each op (inputs excluded)."""
        counts: dict[str, int] = {}
        for node in self.nodes[len(self.inputs):]:
            counts[node.op] = counts.get(node.op, 0) + 1
        return counts

    def __len__(self) -> int:
        """Number of operation nodes (inputs and constants excluded)."""
        return sum(1 for n in self.nodes if n.op not in ("input", "const"))

    # ---- JSON
    def to_json(self) -> dict[str, Any]:
        return {
            "inputs": list(self.inputs),
            "nodes": [{"op": n.op, **({"args": [list(r) for r in n.args]} if n.args else {}),
                       **({"attr": n.attr} if n.attr is not None else {})} for n in self.nodes],
            "outputs": [list(r) for r in self.outputs],
        }

    @classmethod
    def from_json(cls, data: Any) -> "TIR":
        try:
            nodes = [Node(str(n["op"]), tuple(Ref(int(a), int(b)) for a, b in n.get("args", ())), n.get("attr"))
                     for n in data["nodes"]]
            return cls.build(tuple(data["inputs"]), nodes, [Ref(int(a), int(b)) for a, b in data["outputs"]])
        except TaskError:
            raise
        except (KeyError, TypeError, ValueError) as err:
            raise TaskError(f"malformed TIR: expected inputs, nodes (op, args, attr) and outputs ({err})") from None


def format_tir(tir: TIR) -> str:
    """Readable text, one node per line: ``%3 = add %0 %2``; multi-result nodes name results ``%3.1``."""
    def ref(r: Ref) -> str:
        return f"%{r.node}" if tir.nodes[r.node].n_results() == 1 else f"%{r.node}.{r.index}"

    lines = []
    for i, node in enumerate(tir.nodes):
        if node.op == "input":
            lines.append(f"%{i} = input {node.attr}: {tir.inputs[node.attr]}")
            continue
        attr = f" {node.attr}" if node.attr is not None else ""
        args = "".join(" " + ref(a) for a in node.args)
        lines.append(f"%{i} = {node.op}{attr}{args}" if node.n_results() else f"{node.op}{attr}{args}")
    lines.append("outputs: " + (" ".join(ref(r) for r in tir.outputs) or "-"))
    return "\n".join(lines)
