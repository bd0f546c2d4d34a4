"""Tests solved backwards through the dataflow: the sources that drive a value onto a target exactly.

:mod:`tasm_env.solve` reads a value as a function of one source from probe lanes and solves only where that
function is affine or quadratic. Many rare differences sit behind values that are neither: an ``invert`` or
``x_invert`` of a sum (a rational function), a product of two inputs, a ``split`` or ``div_mod`` part, the
component of an extension-field inverse. Here the target is pushed backwards through the plan, one operation
at a time, each step inverting the operation for one operand with the others held at their values on a base
test: ``a + b = t`` gives ``a = t - b``, ``a * b = t`` gives ``a = t / b``, ``invert(a) = t`` gives
``a = 1 / t``, ``x_invert(a)`` with one component set gives ``a = x_invert(y')`` (three operands at once),
``split``/``div_mod`` parts recombine, ``eq``/``lt``/``and``/``xor``/``log_2_floor`` have their preimages. The
walk ends at sources (inputs, context, tokens, digest words), several at once where an operation needs it;
where another operand shares a changed source, the values move, so the row is re-solved from where it landed
(a few rounds). Every row is only a candidate test: a wrong one costs a test, never soundness.

A difference one target exposes may be masked unless a second operation is at its own edge too (a ``split``
carry, an ``lt`` that flips): :func:`back_rows` can combine each solved row with every other target, the
first target's sources held fixed (two conditions at once).
"""

from __future__ import annotations

import math
from typing import Callable, Container, Iterable, Mapping, Sequence

import numpy as np

from . import field as F
from .batch import GroupRun
from .coverage import TestSet
from .field import P
from .plan import OPERATIONS, OUTPUTS, Plan
from .solve import interpolate, operands, poly_roots, sensitive, valid_value

_U32 = 1 << 32
_U64 = np.uint64
MAX_STEPS = 64  # operations visited per backward solve (each branch point tries its operands in turn)
SMALL_ORDER = 1024  # powers of a base walked to find an exponent (a discrete log by table walk)
_SMALL_ORDERS = math.lcm(*(d for d in range(1, SMALL_ORDER + 1) if (P - 1) % d == 0))  # every order up to it divides this
ROUNDS = 3  # re-solves of a row whose target moved because another operand shares a changed source

Goal = list[tuple[int, int]]  # (value id, wanted value) pairs that must all hold


def _inv(a: int) -> int:
    return pow(a, P - 2, P)


def _xfe_norm(a: tuple) -> int:
    return F.xpow(a, 1 + P + P * P)[0] if any(a) else 0


def _component_roots(name: str, k: int, t: int, xs: list[int], i: int) -> list[int]:
    """Values z of operand ``i`` (the others kept) at which result ``k`` of ``xx_mul``/``x_invert`` is ``t``:
    the roots of a polynomial of degree at most 3 in z (for ``x_invert``: the result times the norm)."""
    def at(z: int) -> int:
        x = list(xs)
        x[i] = z
        a = tuple(x[0:3])
        if name == "xx_mul":
            return (F.xmul(a, tuple(x[3:6]))[k] - t) % P
        norm = _xfe_norm(a)
        return ((F.xinv(a)[k] - t) * norm) % P if norm else 0
    degree = 1 if name == "xx_mul" else 3
    return poly_roots(interpolate([at(z) for z in range(degree + 1)]))


def _mul_options(t: int, ins: list[int], xs: list[int]):
    """Preimages of a product, lazily (an inverse costs more than most searches that never get this far)."""
    if t == 0:
        yield [(ins[0], 0)]
        yield [(ins[1], 0)]
        return
    for i in (0, 1):  # a zero factor is set to 1 first
        yield [(ins[i], t * _inv(xs[1 - i]) % P)] if xs[1 - i] else [(ins[1 - i], 1), (ins[i], t)]


def _add(k: int, t: int, ins: list[int], xs: list[int]) -> Iterable[Goal]:
    return [[(ins[0], (t - xs[1]) % P)], [(ins[1], (t - xs[0]) % P)]]


