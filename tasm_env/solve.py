"""Solving for tests: inputs that drive a chosen value of a block onto a target.

Random tests almost never make two field values equal, an ``invert``'s argument zero or a ``log_2_floor``'s
argument a power of two, and a baseline's ``push 7 eq assert`` passes on one input in 2^64. So, for every
operation whose behaviour changes at a point (the *sensitive* operations below), the verifier solves for
tests that hit that point:

* from the probe lanes (:class:`tasm_env.coverage.Probes`: a base test with one source set to ``a, a+1, a+2``
  and a random check point), each value is read as a function of that one source; if it is affine (or
  quadratic) in it, the source value that hits the target is computed exactly (a division, or a square root
  in F_p), and a new test is made from the base test with that source replaced;
* :func:`repair` does this repeatedly on tests where a baseline crashes (an ``assert``, an ``invert`` of 0, a
  u32 operand out of range...), solving for the crashing operation's operand, and also tries every edge value
  of every source, keeping the change that lets the run go furthest: this reaches the non-crashing region of
  chains of assertions (``push 7 eq assert``, ``assert_vector``, a comparison with a constant).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from . import field as F
from . import isa
from .batch import GroupRun
from .coverage import TestSet, typed_pool
from .errors import VM_ERROR_KINDS
from .field import P
from .plan import KINDS_PER_CYCLE, NO_CRASH, OPERATIONS, Plan

_U32 = 1 << 32
_U32_EDGE = (_U32 - 1, _U32)
_POWERS = (0, 1) + tuple(v for k in range(1, 33) for v in ((1 << k) - 1, 1 << k))
_U64 = np.uint64

Target = tuple[Callable[[list[np.ndarray]], np.ndarray], tuple[int, ...]]


class _Arg:
    """Operand ``i`` itself (``i`` is read by :mod:`tasm_env.solve_back`, which solves backwards for it)."""

    __slots__ = ("i",)

    def __init__(self, i: int):
        self.i = i

    def __call__(self, x: list[np.ndarray]) -> np.ndarray:
        return x[self.i]


class _Diff:
    """Operand ``i`` minus operand ``j``."""

    __slots__ = ("i", "j")

    def __init__(self, i: int, j: int):
        self.i, self.j = i, j

    def __call__(self, x: list[np.ndarray]) -> np.ndarray:
        return F.vsub(x[self.i], x[self.j])


_arg, _diff = _Arg, _Diff


TARGETS: dict[str, list[Target]] = {
    "eq": [(_diff(0, 1), (0,))],
    "invert": [(_arg(0), (0,))],
    "x_invert": [(_arg(0), (0,))],
    "assert": [(_arg(0), (0, 1))],
    "assert_vector": [(_diff(i, i + 5), (0,)) for i in range(5)],
    "lt": [(_diff(0, 1), (0, 1, P - 1)), (_arg(0), _U32_EDGE), (_arg(1), _U32_EDGE)],
    "and": [(_diff(0, 1), (0,)), (_arg(0), (0,) + _U32_EDGE), (_arg(1), (0,) + _U32_EDGE)],
    "xor": [(_diff(0, 1), (0,)), (_arg(0), (0,) + _U32_EDGE), (_arg(1), (0,) + _U32_EDGE)],
    "log_2_floor": [(_arg(0), _POWERS)],
    "pop_count": [(_arg(0), (0,) + _U32_EDGE)],
    "pow": [(_arg(1), (0, 1) + _U32_EDGE), (_arg(0), (0, 1))],
    "div_mod": [(_arg(1), (0, 1, _U32)), (_arg(0), (0, _U32)), (_diff(0, 1), (0, 1, P - 1))],
    "split": [(_arg(0), (0, _U32 - 1, _U32, P - 1))],
    "merkle": [(_arg(5), (0, 1) + _U32_EDGE)],
    "u32_check": [(_arg(0), _U32_EDGE)],
    # polynomials (and Tip5's permutation) change behaviour at no particular point; RAM reads: see `sensitive`
    "add": [], "mul": [], "xx_add": [], "xx_mul": [], "xb_mul": [], "xx_dot_step": [], "xb_dot_step": [],
    "permute": [], "mem_read": [],
}
"""What each operation's behaviour turns on: (value of its operands, target values); empty for the
operations that have no such point."""
assert set(TARGETS) == set(OPERATIONS), f"targets differ from the plan's operations: {set(TARGETS) ^ set(OPERATIONS)}"

_U32_OPERANDS: dict[str, tuple[int, ...]] = {
    **{s.name: s.u32_operands for s in isa.INSTRUCTIONS if s.u32_operands and s.name in OPERATIONS},
    "merkle": isa.BY_NAME["merkle_step"].u32_operands, "u32_check": (0,)}
"""The operand positions of each operation that must hold u32 values (the ISA's ``u32_operands``)."""


def sensitive(plan: Plan) -> list[tuple[int, Target]]:
    """(operation index, target) for every sensitive operation of the plan; RAM reads target aliasing with
    every earlier write (address equal)."""
    found = []
    for j, code in enumerate(plan.kind):
        name = OPERATIONS[code]
        if name == "mem_read":
            found += [(j, (_diff(0, 1 + 2 * w), (0,))) for w in range((plan.n_in[j] - 1) // 2)]
        else:
            found += [(j, t) for t in TARGETS[name]]
    return found


def operands(run: GroupRun, p: int, j: int) -> list[np.ndarray]:
    """The operand values of operation ``j`` of program ``p`` of the run, one array of lanes each."""
    plan = run.plans[p]
    start = sum(plan.n_in[:j])
    return list(run.values(p, plan.inputs[start:start + plan.n_in[j]]))


# ------------------------------------------------------------------------------------ root finding


def sqrt_mod(a: int) -> int | None:
    """A square root of ``a`` in F_p (Tonelli-Shanks; p - 1 = 2^32 * odd), or None."""
    a %= P
    if a == 0:
        return 0
    if pow(a, (P - 1) // 2, P) != 1:
        return None
    q, s = P - 1, 0
    while q % 2 == 0:
        q, s = q // 2, s + 1
    z = 7  # a quadratic non-residue mod p
    m, c, t, r = s, pow(z, q, P), pow(a, q, P), pow(a, (q + 1) // 2, P)
    while t != 1:
        i, t2 = 0, t
        while t2 != 1:
            t2, i = t2 * t2 % P, i + 1
        b = pow(c, 1 << (m - i - 1), P)
        m, c, t, r = i, b * b % P, t * b * b % P, r * b % P
    return r


def _inverse(a: int) -> int:
    return pow(a, P - 2, P)


def _trim(f: list[int]) -> list[int]:
    while f and f[-1] == 0:
        f = f[:-1]
    return f


def _polymod(f: list[int], g: list[int]) -> list[int]:
    """f mod g (coefficient lists, constant first; g monic-normalised inside)."""
    g = _trim([c % P for c in g])
    n = len(g) - 1
    lead = g[-1]
    monic = g[:-1] if lead == 1 else [c * _inverse(lead) % P for c in g[:-1]]
    f = [c % P for c in f]
    for top in range(len(f) - 1, n - 1, -1):
        q = f[top] % P
        if q:
            shift = top - n
            for i, c in enumerate(monic):
                f[shift + i] -= q * c
    return _trim([c % P for c in f[:n]])


_SLOT = 17  # bytes per coefficient in a packed product: a sum of up to 256 products of two field elements


def _polymul(a: list[int], b: list[int]) -> list[int]:
    """The product of two polynomials (coefficients below p), by one integer multiplication (Kronecker
    substitution: each coefficient in its own :data:`_SLOT`-byte slot)."""
    if not a or not b:
        return []
    n = len(a) + len(b) - 1
    x = int.from_bytes(b"".join(c.to_bytes(_SLOT, "little") for c in a), "little") * \
        int.from_bytes(b"".join(c.to_bytes(_SLOT, "little") for c in b), "little")
    raw = x.to_bytes(_SLOT * n, "little")
    return [int.from_bytes(raw[_SLOT * i:_SLOT * i + _SLOT], "little") % P for i in range(n)]


def _polymulmod(a: list[int], b: list[int], g: list[int]) -> list[int]:
    return _polymod(_polymul(a, b), g)


def _polypowmod(base: list[int], e: int, g: list[int]) -> list[int]:
    result, base = [1], _polymod(base, g)
    while e:
        if e & 1:
            result = _polymulmod(result, base, g)
        base = _polymulmod(base, base, g)
        e >>= 1
    return result


def _gcd(a: list[int], b: list[int]) -> list[int]:
    a, b = _trim([c % P for c in a]), _trim([c % P for c in b])
    while b:
        a, b = b, _polymod(a, b)
    return a


def poly_roots(f: list[int], depth: int = 0) -> list[int]:
    """The roots in F_p of a polynomial of small degree (coefficients constant first): the part that splits
    into linear factors, gcd(f, x^p - x), split by Cantor-Zassenhaus."""
    f = _trim([c % P for c in f])
    if len(f) <= 1:
        return []
    if f[-1] != 1:  # monic: the same roots, and no inversion in every reduction
        lead = _inverse(f[-1])
        f = [c * lead % P for c in f]
    if len(f) == 2:
        return [(-f[0]) * _inverse(f[1]) % P]
    if len(f) == 3:
        c0, c1, c2 = f
        root = sqrt_mod(c1 * c1 - 4 * c2 * c0)
        if root is None:
            return []
        half = _inverse(2 * c2)
        return sorted({(-c1 + root) * half % P, (-c1 - root) * half % P})
    xp = _polypowmod([0, 1], P, f) + [0, 0]
    xp[1] -= 1  # x^p - x mod f
    split = _gcd(f, xp)
    if len(split) < len(f):
        return poly_roots(split, depth)
    for delta in range(1, 8):  # f splits completely: separate its roots by (x + delta)^((p-1)/2) - 1
        h = _polypowmod([delta, 1], (P - 1) // 2, f)
        h = _trim([(c - (1 if i == 0 else 0)) % P for i, c in enumerate(h or [0])])
        g = _gcd(f, h)
        if 1 < len(g) < len(f):
            return sorted(set(poly_roots(g, depth + 1) + poly_roots(_polydiv(f, g), depth + 1)))
    return []


def _polydiv(f: list[int], g: list[int]) -> list[int]:
    f, g = _trim([c % P for c in f]), _trim([c % P for c in g])
    lead = _inverse(g[-1])
    q = [0] * (len(f) - len(g) + 1)
    while len(f) >= len(g):
        c = f[-1] * lead % P
        shift = len(f) - len(g)
        q[shift] = c
        for i, x in enumerate(g):
            f[shift + i] = (f[shift + i] - c * x) % P
        f = _trim(f)
    return q


def interpolate(ys: list[int]) -> list[int]:
    """Coefficients of the polynomial of degree < len(ys) through (0, ys[0]), (1, ys[1]), ... (Lagrange)."""
    n = len(ys)
    out = [0] * n
    for i, y in enumerate(ys):
        basis, denominator = [1], 1
        for j in range(n):
            if j != i:
                basis = [((basis[k - 1] if k else 0) - j * (basis[k] if k < len(basis) else 0)) % P
                         for k in range(len(basis) + 1)]
                denominator = denominator * (i - j) % P
        scale = y * _inverse(denominator % P) % P
        for k, c in enumerate(basis):
            out[k] = (out[k] + scale * c) % P
    return out


def roots(y: np.ndarray, wanted: np.ndarray, points: np.ndarray, max_quadratic: int = 32) -> list[tuple]:
    """Source values hitting the targets. ``y[m, b, v, j]`` is value ``m`` on base ``b`` with source ``v`` at
    ``points[v, j]``; ``wanted[m]`` its target. Returns (m, b, v, root) for every value whose first three probe
    points lie on a line (or, up to ``max_quadratic`` of them, a parabola) where that line reaches the target.
    The fit is exact for affine (quadratic) dependence and a guess otherwise (``split``'s low half is affine
    only below 2^32): every root is only a candidate test, so a wrong one costs a test, never soundness."""
    y = y.astype(_U64)
    y0, y1, y2 = y[..., 0], y[..., 1], y[..., 2]
    a = np.broadcast_to(points[:, 0], y0.shape)
    w = np.broadcast_to(wanted.astype(_U64)[:, None, None], y0.shape)
    s = F.vsub(y1, y0)
    d2 = F.vsub(F.vadd(y2, y0), F.vadd(y1, y1))
    affine = (d2 == 0) & (s != 0)  # collinear: affine, or affine near a (a wrong root only wastes a test)
    found = []
    if affine.any():  # Python-int inverses: cheaper than a vectorised inversion for the few hundred needed
        idx = np.nonzero(affine)
        for m, b, v, a_, w_, y_, s_ in zip(*idx, a[idx].tolist(), w[idx].tolist(), y0[idx].tolist(),
                                           s[idx].tolist()):
            found.append((int(m), int(b), int(v), (a_ + (w_ - y_) * pow(s_, P - 2, P)) % P))
    quadratic = np.argwhere(d2 != 0)[:max_quadratic]
    for m, b, v in quadratic:
        found += _quadratic_roots(int(m), int(b), int(v), y, int(wanted[m]), points)
    return found


def _quadratic_roots(m, b, v, y, wanted, points) -> list[tuple]:
    y0, y1, y2 = (int(y[m, b, v, j]) for j in range(3))
    a = int(points[v, 0])
    half = pow(2, P - 2, P)
    c2 = (y2 - 2 * y1 + y0) * half % P  # y(a + t) = y0 + c1 t + c2 t^2
    c1 = (y1 - y0 - c2) % P
    c0 = (y0 - wanted) % P
    root = sqrt_mod(c1 * c1 - 4 * c2 * c0)
    if root is None:
        return []
    inverse = pow(2 * c2, P - 2, P)
    return [(m, b, v, (a + (-c1 + sign * root) * inverse) % P) for sign in (1, -1)]


def valid_value(kind: str, value: int) -> bool:
    """Whether ``value`` is a valid value for a source of type ``kind``."""
    if kind == "bool":
        return value < 2
    if kind in ("u32", "u32_nonzero"):
        return value < _U32 and (value != 0 or kind == "u32")
    return value != 0 or kind == "field"


def solved_rows(tests: TestSet, runs: Sequence[tuple[GroupRun, int, np.ndarray]], limit: int,
                seen: set | None = None) -> np.ndarray:
    """New tests that drive the sensitive values of programs onto their targets, from the probe lanes.

    ``runs`` holds (run, program index, position of every test of ``tests`` in the run's lanes, -1 if absent).
    At most ``limit`` rows per program, deduplicated. ``seen`` holds the (target, probe values) already solved
    for (by the baseline's own tests, or an earlier program): the same values give the same rows, so they are
    skipped; it is updated."""
    seen = set() if seen is None else seen
    probes = tests.probes
    types = tests.column_types
    out = []
    if probes is None:
        return np.empty((0, tests.values.shape[1]), dtype=_U64)
    solvable = np.array([types[c] != "bool" for c in probes.columns])
    probed = probes.lanes >= 0
    for run, p, position in runs:
        lanes = np.where(probed, position[np.maximum(probes.lanes, 0)], 0)  # (nb, nv, 4)
        if (lanes[probed] < 0).any():
            continue
        ys, wanted = [], []
        for j, (fn, targets) in sensitive(run.plans[p]):
            value = fn(operands(run, p, j))[lanes]
            key = np.where(probed, value, 0).tobytes()  # lanes not probed read whatever lane 0 holds
            for target in targets:
                if (target, key) not in seen:
                    seen.add((target, key))
                    ys.append(value)
                    wanted.append(target)
        if not ys:
            continue
        rows = {}
        for m, b, v, root in roots(np.stack(ys), np.array(wanted, dtype=object) % P, probes.points):
            column = int(probes.columns[v])
            if not probed[b, v, 0] or not solvable[v] or not valid_value(types[column], root):
                continue
            row = tests.values[probes.lanes[b, v, 0]].copy()
            row[column] = root
            rows.setdefault(row.tobytes(), row)
            if len(rows) >= limit:
                break
        out += rows.values()
    return np.array(out, dtype=_U64).reshape(-1, tests.values.shape[1])


# ------------------------------------------------------------------------------------ reaching passes


def _operation_at(plan: Plan, code: int) -> tuple[int, str] | None:
    cycle, kind = divmod(code, KINDS_PER_CYCLE)
    kind_name = VM_ERROR_KINDS[kind]
    for j, c in enumerate(plan.cycle):
        if c == cycle:
            name = OPERATIONS[plan.kind[j]]
            if kind_name == "assertion_failed" and name in ("assert", "assert_vector"):
                return j, kind_name
            if kind_name == "inverse_of_zero" and name in ("invert", "x_invert"):
                return j, kind_name
            if kind_name == "u32_operand" and name in _U32_OPERANDS:
                return j, kind_name
            if kind_name == "division_by_zero" and name == "div_mod":
                return j, kind_name
            if kind_name == "log_of_zero" and name == "log_2_floor":
                return j, kind_name
    return None


def _passing_target(name: str, crash: str, xs: list[int], rng) -> tuple[Callable, int] | None:
    """A value of the crashing operation's operands, and a target for it, at which it does not crash."""
    small = int(rng.integers(1, 1 << 16))
    if crash == "assertion_failed":
        if name == "assert":
            return _arg(0), 1
        i = next(i for i in range(5) if xs[i] != xs[i + 5])
        return _diff(i, i + 5), 0
    if crash == "inverse_of_zero":
        return _arg(0), small
    if crash == "u32_operand":
        i = next(i for i in _U32_OPERANDS[name] if xs[i] >= _U32)
        return _arg(i), small
    if crash == "division_by_zero":
        return _arg(1), small
    return _arg(0), small  # log_of_zero


def _points(kind: str) -> tuple[int, int, int, int]:
    """Probe points for a source of this type: three consecutive valid values and a fixed check point."""
    start = 1 if kind in ("nonzero", "u32_nonzero") else 0
    return start, start + 1, start + 2, 0x9E3779B9 if "u32" in kind else 0x9E3779B97F4A7C15 % P


def repair(plan: Plan, tests: TestSet, lanes: np.ndarray, columns: Sequence[int], pool: np.ndarray,
           rng: np.random.Generator, rounds: int = 12, pool_lanes: int = 8,
           pool_columns: Sequence[int] | None = None) -> np.ndarray:
    """Rows derived from the given crashing lanes of ``tests`` on which ``plan`` runs further, ideally without
    crashing: each round solves for the crashing operation's operand in every source column (and, for up to
    ``pool_lanes`` lanes, tries every edge value in every column of ``pool_columns``, default all), and keeps
    the best change per lane.
    Returns the rows (same order as lanes)."""
    types = tests.column_types
    width = tests.values.shape[1]
    rows = tests.values[lanes].copy()
    seeds = tests.ram_seed[lanes]
    cols = np.array([c for c in columns if types[c] != "bool"], dtype=np.int64)
    points = np.array([_points(types[c]) for c in cols], dtype=_U64).reshape(len(cols), 4)
    pool_columns = list(columns if pool_columns is None else pool_columns)
    pool_cols = np.concatenate([np.full(len(typed_pool(types[c], pool)), c) for c in pool_columns] or
                               [np.zeros(0)]).astype(np.int64)
    pool_values = np.concatenate([typed_pool(types[c], pool) for c in pool_columns] or [np.zeros(0)]).astype(_U64)
    live = np.ones(len(rows), dtype=bool)
    for _ in range(rounds):
        run = _run(plan, tests, rows, seeds)
        code = run.crash[0]
        live &= code != NO_CRASH
        targets = []
        for li in np.flatnonzero(live):
            found = _operation_at(plan, int(code[li]))
            if found is None:
                live[li] = False
                continue
            j, crash = found
            xs = [int(x[li]) for x in operands(run, 0, j)]
            targets.append((int(li), j, *_passing_target(OPERATIONS[plan.kind[j]], crash, xs, rng)))
        if not targets:
            break
        candidates, owner = [], []
        at = np.array([t[0] for t in targets])
        if len(cols):
            probe = np.repeat(rows[at], len(cols) * 4, axis=0).reshape(len(at), len(cols), 4, width)
            for v, c in enumerate(cols):
                probe[:, v, :, c] = points[v][None, :]
            probe_run = _run(plan, tests, probe.reshape(-1, width), np.repeat(seeds[at], len(cols) * 4))
            values: dict[int, list[np.ndarray]] = {}
            for k, (li, j, fn, target) in enumerate(targets):
                if j not in values:
                    values[j] = [x.reshape(len(at), len(cols), 4) for x in operands(probe_run, 0, j)]
                y = fn([x[k] for x in values[j]])[None, None]
                for _, _, v, root in roots(y, np.array([target % P], dtype=object), points):
                    if valid_value(types[int(cols[v])], root):
                        new = rows[li].copy()
                        new[cols[v]] = root
                        candidates.append(new)
                        owner.append(li)
        for li in at[:pool_lanes] if len(pool_cols) else ():  # every edge value in every column: comparisons with constants, small values
            block = np.repeat(rows[li][None, :], len(pool_cols), axis=0)
            block[np.arange(len(pool_cols)), pool_cols] = pool_values
            candidates += list(block)
            owner += [int(li)] * len(block)
        if not candidates:
            break
        cand = np.array(candidates, dtype=_U64)
        owner = np.array(owner)
        score = _progress(plan, _run(plan, tests, cand, seeds[owner]))
        current = _progress(plan, run)
        improved = False
        for li in np.unique(owner):
            mine = np.flatnonzero(owner == li)
            best = mine[max(range(len(mine)), key=lambda k: score[mine[k]])]
            if score[best] > current[li]:
                rows[li] = cand[best]
                improved = True
            else:
                live[li] = False
        if not improved:
            break
    return rows


def _progress(plan: Plan, run: GroupRun) -> list[tuple[int, int]]:
    """How far each lane runs: (crash code, words an ``assert_vector`` that stops it already has equal)."""
    code = run.crash[0]
    out = [(int(c), 0) for c in code]
    vectors = [j for j, k in enumerate(plan.kind) if OPERATIONS[k] == "assert_vector"]
    for j in vectors:
        x = operands(run, 0, j)
        equal = sum((x[i] == x[i + 5]).astype(np.int64) for i in range(5))
        stops = code // KINDS_PER_CYCLE == plan.cycle[j]
        for lane in np.flatnonzero(stops):
            out[lane] = (int(code[lane]), int(equal[lane]))
    return out


def _run(plan: Plan, tests: TestSet, rows: np.ndarray, seeds: np.ndarray) -> GroupRun:
    t = TestSet(rows, tests.shape, tests.input_types, seeds, np.full(len(rows), -1, dtype=np.int64),
                tests.ram_pool, np.zeros(len(rows), dtype=np.int8))
    return GroupRun([plan], t.inputs)
