"""The verifier's tests: random tests, and tests that cover edge values and equal inputs by construction.

A test gives a value to every *source* a straight-line block can observe: the 16 context slots below the
inputs, the typed inputs, the public and secret input tokens, the secret digests' words (together the first
``shape.shared`` value ids of a plan, see :mod:`tasm_env.plan`), and the initial RAM. Tests are rows of one
``(lanes, shared)`` matrix, so a source is a column and "every column meets every edge value" is a property
of the rows that :func:`edge_rows` guarantees:

* **edge rows**: ``E`` rows, ``E`` the size of the largest edge pool; each column walks through its own
  shuffled pool (restricted to values valid for its type), so every (column, edge value) pair occurs at least
  once; the RAM of these rows reads the field pool the same way (every address meets every pool value);
* **pair rows**: for every pair of inputs, a row where the two are equal (an edge value valid for both), one
  where they are equal to a random value, and for two field inputs one where they are negations;
* **probe rows**: a few base tests with one source at a time set to 0, 1, 2 and a random point, from which
  :mod:`tasm_env.solve` reads how a value depends on that source and solves for inputs that hit a target;
* **random rows**: :func:`make_tests`, the original generator (random typed values in four flavours).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Sequence

import numpy as np

from . import batch
from .asm import Program
from .errors import TasmError
from .field import P
from .plan import Shape
from .value_types import INPUT_TYPES  # re-exported: the input types a task can declare

CONTEXT_DEPTH = 16  # random elements below the inputs, so the 16-element floor is never the inputs
MAX_LITERALS = 32  # baseline literals that seed the edge pools (with negations and neighbours)

# lane flavours, kept per test so that a verdict can say what it covered
RANDOM, EDGE, PAIR, PROBE, SOLVED, EQUAL = range(6)
FLAVOURS = ("random", "edge", "pair", "probe", "solved", "all-equal")

_FIELD_EDGES = (0, 1, P - 1, P - 2, (1 << 32) - 1, 1 << 32, 1 << 31, 1 << 63, 2, (1 << 64) - (1 << 32))
_U32_EDGES = (0, 1, 2, (1 << 32) - 1, (1 << 32) - 2, 1 << 31, 1 << 16, 255, 256)
_U32 = 1 << 32


def check_input_types(input_types) -> tuple[str, ...]:
    """The input types as a tuple, or a TasmError saying what was expected.

    A bare string is refused even when it names one type: ``inputs=("field")`` is the string ``"field"``, not
    a one-element tuple, and guessing would hide the same slip elsewhere (``"field u32"``)."""
    if isinstance(input_types, (str, bytes)):
        raise TasmError(f"inputs: expected a sequence of input type names such as ('field',) or ['field', 'u32'], "
                        f"got the string {input_types!r} (a one-element tuple needs a trailing comma)")
    try:
        types = tuple(input_types)
    except TypeError:
        raise TasmError(f"inputs: expected a sequence of input type names, got {type(input_types).__name__}") from None
    for kind in types:
        if kind not in INPUT_TYPES:
            raise TasmError(f"unknown input type {kind!r}: expected one of {', '.join(INPUT_TYPES)}")
    return types


def check_n_tests(n_tests) -> int:
    """``n_tests`` as an int >= 1, or a TasmError (the verifier always needs random tests)."""
    if isinstance(n_tests, bool) or not isinstance(n_tests, (int, np.integer)) or n_tests < 1:
        raise TasmError(f"n_tests must be an integer of at least 1, got {n_tests!r}")
    return int(n_tests)


# ------------------------------------------------------------------------------------------ edge pools


def literals(program: Program) -> list[int]:
    """The baseline's own constants (``push`` and ``addi`` arguments), at most :data:`MAX_LITERALS`."""
    found: dict[int, None] = {}
    for instruction in program.instructions:
        if instruction.name in ("push", "addi") and instruction.arg is not None:
            found[int(instruction.arg) % P] = None
    return list(found)[:MAX_LITERALS]