def _mul(k: int, t: int, ins: list[int], xs: list[int]) -> Iterable[Goal]:
    return _mul_options(t, ins, xs)


def _invert(k: int, t: int, ins: list[int], xs: list[int]) -> Iterable[Goal]:
    return [[(ins[0], _inv(t))]] if t else []


def _eq(k: int, t: int, ins: list[int], xs: list[int]) -> Iterable[Goal]:
    if t > 1:
        return []
    return [[(ins[i], (xs[1 - i] + 1 - t) % P)] for i in (0, 1)]


def _lt(k: int, t: int, ins: list[int], xs: list[int]) -> Iterable[Goal]:  # x0 < x1
    if t == 1:
        return [[(ins[0], x)] for x in (0, xs[1] - 1) if 0 <= x < xs[1]] + \
               [[(ins[1], xs[0] + 1)]] * (xs[0] + 1 < _U32)
    return [[(ins[0], xs[1])], [(ins[1], xs[0])]] if t == 0 else []


def _xor(k: int, t: int, ins: list[int], xs: list[int]) -> Iterable[Goal]:
    return [[(ins[i], t ^ xs[1 - i])] for i in (0, 1) if xs[1 - i] < _U32] if t < _U32 else []


def _and(k: int, t: int, ins: list[int], xs: list[int]) -> Iterable[Goal]:
    if t >= _U32:
        return []
    return [[(ins[i], t | (xs[i] & ~xs[1 - i] & (_U32 - 1)))] for i in (0, 1)
            if xs[1 - i] < _U32 and not t & ~xs[1 - i]] + [[(ins[0], t), (ins[1], t)]]


def _log_2_floor(k: int, t: int, ins: list[int], xs: list[int]) -> Iterable[Goal]:
    return [[(ins[0], 1 << t)], [(ins[0], (2 << t) - 1)]] if t < 32 else []


def _pop_count(k: int, t: int, ins: list[int], xs: list[int]) -> Iterable[Goal]:
    return [[(ins[0], (1 << t) - 1)]] if t <= 32 else []


def _pow(k: int, t: int, ins: list[int], xs: list[int]) -> Iterable[Goal]:
    """``base ** e = t`` (operand 0 the base, operand 1 the u32 exponent)."""
    base, e = xs
    goals = [[(ins[0], t)]] if e == 1 else []
    goals += ([[(ins[1], 0)]] if t == 1 else []) + ([[(ins[0], 0)]] if t == 0 and e else [])
    if t and 1 < e < _U32 and math.gcd(e, P - 1) == 1:  # x -> x^e is a bijection: the base is an e-th root
        goals.append([(ins[0], pow(t, pow(e, -1, P - 1), P))])
    log = _small_log(base, t)
    if log is not None and log != e:  # the base's powers repeat soon (2 has order 192): e is a discrete log
        goals.append([(ins[1], log)])
    return goals


def _small_log(base: int, t: int) -> int | None:
    """The least ``e`` with ``base ** e = t``, if ``base`` has a multiplicative order up to SMALL_ORDER."""
    if base > 1 and pow(base, _SMALL_ORDERS, P) != 1:  # one exponentiation rules out a long walk
        return None
    x = 1
    for e in range(SMALL_ORDER):
        if x == t:
            return e
        x = x * base % P
        if x == 1 or x == 0:
            return None if t != x else e + 1
    return None


def _div_mod(k: int, t: int, ins: list[int], xs: list[int]) -> Iterable[Goal]:
    n, d = xs
    if not 0 < d < _U32 or n >= _U32:
        return []
    q, r = n // d, n % d
    n2 = t * d + r if k == 0 else (q * d + t if t < d else _U32)
    return [[(ins[0], n2)]] if n2 < _U32 else []


def _split(k: int, t: int, ins: list[int], xs: list[int]) -> Iterable[Goal]:
    hi, lo = xs[0] >> 32, xs[0] & (_U32 - 1)
    a = (t << 32) + lo if k == 0 else (hi << 32) + t
    return [[(ins[0], a)]] if t < _U32 and a < P else []


