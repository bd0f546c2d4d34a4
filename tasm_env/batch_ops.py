"""The batched executor's semantics: one evaluator per operation kind of a plan (:data:`EVALUATORS`).

Each maps the operands (uint64 arrays of one shape, values by lanes) to the results and the lanes that crash,
in numpy; :mod:`tasm_env.batch` runs a plan's operations through them, many plans and lanes at once.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Callable, Mapping, Sequence

import numpy as np

from . import field as F
from . import tip5
from .errors import VM_ERROR_KINDS, BatchError
from .plan import OPERATIONS

__all__ = ["BY_CODE", "EVALUATORS", "evaluator", "permute_and_merkle"]

_U64 = np.uint64
_U32_LIMIT = _U64(1 << 32)
_KIND_INDEX = {kind: i for i, kind in enumerate(VM_ERROR_KINDS)}


def _crash(kind: str, mask: np.ndarray) -> tuple[int, np.ndarray]:
    return _KIND_INDEX[kind], mask


def _not_u32(*xs: np.ndarray) -> np.ndarray:
    mask = xs[0] >= _U32_LIMIT
    for x in xs[1:]:
        mask = mask | (x >= _U32_LIMIT)
    return mask


def _ev_add(x, ctx):
    return [F.vadd(x[0], x[1])], []


_SMALL_MUL = 64
"""Up to this many products, Python's integers multiply faster than :func:`tasm_env.field.vmul`'s two dozen
array operations (the verifier's first round has 8 lanes)."""


def _ev_mul(x, ctx):
    a, b = x[0], x[1]
    if a.size > _SMALL_MUL:
        return [F.vmul(a, b)], []
    product = np.fromiter(map(F.mul, a.ravel().tolist(), b.ravel().tolist()), dtype=_U64, count=a.size)
    return [product.reshape(a.shape)], []


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


def _permute_rows(rows: Sequence[np.ndarray], more: Sequence[np.ndarray] = ()) -> list[np.ndarray]:
    """Tip5 permutation of 16 arrays of equal shape, lane by lane; with ``more`` (16 arrays of another equal
    shape), of those too in the same call, their results following the first 16."""
    shape = rows[0].shape
    state = np.stack([np.asarray(r, dtype=_U64).reshape(-1) for r in rows])
    if not more:
        out = tip5.vpermutation(state)
        return [out[i].reshape(shape) for i in range(16)]
    width, other = state.shape[1], more[0].shape
    out = tip5.vpermutation(np.concatenate((state, np.stack([np.asarray(r, dtype=_U64).reshape(-1) for r in more])),
                                           axis=1))
    return [out[i, :width].reshape(shape) for i in range(16)] + [out[i, width:].reshape(other) for i in range(16)]


def _ev_permute(x, ctx):
    return _permute_rows(x), []


def _merkle_state(x) -> list[np.ndarray]:
    """The 16 rows of the Tip5 state a merkle step permutes: the accumulator and the sibling digest in the
    order the node index's lowest bit says, then the fixed-length domain's capacity."""
    accumulator, index, sibling = x[0:5], x[5], x[6:11]
    even = (index & _U64(1)) == 0
    left = [np.where(even, a, s) for a, s in zip(accumulator, sibling)]
    right = [np.where(even, s, a) for a, s in zip(accumulator, sibling)]
    return left + right + [np.ones_like(index)] * 6


def _merkle_results(x, permuted: Sequence[np.ndarray]) -> tuple[list, list]:
    index = x[5]
    return list(permuted[:5]) + [(index & _U64(0xFFFFFFFF)) >> _U64(1)], [_crash("u32_operand", _not_u32(index))]


def _ev_merkle(x, ctx):
    return _merkle_results(x, _permute_rows(_merkle_state(x)))


def permute_and_merkle(permute_x: Sequence[np.ndarray], merkle_x: Sequence[np.ndarray]) -> tuple[tuple, tuple]:
    """The ``permute`` and ``merkle`` evaluators' (results, crashes) on their operands, in one Tip5 call for
    both (for independent groups, as those of one level are: the permutation is lane by lane, so every value
    is the same as from two calls)."""
    permuted = _permute_rows(permute_x, _merkle_state(merkle_x))
    return (permuted[:16], []), _merkle_results(merkle_x, permuted[16:])


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
    if len(x) == 1:
        return [value], []
    hit = np.stack(x[1::2]) == address  # (writes, ...): which earlier writes went to the address read
    last = len(hit) - 1 - np.argmax(hit[::-1], axis=0)  # the latest of them wins
    written = np.take_along_axis(np.stack(x[2::2]), last[None], axis=0)[0]
    return [np.where(hit.any(axis=0), written, value)], []


BY_CODE: tuple[Callable, ...] = tuple(globals()["_ev_" + name] for name in OPERATIONS)
"""Evaluator of each operation kind, indexed by the plan's kind codes: (inputs, ctx) -> (results, crashes)."""
assert {name[4:] for name in globals() if name.startswith("_ev_")} == set(OPERATIONS), \
    "the evaluators must cover exactly the plan's operation kinds"
EVALUATORS: Mapping[str, Callable] = MappingProxyType(dict(zip(OPERATIONS, BY_CODE)))
"""The batched executor's semantics by operation kind (see :data:`tasm_env.plan.OPERATIONS`): each maps
``(operands, inputs)`` (a list of uint64 arrays of one shape, and the :class:`Inputs`, which only ``mem_read``
reads) to ``(results, crashes)``: the result arrays in Triton's order (``tasm_env.isa`` says which ends on
top) and a list of ``(index into VM_ERROR_KINDS, boolean mask)``."""


def evaluator(operation: str) -> Callable:
    """The evaluator of one operation kind (see :data:`EVALUATORS`)."""
    try:
        return EVALUATORS[operation]
    except KeyError:
        raise BatchError(f"unknown operation {operation!r}: expected one of {', '.join(OPERATIONS)}") from None
