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


def _operation(name: str, x: list, crashes: list, ram, solver, tag: str) -> list:
    one, zero = z3.BitVecVal(1, 64), z3.BitVecVal(0, 64)
    if name == "add":
        return [_add(x[0], x[1])]
    if name == "mul":
        return [_mul(x[0], x[1])]
    if name == "eq":
        return [z3.If(x[0] == x[1], one, zero)]
    if name == "invert":
        y = z3.BitVec(f"inv_{tag}", 64)
        solver.add(z3.ULT(y, P), z3.Implies(x[0] != 0, _mul(x[0], y) == 1))
        crashes.append(x[0] == 0)
        return [y]
    if name in ("lt", "and", "xor"):
        crashes.append(_not_u32(x[0], x[1]))
        return [{"lt": lambda: z3.If(z3.ULT(x[0], x[1]), one, zero), "and": lambda: x[0] & x[1],
                 "xor": lambda: x[0] ^ x[1]}[name]()]
    if name == "log_2_floor":
        crashes += [_not_u32(x[0]), x[0] == 0]
        return [_log2(x[0])]
    if name == "pop_count":
        crashes.append(_not_u32(x[0]))
        return [sum(z3.ZeroExt(63, z3.Extract(i, i, x[0])) for i in range(32))]
    if name == "div_mod":
        crashes += [_not_u32(x[0], x[1]), x[1] == 0]
        return [z3.UDiv(x[0], x[1]), z3.URem(x[0], x[1])]
    if name == "split":
        return [z3.LShR(x[0], 32), x[0] & 0xFFFFFFFF]
    if name == "assert":
        crashes.append(x[0] != 1)
        return []
    if name == "assert_vector":
        crashes.append(z3.Or(*[x[i] != x[i + 5] for i in range(5)]))
        return []
    if name == "u32_check":
        crashes.append(_not_u32(x[0]))
        return []
    if name == "mem_read":
        value = z3.URem(ram(x[0]), P)
        for k in range(1, len(x), 2):  # later writes win
            value = z3.If(x[k] == x[0], x[k + 1], value)
        return [value]
    fe = [_FE(t) for t in x]
    if name == "xx_add":
        return [r.t for r in F.xadd(tuple(fe[0:3]), tuple(fe[3:6]))]
    if name == "xx_mul":
        return [r.t for r in F.xmul(tuple(fe[0:3]), tuple(fe[3:6]))]
    if name == "xb_mul":
        return [r.t for r in F.xbmul(fe[0], tuple(fe[1:4]))]
    raise ValueError(f"no SMT encoding for {name}")
