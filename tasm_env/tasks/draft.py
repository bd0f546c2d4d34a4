"""Drafting one random TIR program of a tier (:mod:`tasm_env.tasks.generate`): the values a program under
construction can use and what is known about each (type, known non-zero, used), and one generator per TIR
operation that adds its nodes so that the program never crashes on inputs of its declared types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..field import P
from .tiers import MAX_OUTPUTS, TierSpec
from .tir import OPERATIONS, OPS, TIR, Node, Ref

_UNUSED_WEIGHT = 12.0  # how much likelier an unused value is picked as an operand than a used one
_CONSTANTS = (2, 3, 5, 7, 10, 16, 255, 1 << 32, P - 1)  # plus a random field element now and then
_ADDRESSES = (0, 1, 2, 7, 64, 1000, 1 << 32, P - 1)
_NONZERO_TYPE = {"field": "nonzero", "u32": "u32_nonzero", "nonzero": "nonzero", "u32_nonzero": "u32_nonzero"}
_PURE_OPS = frozenset(op for op in OPERATIONS if not OPS[op].effect)

# ------------------------------------------------------------------------------------------ drafting


@dataclass(eq=False)  # identity semantics: two values are never the same unless they are one
class _Value:
    """A value a program under construction can use."""

    ref: Ref
    kind: str  # field, u32 or bool
    nonzero: bool  # known never to be 0 on inputs of the declared types
    computed: bool  # not an input nor a constant
    uses: int = 0


class _Draft:
    """A program under construction: nodes, the values they define, and what is known about each value."""

    def __init__(self, rng: np.random.Generator, input_types: list[str]):
        self.rng = rng
        self.input_types = input_types
        self.nodes: list[Node] = [Node("input", (), i) for i in range(len(input_types))]
        self.values: list[_Value] = [
            _Value(Ref(i), {"u32_nonzero": "u32", "nonzero": "field"}.get(t, t), t in ("nonzero", "u32_nonzero"),
                   False)
            for i, t in enumerate(input_types)
        ]
        self.by_ref = {v.ref: v for v in self.values}
        self.triples: list[tuple[tuple[_Value, _Value, _Value], bool]] = []  # XFE results, known non-zero?

    # ---- building
    @property
    def operations(self) -> int:
        return sum(1 for n in self.nodes if n.op not in ("input", "const"))

    def add(self, op: str, args: list[_Value], attr: int | None = None, nonzero: bool = False) -> list[_Value]:
        """Append a node; ``nonzero`` says its results are known to be non-zero."""
        i = len(self.nodes)
        node = Node(op, tuple(a.ref for a in args), attr)
        self.nodes.append(node)
        for a in args:
            a.uses += 1
        kinds = OPS[op].results
        results = [_Value(Ref(i, j), kinds[min(j, len(kinds) - 1)], nonzero, op != "const")
                   for j in range(node.n_results())]
        self.values.extend(results)
        self.by_ref.update((v.ref, v) for v in results)
        return results

    def const(self, value: int | None = None) -> _Value:
        if value is None:
            k = int(self.rng.integers(len(_CONSTANTS) + 1))
            value = _CONSTANTS[k] if k < len(_CONSTANTS) else int(self.rng.integers(2, P, dtype=np.uint64))
        return self.add("const", [], value, nonzero=value != 0)[0]

    # ---- choosing operands
    def is_const(self, v: _Value) -> bool:
        return not v.computed and v.ref.node >= len(self.input_types)

    def choose(self, fits: Callable[[_Value], bool] = lambda v: True, avoid: tuple[_Value, ...] = ()) -> _Value | None:
        """A value that ``fits``, unused values and values not in ``avoid`` strongly preferred (so inputs get
        used and little is left dead)."""
        candidates = [v for v in self.values if fits(v) and not self.is_const(v)]  # constants: fresh ones
        if not candidates:
            return None
        weights = np.array([(_UNUSED_WEIGHT if v.uses == 0 else 1.0) * (0.05 if v in avoid else 1.0)
                            for v in candidates])
        return candidates[int(self.rng.choice(len(candidates), p=weights / weights.sum()))]

    def operand(self, avoid: tuple[_Value, ...] = (), const_chance: float = 0.2) -> _Value:
        """Any value, or now and then a fresh constant."""
        if self.rng.random() < const_chance:
            return self.const()
        return self.choose(avoid=avoid) or self.const()

    def u32(self, avoid: tuple[_Value, ...] = ()) -> _Value | None:
        return self.choose(lambda v: v.kind in ("u32", "bool"), avoid)

    def nonzero(self, kind: str) -> _Value | None:
        """A value of ``kind`` (field: any; u32) known to be non-zero; failing that, an input of that kind,
        declared non-zero from now on."""
        fits = (lambda v: v.kind in ("u32", "bool")) if kind == "u32" else (lambda v: True)
        found = self.choose(lambda v: v.nonzero and fits(v))
        if found is not None:
            return found
        inputs = [v for v in self.values[:len(self.input_types)]  # a bool input cannot be declared non-zero
                  if v.kind == "u32" or (kind == "field" and v.kind == "field")]
        if not inputs:
            return None
        chosen = inputs[int(self.rng.integers(len(inputs)))]
        i = chosen.ref.node
        self.input_types[i] = _NONZERO_TYPE[self.input_types[i]]
        chosen.nonzero = True
        return chosen

    def triple(self, nonzero: bool = False) -> tuple[_Value, _Value, _Value] | None:
        """Three values read as an extension-field element: often an earlier XFE result."""
        known = [t for t, nz in self.triples if nz or not nonzero]
        if known and self.rng.random() < 0.6:
            return known[int(self.rng.integers(len(known)))]
        anchor, at = None, -1
        if nonzero:  # one coefficient known non-zero makes the element non-zero
            anchor, at = self.nonzero("field"), int(self.rng.integers(3))
            if anchor is None:
                return None
        parts = [anchor if k == at else self.operand(const_chance=0.1) for k in range(3)]
        return tuple(parts)

    def xfe(self, op: str, args: list[_Value], nonzero: bool) -> None:
        results = self.add(op, args)
        self.triples.append((tuple(results), nonzero))

    def is_nonzero_triple(self, t: tuple[_Value, ...]) -> bool:
        return any(v.nonzero for v in t) or any(t == known and nz for known, nz in self.triples)


# ---- one generator per menu entry: add its nodes and return True, or return False when it cannot


def _binary(op: str, commutative: bool) -> Callable[[_Draft], bool]:
    def generate(d: _Draft) -> bool:
        a = d.operand(const_chance=0.0)
        b = d.operand(avoid=(a,), const_chance=0.3)
        if not commutative and d.rng.random() < 0.3:
            a, b = b, a
        d.add(op, [a, b], nonzero=op == "mul" and a.nonzero and b.nonzero)
        return True

    return generate


def _neg(d: _Draft) -> bool:
    a = d.operand(const_chance=0.0)
    d.add("neg", [a], nonzero=a.nonzero)
    return True


def _invert(d: _Draft) -> bool:
    a = d.nonzero("field")
    if a is None:
        return False
    d.add("invert", [a], nonzero=True)
    return True


def _eq(d: _Draft) -> bool:
    a = d.operand(const_chance=0.0)
    d.add("eq", [a, d.operand(avoid=(a,), const_chance=0.1)])
    return True


def _u32_binary(op: str) -> Callable[[_Draft], bool]:
    def generate(d: _Draft) -> bool:
        a = d.u32()
        b = d.u32(avoid=(a,)) if a is not None else None
        if a is None or b is None:
            return False
        d.add(op, [a, b])
        return True

    return generate


def _split(d: _Draft) -> bool:
    a = d.choose(lambda v: v.kind == "field")  # a u32 value's high half is always 0
    if a is None:
        return False
    d.add("split", [a])
    return True


def _div_mod(d: _Draft) -> bool:
    denominator = d.nonzero("u32")
    numerator = d.u32(avoid=(denominator,)) if denominator is not None else None
    if numerator is None:
        return False
    d.add("div_mod", [numerator, denominator])
    return True


def _pow(d: _Draft) -> bool:
    exponent = d.u32()
    if exponent is None:
        return False
    base = d.operand(avoid=(exponent,), const_chance=0.3)
    d.add("pow", [base, exponent], nonzero=base.nonzero)
    return True


def _log_2_floor(d: _Draft) -> bool:
    a = d.nonzero("u32")
    if a is None:
        return False
    d.add("log_2_floor", [a])
    return True


def _pop_count(d: _Draft) -> bool:
    a = d.u32()
    if a is None:
        return False
    d.add("pop_count", [a], nonzero=a.nonzero)
    return True


def _read(op: str) -> Callable[[_Draft], bool]:
    def generate(d: _Draft) -> bool:
        d.add(op, [], attr=int(d.rng.integers(1, 4)))
        return True

    return generate


def _write_io(d: _Draft) -> bool:
    values: list[_Value] = []
    for _ in range(int(d.rng.integers(1, 4))):
        values.append(d.operand(avoid=tuple(values), const_chance=0.0))
    d.add("write_io", values)
    return True


def _address(d: _Draft) -> _Value:
    """A RAM address: an input (a field one) or a constant."""
    inputs = [v for v in d.values[:len(d.input_types)] if v.kind == "field"]
    if inputs and d.rng.random() < 0.4:
        return inputs[int(d.rng.integers(len(inputs)))]
    return d.const(_ADDRESSES[int(d.rng.integers(len(_ADDRESSES)))])


def _read_mem(d: _Draft) -> bool:
    d.add("read_mem", [_address(d)])
    return True


def _write_mem(d: _Draft) -> bool:
    address = _address(d)
    d.add("write_mem", [address, d.operand(avoid=(address,), const_chance=0.1)])
    return True


def _hash(d: _Draft) -> bool:
    words: list[_Value] = []
    for _ in range(10):
        words.append(d.operand(avoid=tuple(words), const_chance=0.15))
    d.add("hash", words)
    return True


def _assert(d: _Draft) -> bool:
    """An assertion that holds: a recomputed value equals the original, x * x^-1 = 1, or a split rebuilds."""
    kind = int(d.rng.integers(3))
    if kind == 0:  # eq(x, x') where x' recomputes x
        pure = [v for v in d.values if v.computed and d.nodes[v.ref.node].op in _PURE_OPS]
        if not pure:
            return False
        x = pure[int(d.rng.integers(len(pure)))]
        node = d.nodes[x.ref.node]
        again = d.add(node.op, [d.by_ref[r] for r in node.args], node.attr)[x.ref.index]
        d.add("assert", d.add("eq", [x, again]))
    elif kind == 1:  # x * x^-1
        x = d.nonzero("field")
        if x is None:
            return False
        inverse = d.add("invert", [x], nonzero=True)[0]
        d.add("assert", d.add("mul", [x, inverse], nonzero=True))
    else:  # hi * 2^32 + lo == x
        x = d.choose(lambda v: v.kind == "field")
        if x is None:
            return False
        hi, lo = d.add("split", [x])
        rebuilt = d.add("add", [d.add("mul", [hi, d.const(1 << 32)])[0], lo])[0]
        d.add("assert", d.add("eq", [rebuilt, x]))
    return True


def _xx(op: str) -> Callable[[_Draft], bool]:
    def generate(d: _Draft) -> bool:
        a, b = d.triple(), d.triple()
        nonzero = op == "xx_mul" and d.is_nonzero_triple(a) and d.is_nonzero_triple(b)
        d.xfe(op, [*a, *b], nonzero)
        return True

    return generate


def _xb_mul(d: _Draft) -> bool:
    a = d.triple()
    s = d.operand(avoid=a, const_chance=0.3)
    d.xfe("xb_mul", [s, *a], s.nonzero and d.is_nonzero_triple(a))
    return True


def _x_invert(d: _Draft) -> bool:
    a = d.triple(nonzero=True)
    if a is None or not d.is_nonzero_triple(a):
        return False
    d.xfe("x_invert", list(a), True)
    return True


_GENERATORS: dict[str, Callable[[_Draft], bool]] = {
    "add": _binary("add", True), "sub": _binary("sub", False), "mul": _binary("mul", True), "neg": _neg,
    "invert": _invert, "eq": _eq, "lt": _u32_binary("lt"), "and": _u32_binary("and"), "xor": _u32_binary("xor"),
    "split": _split, "div_mod": _div_mod, "pow": _pow, "log_2_floor": _log_2_floor, "pop_count": _pop_count,
    "read_io": _read("read_io"), "divine": _read("divine"), "write_io": _write_io, "read_mem": _read_mem,
    "write_mem": _write_mem, "hash": _hash, "assert": _assert, "xx_add": _xx("xx_add"), "xx_mul": _xx("xx_mul"),
    "xb_mul": _xb_mul, "x_invert": _x_invert,
}  # fmt: skip
assert set(_GENERATORS) == OPERATIONS, f"the generators differ from TIR's OPERATIONS: {set(_GENERATORS) ^ OPERATIONS}"
_PATTERN_SIZE = {"assert": 5}  # most operations an entry may add (others add one)


def draft(spec: TierSpec, rng: np.random.Generator) -> TIR | None:
    """One random program of the tier, or None when this draw went nowhere. Not yet checked for degeneracy."""
    types = list(spec.input_types)
    weights = np.array([spec.input_types[t] for t in types])
    n_inputs = int(rng.integers(spec.inputs[0], spec.inputs[1] + 1))
    d = _Draft(rng, [types[int(k)] for k in rng.choice(len(types), size=n_inputs, p=weights / weights.sum())])
    target = int(rng.integers(spec.operations[0], spec.operations[1] + 1))
    menu = list(spec.menu)
    menu_p = np.array([spec.menu[m] for m in menu])
    menu_p /= menu_p.sum()
    for _ in range(8 * target):
        room = target - d.operations
        if room <= 0:
            break
        entry = menu[int(rng.choice(len(menu), p=menu_p))]
        if _PATTERN_SIZE.get(entry, 1) <= room:
            _GENERATORS[entry](d)
    if "write_io" in spec.menu:
        _flush(d, spec.operations[1])
    if spec.own and not spec.own & {n.op for n in d.nodes}:
        return None
    if not spec.operations[0] <= d.operations <= spec.operations[1]:
        return None
    outputs = _outputs(d)
    if not outputs:
        return None
    return TIR.build(d.input_types, d.nodes, outputs)


def _sinks(d: _Draft) -> list[_Value]:
    return [v for v in d.values if v.computed and v.uses == 0]


def _flush(d: _Draft, most: int) -> None:
    """Write out the unused values beyond the 4 the outputs can hold, so little is computed for nothing."""
    while d.operations < most:
        surplus = _sinks(d)[:-MAX_OUTPUTS]
        if not surplus:
            break
        d.add("write_io", surplus[:5])


def _outputs(d: _Draft) -> list[Ref]:
    """1 to 4 outputs: the computed values nothing uses (a random 4 of them if there are more), now and then
    one more value, in random order."""
    sinks = [v.ref for v in _sinks(d)]
    if len(sinks) > MAX_OUTPUTS:
        sinks = [sinks[int(k)] for k in sorted(d.rng.choice(len(sinks), size=MAX_OUTPUTS, replace=False))]
    if not sinks or (len(sinks) < MAX_OUTPUTS and d.rng.random() < 0.15):
        others = [v.ref for v in d.values if v.ref not in sinks and
                  (v.computed or v.ref.node < len(d.input_types))]
        if others:
            sinks.append(others[int(d.rng.integers(len(others)))])
    return [sinks[int(k)] for k in d.rng.permutation(len(sinks))]