def field_pool(constants: Sequence[int] = ()) -> np.ndarray:
    """Every edge value of the field: 0, 1, 2, 3, p-1, p-2, p-3, 2^32-1, 2^32, 2^32+1, 2^k and 2^k-1 for every k
    up to 64 (u32 boundaries, ``log_2_floor``, ``split``), and each constant with its negation and
    their neighbours."""
    values = list(_CORE)
    for k in range(65):
        values += [(1 << k) % P, ((1 << k) - 1) % P]
    return np.array(list(dict.fromkeys(values + _around(constants))), dtype=np.uint64)


_CORE = (0, 1, 2, 3, P - 1, P - 2, P - 3, _U32 - 2, _U32 - 1, _U32, _U32 + 1, 1 << 31)


def _around(constants: Sequence[int]) -> list[int]:
    """Each constant, its negation, and their neighbours."""
    return [(v + d) % P for c in constants for v in (c, -c) for d in (-1, 0, 1)]


def typed_pool(kind: str, pool: np.ndarray) -> np.ndarray:
    """The values of ``pool`` that are valid for an input of type ``kind``."""
    if kind == "field":
        return pool
    if kind == "nonzero":
        return pool[pool != 0]
    if kind == "u32":
        return pool[pool < _U32]
    if kind == "u32_nonzero":
        return pool[(pool < _U32) & (pool != 0)]
    return np.array([0, 1], dtype=np.uint64)


def random_values(rng: np.random.Generator, kind: str, n: int) -> np.ndarray:
    if kind in ("u32", "u32_nonzero"):
        return rng.integers(0 if kind == "u32" else 1, _U32, size=n, dtype=np.uint64)
    if kind == "bool":
        return rng.integers(0, 2, size=n, dtype=np.uint64)
    values = rng.integers(0, 1 << 64, size=n, dtype=np.uint64, endpoint=False) % np.uint64(P)
    if kind == "nonzero":
        values[values == 0] = 1
    return values


# ------------------------------------------------------------------------------------------- test sets


@dataclass
class TestSet:
    """Tests as rows: ``values[lane]`` holds every source value (plan id order: stack deepest first, public
    tokens, secret tokens, digest words); RAM is seeded per lane (``ram_seed``, 0 = all zero) or, where
    ``ram_offset >= 0``, read from ``ram_pool`` (see :class:`tasm_env.batch.Inputs`)."""

    values: np.ndarray
    shape: Shape
    input_types: tuple[str, ...]
    ram_seed: np.ndarray
    ram_offset: np.ndarray
    ram_pool: np.ndarray
    flavour: np.ndarray
    probes: "Probes | None" = field(default=None, repr=False)

    @property
    def column_types(self) -> tuple[str, ...]:
        return column_types(self.shape, self.input_types)

    @property
    def lanes_count(self) -> int:
        return len(self.values)

    @cached_property
    def inputs(self) -> batch.Inputs:
        return self.lanes(slice(None))

    def lanes(self, which) -> batch.Inputs:
        s = self.shape
        rows = self.values[which]
        d, pub, sec = s.stack_depth, s.public_inputs, s.secret_inputs
        return batch.Inputs(rows[:, :d], rows[:, d:d + pub], rows[:, d + pub:d + pub + sec],
                            rows[:, d + pub + sec:].reshape(len(rows), s.secret_digests, 5), None,
                            self.ram_seed[which], self.ram_pool, self.ram_offset[which])

    def take(self, order: np.ndarray) -> "TestSet":
        """The tests in a new order (probe lanes renumbered)."""
        inverse = np.empty(len(order), dtype=np.int64)
        inverse[order] = np.arange(len(order))
        probes = None if self.probes is None else self.probes.renumbered(inverse)
        return TestSet(self.values[order], self.shape, self.input_types, self.ram_seed[order],
                       self.ram_offset[order], self.ram_pool, self.flavour[order], probes)

    def extended(self, rows: np.ndarray, flavour: int, ram_seed: np.ndarray | None = None,
                 ram_offset: np.ndarray | None = None) -> "TestSet":
        """These tests and ``rows`` (RAM seed 1 and no pool offset unless given)."""
        n = len(rows)
        seeds = ram_seed if ram_seed is not None else np.ones(n, dtype=np.uint64)
        offsets = ram_offset if ram_offset is not None else np.full(n, -1, dtype=np.int64)
        return TestSet(np.concatenate([self.values, rows]), self.shape, self.input_types,
                       np.concatenate([self.ram_seed, seeds]),
                       np.concatenate([self.ram_offset, offsets]), self.ram_pool,
                       np.concatenate([self.flavour, np.full(n, flavour, dtype=np.int8)]), self.probes)

    def counts(self) -> dict[str, int]:
        return {name: int((self.flavour == i).sum()) for i, name in enumerate(FLAVOURS) if (self.flavour == i).any()}