def _xx_add(k: int, t: int, ins: list[int], xs: list[int]) -> Iterable[Goal]:
    return [[(ins[k], (t - xs[3 + k]) % P)], [(ins[3 + k], (t - xs[k]) % P)]]


def _extension_product(name: str):
    """``xx_mul`` or ``x_invert``: the whole element inverted, or one operand moved (a root in it)."""
    def preimages(k: int, t: int, ins: list[int], xs: list[int]) -> Iterable[Goal]:
        a, b = tuple(xs[0:3]), tuple(xs[3:6])
        y = list(F.xmul(a, b) if name == "xx_mul" else F.xinv(a)) if any(a) else [0, 0, 0]
        y[k] = t
        if not any(y):
            return []
        one = [[(ins[i], z)] for i in range(3 if name == "x_invert" else 6)
               for z in _component_roots(name, k, t, xs, i)]  # one operand moved: the others keep their type
        if name == "x_invert":
            return [list(zip(ins[0:3], F.xinv(tuple(y))))] + one
        return [list(zip(ins[3 * i:3 * i + 3], F.xmul(tuple(y), F.xinv(other))))
                for i, other in ((0, b), (1, a)) if any(other)] + one
    return preimages


def _xb_mul(k: int, t: int, ins: list[int], xs: list[int]) -> Iterable[Goal]:  # s * (a0, a1, a2)
    s_, a_ = xs[0], xs[1 + k]
    return [[(ins[1 + k], t * _inv(s_) % P)] if s_ else [(ins[0], 1), (ins[1 + k], t)],
            [(ins[0], t * _inv(a_) % P)] if a_ else [(ins[1 + k], 1), (ins[0], t)]]


def _xx_dot_step(k: int, t: int, ins: list[int], xs: list[int]) -> Iterable[Goal]:
    return [[(ins[k], (t - F.xmul(tuple(xs[3:6]), tuple(xs[6:9]))[k]) % P)]]


def _xb_dot_step(k: int, t: int, ins: list[int], xs: list[int]) -> Iterable[Goal]:
    return [[(ins[k], (t - xs[3] * xs[4 + k]) % P)]]


def _merkle(k: int, t: int, ins: list[int], xs: list[int]) -> Iterable[Goal]:
    """Only the node index (result 5, index / 2) is solved for; the digest words are Tip5 outputs."""
    return [[(ins[5], 2 * t + (xs[5] & 1))]] if k == 5 and 2 * t + 1 < _U32 else []


def _none(k: int, t: int, ins: list[int], xs: list[int]) -> Iterable[Goal]:
    """No preimage worth solving for: assertions and ``u32_check`` have no results; Tip5's permutation has
    no cheap inverse for one word; a RAM read's cell is a source of its own (solved in :mod:`tasm_env.solve_more`)."""
    return []


PREIMAGES: dict[str, Callable[[int, int, list[int], list[int]], Iterable[Goal]]] = {
    "add": _add, "mul": _mul, "invert": _invert, "eq": _eq, "lt": _lt, "and": _and, "xor": _xor,
    "log_2_floor": _log_2_floor, "pop_count": _pop_count, "pow": _pow, "div_mod": _div_mod, "split": _split,
    "xx_add": _xx_add, "xx_mul": _extension_product("xx_mul"), "x_invert": _extension_product("x_invert"),
    "xb_mul": _xb_mul, "xx_dot_step": _xx_dot_step, "xb_dot_step": _xb_dot_step, "merkle": _merkle,
    # deliberately not inverted (see _none)
    "assert": _none, "assert_vector": _none, "u32_check": _none, "permute": _none, "mem_read": _none,
}
"""Per plan operation: ways to make its result ``k`` (operand ids ``ins``, values ``xs``) equal ``t``, each a
list of (operand id, value) to set together, the other operands kept. Covers exactly the plan's operations:
an operation without a preimage maps to ``_none`` on purpose."""
assert set(PREIMAGES) == set(OPERATIONS), \
    f"preimages differ from the plan's operations: {set(PREIMAGES) ^ set(OPERATIONS)}"


