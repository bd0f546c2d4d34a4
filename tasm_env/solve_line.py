"""Tests solved along lines: a survivor's sensitive value read as a rational function of one source.

The probe lanes (:mod:`tasm_env.solve`) read a value as affine or quadratic in one source, and backward
solving (:mod:`tasm_env.solve_back`) inverts one operation at a time; a value built from several operations
that share a source (an ``x_invert`` of a triple, multiplied by one of its own components, a sum of two
derived values that both move with the source) is neither. But along one source, with the others held at a
base test, most such values are rational functions of low degree. Here each one is sampled at
:data:`POINTS` consecutive values of the source, a numerator and denominator of degree at most
:data:`DEGREES` are reconstructed (a null vector of a linear system over F_p), and the roots of the
numerator where the denominator does not vanish are the source values that put the value on its target.

This is for the candidates that survive every other test (they are rare; see :mod:`tasm_env.escalation`):
the targets of the candidate's sensitive operations that the baseline does not have come first (a mutant's
inserted ``eq``), from many base tests and along every source. A wrong guess (a value that is not rational
of that degree along the line) only costs a test, never soundness.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from . import field as F
from .batch import GroupRun
from .coverage import TestSet
from .field import P
from .plan import Plan
from .solve import operands, poly_roots, sensitive
from .solve_more import admitted

POINTS = 18  # samples of a value along one source: enough for the largest degree below, plus one check
DEGREES = (1, 3, 7)  # numerator and denominator degrees tried, in order (the first that fits is used)
MAX_TARGETS = 4  # targets solved for per candidate at most: those whose values no target of the baseline has
ROOT_LINES = 48  # fitted lines per target whose numerator's roots are found (a root search costs most)
_U32 = 1 << 32
_U64 = np.uint64


def _limit(kind: str) -> int:
    return _U32 if kind.startswith("u32") else 2 if kind == "bool" else P


def _null_vectors(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each matrix ``m[l]`` (rows x columns over F_p), a nonzero vector ``z[l]`` with ``m[l] @ z[l] = 0``,
    where one exists (``ok[l]``): Gauss-Jordan elimination of all the matrices at once. Returns (z, ok)."""
    m = m.copy()
    lines, n_rows, width = m.shape
    used = np.zeros((lines, n_rows), dtype=bool)
    pivot_row = np.full((lines, width), -1, dtype=np.int64)
    every = np.arange(lines)
    for c in range(width):
        candidates = (m[:, :, c] != 0) & ~used
        has = candidates.any(axis=1)
        r = candidates.argmax(axis=1)
        pivot_row[has, c] = r[has]
        used[every[has], r[has]] = True
        row = m[every, r]  # (lines, width): the pivot rows, normalised to 1 at column c
        row = F.vmul(row, F.vinv(row[:, c])[:, None])
        m[every[has], r[has]] = row[has]
        factor = np.where(has[:, None], m[:, :, c], _U64(0))
        factor[every, r] = 0
        m = F.vsub(m, F.vmul(factor[:, :, None], row[:, None, :]))
    free = pivot_row < 0
    ok = free.any(axis=1)
    f = free.argmax(axis=1)
    z = np.zeros((lines, width), dtype=_U64)
    z[every, f] = 1
    pivots = np.maximum(pivot_row, 0)
    at_free = m[every[:, None], pivots, f[:, None]]  # (lines, width): row of each pivot, free column
    z = np.where(free, z, F.vneg(at_free))
    return z, ok


def _evaluate(f: list[int], x: int) -> int:
    out = 0
    for c in reversed(f):
        out = (out * x + c) % P
    return out


_POWERS = np.array([[pow(k, i, P) for i in range(max(DEGREES) + 1)] for k in range(POINTS)], dtype=_U64)