@dataclass
class Probes:
    """Probe lanes: ``lanes[b, v, j]`` is base test ``b`` with source column ``columns[v]`` set to
    ``points[v, j]`` (j = 0, 1, 2: consecutive values ``a, a+1, a+2``; j = 3: a random check point)."""

    columns: np.ndarray  # (vars,)
    points: np.ndarray  # (vars, 4) uint64
    lanes: np.ndarray  # (bases, vars, 4) int64

    def renumbered(self, inverse: np.ndarray) -> "Probes":
        return Probes(self.columns, self.points, np.where(self.lanes >= 0, inverse[self.lanes], -1))


def column_types(shape: Shape, input_types: tuple[str, ...]) -> tuple[str, ...]:
    return ("field",) * CONTEXT_DEPTH + tuple(input_types) + ("field",) * (shape.shared - shape.stack_depth)


def random_rows(rng: np.random.Generator, types: Sequence[str], n: int) -> np.ndarray:
    rows = np.empty((n, len(types)), dtype=np.uint64)
    for kind in sorted(set(types)):  # sorted: the same tests whatever the hash seed
        cols = [c for c, t in enumerate(types) if t == kind]
        rows[:, cols] = random_values(rng, kind, n * len(cols)).reshape(n, len(cols))
    return rows


def edge_rows(rng: np.random.Generator, types: Sequence[str], pool: np.ndarray) -> np.ndarray:
    """Rows in which every column meets every value of its typed pool at least once."""
    pools = {kind: typed_pool(kind, pool) for kind in set(types)}
    n = max(len(p) for p in pools.values())
    rows = np.empty((n, len(types)), dtype=np.uint64)
    for c, kind in enumerate(types):
        shuffled = rng.permutation(pools[kind])
        rows[:, c] = shuffled[np.arange(n) % len(shuffled)]
    return rows


def _admits(kind: str, values: np.ndarray) -> np.ndarray:
    if kind == "field":
        return np.ones(len(values), dtype=bool)
    if kind == "nonzero":
        return values != 0
    if kind == "u32":
        return values < _U32
    if kind == "u32_nonzero":
        return (values < _U32) & (values != 0)
    return values < 2


def pair_rows(rng: np.random.Generator, types: Sequence[str], input_types: Sequence[str],
              pool: np.ndarray) -> np.ndarray:
    """For every pair of inputs: equal at an edge value, equal at a random value, and (two field-like inputs)
    negations of each other; the other sources random."""
    inputs = [(CONTEXT_DEPTH + j, kind) for j, kind in enumerate(input_types)]
    rows = []
    for a in range(len(inputs)):
        for b in range(a + 1, len(inputs)):
            (ca, ka), (cb, kb) = inputs[a], inputs[b]
            common = pool[_admits(ka, pool) & _admits(kb, pool)]
            narrow = ka if ka in ("bool", "u32_nonzero", "u32") else kb
            shared_random = random_values(rng, narrow, 8)
            shared_random = shared_random[_admits(ka, shared_random) & _admits(kb, shared_random)]
            block = random_rows(rng, types, 3)
            block[0, [ca, cb]] = common[rng.integers(len(common))]
            block[1, [ca, cb]] = shared_random[0] if len(shared_random) else common[0]
            if ka in ("field", "nonzero") and kb in ("field", "nonzero"):
                block[2, cb] = (P - int(block[2, ca])) % P or 1
                rows.append(block)
            else:
                rows.append(block[:2])
    return np.concatenate(rows) if rows else np.empty((0, len(types)), dtype=np.uint64)