class _Backwards:
    """Backward solving on one program's plan, lane by lane (Python ints: few rows, exact arithmetic)."""

    def __init__(self, plan: Plan, shared: int, admits: Callable[[int, int], bool]):
        self.plan, self.shared, self.admits = plan, shared, admits
        self.avoid: Container[tuple[int, int]] = frozenset()
        self.producer: dict[int, tuple[int, int]] = {}
        self.start: list[int] = []
        at = 0
        for j, code in enumerate(plan.kind):
            self.start.append(at)
            at += plan.n_in[j]
            for k in range(OUTPUTS[OPERATIONS[code]]):
                self.producer[plan.out[j] + k] = (j, k)

    def solve(self, goal: Goal, value: Callable[[int], int], fixed: dict[int, int],
              avoid: Container[tuple[int, int]] = frozenset()) -> dict[int, int] | None:
        """Source values (column -> value) making every (id, value) of ``goal`` hold, given the lane's
        current values (``value(id)``) and the sources already set in ``fixed`` (kept); None if not found.
        A source is never set to a value in ``avoid`` ((column, value) pairs: where a re-solve came from)."""
        budget = [MAX_STEPS]
        self.avoid = avoid
        return self._all(goal, value, dict(fixed), budget)

    def _all(self, goal: Goal, value, assigned: dict[int, int], budget) -> dict[int, int] | None:
        for vid, want in goal:
            assigned = self._one(vid, want % P, value, assigned, budget)
            if assigned is None:
                return None
        return assigned

    def _one(self, vid: int, want: int, value, assigned: dict[int, int], budget) -> dict[int, int] | None:
        if vid < self.shared:
            if vid in assigned:
                return assigned if assigned[vid] == want else None
            if not self.admits(vid, want) or (value(vid) != want and (vid, want) in self.avoid):
                return None
            return {**assigned, vid: want}
        if value(vid) == want:
            return assigned
        found = self.producer.get(vid)
        budget[0] -= 1
        if found is None or budget[0] < 0:  # a constant, or out of steps
            return None
        j, k = found
        n = self.plan.n_in[j]
        ins = self.plan.inputs[self.start[j]:self.start[j] + n]
        xs = [value(i) for i in ins]
        options = list(PREIMAGES[OPERATIONS[self.plan.kind[j]]](k, want, ins, xs))
        for option in (options[::-1] if self.avoid else options):  # a re-solve tries the other way first
            done = self._all(option, value, assigned, budget)
            if done is not None:
                return done
        return None


def _goals(fn, target: int, xs_ids: list[int], value) -> list[Goal]:
    """Goals making a sensitive value (``fn`` of the operands, see :data:`tasm_env.solve.TARGETS`) equal
    ``target``: operand ``i`` itself, or operand ``i`` minus operand ``j``."""
    if hasattr(fn, "j"):
        i, j = xs_ids[fn.i], xs_ids[fn.j]
        return [[(i, (value(j) + target) % P)], [(j, (value(i) - target) % P)]]
    return [[(xs_ids[fn.i], target)]]


