"""More solved tests: targets stepped to from many base tests, and RAM contents solved for.

:func:`tasm_env.solve.solved_rows` solves each sensitive value on the few probe bases only; a target reached
there may come with other values that make a later operation of the baseline crash (a u32 operand out of
range, an assertion) or that hide the difference. :func:`stepped_rows` combines each target with many other
tests (the other inputs at their edge, equal or solved values), and :func:`ram_rows` treats the contents a
RAM read returns as one more source to solve for (the probes vary only the stack, tokens and digests).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from . import field as F
from .batch import GroupRun
from .coverage import TestSet
from .field import P
from .plan import OPERATIONS, Plan
from .solve import interpolate, operands, poly_roots, sensitive

MAX_CURVED = 32  # (target, base) pairs per RAM read whose value is solved as a parabola in the cell's contents
EXACT_BASES = 48  # base tests per stepped target whose own slope is measured (one more run of the program)
_U32 = 1 << 32
_U64 = np.uint64


def admitted(kind: str, values: np.ndarray) -> np.ndarray:
    """Which of ``values`` are valid for a source of type ``kind``."""
    if kind == "bool":
        return values < 2
    if kind in ("u32", "u32_nonzero"):
        return (values < _U32) & ((values != 0) | (kind == "u32"))
    return (values != 0) | (kind == "field")


def stepped_rows(tests: TestSet, runs: Sequence[tuple[GroupRun, int, np.ndarray]], bases: np.ndarray,
                 limit: int, skip: set | frozenset = frozenset()) -> np.ndarray:
    """New tests that drive the sensitive values of programs onto their targets from many base tests.

    :func:`solved_rows` solves on the few probe bases only, so a target reached there may come with other
    values that make a later operation crash (a u32 operand out of range, an assertion), hiding the
    difference. Here, for each value that the probe lanes show affine in a source (slope ``s``), one exact
    step from each of many base tests (``bases``: test indices, tried in order, a different slice per
    target) sets that source to ``x + (target - value) / s``: the target combined with the base's own
    edge, equal or solved values. A wrong guess (a value not affine away from the probes) only costs a test.
    ``runs`` are as for :func:`solved_rows`; targets whose (target, probe values) are in ``skip`` (those the
    baseline's tests already solved for) are left out. At most ``limit`` rows per program."""
    probes = tests.probes
    types = tests.column_types
    out: list[np.ndarray] = []
    if probes is None or not len(bases):
        return np.empty((0, tests.values.shape[1]), dtype=_U64)
    probed = probes.lanes >= 0
    for run, p, position in runs:
        lanes = np.where(probed, position[np.maximum(probes.lanes, 0)], 0)
        at = position[bases]
        mine = bases[at >= 0]
        at = at[at >= 0]
        if (lanes[probed] < 0).any() or not len(at):
            continue
        steps = []  # (operation, its value function, values at the bases, target, column, inverse slope)
        for j, (fn, targets) in sensitive(run.plans[p]):
            full = fn(operands(run, p, j))
            value = full[lanes]
            key = np.where(probed, value, 0).tobytes()
            targets = [t for t in targets if (t, key) not in skip]
            if not targets:
                continue
            slope = F.vsub(value[..., 1], value[..., 0])
            curved = F.vsub(F.vadd(value[..., 2], value[..., 0]), F.vadd(value[..., 1], value[..., 1]))
            affine = probed[..., 0] & (curved == 0) & (slope != 0)  # (bases, vars)
            for v in np.flatnonzero(affine.any(axis=0)):
                column = int(probes.columns[v])
                if types[column] == "bool":
                    continue
                inverse = pow(int(slope[int(np.argmax(affine[:, v])), v]), P - 2, P)
                steps += [(j, fn, full[at], int(t) % P, column, inverse) for t in targets]
        if not steps:
            continue
        used = max(EXACT_BASES, 2 * limit // len(steps))  # bases per step: enough to fill its share of rows
        orders = [np.roll(np.arange(len(at)), -(i * limit // len(steps)) % len(at))[:used] for i in range(len(steps))]
        shifted = _shifted_values(tests, run.plans[p], steps, [mine[o[:EXACT_BASES]] for o in orders])
        found = []  # per step, its valid new rows in base order (each step starts at its own offset)
        for i, (_, _, values, target, column, inverse) in enumerate(steps):
            order = orders[i]
            start = tests.values[mine[order], column]
            inverse = np.full(len(order), inverse, dtype=_U64)
            # the slope at the first bases themselves (it may depend on the other sources): exact where affine
            exact = F.vsub(shifted[i], values[order[:len(shifted[i])]])
            for k in np.flatnonzero(exact):  # Python-int inverses: a vectorised inversion costs more here
                inverse[k] = pow(int(exact[k]), P - 2, P)
            root = F.vadd(start, F.vmul(F.vsub(np.full(len(order), target, dtype=_U64), values[order]), inverse))
            ok = (root != start) & admitted(types[column], root)
            block = tests.values[mine[order[ok]]].copy()
            block[:, column] = root[ok]
            found.append(block)
        rows: dict[bytes, np.ndarray] = {}
        for k in range(max(len(f) for f in found)):  # round robin over the steps until the limit
            for block in found:
                if k < len(block) and len(rows) < limit:
                    rows.setdefault(block[k].tobytes(), block[k])
        out += list(rows.values())[:limit]
    return np.array(out, dtype=_U64).reshape(-1, tests.values.shape[1])


def _shifted_values(tests: TestSet, plan: Plan, steps: list, bases: list[np.ndarray]) -> list[np.ndarray]:
    """Per step, its value at each of its base tests with its column one higher: one run of the plan."""
    rows, seeds, offsets = [], [], []
    for (_, _, _, _, column, _), mine in zip(steps, bases):
        block = tests.values[mine].copy()
        block[:, column] = F.vadd(block[:, column], np.ones(len(mine), dtype=_U64))
        rows.append(block)
        seeds.append(tests.ram_seed[mine])
        offsets.append(tests.ram_offset[mine])
    if not sum(map(len, rows)):
        return [np.empty(0, dtype=_U64) for _ in steps]
    probe = TestSet(np.concatenate(rows), tests.shape, tests.input_types, np.concatenate(seeds),
                    np.concatenate(offsets), tests.ram_pool, np.zeros(sum(map(len, rows)), dtype=np.int8))
    run = GroupRun([plan], probe.inputs)
    out, start = [], 0
    for (j, fn, values, _, _, _), mine, block in zip(steps, bases, rows):
        out.append(fn(operands(run, 0, j))[start:start + len(block)])
        start += len(block)
    return out


def ram_rows(tests: TestSet, runs: Sequence[tuple[GroupRun, int, np.ndarray]], bases: np.ndarray, limit: int,
             skip: set | frozenset = frozenset(), n_bases: int = 8) -> tuple[np.ndarray, np.ndarray,
                                                                             np.ndarray, np.ndarray]:
    """Tests whose initial RAM is solved for: the contents a RAM read returns are a source too.

    For every RAM read of a program and each of ``n_bases`` base tests, the read cell is given the contents
    0, 1 and 2 (the lane's RAM reads a small pool, its offset chosen so that this cell reads the wanted
    entry); a sensitive value affine in them is driven onto its target by solving for the contents. Returns
    ``(rows, ram_seed, ram_offset, ram_pool)`` for a :class:`~tasm_env.coverage.TestSet` in which each row's
    read cell holds its solved contents (the row's other cells read other entries of the pool). Targets new
    to the program (not in ``skip``) come first; at most ``limit`` rows per program. Without probe lanes in
    ``tests`` (tests solved for one candidate) every target counts as new."""
    width = tests.values.shape[1]
    found: list[tuple[int, np.ndarray, int, int, int]] = []  # (priority, row, seed, address, contents)
    probes = tests.probes
    if not len(bases):
        return _no_ram_rows(width)
    probed = probes.lanes >= 0 if probes is not None else None
    for run, p, position in runs:
        plan = run.plans[p]
        reads = [j for j, k in enumerate(plan.kind) if OPERATIONS[k] == "mem_read"]
        mine = bases[position[bases] >= 0][:n_bases]
        lanes = np.where(probed, position[np.maximum(probes.lanes, 0)], 0) if probes is not None else None
        if not reads or not len(mine) or (lanes is not None and (lanes[probed] < 0).any()):
            continue
        mine_found: list[tuple[int, np.ndarray, int, int, int]] = []
        targets = []
        for j, (fn, values) in sensitive(plan):
            key = np.where(probed, fn(operands(run, p, j))[lanes], 0).tobytes() if lanes is not None else None
            targets += [(key is not None and (t, key) in skip, j, fn, int(t) % P) for t in values]
        rows = np.tile(tests.values[mine], (3, 1))
        seeds = np.tile(np.maximum(tests.ram_seed[mine], 1), 3)
        wanted = np.repeat(np.arange(3, dtype=_U64), len(mine))
        for r in reads[:4]:
            address = np.tile(operands(run, p, r)[0][position[mine]], 3)
            offsets = _ram_offsets(wanted, address, seeds, 3)
            probe = TestSet(rows, tests.shape, tests.input_types, seeds, offsets, np.arange(3, dtype=_U64),
                            np.zeros(len(rows), dtype=np.int8))
            probe_run = GroupRun([plan], probe.inputs)
            curved = 0
            for old, j, fn, target in targets:
                y = fn(operands(probe_run, 0, j)).reshape(3, len(mine))
                slope = F.vsub(y[1], y[0])
                d2 = F.vsub(F.vadd(y[2], y[0]), F.vadd(y[1], y[1]))
                affine = (d2 == 0) & (slope != 0)
                for b in np.flatnonzero(affine):
                    contents = (target - int(y[0, b])) * pow(int(slope[b]), P - 2, P) % P
                    mine_found.append((int(old), rows[b], int(seeds[b]), int(address[b]), contents))
                for b in np.flatnonzero(d2 != 0)[:max(0, MAX_CURVED - curved)]:  # a parabola through the three:
                    curved += 1  # exact where the value is quadratic in the contents (4 m (x - m) = 6)
                    for contents in poly_roots(interpolate([(int(y[k, b]) - target) % P for k in range(3)])):
                        mine_found.append((int(old), rows[b], int(seeds[b]), int(address[b]), contents))
        found += sorted(mine_found, key=lambda f: f[0])[:limit]  # at most limit per program
    if not found:
        return _no_ram_rows(width)
    pool = np.array([f[4] for f in found], dtype=_U64)
    seeds = np.array([f[2] for f in found], dtype=_U64)
    address = np.array([f[3] for f in found], dtype=_U64)
    offsets = _ram_offsets(np.arange(len(found), dtype=_U64), address, seeds, len(found))
    return np.array([f[1] for f in found], dtype=_U64), seeds, offsets, pool


def _ram_offsets(wanted: np.ndarray, address: np.ndarray, seeds: np.ndarray, size: int) -> np.ndarray:
    """``ram_offset`` per lane so that the cell at ``address`` reads entry ``wanted`` of a pool of ``size``
    (see :class:`tasm_env.batch.Inputs`)."""
    size_ = _U64(size)
    return ((wanted % size_ + size_ - F.mix(address, seeds) % size_) % size_).astype(np.int64)


def _no_ram_rows(width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (np.empty((0, width), dtype=_U64), np.empty(0, dtype=_U64), np.empty(0, dtype=np.int64),
            np.empty(0, dtype=_U64))