def grid_rows(types: Sequence[str], input_types: Sequence[str], bases: np.ndarray) -> np.ndarray:
    """For every pair of inputs, every combination of their core edge values (0, 1, 2, 3, p-1, p-2, p-3,
    2^31, 2^32-2, 2^32-1, 2^32, 2^32+1, where the type admits them), the other sources from ``bases`` (rows,
    cycled): a difference that needs two inputs at their edges at once (``x0 == 2`` and ``x2 == 0``)."""
    core = np.array(_CORE, dtype=np.uint64)
    blocks = []
    for a in range(len(input_types)):
        for b in range(a + 1, len(input_types)):
            va = core[_admits(input_types[a], core)]
            vb = core[_admits(input_types[b], core)]
            block = bases[np.arange(len(va) * len(vb)) % len(bases)].copy()
            block[:, CONTEXT_DEPTH + a] = np.repeat(va, len(vb))
            block[:, CONTEXT_DEPTH + b] = np.tile(vb, len(va))
            blocks.append(block)
    return np.concatenate(blocks) if blocks else np.empty((0, len(types)), dtype=np.uint64)


def equal_rows(rng: np.random.Generator, types: Sequence[str], constants: Sequence[int]) -> np.ndarray:
    """One row per core edge value (0, 1, 2, 3, p-1, p-2, 2^31, 2^32-1, 2^32, the constants with negations and
    neighbours) in which every source that admits it takes it: all inputs, context slots and tokens 0 at once,
    and so on (a candidate comparing an input with a context slot meets them equal)."""
    values = np.array(list(dict.fromkeys(list(_CORE) + _around(constants))), dtype=np.uint64)
    rows = random_rows(rng, types, len(values))
    for column, kind in enumerate(types):
        ok = _admits(kind, values)
        rows[ok, column] = values[ok]
    return rows


def probe_rows(types: Sequence[str], bases: np.ndarray, columns: Sequence[int], first_lane: int,
               one_base: Sequence[int] = ()) -> tuple[np.ndarray, Probes]:
    """Rows for :class:`Probes` over ``bases`` (rows) and source ``columns``; the columns in ``one_base`` are
    probed on the first base only (``Probes.lanes`` is -1 for the others)."""
    columns = np.array(columns, dtype=np.int64)
    points = np.empty((len(columns), 4), dtype=np.uint64)
    for v, c in enumerate(columns):
        kind = types[c]
        start = 1 if kind in ("nonzero", "u32_nonzero") else 0
        check = 0x9E3779B9 if "u32" in kind else 0x9E3779B97F4A7C15 % P
        points[v] = (start, start + 1, (start + 2) if kind != "bool" else start, check if kind != "bool" else 1)
    nb, nv = len(bases), len(columns)
    keep = np.ones((nb, nv), dtype=bool)
    keep[1:, np.isin(columns, np.array(list(one_base), dtype=np.int64))] = False
    rows = np.repeat(bases[:, None, None, :], nv, axis=1).repeat(4, axis=2).copy()  # (nb, nv, 4, cols)
    for v, c in enumerate(columns):
        rows[:, v, :, c] = points[v][None, :]
    lanes = np.full((nb, nv, 4), -1, dtype=np.int64)
    lanes[keep] = first_lane + np.arange(int(keep.sum()) * 4, dtype=np.int64).reshape(-1, 4)
    return rows[keep].reshape(-1, len(types)), Probes(columns, points, lanes)