def back_rows(tests: TestSet, runs: Sequence[tuple[GroupRun, int, np.ndarray]], bases: np.ndarray, limit: int,
              skip: set | frozenset = frozenset(), n_bases: int = 4,
              combine: int = 0, only: Container[tuple[int, int]] | None = None,
              keep: Mapping[int, Sequence[int]] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """New tests that drive the sensitive values of programs onto their targets by backward solving.

    ``runs`` as for :func:`tasm_env.solve.solved_rows`; ``bases`` are test indices (passing tests, tried in
    order, ``n_bases`` of them per target); targets whose (target, probe values) are in ``skip`` are left
    out. With ``combine``, up to that many solved rows are each combined with every other target of the
    plan (see :func:`_combined`). With ``only``, just the targets in it, as (index into
    :func:`tasm_env.solve.sensitive` of the plan, target value) pairs. ``keep``: per base test, source
    columns held at their values there (what an earlier solve set). At most ``limit`` rows per program (and
    as many combined), shared fairly among the targets (:func:`_fair`).

    Returns the rows and, per row, the base test (an index into ``tests``) it was solved from: the row is
    that test with some sources changed, and its other context (RAM: ``ram_seed``, ``ram_offset``) is the
    base's, which the solve ran with."""
    types = tests.column_types
    width = tests.values.shape[1]
    probes = tests.probes
    admits = _admitter(types)
    out: list[np.ndarray] = []
    at: list[int] = []
    for run, p, position in runs:
        plan = run.plans[p]
        mine = bases[position[bases] >= 0][:n_bases]
        if not len(mine):
            continue
        lanes = None
        if probes is not None:
            probed = probes.lanes >= 0
            lanes = np.where(probed, position[np.maximum(probes.lanes, 0)], 0)
            if (lanes[probed] < 0).any():
                lanes = None
        back = _Backwards(plan, run.shared, admits)
        wanted = []  # (operation, fn, target)
        for i, (j, (fn, targets)) in enumerate(sensitive(plan)):
            key = np.where(probed, fn(operands(run, p, j))[lanes], 0).tobytes() if lanes is not None else None
            wanted += [(j, fn, int(t) % P) for t in targets if (key is None or (t, key) not in skip)
                       and (only is None or (i, int(t) % P) in only)]
        if not wanted:
            continue
        columns = run.V[:, position[mine]]  # every value of every program, at the bases
        pending = []  # [base, row, sources set, operation's operand ids, fn, target]
        for b, base in enumerate(mine):
            value = _reader(run, p, columns[:, b])
            for j, fn, target in wanted:
                ids = plan.inputs[back.start[j]:back.start[j] + plan.n_in[j]]
                fixed = {int(c): int(tests.values[base, c]) for c in (keep or {}).get(int(base), ())}
                solution = _first_solution(back, fn, target, ids, value, fixed)
                if solution is not None:
                    pending.append([int(base), tests.values[base].copy(), {}, ids, fn, target, solution, fixed])
            if len(pending) >= 2 * limit:
                break
        found = _fair(_settle(plan, tests, back, pending), limit)
        if found and combine:  # a second condition on top of each: every other target, the first one's sources kept
            found += _combined(plan, tests, back, found[:combine], limit)
        out += [row for _, row, _ in found]
        at += [base for base, _, _ in found]
    return np.array(out, dtype=_U64).reshape(-1, width), np.array(at, dtype=np.int64)


def _fair(settled: list[tuple[int, np.ndarray, dict, tuple, bool]], limit: int) -> list[tuple[int, np.ndarray, dict]]:
    """At most ``limit`` of the settled rows, shared round-robin among their targets: first the rows that hit
    their target (each target's in order), then the others. A plain cut of the list would drop whole targets
    (re-solved rows settle last, and a target reached only by a re-solve would get none)."""
    lists: dict[tuple, tuple[list, list]] = {}  # per target, in order of first appearance: (hits, misses)
    for item in settled:
        lists.setdefault(item[3], ([], []))[0 if item[4] else 1].append(item)
    chosen: list = []
    for kind in (0, 1):
        for depth in range(max((len(rows[kind]) for rows in lists.values()), default=0)):
            chosen += [rows[kind][depth] for rows in lists.values() if depth < len(rows[kind])]
            if len(chosen) >= limit:
                return [item[:3] for item in chosen[:limit]]
    return [item[:3] for item in chosen]


def _first_solution(back: _Backwards, fn, target: int, ids: list[int], value, fixed: dict[int, int],
                    avoid: Container[tuple[int, int]] = frozenset()) -> dict[int, int] | None:
    for goal in _goals(fn, target, ids, value):
        solution = back.solve(goal, value, fixed, avoid)
        if solution:
            return solution
    return None


def _combined(plan: Plan, tests: TestSet, back: _Backwards, found: list, limit: int) -> list:
    """Rows on which a solved target holds together with another sensitive target of the plan: a difference
    the first makes may be masked unless a later operation is at its own edge (a ``split`` carry, an
    ``lt`` that flips). The sources the first target set are held fixed while solving for the second."""
    run = _run(plan, tests, np.array([row for _, row, _ in found], dtype=_U64), [base for base, _, _ in found])
    targets = [(j, fn, int(t) % P) for j, (fn, values) in sensitive(plan) for t in values]
    pending = []
    for lane, (base, row, changed) in enumerate(found):
        value = _reader(run, 0, run.V[:, lane])
        for j, fn, target in targets:
            ids = plan.inputs[back.start[j]:back.start[j] + plan.n_in[j]]
            solution = _first_solution(back, fn, target, ids, value, changed)
            if solution is not None and solution != changed:
                pending.append([base, row.copy(), dict(changed), ids, fn, target, solution, changed])
    rng = np.random.default_rng(len(pending))
    if len(pending) > 2 * limit:  # a sample, so that every first target gets some
        pending = [pending[i] for i in sorted(rng.choice(len(pending), 2 * limit, replace=False))]
    return _fair(_settle(plan, tests, back, pending), limit)


def _settle(plan: Plan, tests: TestSet, back: _Backwards, pending: list) -> list[tuple[int, np.ndarray, dict, tuple, bool]]:
    """Apply each pending solution to its row, run all rows at once, and re-solve (up to :data:`ROUNDS`
    times) those whose value missed its target because another operand shares a changed source. Returns
    (base, row, sources set, target, whether it hit the target) per distinct row; the target is (operand
    ids, target value)."""
    done: dict[bytes, tuple[int, np.ndarray, dict, tuple, bool]] = {}
    visited = [{(int(c), int(item[1][c])) for c in range(len(item[1]))} for item in pending]  # (column, value)
    for round_ in range(ROUNDS):
        if not pending:
            break
        for item in pending:
            for column, v in item[6].items():
                item[1][column] = v
            item[2].update(item[6])
        rows = np.array([item[1] for item in pending], dtype=_U64)
        run = _run(plan, tests, rows, [item[0] for item in pending])
        again, seen = [], []
        for lane, item in enumerate(pending):
            base, row, changed, ids, fn, target, _, fixed = item
            hit = int(fn([run.V[run.rows(0, [i])][0][lane:lane + 1] for i in ids])[0]) == target
            if not hit and round_ + 1 < ROUNDS:  # never back to a value a source had: no cycles
                came = visited[lane] | {(int(c), int(x)) for c, x in item[6].items()}
                solution = _first_solution(back, fn, target, ids, _reader(run, 0, run.V[:, lane]), fixed, came)
                if solution is not None:
                    item[6] = solution
                    again.append(item)
                    seen.append(came)
                    continue
            done.setdefault(row.tobytes(), (base, row, changed, (tuple(ids), id(fn), target), hit))
        pending, visited = again, seen
    return list(done.values())


def _reader(run: GroupRun, p: int, column: np.ndarray) -> Callable[[int], int]:
    offset = int(run.offsets[p])
    shared = run.shared
    return lambda vid: int(column[vid if vid < shared else vid + offset])


def _admitter(types: Sequence[str]) -> Callable[[int, int], bool]:
    return lambda column, value: valid_value(types[column], value)


def _run(plan: Plan, tests: TestSet, rows: np.ndarray, bases: Sequence[int]) -> GroupRun:
    """``plan`` on ``rows``, each with the RAM of its base test (an index into ``tests``)."""
    t = TestSet(rows, tests.shape, tests.input_types, tests.ram_seed[bases], tests.ram_offset[bases],
                tests.ram_pool, np.zeros(len(rows), dtype=np.int8))
    return GroupRun([plan], t.inputs)
