"""A plan (:mod:`tasm_env.plan`) as z3 bit-vector terms, for :func:`tasm_env.prove.smt_equivalence`.

Field elements are 64-bit vectors below p; every operation follows the batched executor's evaluator of the
same name (:mod:`tasm_env.batch`), so the two cannot disagree on operand order. A run's crash is the
disjunction of every operation's crash condition (the first that holds is the real crash; what follows it is
irrelevant). Requires z3 (``pip install tasm-env[prove]``).
"""

from __future__ import annotations

from dataclasses import dataclass

import z3

from . import field as F
from .field import P
from .plan import OPERATIONS, Plan

_U32 = 1 << 32


def _add(a, b):
    s = z3.ZeroExt(1, a) + z3.ZeroExt(1, b)
    return z3.Extract(63, 0, z3.If(z3.UGE(s, P), s - P, s))


def _neg(a):
    return z3.If(a == 0, z3.BitVecVal(0, 64), z3.BitVecVal(P, 64) - a)


def _mul(a, b):
    return z3.Extract(63, 0, z3.URem(z3.ZeroExt(64, a) * z3.ZeroExt(64, b), P))


class _FE:
    """A field element term with the operators ``field.xmul`` and friends use."""

    def __init__(self, t):
        self.t = t

    def __add__(self, o):
        return _FE(_add(self.t, o.t))

    def __sub__(self, o):
        return _FE(_add(self.t, _neg(o.t)))

    def __mul__(self, o):
        return _FE(_mul(self.t, o.t))

    def __mod__(self, modulus):
        return self


def _not_u32(*xs):
    return z3.Or(*[z3.UGE(x, _U32) for x in xs])


def _log2(x):
    value = z3.BitVecVal(0, 64)
    for k in range(1, 32):
        value = z3.If(z3.UGE(x, 1 << k), z3.BitVecVal(k, 64), value)
    return value


@dataclass
class Encoded:
    stack: list
    output: list
    crash: object
    touched: list
    writes: list  # (address term, value term) in program order
    ram: object

    def final_ram(self, address):
        value = z3.URem(self.ram(address), P)
        for a, v in self.writes:
            value = z3.If(a == address, v, value)
        return value


def encode(plan: Plan, sources: dict, ram, solver: z3.Solver) -> Encoded:
    """Terms for the plan's final stack, output, RAM and crash condition over the given source terms."""
    values = dict(sources)
    for i, c in zip(plan.const_ids, plan.const_values):
        values[i] = z3.BitVecVal(c, 64)
    crashes = []
    start = 0
    for j, code in enumerate(plan.kind):
        name = OPERATIONS[code]
        x = [values[i] for i in plan.inputs[start:start + plan.n_in[j]]]
        start += plan.n_in[j]
        results = _operation(name, x, crashes, ram, solver, f"{id(plan)}_{j}")
        for k, r in enumerate(results):
            values[plan.out[j] + k] = r
    writes = [(values[plan.writes[k]], values[plan.writes[k + 1]]) for k in range(0, len(plan.writes), 2)]
    return Encoded([values[i] for i in plan.stack], [values[i] for i in plan.output],
                   z3.Or(*crashes) if crashes else z3.BoolVal(False), [values[i] for i in plan.touched], writes, ram)


# ---- one encoder per plan operation: (operand terms, crash conditions, ram, solver, tag) -> result terms
_ONE, _ZERO = z3.BitVecVal(1, 64), z3.BitVecVal(0, 64)


def _invert(x, crashes, ram, solver, tag):
    y = z3.BitVec(f"inv_{tag}", 64)
    solver.add(z3.ULT(y, P), z3.Implies(x[0] != 0, _mul(x[0], y) == 1))
    crashes.append(x[0] == 0)
    return [y]


def _u32_binary(result):
    def encode(x, crashes, ram, solver, tag):
        crashes.append(_not_u32(x[0], x[1]))
        return [result(x[0], x[1])]
    return encode


def _log_2_floor(x, crashes, ram, solver, tag):
    crashes += [_not_u32(x[0]), x[0] == 0]
    return [_log2(x[0])]


def _pop_count(x, crashes, ram, solver, tag):
    crashes.append(_not_u32(x[0]))
    return [sum(z3.ZeroExt(63, z3.Extract(i, i, x[0])) for i in range(32))]


def _div_mod(x, crashes, ram, solver, tag):
    crashes += [_not_u32(x[0], x[1]), x[1] == 0]
    return [z3.UDiv(x[0], x[1]), z3.URem(x[0], x[1])]


def _crash_if(condition):
    def encode(x, crashes, ram, solver, tag):
        crashes.append(condition(x))
        return []
    return encode


def _mem_read(x, crashes, ram, solver, tag):
    value = z3.URem(ram(x[0]), P)
    for k in range(1, len(x), 2):  # later writes win
        value = z3.If(x[k] == x[0], x[k + 1], value)
    return [value]


def _pure(result):
    return lambda x, crashes, ram, solver, tag: result(x)


def _extension(result):
    return _pure(lambda x: [r.t for r in result([_FE(t) for t in x])])


ENCODERS = {
    "add": _pure(lambda x: [_add(x[0], x[1])]), "mul": _pure(lambda x: [_mul(x[0], x[1])]),
    "eq": _pure(lambda x: [z3.If(x[0] == x[1], _ONE, _ZERO)]), "invert": _invert,
    "lt": _u32_binary(lambda a, b: z3.If(z3.ULT(a, b), _ONE, _ZERO)), "and": _u32_binary(lambda a, b: a & b),
    "xor": _u32_binary(lambda a, b: a ^ b), "log_2_floor": _log_2_floor, "pop_count": _pop_count,
    "div_mod": _div_mod, "split": _pure(lambda x: [z3.LShR(x[0], 32), x[0] & 0xFFFFFFFF]),
    "assert": _crash_if(lambda x: x[0] != 1),
    "assert_vector": _crash_if(lambda x: z3.Or(*[x[i] != x[i + 5] for i in range(5)])),
    "u32_check": _crash_if(lambda x: _not_u32(x[0])), "mem_read": _mem_read,
    "xx_add": _extension(lambda fe: F.xadd(tuple(fe[0:3]), tuple(fe[3:6]))),
    "xx_mul": _extension(lambda fe: F.xmul(tuple(fe[0:3]), tuple(fe[3:6]))),
    "xb_mul": _extension(lambda fe: F.xbmul(fe[0], tuple(fe[1:4]))),
    # not encoded (a block containing one is not given to the solver)
    "pow": None, "x_invert": None, "xx_dot_step": None, "xb_dot_step": None, "permute": None, "merkle": None,
}  # fmt: skip
"""The z3 encoding of every plan operation, or None where there is none."""
assert set(ENCODERS) == set(OPERATIONS), f"encoders differ from the plan operations: {set(ENCODERS) ^ set(OPERATIONS)}"
ENCODED: frozenset[str] = frozenset(name for name, encoder in ENCODERS.items() if encoder is not None)
"""The plan operations the solver can be given."""


def _operation(name: str, x: list, crashes: list, ram, solver, tag: str) -> list:
    encoder = ENCODERS[name]
    if encoder is None:
        raise ValueError(f"no SMT encoding for {name}")
    return encoder(x, crashes, ram, solver, tag)