def make_tests(
    input_types: Sequence[str],
    n_tests: int = 40,
    seed: int | np.random.Generator = 42,
    public_tokens: int = 0,
    secret_tokens: int = 0,
    secret_digests: int = 0,
) -> TestSet:
    """Random tests for a block whose inputs (deepest first, top last) have the given types.

    Tests cycle through four flavours: random typed inputs; edge values; all inputs of a type equal (and, in every
    other such test, all inputs of every type that admits the value equal: a field input equal to a u32 input);
    random inputs with all-zero RAM. Every test has a random context of 16 elements below the inputs, random public
    and secret input and random secret digests. (The verifier adds coverage tests to these: see
    :class:`tasm_env.verify.Verifier`.)
    """
    types = check_input_types(input_types)
    n_tests = check_n_tests(n_tests)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    k = len(types)
    stack = np.empty((n_tests, CONTEXT_DEPTH + k), dtype=np.uint64)
    stack[:, :CONTEXT_DEPTH] = random_values(rng, "field", n_tests * CONTEXT_DEPTH).reshape(n_tests, -1)
    flavour = np.arange(n_tests) % 4
    for j, kind in enumerate(types):
        column = random_values(rng, kind, n_tests)
        edges = _edge_values(rng, kind, n_tests)
        stack[:, CONTEXT_DEPTH + j] = np.where(flavour == 1, edges, column)
    for kind in sorted(set(types)):  # flavour 2: every input of this type takes one value
        cols = [CONTEXT_DEPTH + j for j, t in enumerate(types) if t == kind]
        shared = np.where(rng.random(n_tests) < 0.5, _edge_values(rng, kind, n_tests),
                          random_values(rng, kind, n_tests))
        for c in cols:
            stack[:, c] = np.where(flavour == 2, shared, stack[:, c])
    if len(set(types)) > 1:  # every other flavour-2 test: inputs of different types equal too, where they can be
        _equal_across_types(rng, types, stack, (flavour == 2) & (np.arange(n_tests) // 4 % 2 == 1))
    seeds = rng.integers(1, 1 << 63, size=n_tests, dtype=np.uint64)
    seeds[flavour == 3] = 0
    public = random_values(rng, "field", n_tests * public_tokens).reshape(n_tests, public_tokens)
    secret = random_values(rng, "field", n_tests * secret_tokens).reshape(n_tests, secret_tokens)
    digests = random_values(rng, "field", n_tests * secret_digests * 5).reshape(n_tests, secret_digests * 5)
    shape = Shape(CONTEXT_DEPTH + k, public_tokens, secret_tokens, secret_digests)
    return TestSet(np.concatenate([stack, public, secret, digests], axis=1), shape, types, seeds,
                   np.full(n_tests, -1, dtype=np.int64), np.zeros(0, dtype=np.uint64),
                   np.zeros(n_tests, dtype=np.int8))


def _edge_values(rng: np.random.Generator, kind: str, n: int) -> np.ndarray:
    edges = {"field": _FIELD_EDGES, "nonzero": _FIELD_EDGES[1:], "u32": _U32_EDGES, "u32_nonzero": _U32_EDGES[1:],
             "bool": (0, 1)}[kind]
    powers = [1 << int(k) for k in rng.integers(0, 64 if kind in ("field", "nonzero") else 32, size=n)]
    pool = np.array(edges, dtype=np.uint64)
    values = pool[rng.integers(0, len(pool), size=n)]
    use_power = rng.random(n) < 0.3 if kind != "bool" else np.zeros(n, dtype=bool)
    return np.where(use_power, np.array(powers, dtype=np.uint64) % np.uint64(P), values)


def _equal_across_types(rng: np.random.Generator, types: tuple[str, ...], stack: np.ndarray, rows: np.ndarray) -> None:
    """On ``rows``, give every input whose type admits it one shared u32 value (a field input equal to a u32
    input is a case a candidate dropping an ``eq`` between them must get right)."""
    n = len(stack)
    shared = np.where(rng.random(n) < 0.5, _edge_values(rng, "u32", n), random_values(rng, "u32", n))
    admits = {"field": np.ones(n, dtype=bool), "u32": np.ones(n, dtype=bool), "nonzero": shared != 0,
              "u32_nonzero": shared != 0, "bool": shared < 2}
    for j, kind in enumerate(types):
        column = CONTEXT_DEPTH + j
        stack[:, column] = np.where(rows & admits[kind], shared, stack[:, column])