def fits(ys: np.ndarray, degree: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rational functions of degree at most ``degree`` through ``(k, ys[l, k])``, k = 0, 1, ..., per line
    ``l`` (``2 * degree + 3`` samples or more: one more than the unknowns, so a fit is the function itself
    wherever the function has that degree). Returns (numerators, denominators, fitted) as coefficient arrays
    (constant first) and a mask of the lines a fit was found for."""
    ys = np.asarray(ys, dtype=_U64)
    n = degree + 1
    powers = _POWERS[:ys.shape[1], :n]
    m = np.concatenate([np.broadcast_to(powers, (len(ys),) + powers.shape),
                        F.vneg(F.vmul(ys[:, :, None], powers[None]))], axis=2)
    z, ok = _null_vectors(m)
    return z[:, :n], z[:, n:], ok & (z[:, n:] != 0).any(axis=1)


def rational_roots(ys: Sequence[int]) -> list[int]:
    """The points ``u`` (field elements) where the rational function through ``(k, ys[k])``, k = 0, 1, ...,
    of the least degree in :data:`DEGREES` that fits every sample, is 0: roots of its numerator at which its
    denominator does not vanish. [] if the samples are constant or fit none of the degrees."""
    ys = np.array([[int(y) % P for y in ys]], dtype=_U64)
    if (ys == ys[0, 0]).all():
        return []
    for d in DEGREES:
        if 2 * d + 3 > ys.shape[1]:
            break
        numerator, denominator, ok = fits(ys, d)
        if ok[0]:
            return _roots(numerator[0].tolist(), denominator[0].tolist())
    return []


def _roots(numerator: list[int], denominator: list[int]) -> list[int]:
    return [u for u in poly_roots(numerator) if _evaluate(denominator, u)]


def new_targets(run: GroupRun, lanes: np.ndarray) -> list[tuple[int, object, int]]:
    """(operation index, value function, target) of the sensitive targets of program 1 of ``run`` (a
    candidate; program 0 is the baseline) whose values on ``lanes`` no target of the baseline has: the
    operations a mutant brought in (an inserted ``eq``), in plan order."""
    baseline, plan = run.plans[0], run.plans[1]
    known = {(int(t) % P, fn(operands(run, 0, j))[lanes].tobytes()) for j, (fn, targets) in sensitive(baseline)
             for t in targets}
    found = []
    for j, (fn, targets) in sensitive(plan):
        values = fn(operands(run, 1, j))[lanes].tobytes()
        found += [(j, fn, int(t) % P) for t in targets if (int(t) % P, values) not in known]
    return found


def line_rows(tests: TestSet, baseline: Plan, plan: Plan, bases: np.ndarray, columns: Sequence[int],
              limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``limit`` new tests putting the sensitive values of ``plan`` (a candidate) on their targets,
    each a base test (``bases``: indices into ``tests``) with one source column of ``columns`` solved along
    a line; only the targets whose values on the bases no target of ``baseline`` has (the others are the
    baseline's own, solved for when its tests were made). Returns the
    rows and, per row, the base test it came from (its RAM is that test's)."""
    types = tests.column_types
    read = set(plan.inputs)
    columns = [c for c in columns if types[c] != "bool" and c in read]  # the sources the candidate reads
    width = tests.values.shape[1]
    if not len(bases) or not columns:
        return np.empty((0, width), dtype=_U64), np.empty(0, dtype=np.int64)
    start = tests.values[bases]
    k = np.arange(POINTS, dtype=_U64)
    rows = np.repeat(np.repeat(start[:, None, :], len(columns), axis=1)[:, :, None, :], POINTS, axis=2)
    steps = np.ones((len(bases), len(columns)), dtype=np.int64)
    for v, c in enumerate(columns):
        x0 = start[:, c]
        down = x0 >= _U64(_limit(types[c]) - POINTS)
        steps[down, v] = -1
        rows[:, v, :, c] = np.where(down[:, None], x0[:, None] - k[None, :], x0[:, None] + k[None, :])
    flat = rows.reshape(-1, width)
    seeds = np.repeat(tests.ram_seed[bases], len(columns) * POINTS)
    offsets = np.repeat(tests.ram_offset[bases], len(columns) * POINTS)
    lines = TestSet(flat, tests.shape, tests.input_types, seeds, offsets, tests.ram_pool,
                    np.zeros(len(flat), dtype=np.int8))
    run = GroupRun([baseline, plan], lines.inputs)
    at_base = np.arange(len(bases)) * len(columns) * POINTS  # the lanes that are the bases themselves
    wanted = []  # per target the baseline lacks: its values on every lane minus the target
    for j, fn, t in new_targets(run, at_base):
        values = fn(operands(run, 1, j))
        wanted.append(F.vsub(values, np.full(len(values), t, dtype=_U64)))
    found: list[list[tuple[np.ndarray, int]]] = []
    for y in wanted[:MAX_TARGETS]:
        y = y.reshape(len(bases) * len(columns), POINTS)
        left = np.flatnonzero((y != y[:, :1]).any(axis=1))  # lines along which the value moves
        fitted = []  # (base, column index, numerator, denominator)
        for d in DEGREES:
            if not len(left):
                break
            numerator, denominator, ok = fits(y[left], d)
            fitted += [(*divmod(int(left[i]), len(columns)), numerator[i].tolist(), denominator[i].tolist())
                       for i in np.flatnonzero(ok)]
            left = left[~ok]
        fitted.sort(key=lambda f: (sum(g[0] == f[0] for g in fitted if g[1] < f[1]), f[1]))  # bases in turn
        mine, seen = [], set()
        for b, v, numerator, denominator in fitted:
            key = (tuple(numerator), tuple(denominator))
            if key in seen:  # another source enters the same way (a sum of two inputs): the same roots
                continue
            seen.add(key)
            if len(seen) > ROOT_LINES:
                break
            c = columns[v]
            for u in _roots(numerator, denominator):
                x = (int(start[b, c]) + int(steps[b, v]) * u) % P
                if x != int(start[b, c]) and admitted(types[c], np.array([x], dtype=_U64))[0]:
                    row = start[b].copy()
                    row[c] = x
                    mine.append((row, int(bases[b])))
        found.append(mine)
    out: dict[bytes, tuple[np.ndarray, int]] = {}
    for i in range(max((len(f) for f in found), default=0)):  # round robin over the targets
        for mine in found:
            if i < len(mine) and len(out) < limit:
                out.setdefault(mine[i][0].tobytes(), mine[i])
    return (np.array([r for r, _ in out.values()], dtype=_U64).reshape(-1, width),
            np.array([b for _, b in out.values()], dtype=np.int64))
