"""Value instructions through the batched executor's public evaluators, memoised per operand tuple."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ... import batch
from ...errors import VM_ERROR_KINDS
from ...field import P
from .keys import U64, Index, mix
from .layers import CRASH

if TYPE_CHECKING:
    from .moves import Pure
    from .space import Space

_MISS, _CRASH = -2, -1


class Memo:
    """Results of one value instruction per operand tuple, kept across layers and iterations (ids are
    stable within a space).

    A *code* per tuple: ``-1`` crash; else the result id (one result), 0 (no result) or a slot of ``rows``
    (several results). Tuples of up to two ids are keyed exactly (two 32-bit ids in a 64-bit key) and the
    index holds their code; wider tuples are keyed by a 64-bit fold, the index holds their slot and the
    stored operands are compared, so a fold collision is only a miss (recomputed, never stored twice)."""

    def __init__(self, reads: int, width: int, crash_bits: bool = False):
        self.reads, self.width = reads, width
        self.wide = reads > 2
        self.crash_bits = crash_bits  # a partial baseline: each tuple also keeps the crash lanes it crashes on
        self.slotted = width > 1 or crash_bits  # codes are slots of ``rows`` (not result ids)
        self.index = Index()
        self.count = 0
        self.rows = np.zeros((0, width), dtype=np.int64)
        self.operands = np.zeros((0, reads), dtype=np.int64)
        self.codes = np.zeros(0, dtype=np.int64)
        self.bits = np.zeros(0, dtype=np.int64)

    def _keys(self, ids: np.ndarray) -> np.ndarray:
        ids = ids.astype(U64)
        if self.reads == 0:
            return np.zeros(len(ids), dtype=U64)
        if self.reads == 1:
            return ids[:, 0]
        if self.reads == 2:
            return ids[:, 0] | (ids[:, 1] << U64(32))
        h = np.full(len(ids), 0x51ED27, dtype=U64)
        for j in range(self.reads):
            h = mix(h ^ ids[:, j])
        return h

    def lookup(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Codes of the tuples (``_MISS`` where unknown) and their keys."""
        keys = self._keys(ids)
        found = self.index.get(keys, _MISS)
        if not self.wide:
            return found, keys
        codes = np.full(len(ids), _MISS, dtype=np.int64)
        known = np.flatnonzero(found != _MISS)
        same = (self.operands[found[known]] == ids[known]).all(axis=1)
        codes[known[same]] = self.codes[found[known[same]]]
        return codes, keys

    def store(self, keys: np.ndarray, ids: np.ndarray, results: np.ndarray, ok: np.ndarray,
              bits: np.ndarray | None = None) -> np.ndarray:
        """Record freshly computed tuples (``bits``: the crash lanes each crashes on); returns their codes."""
        n = len(keys)
        slots = np.arange(self.count, self.count + n)
        if self.slotted or self.wide:
            if self.count + n > len(self.rows):
                size = max(2 * len(self.rows), self.count + n, 64)
                self.rows = resized(self.rows, size)
                self.operands = resized(self.operands, size)
                self.codes = resized(self.codes, size)
                self.bits = resized(self.bits, size)
            self.rows[slots] = results
            self.operands[slots] = ids
            if bits is not None:
                self.bits[slots] = bits
            self.count += n
        if self.slotted:
            codes = slots.copy()
        elif self.width == 1:
            codes = results[:, 0].copy()
        else:
            codes = np.zeros(n, dtype=np.int64)
        codes[~ok] = _CRASH
        fresh = np.flatnonzero(self.index.get(keys, _MISS) == _MISS)  # a collided wide key stays unstored
        if self.wide:
            self.codes[slots] = codes
            self.index.add(keys[fresh], slots[fresh])
        else:
            self.index.add(keys[fresh], codes[fresh])
        return codes

    def decode(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(results, ok) of known codes."""
        ok = codes >= 0
        safe = np.maximum(codes, 0)
        if self.slotted:
            return self.rows[safe], ok
        if self.width == 1:
            return safe[:, None], ok
        return np.zeros((len(codes), 0), dtype=np.int64), ok


def resized(array: np.ndarray, size: int) -> np.ndarray:
    grown = np.zeros((size,) + array.shape[1:], dtype=array.dtype)
    grown[:len(array)] = array
    return grown


def evaluate_pure(pure: Pure, memo: Memo, space: "Space", ids: np.ndarray, meta: np.ndarray):
    """Results of a value instruction for distinct operand tuples: memoised, computed for the new ones."""
    codes, keys = memo.lookup(ids)
    miss = np.flatnonzero(codes == _MISS)
    if len(miss):
        if memo.crash_bits:
            results, ok, bits = compute_partial(pure, space, ids[miss])
            codes[miss] = memo.store(keys[miss], ids[miss], results, ok, bits)
        else:
            results, ok = compute_pure(pure, space, ids[miss])
            codes[miss] = memo.store(keys[miss], ids[miss], results, ok)
    results, ok = memo.decode(codes)
    if memo.crash_bits:  # the crash lanes each tuple crashes on go to the (zero) meta's CRASH column
        meta = meta.copy()
        meta[:, CRASH] = np.where(ok, memo.bits[np.maximum(codes, 0)], 0)
    return results, meta, ok


def compute_partial(pure: Pure, space: "Space", ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluate for a partial baseline, lane by lane: a tuple that crashes on a lane the baseline passes is
    dead (``ok`` False); its crashes on the crash lanes are returned as a bitmask over them (``bits``), and
    its results there are set to 0 (they are never looked at again: the lane has crashed)."""
    values = space.values
    u, n_ok = len(ids), values.ok_lanes
    x = [values.vectors[ids[:, j]] for j in range(pure.stack_inputs)]
    x += [np.full((u, values.lanes), c % P, dtype=U64) for c in pure.constants]
    evaluator = _FAST.get(pure.operation) or batch.evaluator(pure.operation)
    results, crashes = evaluator(x, space.tests.inputs)
    crashed = np.zeros((u, values.lanes), dtype=bool)
    for _, mask in crashes:
        crashed |= np.broadcast_to(np.asarray(mask), (u, values.lanes))
    ok = ~crashed[:, :n_ok].any(axis=1)
    weights = np.int64(1) << np.arange(values.lanes - n_ok, dtype=np.int64)
    bits = (crashed[:, n_ok:].astype(np.int64) * weights[None, :]).sum(axis=1)
    out = np.zeros((u, len(pure.order)), dtype=np.int64)
    run = np.flatnonzero(ok)
    if len(pure.order) and len(run):
        sub = ids[run]
        dep = np.bitwise_or.reduce(values.dep[sub], axis=1) if sub.shape[1] else 0
        for k, r in enumerate(pure.order):
            vectors = np.broadcast_to(results[r], (u, values.lanes))[run]
            out[run, k] = values.intern(np.where(crashed[run], U64(0), vectors), dep)
    return out, ok, bits


def compute_pure(pure: Pure, space: "Space", ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate on the tests; tuples that would crash on a u32 or non-zero operand are not computed."""
    values = space.values
    u = len(ids)
    ok = np.ones(u, dtype=bool)
    for j in pure.u32_inputs:
        ok &= values.u32[ids[:, j]]
    for j in pure.nonzero_inputs:
        ok &= values.nonzero[ids[:, j]]
    out = np.zeros((u, len(pure.order)), dtype=np.int64)
    run = np.flatnonzero(ok)
    if not len(run):
        return out, ok
    sub = ids[run]
    x = [values.vectors[sub[:, j]] for j in range(pure.stack_inputs)]
    x += [np.full((len(run), values.lanes), c % P, dtype=U64) for c in pure.constants]
    evaluator = _FAST.get(pure.operation) or batch.evaluator(pure.operation)
    results, crashes = evaluator(x, space.tests.inputs)
    fine = np.ones(len(run), dtype=bool)
    for _, mask in crashes:
        fine &= ~np.asarray(mask).reshape(len(run), -1).any(axis=1)
    ok[run] = fine
    run, sub = run[fine], sub[fine]
    if len(pure.order) and len(run):
        dep = np.bitwise_or.reduce(values.dep[sub], axis=1) if sub.shape[1] else 0
        for k, r in enumerate(pure.order):
            vectors = np.broadcast_to(results[r], (len(fine), values.lanes))[fine]
            out[run, k] = values.intern(vectors, dep)
    return out, ok


def batch_inverse(parts: list[np.ndarray], mul: str, invert: str, inputs=None) -> list[np.ndarray]:
    """Inverses of non-zero field elements, given as ``k`` coefficient arrays (``k = 1`` with ``mul="mul"``,
    ``invert="invert"``; ``k = 3`` with ``"xx_mul"``, ``"x_invert"``), through the batched executor's own
    evaluators with one inversion in all: Montgomery's trick over a product tree (about three multiplications
    per element instead of an inversion's ~100)."""
    multiply, inverse_of = batch.evaluator(mul), batch.evaluator(invert)
    shape = np.shape(parts[0])
    one = [U64(1)] + [U64(0)] * (len(parts) - 1)
    levels = [[np.asarray(p, dtype=U64).reshape(-1) for p in parts]]
    while len(levels[-1][0]) > 1:
        x = levels[-1]
        if len(x[0]) % 2:
            x = levels[-1] = [np.append(c, u) for c, u in zip(x, one)]
        levels.append(multiply([c[0::2] for c in x] + [c[1::2] for c in x], inputs)[0])
    inverse = inverse_of(levels[-1], inputs)[0]
    for x in reversed(levels[:-1]):
        inverse = [c[:len(x[0]) // 2] for c in inverse]  # drop the inverse of a padding 1
        even = multiply(inverse + [c[1::2] for c in x], inputs)[0]
        odd = multiply(inverse + [c[0::2] for c in x], inputs)[0]
        below = [np.empty(len(x[0]), dtype=U64) for _ in parts]
        for b, e, o in zip(below, even, odd):
            b[0::2], b[1::2] = e, o
        inverse = below
    return [c[:int(np.prod(shape))].reshape(shape) for c in inverse]


def _fast_invert(x, inputs):
    """``invert`` (callers never pass zero) with batch inversion; zero lanes crash as the executor says."""
    zero = x[0] == 0
    result = batch_inverse([np.where(zero, U64(1), x[0])], "mul", "invert", inputs)[0]
    return [np.where(zero, U64(0), result)], [(_INVERSE_OF_ZERO, zero)]


def _fast_x_invert(x, inputs):
    """``x_invert`` with batch inversion over the extension field."""
    zero = (x[0] == 0) & (x[1] == 0) & (x[2] == 0)
    safe = [np.where(zero, U64(1), x[0]), np.where(zero, U64(0), x[1]), np.where(zero, U64(0), x[2])]
    result = batch_inverse(safe, "xx_mul", "x_invert", inputs)
    return [np.where(zero, U64(0), r) for r in result], [(_INVERSE_OF_ZERO, zero)]


_INVERSE_OF_ZERO = VM_ERROR_KINDS.index("inverse_of_zero")
_FAST = {"invert": _fast_invert, "x_invert": _fast_x_invert}
