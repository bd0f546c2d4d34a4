"""Exact optimum search: the provably shortest program equivalent to a small straight-line baseline.

>>> result = search("dup 1 dup 1 add", inputs=("field", "field"))
>>> result.cycles, result.proved
(3, True)

**Method.** Breadth-first search over programs, by layers of equal length, where a *state* is the fingerprint
of everything a program has done so far on a fixed set of ``T`` tests (``verify.make_tests`` with the
baseline's input types, 16 random context elements below the inputs, random public/secret input, random RAM):
the whole stack, the public/secret input consumed, the public output written, the secret digests consumed and
the RAM writes and sponge (the *side*). Values are interned: every distinct vector of ``T`` values gets an id,
so a stack is a short row of ids and stack instructions just permute ids. Two programs reaching the same state
are interchangeable for the rest of the search (their futures on these tests are identical), so each state
is kept once. The goal is the baseline's final state on the same tests. Any program equivalent to the
baseline reaches the goal state, so exhausting every state reachable in fewer than ``d`` instructions
without meeting the goal *proves* that no equivalent program shorter than ``d`` exists (within the searched
instruction set). A program that reaches the goal is re-verified with the full verifier (64 tests, another
seed); if it fails (the fingerprint tests could not tell it apart: a collision) the search restarts with
twice as many tests.

The search runs as iterative deepening on a bound ``B`` (IDA*-style, with breadth-first layers and
duplicate elimination inside each iteration): a state at length ``d`` survives only while ``d + h <= B``,
where ``h`` is an admissible lower bound on the instructions still needed. ``B`` starts at ``h`` of the
initial state and grows by one each time an iteration is exhausted, so the first goal met is at the optimum
and every exhausted iteration raises the proven lower bound.

**Vectorisation.** A layer is a matrix of id rows (states x stack slots, top first). Moves are applied to
chunks of parents at once with numpy: stack moves as column gathers; value instructions evaluate their
*distinct* operand tuples only, through the batched executor's own evaluators (so the search and the verifier
share one semantics; inversions are batched), memoised per operand tuple across layers and iterations, and
the results are interned through a vectorised sorted-run index. A state's hash is a position-weighted sum of
per-id random keys (two independent 64-bit sums, 128 bits), so a child's hash is its parent's plus a few
terms, computed before the child row is ever built; a vectorised open-addressing hash set drops states seen
before, and only the survivors are materialised. The last layer of an iteration is only scanned for the goal
(a stack move's child must hash to the goal; an op must leave the goal's slots below its results and produce
the goal's top values), which is why the largest layer is never built. The rare instructions with side effects
(RAM, sponge, Merkle steps, I/O) run per distinct (operands, side) tuple in Python, memoised.

**Pruning** (all sound: no equivalent program is lost):

* crashes on any fingerprint test (u32 operand, inverse of zero, assertion, exhausted input, missing sponge,
  the 16-element floor) kill the state: the baseline does not crash on valid inputs;
* no more public/secret input or secret digests than the baseline consumes; public output must stay a
  prefix of the baseline's output;
* a context element (below the inputs) that is no longer on the stack and on which no stack value or RAM
  write depends can never come back: the state is dead (only matters with ``touch_context=True``);
* the lower bound ``h`` is the largest of: the stack-depth distance to the goal depth (over the most any
  searched instruction grows or shrinks the stack in one step); the goal values not on the stack (over the
  most new values one searched instruction creates) plus the outputs still to write (over the widest
  ``write_io``); the input tokens and digests still to read;
* states seen at an earlier length of the same iteration are not expanded again, so sequences such as
  ``swap i swap i`` or ``dup i pop 1`` die without special rules.

**Reach** (``benchmarks/optimal_search.py`` on 2 shared cores): 100,000 to 300,000 states expanded per
second on field-arithmetic blocks, depending on the machine's load; proved within a minute: ``(a+b)*(a-b)``
(an 11-instruction baseline, optimum 7), ``a^2+b^2`` (9 -> 6), a two-term dot product (9 -> 5); a three-term
dot product (14 instructions) is out of reach (lower bound 6 or 7 after a minute). Layers grow about
fourteenfold per instruction on two-input blocks, so each further cycle of optimum costs about that factor.

**The searched instruction set** (optimality is proved relative to it; :attr:`SearchResult.instruction_set`
lists it exactly for each search):

* stack: ``dup 0..15``, ``swap 1..15``, ``pick 2..15``, ``place 2..15``, ``pop 1..5`` (``pick 1`` and
  ``place 1`` do exactly what ``swap 1`` does; ``swap 0``, ``pick 0``, ``place 0`` and ``nop`` do nothing);
  indices limited by the live stack, see ``touch_context`` below;
* constants: ``push c`` for every ``c`` in the constant set and ``addi c`` for every non-zero one. The set is
  the fixed small constants ``0, 1, -1, 2``, the baseline's own ``push``/``addi`` literals and their
  negations, and every value the baseline computes that is the same on every test (constant folding), at
  most :data:`MAX_CONSTANTS` in all. A program that needs any other constant (e.g. ``push 3`` for ``pow``)
  is not considered;
* arithmetic, always: ``add mul eq invert split pow lt and xor log_2_floor pop_count div_mod xx_add xx_mul
  x_invert xb_mul`` (the extension-field ones matter for base-field work too: ``xb_mul`` is three
  multiplications in one cycle, ``xx_add`` three additions);
* input/output: ``read_io n`` / ``divine n`` for ``n`` up to what the baseline reads, ``write_io n`` up to
  what it writes;
* memory, only when the baseline uses RAM: ``read_mem 1..5``, ``write_mem 1..5`` and the baseline's other
  RAM instructions; hashing (``hash``, ``sponge_*``, ``merkle_step*``) and assertions (``assert``,
  ``assert_vector``): only those the baseline uses.

``touch_context=False`` (the default) searches the programs that never read below the block's own live
values, which is what the emission environment's ``stack`` masking level allows; the baseline must do the
same (if it does not, the search switches to ``touch_context=True`` by itself). ``touch_context=True``
allows every index: context elements may be moved, but never lost. Both facts are in
:attr:`SearchResult.scope`.

**What is proved, honestly.** ``proved=True`` means: no program over the searched instruction set (and
scope) that is shorter than ``cycles`` reaches the baseline's final state on the fingerprint tests, hence
none is equivalent to the baseline. Duplicate states are recognised by 128-bit hashes (a false merge has
probability about ``n^2 / 2^128``). The found program passed the full verifier (random tests: strong
evidence, not a proof of equivalence on every input).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .. import batch, isa
from ..asm import Instruction, Program
from ..errors import VM_ERROR_KINDS, TaskError, TasmError
from .. import field as F
from ..field import P, vadd
from ..plan import OPERATIONS
from ..verify import CONTEXT_DEPTH, Verifier, make_tests
from .task import Optimum

__all__ = ["MAX_CONSTANTS", "SearchResult", "search", "to_optimum", "instruction_set"]

FIXED_CONSTANTS: tuple[int, ...] = (0, 1, P - 1, 2)
"""Constants every search may push (``-1`` is ``p - 1``)."""
MAX_CONSTANTS = 16
"""At most this many constants are searched (the fixed ones and the baseline's literals come first)."""
ARITHMETIC: tuple[str, ...] = ("add", "mul", "eq", "invert", "split", "pow", "lt", "and", "xor", "log_2_floor",
                               "pop_count", "div_mod", "xx_add", "xx_mul", "x_invert", "xb_mul")
"""Value instructions every search tries."""
MEMORY = frozenset({"read_mem", "write_mem", "sponge_absorb_mem", "merkle_step_mem", "xx_dot_step", "xb_dot_step"})
HASHING = frozenset({"hash", "sponge_init", "sponge_absorb", "sponge_squeeze", "sponge_absorb_mem", "merkle_step",
                     "merkle_step_mem"})
ASSERTIONS = frozenset({"assert", "assert_vector"})

VERIFY_TESTS = 64  # tests of the final check of a program that reached the goal
MAX_FINGERPRINT_TESTS = 64  # collisions double the fingerprint tests up to this many
_CHUNK = 1 << 15  # parents expanded together (bounds the temporary arrays)
_WINDOW = 16  # the top slots an instruction can touch (st0..st15)
_U64 = np.uint64
_ID = np.int32  # value ids in stored stacks (a search never makes 2^31 values)
_EVALUATORS = dict(zip(OPERATIONS, batch._EVALUATORS))  # the batched executor's own semantics


# ============================================================================================== results


@dataclass(frozen=True)
class SearchResult:
    """What the exact search established.

    ``program`` is the best verified program (the baseline when nothing shorter was found), ``cycles`` its
    length. ``proved`` is True when no shorter equivalent program exists within ``instruction_set`` and
    ``scope``; ``lower_bound`` is proven in any case (every equivalent program over the searched set has at
    least this many cycles). ``stopped`` says why the search ended: ``"proved"``, ``"time"``, ``"nodes"`` or
    ``"depth"`` (``max_cycles`` reached)."""

    program: Program | None
    cycles: int | None
    proved: bool
    lower_bound: int
    nodes: int
    seconds: float
    instruction_set: tuple[str, ...]
    stopped: str
    scope: str = ""
    fingerprint_tests: int = 0  # tests of the fingerprint the last iteration used

    def __str__(self) -> str:
        status = "optimal" if self.proved else f"best found, lower bound {self.lower_bound}"
        return (f"{self.cycles} cycles ({status}; stopped: {self.stopped}; {self.nodes} states, "
                f"{self.seconds:.2f} s): {' '.join(str(i) for i in self.program or ())}")


def to_optimum(result: SearchResult) -> Optimum:
    """The task-level record of a search result."""
    if result.program is None or result.cycles is None:
        raise TasmError("the search found no program to record")
    return Optimum(cycles=result.cycles, program=result.program, proved=result.proved, nodes=result.nodes,
                   seconds=result.seconds)


# ============================================================================================== hashing


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, elementwise on uint64 arrays (array arithmetic wraps silently)."""
    z = np.atleast_1d(np.asarray(x, dtype=_U64)) + _U64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
    return z ^ (z >> _U64(31))


def _popcount(x: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 (numpy 1.26 has no bitwise_count)."""
    x = np.asarray(x, dtype=_U64)
    with np.errstate(over="ignore"):
        x = x - ((x >> _U64(1)) & _U64(0x5555555555555555))
        x = (x & _U64(0x3333333333333333)) + ((x >> _U64(2)) & _U64(0x3333333333333333))
        x = (x + (x >> _U64(4))) & _U64(0x0F0F0F0F0F0F0F0F)
        return ((x * _U64(0x0101010101010101)) >> _U64(56)).astype(np.int64)


def _ceil_div(a: np.ndarray, b: int) -> np.ndarray:
    return -(-a // b)


# =========================================================================================== the values


class _Index:
    """A map from uint64 keys to int64 values with vectorised lookups and inserts: a few sorted runs, merged
    like a binary counter (each run at most half the size of the one before), so a lookup is one
    ``searchsorted`` per run and inserting costs O(log n) amortised per key. (Many small lookups are its
    use: a sort-based map has no probe-round overhead there, unlike :class:`_StateSet`'s table.)"""

    def __init__(self):
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []

    def get(self, keys: np.ndarray, missing: int) -> np.ndarray:
        out = np.full(len(keys), missing, dtype=np.int64)
        for run_keys, run_values in self.runs:
            pos = np.minimum(np.searchsorted(run_keys, keys), len(run_keys) - 1)
            hit = run_keys[pos] == keys
            out[hit] = run_values[pos[hit]]
        return out

    def add(self, keys: np.ndarray, values: np.ndarray) -> None:
        """Insert keys that are distinct and not present yet."""
        if not len(keys):
            return
        order = np.argsort(keys)
        self.runs.append((keys[order], np.asarray(values, dtype=np.int64)[order]))
        while len(self.runs) > 1 and len(self.runs[-2][0]) <= 2 * len(self.runs[-1][0]):
            (k1, v1), (k2, v2) = self.runs.pop(), self.runs.pop()
            k, v = np.concatenate([k2, k1]), np.concatenate([v2, v1])
            order = np.argsort(k, kind="stable")
            self.runs.append((k[order], v[order]))


class _Values:
    """Interned value vectors: one id per distinct vector of values over the fingerprint tests.

    Id 0 is the empty slot (below the bottom of a stored stack); its keys are 0 so it adds nothing to a
    state's hash. Per id: two random 64-bit keys (for state hashing), the context elements it may depend on
    (``dep``, a bitmask over the 16 context slots), its bit among the goal values (``goal_bit``), and whether
    it is u32 / non-zero on every test (so crashing operands are known without computing)."""

    def __init__(self, lanes: int, salt: int):
        self.lanes = lanes
        self.count = 1
        self.vectors = np.zeros((1024, lanes), dtype=_U64)
        self.key1 = np.zeros(1024, dtype=_U64)
        self.key2 = np.zeros(1024, dtype=_U64)
        self.dep = np.zeros(1024, dtype=np.int64)
        self.goal_bit = np.zeros(1024, dtype=_U64)
        self.u32 = np.zeros(1024, dtype=bool)
        self.nonzero = np.zeros(1024, dtype=bool)
        self._salt = _U64(salt)
        self._lane_salt = _mix(np.arange(lanes, dtype=_U64) * _U64(0x632BE59BD9B4E019) + self._salt)
        self._index = _Index()  # fold of a vector -> id
        self._collided: dict[bytes, int] = {}  # vectors whose fold is another vector's: exact, by bytes
        self._single: dict[bytes, int] = {}  # cache of intern_one

    def _grow(self, need: int) -> None:
        size = len(self.key1)
        if need <= size:
            return
        new = max(need, 2 * size)
        for name in ("vectors", "key1", "key2", "dep", "goal_bit", "u32", "nonzero"):
            old = getattr(self, name)
            grown = np.zeros((new,) + old.shape[1:], dtype=old.dtype)
            grown[:size] = old
            setattr(self, name, grown)

    def _fold(self, vectors: np.ndarray) -> np.ndarray:
        """A 64-bit key per vector: lanes mixed with their own offsets, summed, mixed again."""
        lanes = _mix(vectors + self._lane_salt[None, :])
        return _mix(lanes.sum(axis=1, dtype=_U64) ^ self._salt)

    def _store(self, vectors: np.ndarray, dep) -> np.ndarray:
        ids = np.arange(self.count, self.count + len(vectors))
        self._grow(self.count + len(vectors))
        self.vectors[ids] = vectors
        self.dep[ids] = dep
        self.key1[ids] = _mix(ids.astype(_U64) ^ self._salt)
        self.key2[ids] = _mix(ids.astype(_U64) * _U64(0x2545F4914F6CDD1D) + self._salt + _U64(1))
        self.u32[ids] = (vectors < _U64(1 << 32)).all(axis=1)
        self.nonzero[ids] = (vectors != 0).all(axis=1)
        self.count += len(vectors)
        return ids

    def intern(self, vectors: np.ndarray, dep) -> np.ndarray:
        """Ids of the rows of ``vectors`` (m, lanes), creating new ids as needed; ``dep`` (m,) or a scalar:
        the context dependence of new values."""
        vectors = np.ascontiguousarray(vectors, dtype=_U64).reshape(-1, self.lanes)
        if not len(vectors):
            return np.zeros(0, dtype=np.int64)
        dep = np.broadcast_to(np.asarray(dep, dtype=np.int64), (len(vectors),))
        keys, first, inverse = np.unique(self._fold(vectors), return_index=True, return_inverse=True)
        found = self._index.get(keys, -1)
        new = np.flatnonzero(found < 0)
        if len(new):
            found[new] = self._store(vectors[first[new]], dep[first[new]])
            self._index.add(keys[new], found[new])
        ids = found[inverse]
        for row in np.flatnonzero((self.vectors[ids] != vectors).any(axis=1)):
            ids[row] = self._intern_collided(vectors[row], int(dep[row]))  # a 64-bit fold collision
        return ids

    def intern_one(self, vector: np.ndarray, dep: int) -> int:
        """The id of one vector (the per-operand-tuple steps call this often: an exact bytes cache first)."""
        key = np.ascontiguousarray(vector, dtype=_U64).tobytes()
        found = self._single.get(key)
        if found is None:
            found = self._single[key] = int(self.intern(np.frombuffer(key, dtype=_U64)[None, :], dep)[0])
        return found

    def _intern_collided(self, vector: np.ndarray, dep: int) -> int:
        key = vector.tobytes()
        found = self._collided.get(key)
        if found is None:
            found = self._collided[key] = int(self._store(vector[None, :], dep)[0])
        return found

    def constant(self, value: int) -> int:
        return int(self.intern(np.full((1, self.lanes), value % P, dtype=_U64), 0)[0])


# ============================================================================================= the moves

_PUB, _SEC, _OUT, _DIG, _SIDE = range(5)  # meta columns: input consumed, output written, digests, side id
_META = 5


@dataclass(frozen=True)
class _Move:
    """One searched instruction. Stack moves (``dup swap pick place pop``) permute ids; every other move is an
    *op*: it reads the top ``reads`` slots, removes the top ``consumes`` and pushes ``produces`` results
    (``results[:, 0]`` ends on top). ``evaluate(space, ids, meta) -> (results, meta, ok)`` runs on distinct
    operand tuples; ``uses_meta`` says whether its outcome depends on the meta columns (then the meta row is
    part of the operand tuple)."""

    instruction: Instruction
    kind: str  # "dup", "swap", "pick", "place", "pop" or "op"
    arg: int = 0
    reads: int = 0
    consumes: int = 0
    produces: int = 0
    evaluate: Callable | None = field(default=None, repr=False, compare=False)
    uses_meta: bool = False

    @property
    def delta(self) -> int:
        if self.kind == "dup":
            return 1
        if self.kind == "pop":
            return -self.arg
        return self.produces - self.consumes if self.kind == "op" else 0

    @property
    def touches(self) -> int:
        """How many top slots must hold live values for the move to be allowed."""
        return self.arg + 1 if self.kind in ("dup", "swap", "pick", "place") else (
            self.arg if self.kind == "pop" else self.reads)


@dataclass(frozen=True)
class _Pure:
    """A value instruction run through the batched executor's evaluator ``operation``: its inputs are the top
    ``stack_inputs`` slots (st0 first) then the constants; ``order`` lists the evaluator's results top-first.
    ``u32_inputs`` / ``nonzero_inputs``: stack inputs that crash the instruction unless u32 / non-zero."""

    operation: str
    stack_inputs: int
    constants: tuple[int, ...] = ()
    order: tuple[int, ...] = (0,)
    u32_inputs: tuple[int, ...] = ()
    nonzero_inputs: tuple[int, ...] = ()


def _pure(name: str, operation: str | None = None, **kw) -> _Pure:
    spec = isa.spec(name)
    return _Pure(operation or name, spec.reads(), u32_inputs=spec.u32_operands, **kw)


_PURE: dict[str, _Pure] = {
    **{name: _pure(name) for name in ("add", "mul", "eq", "lt", "and", "xor", "pow", "log_2_floor", "pop_count")},
    "invert": _pure("invert", nonzero_inputs=(0,)),
    "split": _pure("split", order=(1, 0)),  # hi, then lo on top
    "div_mod": _pure("div_mod", order=(1, 0)),  # quotient, then remainder on top
    **{name: _pure(name, order=(0, 1, 2)) for name in ("xx_add", "xx_mul", "x_invert", "xb_mul")},  # c0 on top
    "hash": _pure("hash", "permute", constants=(1,) * 6, order=(0, 1, 2, 3, 4)),  # digest[0] on top
    "assert": _pure("assert", order=()),
    "assert_vector": _pure("assert_vector", order=()),
}

_MISS, _CRASH = -2, -1


class _Memo:
    """Results of one value instruction per operand tuple, kept across layers and iterations (ids are
    stable within a space).

    A *code* per tuple: ``-1`` crash; else the result id (one result), 0 (no result) or a slot of ``rows``
    (several results). Tuples of up to two ids are keyed exactly (two 32-bit ids in a 64-bit key) and the
    index holds their code; wider tuples are keyed by a 64-bit fold, the index holds their slot and the
    stored operands are compared, so a fold collision is only a miss (recomputed, never stored twice)."""

    def __init__(self, reads: int, width: int):
        self.reads, self.width = reads, width
        self.wide = reads > 2
        self.index = _Index()
        self.count = 0
        self.rows = np.zeros((0, width), dtype=np.int64)
        self.operands = np.zeros((0, reads), dtype=np.int64)
        self.codes = np.zeros(0, dtype=np.int64)

    def _keys(self, ids: np.ndarray) -> np.ndarray:
        ids = ids.astype(_U64)
        if self.reads == 0:
            return np.zeros(len(ids), dtype=_U64)
        if self.reads == 1:
            return ids[:, 0]
        if self.reads == 2:
            return ids[:, 0] | (ids[:, 1] << _U64(32))
        h = np.full(len(ids), 0x51ED27, dtype=_U64)
        for j in range(self.reads):
            h = _mix(h ^ ids[:, j])
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

    def store(self, keys: np.ndarray, ids: np.ndarray, results: np.ndarray, ok: np.ndarray) -> np.ndarray:
        """Record freshly computed tuples; returns their codes."""
        n = len(keys)
        slots = np.arange(self.count, self.count + n)
        if self.width > 1 or self.wide:
            if self.count + n > len(self.rows):
                size = max(2 * len(self.rows), self.count + n, 64)
                self.rows = _resized(self.rows, size)
                self.operands = _resized(self.operands, size)
                self.codes = _resized(self.codes, size)
            self.rows[slots] = results
            self.operands[slots] = ids
            self.count += n
        if self.width > 1:
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
        if self.width > 1:
            return self.rows[safe], ok
        if self.width == 1:
            return safe[:, None], ok
        return np.zeros((len(codes), 0), dtype=np.int64), ok


def _resized(array: np.ndarray, size: int) -> np.ndarray:
    grown = np.zeros((size,) + array.shape[1:], dtype=array.dtype)
    grown[:len(array)] = array
    return grown


def _evaluate_pure(pure: _Pure, memo: _Memo, space: "_Space", ids: np.ndarray, meta: np.ndarray):
    """Results of a value instruction for distinct operand tuples: memoised, computed for the new ones."""
    codes, keys = memo.lookup(ids)
    miss = np.flatnonzero(codes == _MISS)
    if len(miss):
        results, ok = _compute_pure(pure, space, ids[miss])
        codes[miss] = memo.store(keys[miss], ids[miss], results, ok)
    results, ok = memo.decode(codes)
    return results, meta, ok


def _compute_pure(pure: _Pure, space: "_Space", ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
    x += [np.full((len(run), values.lanes), c % P, dtype=_U64) for c in pure.constants]
    evaluator = _FAST.get(pure.operation, _EVALUATORS[pure.operation])
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


def _batch_inverse(a: np.ndarray) -> np.ndarray:
    """Inverses of non-zero field elements with one exponentiation in all (Montgomery's trick over a product
    tree: about three multiplications per element instead of ~100)."""
    shape = a.shape
    levels = [a.reshape(-1)]
    while len(levels[-1]) > 1:
        x = levels[-1]
        if len(x) % 2:
            x = levels[-1] = np.append(x, _U64(1))
        levels.append(F.vmul(x[0::2], x[1::2]))
    inverse = F.vinv(levels[-1])
    for x in reversed(levels[:-1]):
        inverse = inverse[:len(x) // 2]  # drop the inverse of a padding 1
        below = np.empty(len(x), dtype=_U64)
        below[0::2] = F.vmul(inverse, x[1::2])
        below[1::2] = F.vmul(inverse, x[0::2])
        inverse = below
    return inverse[:int(np.prod(shape))].reshape(shape)


def _fast_invert(x, ctx):
    """``invert`` as the batched executor computes it (callers never pass zero), with batch inversion."""
    a = x[0]
    safe = np.where(a == 0, _U64(1), a)
    return [np.where(a == 0, _U64(0), _batch_inverse(safe))], [(_INVERSE_OF_ZERO, a == 0)]


def _fast_x_invert(x, ctx):
    """``x_invert`` with batch inversion of the norms (the cofactor formula is the field module's)."""
    zero = (x[0] == 0) & (x[1] == 0) & (x[2] == 0)
    (c0, c1, c2), det = F._xinv_cofactors(x[0], x[1], x[2], F.vmul, F.vadd, F.vsub)
    d = _batch_inverse(np.where(zero, _U64(1), det))
    return [F.vmul(c0, d), F.vmul(c1, d), F.vmul(c2, d)], [(_INVERSE_OF_ZERO, zero)]


_INVERSE_OF_ZERO = VM_ERROR_KINDS.index("inverse_of_zero")
_FAST = {"invert": _fast_invert, "x_invert": _fast_x_invert}


def _evaluate_push(constant_id: int):
    def evaluate(space, ids, meta):
        return np.full((len(ids), 1), constant_id, dtype=np.int64), meta, np.ones(len(ids), dtype=bool)
    return evaluate


def _per_row(step: Callable, produces: int) -> Callable:
    """Lift a per-operand-tuple Python step ``(space, ids_row, meta_row) -> (results | None, meta_row)`` to a
    move's ``evaluate`` (used by the rare instructions with side effects; ``None`` means the move fails).
    Outcomes are memoised per (operands, meta): the move belongs to one space, whose ids are stable."""
    memo: dict[tuple, tuple] = {}

    def evaluate(space, ids, meta):
        u = len(ids)
        out = np.zeros((u, produces), dtype=np.int64)
        metas = meta.copy()
        ok = np.zeros(u, dtype=bool)
        for i, (row, meta_row) in enumerate(zip(ids.tolist(), meta.tolist())):
            key = (tuple(row), tuple(meta_row))
            outcome = memo.get(key)
            if outcome is None:
                results, new_meta = step(space, row, meta_row)
                outcome = memo[key] = (results, tuple(new_meta))
            results, new_meta = outcome
            if results is not None:
                ok[i] = True
                out[i, :len(results)] = results
                metas[i] = new_meta
        return out, metas, ok
    return evaluate


# ---- the instructions with side effects, one step each (semantics mirror tasm_env.plan's handlers)


def _read_io_step(n: int, which: int):
    def step(space, ids, meta):
        tokens = space.public_ids if which == _PUB else space.secret_ids
        start = meta[which]
        if start + n > len(tokens):
            return None, meta
        meta = list(meta)
        meta[which] += n
        return [tokens[start + n - 1 - j] for j in range(n)], meta  # the first token read ends deepest
    return step


def _write_io_step(n: int):
    def step(space, ids, meta):
        start = meta[_OUT]
        if ids[:n] != list(space.goal_output[start:start + n]):  # output must stay a prefix of the goal's
            return None, meta
        meta = list(meta)
        meta[_OUT] += n
        return [], meta
    return step


def _merkle_step(space, ids, meta):
    k = meta[_DIG]
    if k >= len(space.digest_ids):
        return None, meta
    results = space.merkle(ids[:6], space.digest_ids[k])
    if results is None:
        return None, meta
    meta = list(meta)
    meta[_DIG] += 1
    return results, meta


def _read_mem_step(n: int):
    def step(space, ids, meta):
        side = meta[_SIDE]
        pointer = ids[0]
        cells = [space.read_ram(side, space.offset(pointer, -k)) for k in range(n)]
        return [space.offset(pointer, -n)] + cells[::-1], meta
    return step


def _write_mem_step(n: int):
    def step(space, ids, meta):
        pointer = ids[0]
        writes = [(space.offset(pointer, k), ids[k + 1]) for k in range(n)]
        meta = list(meta)
        meta[_SIDE] = space.side_after(meta[_SIDE], writes=writes)
        return [space.offset(pointer, n)], meta
    return step


def _with_sponge(space, meta, new_sponge):
    """``meta`` with the sponge replaced (a copy: parent states keep theirs)."""
    meta = list(meta)
    meta[_SIDE] = space.side_after(meta[_SIDE], sponge=new_sponge)
    return meta


def _sponge_init_step(space, ids, meta):
    return [], _with_sponge(space, meta, (space.zero,) * 16)


def _sponge_absorb_step(space, ids, meta):
    sponge = space.sides[meta[_SIDE]][1]
    if sponge is None:  # sponge not initialised: the state crashed
        return None, meta
    return [], _with_sponge(space, meta, space.permute(list(ids[:10]) + list(sponge[10:])))


def _sponge_squeeze_step(space, ids, meta):
    sponge = space.sides[meta[_SIDE]][1]
    if sponge is None:
        return None, meta
    return list(sponge[:10]), _with_sponge(space, meta, space.permute(list(sponge)))  # state[0] ends on top


def _sponge_absorb_mem_step(space, ids, meta):
    sponge = space.sides[meta[_SIDE]][1]
    if sponge is None:
        return None, meta
    pointer = ids[0]
    words = [space.read_ram(meta[_SIDE], space.offset(pointer, i)) for i in range(10)]
    return [space.offset(pointer, 10)] + words[:4], _with_sponge(space, meta, space.permute(words + list(sponge[10:])))


def _merkle_step_mem_step(space, ids, meta):
    pointer = ids[7]
    sibling = [space.read_ram(meta[_SIDE], space.offset(pointer, w)) for w in range(5)]
    results = space.merkle(ids[:6], sibling)
    if results is None:
        return None, meta
    return results + [ids[6], space.offset(pointer, 5)], meta


def _dot_step(rhs_words: int):
    operation = "xx_dot_step" if rhs_words == 3 else "xb_dot_step"

    def step(space, ids, meta):
        side = meta[_SIDE]
        rhs_pointer, lhs_pointer, accumulator = ids[0], ids[1], ids[2:5]
        rhs = [space.read_ram(side, space.offset(rhs_pointer, i)) for i in range(rhs_words)]
        lhs = [space.read_ram(side, space.offset(lhs_pointer, i)) for i in range(3)]
        results = space.apply(operation, accumulator + rhs + lhs, ids)
        return [space.offset(rhs_pointer, rhs_words), space.offset(lhs_pointer, 3)] + results[:3], meta
    return step


_STEPS: dict[str, Callable] = {
    "merkle_step": lambda n: _merkle_step, "read_mem": _read_mem_step, "write_mem": _write_mem_step,
    "sponge_init": lambda n: _sponge_init_step, "sponge_absorb": lambda n: _sponge_absorb_step,
    "sponge_squeeze": lambda n: _sponge_squeeze_step, "sponge_absorb_mem": lambda n: _sponge_absorb_mem_step,
    "merkle_step_mem": lambda n: _merkle_step_mem_step, "xx_dot_step": lambda n: _dot_step(3),
    "xb_dot_step": lambda n: _dot_step(1), "write_io": _write_io_step,
    "read_io": lambda n: _read_io_step(n, _PUB), "divine": lambda n: _read_io_step(n, _SEC),
}


def _move(instruction: Instruction, space: "_Space") -> _Move:
    """The search move of any straight-line instruction (the stack effect comes from the ISA table)."""
    name, arg = instruction.name, instruction.arg
    if name in ("dup", "swap", "pick", "place", "pop"):
        return _Move(instruction, name, arg)
    spec = isa.spec(name)
    if spec.control_flow or name == "nop":
        raise TasmError(f"the exact search handles straight-line blocks only; found `{instruction}`")
    reads, consumes, produces = spec.reads(arg), spec.pops(arg), spec.pushes(arg)
    if name == "push":
        return _Move(instruction, "op", 0, 0, 0, 1, _evaluate_push(space.values.constant(arg)))
    pure = _Pure("add", 1, constants=(arg,)) if name == "addi" else _PURE.get(name)
    if pure is not None:
        memo = _Memo(reads, produces)
        return _Move(instruction, "op", 0, reads, consumes, produces,
                     lambda s, i, m: _evaluate_pure(pure, memo, s, i, m))
    step = _STEPS[name](arg)
    return _Move(instruction, "op", 0, reads, consumes, produces, _per_row(step, produces), uses_meta=True)


def _stack_moves() -> list[Instruction]:
    moves = [Instruction("dup", i) for i in range(16)]
    moves += [Instruction("swap", i) for i in range(1, 16)]
    moves += [Instruction("pick", i) for i in range(2, 16)]
    moves += [Instruction("place", i) for i in range(2, 16)]
    moves += [Instruction("pop", n) for n in range(1, 6)]
    return moves


def instruction_set(baseline: Program, constants: Sequence[int], public: int = 0, secret: int = 0,
                    outputs: int = 0) -> list[Instruction]:
    """The instructions searched for ``baseline`` (see the module docstring): stack moves, pushes and
    ``addi`` of ``constants``, the fixed arithmetic, I/O up to what the baseline reads and writes, and the
    baseline's own memory, hashing and assertion instructions."""
    used = {i.name for i in baseline}
    out = _stack_moves()
    out += [Instruction("push", c) for c in constants]
    out += [Instruction("addi", c) for c in constants if c % P]
    out += [Instruction(name) for name in ARITHMETIC]
    out += [Instruction("read_io", n) for n in range(1, min(5, public) + 1)]
    out += [Instruction("divine", n) for n in range(1, min(5, secret) + 1)]
    out += [Instruction("write_io", n) for n in range(1, min(5, outputs) + 1)]
    if used & MEMORY:
        out += [Instruction("read_mem", n) for n in range(1, 6)] + [Instruction("write_mem", n) for n in range(1, 6)]
    for name in sorted((used & (MEMORY | HASHING | ASSERTIONS)) - {"read_mem", "write_mem"}):
        out.append(Instruction(name))
    return out


# ============================================================================================= the space


class _Space:
    """One search problem on one fingerprint test set: values, the goal, the moves and the lower bound."""

    def __init__(self, baseline: Program, types: tuple[str, ...], instructions: list[Instruction], lanes: int,
                 seed: int, touch_context: bool, counts: tuple[int, int, int, int]):
        public, secret, digests, outputs = counts
        self.baseline, self.types, self.touch_context = baseline, types, touch_context
        self.tests = make_tests(types, lanes, seed, public_tokens=public, secret_tokens=secret,
                                secret_digests=digests)
        self.values = values = _Values(lanes, salt=seed * 0x9E37 + lanes)
        inputs = self.tests.inputs
        initial = values.intern(inputs.stack.T, 0)  # deepest first: 16 context elements, then the inputs
        self.context_ids = initial[:CONTEXT_DEPTH]
        if len(set(self.context_ids.tolist())) != CONTEXT_DEPTH:
            raise TasmError("fingerprint context elements coincide; use another seed")
        values.dep[self.context_ids] = 1 << np.arange(CONTEXT_DEPTH)
        self.public_ids = values.intern(inputs.public_input.T, 0).tolist()
        self.secret_ids = values.intern(inputs.secret_input.T, 0).tolist()
        words = inputs.secret_digests.reshape(lanes, -1).T
        self.digest_ids = [list(d) for d in values.intern(words, 0).reshape(-1, 5).tolist()] if digests else []
        self.zero = values.constant(0)
        self.sides: list[tuple[tuple, tuple | None]] = [((), None)]
        self._side_index: dict[tuple, int] = {((), None): 0}
        self.side_dep: list[int] = [0]
        self._offsets: dict[tuple[int, int], int] = {}
        self._reads: dict[tuple, int] = {}
        self._goal(initial)
        self.moves = [_move(i, self) for i in instructions]
        # RAM and sponge in play: goal states are then compared by RAM contents, not by side id
        self.uses_side = bool({i.name for i in [*baseline, *instructions]} & (MEMORY | HASHING))
        self._shape_bounds()

    # ---- the goal and the bound
    def _goal(self, initial: np.ndarray) -> None:
        run = batch.run_group([self.baseline], self.tests.inputs)
        plan = run.plans[0]
        if (run.crash[0] != batch.NO_CRASH).any():
            raise TaskError("the baseline crashes on a valid fingerprint test; its inputs need narrower types")
        final = self.values.intern(run.values(0, plan.stack), 0)  # (slots, lanes), deepest first
        self.goal_output = self.values.intern(run.values(0, plan.output), 0).tolist()
        self.goal_counts = (plan.public_consumed, plan.secret_consumed, len(self.goal_output), plan.digests_consumed)
        self.baseline_run = run
        base = 0 if self.touch_context else CONTEXT_DEPTH
        self.base = base
        self.start = initial[base:][::-1].copy()  # stored stacks are top-first, without the context if base
        self.goal = final[base:][::-1].copy()
        goal_ids = list(dict.fromkeys(self.goal.tolist()))[:64]
        for bit, gid in enumerate(goal_ids):
            self.values.goal_bit[gid] |= _U64(1) << _U64(bit)
        self.goal_mask = _U64((1 << len(goal_ids)) - 1) if goal_ids else _U64(0)
        # context elements the goal keeps must never be lost (touch_context only)
        keep = [j for j, c in enumerate(self.context_ids.tolist()) if c in set(final.tolist())]
        self.required_context = sum(1 << j for j in keep)

    def _shape_bounds(self) -> None:
        ops = [m for m in self.moves if m.kind == "op"]
        self.grow = max([1] + [m.delta for m in self.moves])
        self.shrink = max([1] + [-m.delta for m in self.moves])
        self.max_new = max([1] + [m.produces for m in ops])
        writes = [m.instruction.arg for m in ops if m.instruction.name == "write_io"]
        self.max_write = max(writes, default=1)
        self.max_read = max([m.instruction.arg for m in ops if m.instruction.name == "read_io"], default=1)
        self.max_divine = max([m.instruction.arg for m in ops if m.instruction.name == "divine"], default=1)

    def depth_bound(self, depth: np.ndarray) -> np.ndarray:
        over = depth - len(self.goal)
        return np.where(over > 0, _ceil_div(over, self.shrink), _ceil_div(-over, self.grow))

    def value_bound(self, present: np.ndarray, meta: np.ndarray) -> np.ndarray:
        """Lower bound from what is still missing: goal values, outputs, input tokens, digests."""
        missing = _popcount(self.goal_mask & ~present)
        h = _ceil_div(missing, self.max_new)
        public, secret, outputs, digests = self.goal_counts
        if outputs:
            h = h + _ceil_div(outputs - meta[:, _OUT], self.max_write)  # write_io creates no values: additive
        if public:
            h = np.maximum(h, _ceil_div(public - meta[:, _PUB], self.max_read))
        if secret:
            h = np.maximum(h, _ceil_div(secret - meta[:, _SEC], self.max_divine))
        if digests:
            h = np.maximum(h, digests - meta[:, _DIG])
        return h

    def width(self, budget: int) -> int:
        """Stored stack width: the deepest a state within ``budget`` instructions can be and still return to
        the goal depth in time."""
        d0, g = len(self.start), len(self.goal)
        deepest = max(min(d0 + self.grow * d, g + self.shrink * (budget - d)) for d in range(budget + 1))
        return max(deepest, d0, g, 1)

    # ---- helpers for the instructions with side effects (per operand tuple; rare)
    def apply(self, operation: str, ids: list[int], depends_on: list[int]) -> list[int]:
        """Results of a batched-executor operation on value ids (crashes are not possible for its callers)."""
        values = self.values
        x = [values.vectors[i][None, :] for i in ids]
        results, _ = _EVALUATORS[operation](x, self.tests.inputs)
        dep = int(np.bitwise_or.reduce(values.dep[list(depends_on)])) if depends_on else 0
        return [values.intern_one(np.asarray(r).reshape(-1), dep) for r in results]

    def offset(self, pointer: int, k: int) -> int:
        """The id of ``pointer + k``."""
        if k == 0:
            return pointer
        found = self._offsets.get((pointer, k))
        if found is None:
            vec = vadd(self.values.vectors[pointer], np.full(self.values.lanes, k % P, dtype=_U64))
            found = self._offsets[(pointer, k)] = self.values.intern_one(vec, int(self.values.dep[pointer]))
        return found

    def read_ram(self, side_id: int, address: int) -> int:
        """The id of what RAM holds at ``address`` after a side's writes (later writes win, lane by lane)."""
        found = self._reads.get((side_id, address))
        if found is not None:
            return found
        side = self.sides[side_id]
        values = self.values
        where = values.vectors[address]
        value = self.tests.inputs.initial_ram(where)
        dep = int(values.dep[address])
        for a, v in side[0]:
            value = np.where(values.vectors[a] == where, values.vectors[v], value)
            dep |= int(values.dep[v])
        found = self._reads[(side_id, address)] = values.intern_one(value, dep)
        return found

    def permute(self, ids: list[int]) -> tuple[int, ...]:
        return tuple(self.apply("permute", ids, ids))

    def merkle(self, stack: list[int], sibling: list[int]) -> list[int] | None:
        index = self.values.vectors[stack[5]]
        if (index >= _U64(1 << 32)).any():
            return None
        return self.apply("merkle", stack[:6] + list(sibling), stack[:6])

    def side_after(self, side_id: int, writes: list[tuple[int, int]] = (), sponge=None) -> int:
        """The side (RAM writes, sponge) after some writes and/or a new sponge state, interned."""
        old_writes, old_sponge = self.sides[side_id]
        memory = list(old_writes)
        for address, value in writes:
            memory = [(a, v) for a, v in memory if a != address] + [(address, value)]
        vectors = self.values.vectors
        if len(memory) > 1:  # addresses that differ on every test commute: sort them for a canonical key
            addr = np.array([vectors[a] for a, _ in memory])
            distinct = all((addr[i] != addr[j]).all() for i in range(len(memory)) for j in range(i))
            if distinct:
                memory.sort()
        key = (tuple(memory), old_sponge if sponge is None else tuple(sponge))
        found = self._side_index.get(key)
        if found is None:
            found = self._side_index[key] = len(self.sides)
            self.sides.append(key)
            dep = 0
            for _, v in memory:
                dep |= int(self.values.dep[v])
            self.side_dep.append(dep)
        return found

    def ram_matches(self, side_id: int) -> bool:
        """Does this side leave RAM as the baseline does, on every fingerprint test?"""
        run, plan = self.baseline_run, self.baseline_run.plans[0]
        writes = self.sides[side_id][0]
        vectors = self.values.vectors
        addresses = [run.values(0, plan.writes[0::2])] if plan.writes else []
        if writes:
            addresses.append(np.array([vectors[a] for a, _ in writes]))
        if not addresses:
            return True
        addresses = np.concatenate(addresses)
        expected = run.final_ram(0, addresses)
        got = self.tests.inputs.initial_ram(addresses)
        for a, v in writes:
            got = np.where(vectors[a][None, :] == addresses, vectors[v][None, :], got)
        return bool((expected == got).all())


# ============================================================================================ the layers


@dataclass
class _Layer:
    """The states of one length: stacks (top-first id rows, 0 below the bottom), depths, meta, hashes, the
    goal values present, the value part of the bound, and how each was reached (parent index, move index)."""

    rows: np.ndarray
    depth: np.ndarray
    meta: np.ndarray
    h1: np.ndarray
    h2: np.ndarray
    present: np.ndarray
    hval: np.ndarray
    parent: np.ndarray
    move: np.ndarray

    def __len__(self) -> int:
        return len(self.depth)


@dataclass
class _Children:
    """Surviving children of one move over one chunk, not yet materialised."""

    move: int
    parent: np.ndarray  # indices into the layer
    depth: np.ndarray
    h1: np.ndarray
    h2: np.ndarray
    present: np.ndarray
    meta: np.ndarray | None  # None: the parents' meta
    top: np.ndarray | None  # op results (top-first); None for stack moves


def _column_map(move: _Move, width: int) -> np.ndarray:
    """Source column of each column of the child row (``width`` = the empty slot) for a stack move or, for an
    op, of the columns below its results."""
    cols = list(range(width))
    i = move.arg
    if move.kind != "op" and move.touches > width:  # never legal at this width
        return np.arange(width)
    if move.kind == "dup":
        src = [i] + cols[:-1]
    elif move.kind == "swap":
        src = cols[:]
        src[0], src[i] = i, 0
    elif move.kind == "pick":
        src = [i] + cols[:i] + cols[i + 1:]
    elif move.kind == "place":
        src = cols[1:i + 1] + [0] + cols[i + 1:]
    elif move.kind == "pop":
        src = cols[i:] + [width] * i
    else:
        src = [move.consumes + j for j in range(width - move.produces)]
    return np.minimum(np.array(src, dtype=np.int64), width)


class _Engine:
    """Breadth-first layers under the bound ``B``; one instance per fingerprint test set."""

    def __init__(self, space: _Space, max_bound: int, deadline: float, node_limit: int, nodes: int):
        self.space = space
        self.width = space.width(max_bound)
        self.deadline = deadline
        self.node_limit = node_limit
        self.nodes = nodes
        rng = np.random.default_rng(int(space.values._salt) + 17)
        self.r1 = rng.integers(0, 1 << 64, size=self.width + 2, dtype=_U64)
        self.r2 = rng.integers(0, 1 << 64, size=self.width + 2, dtype=_U64)
        self.colmaps = [_column_map(m, self.width) for m in space.moves]
        self.stopped: str | None = None
        self.goal_preimage = [self._preimage_hash(m, c) for m, c in zip(space.moves, self.colmaps)]

    def _preimage_hash(self, move: _Move, colmap: np.ndarray) -> tuple[np.uint64, np.uint64] | None:
        """The hashes of the one state from which a permutation or ``dup`` reaches the goal (None if no state
        does, or for other moves)."""
        s, goal = self.space, self.space.goal
        if move.kind not in ("dup", "swap", "pick", "place") or move.touches > len(goal) - (move.kind == "dup"):
            return None
        child = np.zeros(self.width + 1, dtype=np.int64)
        child[:len(goal)] = goal
        parent = np.zeros(self.width + 1, dtype=np.int64)
        parent[colmap] = child[:self.width]  # child[j] = parent[colmap[j]]
        depth = len(goal) - move.delta
        if move.kind == "dup":
            if goal[0] != goal[move.arg + 1]:
                return None
            parent[:self.width] = np.append(child[1:self.width], 0)
        meta = np.array([list(s.goal_counts) + [0]], dtype=np.int64)
        h1, h2 = self._row_hash(parent[None, :self.width], np.array([depth]), meta)
        return h1[0], h2[0]  # numpy uint64 scalars: compared with uint64 arrays

    # ---- hashing
    def _meta_hash(self, meta: np.ndarray, salt: int) -> np.ndarray:
        """Hash terms of the meta columns (input consumed, output written, digests, side)."""
        h = np.zeros(len(meta), dtype=_U64)
        with np.errstate(over="ignore"):
            for m in range(_META):
                h += _mix(meta[:, m].astype(_U64) * _U64(0x100000001B3) + _U64(salt * 131 + m))
        return h

    def _row_hash(self, rows: np.ndarray, depth: np.ndarray, meta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Both state hashes from scratch: sum over slots of key(id) * r(position from the bottom), plus meta."""
        v = self.space.values
        pos = np.maximum(depth[:, None] - 1 - np.arange(rows.shape[1])[None, :], 0)
        with np.errstate(over="ignore"):
            h1 = (v.key1[rows] * self.r1[pos]).sum(axis=1, dtype=_U64) + self._meta_hash(meta, 1)
            h2 = (v.key2[rows] * self.r2[pos]).sum(axis=1, dtype=_U64) + self._meta_hash(meta, 2)
        return h1, h2

    def _present(self, rows: np.ndarray) -> np.ndarray:
        """Bitmask of the goal values among the ids of each row."""
        return np.bitwise_or.reduce(self.space.values.goal_bit[rows], axis=1) if rows.shape[1] else \
            np.zeros(len(rows), dtype=_U64)

    def initial(self) -> _Layer:
        s = self.space
        rows = np.zeros((1, self.width), dtype=_ID)
        rows[0, :len(s.start)] = s.start
        depth = np.array([len(s.start)])
        meta = np.zeros((1, _META), dtype=np.int32)
        h1, h2 = self._row_hash(rows, depth, meta)
        present = self._present(rows)
        return _Layer(rows, depth, meta, h1, h2, present, s.value_bound(present, meta), np.zeros(1, np.int64),
                      np.full(1, -1, np.int64))

    def is_goal(self, rows: np.ndarray, depth: np.ndarray, meta: np.ndarray) -> np.ndarray:
        """Exact goal test of materialised states."""
        s = self.space
        goal_row = np.zeros(self.width, dtype=np.int64)
        goal_row[:len(s.goal)] = s.goal
        ok = (depth == len(s.goal)) & (rows == goal_row[None, :]).all(axis=1)
        ok &= (meta[:, :_SIDE] == np.array(s.goal_counts)[None, :]).all(axis=1)  # _PUB, _SEC, _OUT, _DIG
        if s.uses_side:
            for i in np.flatnonzero(ok):
                ok[i] = s.ram_matches(int(meta[i, _SIDE]))
        return ok

    # ---- one layer
    def expand(self, layer: _Layer, d: int, bound: int, seen) -> tuple[list[_Children], list[tuple[int, int]]]:
        """Children of every state of ``layer`` (length ``d``) that may still reach the goal within ``bound``
        and were not met before in this iteration (``seen``, which they join), and the (parent, move) pairs
        that reach the goal. Sets ``stopped`` when a limit is hit."""
        batches: list[_Children] = []
        goals: list[tuple[int, int]] = []
        last = d + 1 == bound  # the children are only looked at for the goal
        kept = 0
        for lo in range(0, len(layer), _CHUNK):
            hi = min(len(layer), lo + _CHUNK)
            if self.nodes + (hi - lo) > self.node_limit:
                self.stopped = "nodes"
                break
            self.nodes += hi - lo
            chunk = _Chunk(self, layer, lo, hi)
            fresh = []
            for m, move in enumerate(self.space.moves):
                if time.perf_counter() > self.deadline:
                    self.stopped = "time"
                    break
                children = chunk.final_children(m, move) if last else chunk.children(m, move, d, bound)
                if children is not None:
                    goals += chunk.goal_hits(children, m)
                    fresh.append(children)
            if not last and fresh:
                new = seen.add_new(np.concatenate([b.h1 for b in fresh]), np.concatenate([b.h2 for b in fresh]))
                bounds = np.cumsum([0] + [len(b.h1) for b in fresh])
                for b, lo_, hi_ in zip(fresh, bounds[:-1], bounds[1:]):
                    sel = np.flatnonzero(new[lo_:hi_])
                    if len(sel):
                        batches.append(_select(b, sel))
                        kept += len(sel)
                if kept > self.node_limit - self.nodes:  # the next layer could not be expanded: stop now
                    self.stopped = self.stopped or "nodes"
            if self.stopped:
                break
        return batches, goals

    def merge(self, layer: _Layer, batches: list[_Children]) -> _Layer | None:
        """The next layer: the children (already distinct), materialised."""
        if not batches:
            return None
        parts = [self._materialise(layer, b, np.arange(len(b.h1))) for b in batches]
        rows, depth, meta, present, parent, move = (np.concatenate(x) for x in zip(*parts))
        h1 = np.concatenate([b.h1 for b in batches])
        h2 = np.concatenate([b.h2 for b in batches])
        return _Layer(rows, depth, meta, h1, h2, present, self.space.value_bound(present, meta), parent, move)

    def _materialise(self, layer: _Layer, b: _Children, sel: np.ndarray):
        """Rows, depths, meta, goal values present, parents and moves of the selected children."""
        parent = b.parent[sel]
        src = np.concatenate([layer.rows[parent], np.zeros((len(parent), 1), dtype=_ID)], axis=1)
        below = src[:, self.colmaps[b.move]]  # the last column stands for an empty slot
        rows = below if b.top is None else np.concatenate([b.top[sel].astype(_ID), below], axis=1)
        meta = layer.meta[parent] if b.meta is None else b.meta[sel].astype(np.int32)
        return (rows, b.depth[sel], meta, b.present[sel], parent.astype(np.int32),
                np.full(len(sel), b.move, dtype=np.int32))


class _StateSet:
    """The states met so far in an iteration, as a vectorised open-addressing hash set of 128-bit state
    hashes (linear probing; every probe round handles all pending keys at once, so it suits few large
    batches)."""

    def __init__(self, capacity: int = 1 << 16):
        self.t1 = np.zeros(capacity, dtype=_U64)  # 0 marks an empty slot
        self.t2 = np.zeros(capacity, dtype=_U64)
        self.claim = np.zeros(capacity, dtype=np.int64)
        self.size = 0

    def add_new(self, h1: np.ndarray, h2: np.ndarray) -> np.ndarray:
        """Insert the states; True where a state was not in the set before (for states repeated within the
        input, exactly one occurrence is new)."""
        if 2 * (self.size + len(h1)) > len(self.t1):  # load at most 1/2
            self._grow(2 * (self.size + len(h1)))
        h1 = np.where(h1 == 0, _U64(1), h1)  # (a state hashing to 0 shares 1's first word: 2^-64)
        mask = len(self.t1) - 1
        slot = (h1 & _U64(mask)).astype(np.int64)  # h1 is already a well-mixed sum of random products
        new = np.zeros(len(h1), dtype=bool)
        pending = np.arange(len(h1))
        while len(pending):
            s = slot[pending]
            t1 = self.t1[s]
            known = (t1 == h1[pending]) & (self.t2[s] == h2[pending])
            empty = t1 == 0
            claimants, at = pending[empty], s[empty]
            self.claim[at] = claimants  # one claimant per empty slot wins
            won = self.claim[at] == claimants
            winners = claimants[won]
            self.t1[at[won]], self.t2[at[won]] = h1[winners], h2[winners]
            new[winners] = True
            self.size += len(winners)
            # losers retry the same slot (now holding the winner: equal or not); occupied ones move on
            moving = ~known & ~empty
            slot[pending[moving]] = (s[moving] + 1) & mask
            keep = moving.copy()
            keep[np.flatnonzero(empty)[~won]] = True
            pending = pending[keep]
        return new

    def _grow(self, need: int) -> None:
        capacity = len(self.t1)
        while capacity < need:
            capacity *= 2
        full = np.flatnonzero(self.t1)
        h1, h2 = self.t1[full], self.t2[full]
        self.__init__(capacity)
        self.add_new(h1, h2)


def _select(b: _Children, sel: np.ndarray) -> _Children:
    return _Children(b.move, b.parent[sel], b.depth[sel], b.h1[sel], b.h2[sel], b.present[sel],
                     None if b.meta is None else b.meta[sel], None if b.top is None else b.top[sel])


class _Chunk:
    """Per-chunk precomputation: the parents' top-window hash terms, so that a stack move's child hash is
    its parent's plus O(1) terms. Positions count from the bottom of the stored stack, so slots a move does
    not touch keep their terms."""

    def __init__(self, engine: _Engine, layer: _Layer, lo: int, hi: int):
        self.engine, self.space, self.layer, self.lo = engine, engine.space, layer, lo
        self.rows = layer.rows[lo:hi]
        self.depth = layer.depth[lo:hi]
        self.meta = layer.meta[lo:hi]
        self.h1, self.h2 = layer.h1[lo:hi], layer.h2[lo:hi]
        self.present, self.hval = layer.present[lo:hi], layer.hval[lo:hi]
        self.k = min(_WINDOW, engine.width)

    @functools.cached_property
    def terms(self) -> list[tuple[np.ndarray, ...]]:
        """Per hash: the top window's keys ``f``, position weights ``rp``, the weight of a new top ``rtop``,
        and prefix sums: ``s[:, n]`` = sum of f*rp over the top n slots, ``t``/``u`` the same with the
        weights shifted by one slot down/up (what ``pick``/``place`` do to the slots above their index)."""
        v, e, k = self.space.values, self.engine, self.k
        win = self.rows[:, :k]
        pos = np.maximum(self.depth[:, None] - 1 - np.arange(k)[None, :], 0)
        terms = []
        with np.errstate(over="ignore"):
            for key, r in ((v.key1, e.r1), (v.key2, e.r2)):
                f = key[win]
                rp = r[pos]
                zero = np.zeros((len(win), 1), dtype=_U64)
                s = np.concatenate([zero, np.cumsum(f * rp, axis=1, dtype=_U64)], axis=1)
                t = np.concatenate([zero, np.cumsum(f[:, :-1] * rp[:, 1:], axis=1, dtype=_U64)], axis=1)
                u = np.concatenate([zero, zero, np.cumsum(f[:, 1:] * rp[:, :-1], axis=1, dtype=_U64)], axis=1)
                terms.append((f, rp, r[self.depth], s, t, u))
        return terms

    def _delta(self, move: _Move, idx: np.ndarray, which: int) -> np.ndarray:
        """Hash change of a stack move for the parents ``idx`` (chunk-local)."""
        f, rp, rtop, s, t, u = self.terms[which]
        i = move.arg
        with np.errstate(over="ignore"):
            if move.kind == "dup":
                return f[idx, i] * rtop[idx]
            if move.kind == "swap":
                return (f[idx, i] - f[idx, 0]) * (rp[idx, 0] - rp[idx, i])
            if move.kind == "pick":
                return f[idx, i] * rp[idx, 0] + t[idx, i] - s[idx, i + 1]
            if move.kind == "place":
                return u[idx, i + 1] + f[idx, 0] * rp[idx, i] - s[idx, i + 1]
            return _U64(0) - s[idx, i]  # pop

    def children(self, m: int, move: _Move, d: int, bound: int) -> _Children | None:
        """The children by ``move`` of this chunk's parents (at length ``d``) that are legal, alive and
        within ``bound``, with their hashes; None if there are none."""
        if move.kind == "op":
            return self._op_children(m, move, d, bound)
        s, e = self.space, self.engine
        depth = self.depth + move.delta
        legal = (self.depth >= move.touches) & (depth <= e.width)
        if self.space.base == 0:
            legal &= depth >= CONTEXT_DEPTH  # Triton's 16-element floor
        if move.kind == "pop":
            idx = np.flatnonzero(legal & (d + 1 + s.depth_bound(depth) <= bound))
            rest = self.rows[idx, move.arg:]
            present = e._present(rest)
            if s.touch_context:
                alive = self._alive(rest, idx, None)
                idx, rest, present = idx[alive], rest[alive], present[alive]
            hval = s.value_bound(present, self.meta[idx])
            ok = d + 1 + np.maximum(s.depth_bound(depth[idx]), hval) <= bound
            idx, present = idx[ok], present[ok]
        else:
            h = np.maximum(s.depth_bound(depth), self.hval)
            idx = np.flatnonzero(legal & (d + 1 + h <= bound))
            present = self.present[idx]
        if not len(idx):
            return None
        h1 = self.h1[idx] + self._delta(move, idx, 0)
        h2 = self.h2[idx] + self._delta(move, idx, 1)
        return _Children(m, idx + self.lo, depth[idx], h1, h2, present, None, None)

    @functools.cached_property
    def counts_done(self) -> np.ndarray:
        """Parents that have consumed and written exactly what the baseline does."""
        return (self.meta[:, :_SIDE] == np.array(self.space.goal_counts)[None, :]).all(axis=1)

    def final_children(self, m: int, move: _Move) -> _Children | None:
        """The last layer of an iteration: only children that may be the goal itself, found without the
        bound machinery (stack moves: the child's hash is the goal's; ops: the slots below the results
        already match the goal and the results are the goal's top values)."""
        s, e = self.space, self.engine
        goal = s.goal
        depth = self.depth + move.delta
        legal = (self.depth >= move.touches) & (depth == len(goal))
        if not move.uses_meta:  # the input consumed and output written cannot change any more
            legal &= self.counts_done
        idx = np.flatnonzero(legal)
        if not len(idx):
            return None
        if move.kind != "op":
            if s.uses_side:  # with RAM the side id may differ from the goal's and still match: test exactly
                pass
            elif move.kind == "pop":  # the slots below the popped ones must be the goal's
                idx = idx[(self.rows[idx, move.arg:move.arg + len(goal)] == goal[None, :]).all(axis=1)]
            else:  # a permutation or dup reaches the goal from one state only: compare with its hash
                pre = e.goal_preimage[m]
                idx = idx[(self.h1[idx] == pre[0]) & (self.h2[idx] == pre[1])] if pre else idx[:0]
            if not len(idx):
                return None
            zero = np.zeros(len(idx), dtype=_U64)
            return _Children(m, idx + self.lo, depth[idx], zero, zero, np.full(len(idx), s.goal_mask), None, None)
        c, q = move.consumes, move.produces
        below = self.rows[idx, c:c + len(goal) - q]
        idx = idx[(below == goal[None, q:]).all(axis=1)]
        if not len(idx):
            return None
        results, metas, ok, inverse = self._evaluate_distinct(move, idx)
        hit = ok & (results[:, :q] == goal[None, :q]).all(axis=1)
        keep = hit[inverse]
        idx, inverse = idx[keep], inverse[keep]
        if not len(idx):
            return None
        zero = np.zeros(len(idx), dtype=_U64)
        return _Children(m, idx + self.lo, depth[idx], zero, zero, np.full(len(idx), s.goal_mask),
                         metas[inverse] if move.uses_meta else None, results[inverse][:, :q])

    def _evaluate_distinct(self, move: _Move, idx: np.ndarray):
        """Run ``move`` once per distinct operand tuple (with side state, if it uses it) of the states ``idx``;
        ``inverse`` maps each state to its tuple's row of ``results``, ``metas`` and ``ok``."""
        key = self.rows[idx, :move.reads]
        if move.uses_meta:
            key = np.concatenate([key, self.meta[idx]], axis=1)
        unique, inverse = _unique_rows(key)
        results, metas, ok = move.evaluate(self.space, unique[:, :move.reads], unique[:, move.reads:]
                                           if move.uses_meta else np.zeros((len(unique), _META), dtype=np.int64))
        return results, metas, ok, inverse

    def _alive(self, rest: np.ndarray, idx: np.ndarray, extra_dep: np.ndarray | None) -> np.ndarray:
        """Does every context element the goal keeps survive (on the stack, or something depends on it)?"""
        s = self.space
        dep = np.bitwise_or.reduce(s.values.dep[rest], axis=1) if rest.shape[1] else np.zeros(len(rest), np.int64)
        if extra_dep is not None:
            dep |= extra_dep
        if s.uses_side:
            dep |= np.array(s.side_dep, dtype=np.int64)[self.meta[idx, _SIDE]]
        return (dep & s.required_context) == s.required_context

    def _op_children(self, m: int, move: _Move, d: int, bound: int) -> _Children | None:
        """Children by a value (or side-effect) instruction: evaluated once per distinct operand tuple, then
        filtered by crash, liveness of the context and the bound."""
        s, e = self.space, self.engine
        depth = self.depth + move.delta
        legal = (self.depth >= move.touches) & (depth <= e.width) & (depth >= 0)
        if s.base == 0:
            legal &= depth >= CONTEXT_DEPTH
        idx = np.flatnonzero(legal & (d + 1 + s.depth_bound(depth) <= bound))
        if not len(idx):
            return None
        results, metas, ok, inverse = self._evaluate_distinct(move, idx)
        good = ok[inverse]
        idx, inverse = idx[good], inverse[good]
        if not len(idx):
            return None
        top = results[inverse][:, :move.produces]
        meta = metas[inverse] if move.uses_meta else None
        rest = self.rows[idx, move.consumes:]
        present = e._present(rest) | e._present(top)
        if s.touch_context:
            alive = self._alive(rest, idx, np.bitwise_or.reduce(s.values.dep[top], axis=1) if move.produces
                                else None)
            idx, top, rest, present = idx[alive], top[alive], rest[alive], present[alive]
            meta = meta[alive] if meta is not None else None
        child_depth = depth[idx]
        child_meta = meta if meta is not None else self.meta[idx]
        h = np.maximum(s.depth_bound(child_depth), s.value_bound(present, child_meta))
        ok = d + 1 + h <= bound
        if not ok.any():
            return None
        idx, top, present, child_depth = idx[ok], top[ok], present[ok], child_depth[ok]
        child_meta = child_meta[ok]
        h1, h2 = self._op_hash(move, idx, top, child_depth, child_meta if meta is not None else None)
        return _Children(m, idx + self.lo, child_depth, h1, h2, present, child_meta if meta is not None else None,
                         top)

    def _op_hash(self, move: _Move, idx: np.ndarray, top: np.ndarray, depth: np.ndarray,
                 meta: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Children's hashes: the parent's, minus the consumed slots' terms, plus the results' terms (and the
        meta change)."""
        v, e = self.space.values, self.engine
        out = []
        with np.errstate(over="ignore"):
            for which, (key, r, h) in enumerate(((v.key1, e.r1, self.h1), (v.key2, e.r2, self.h2))):
                s = self.terms[which][3]
                if move.consumes <= self.k:
                    removed = s[idx, move.consumes]
                else:  # wider than the window (never for Triton's instructions): sum directly
                    pos = np.maximum(self.depth[idx, None] - 1 - np.arange(move.consumes)[None, :], 0)
                    removed = (key[self.rows[idx, :move.consumes]] * r[pos]).sum(axis=1, dtype=_U64)
                pos = np.maximum(depth[:, None] - 1 - np.arange(move.produces)[None, :], 0)
                added = (key[top] * r[pos]).sum(axis=1, dtype=_U64)
                child = h[idx] - removed + added
                if meta is not None:
                    child = child - e._meta_hash(self.meta[idx], which + 1) + e._meta_hash(meta, which + 1)
                out.append(child)
        return out[0], out[1]

    def goal_hits(self, children: _Children, m: int) -> list[tuple[int, int]]:
        """(parent, move) pairs among ``children`` whose state is the goal."""
        s = self.space
        near = np.flatnonzero((children.depth == len(s.goal)) & (_popcount(s.goal_mask & ~children.present) == 0))
        if not len(near):
            return []
        sub = _select(children, near)
        rows, depth, meta, *_ = self.engine._materialise(self.layer, sub, np.arange(len(near)))
        hit = self.engine.is_goal(rows, depth, meta)
        return [(int(p), m) for p in sub.parent[hit]]


def _unique_rows(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of an int64 matrix and the inverse map (exact, through a byte view)."""
    key = np.ascontiguousarray(key, dtype=np.int64)
    if key.shape[1] == 0:
        return key[:1], np.zeros(len(key), dtype=np.int64)
    if key.shape[1] == 1:
        unique, inverse = np.unique(key[:, 0], return_inverse=True)
        return unique[:, None], inverse
    view = key.view(np.dtype((np.void, key.dtype.itemsize * key.shape[1]))).ravel()
    _, first, inverse = np.unique(view, return_index=True, return_inverse=True)
    return key[first], inverse


# =============================================================================================== search


def _baseline_of(baseline, inputs) -> tuple[Program, tuple[str, ...]]:
    """A Task-like object (``.baseline``, ``.inputs``) or a program with explicit input types."""
    if hasattr(baseline, "baseline") and hasattr(baseline, "inputs"):
        return Program.coerce(baseline.baseline), tuple(baseline.inputs)
    if inputs is None:
        raise TasmError("search needs the input types of the baseline, e.g. inputs=('field', 'field')")
    return Program.coerce(baseline), tuple(inputs)


def _constants(baseline: Program, verifier: Verifier, extra: Sequence[int]) -> list[int]:
    """Fixed constants, the baseline's literals and their negations, extra ones, then folded constants."""
    ordered: list[int] = list(FIXED_CONSTANTS)
    for ins in baseline:
        if ins.name in ("push", "addi"):
            ordered += [ins.arg % P, (-ins.arg) % P]
    ordered += [c % P for c in extra]
    run = batch.GroupRun([verifier.plan], verifier.tests.inputs)
    V = run.V[verifier.tests.inputs.shape.shared:]
    folded = V[(V == V[:, :1]).all(axis=1), 0] if len(V) else []
    ordered += [int(c) for c in folded]
    return list(dict.fromkeys(ordered))[:MAX_CONSTANTS]


def _parse_instructions(instructions: Sequence[Instruction | str]) -> list[Instruction]:
    """A user's instruction set, checked: straight-line instructions, no ``nop``, each once."""
    out: list[Instruction] = []
    for item in instructions:
        parsed = [item] if isinstance(item, Instruction) else list(Program.parse(item))
        for ins in parsed:
            if ins.name in isa.CONTROL_FLOW or ins.name == "nop" or ins.name == "halt":
                raise TasmError(f"the exact search cannot use `{ins}`: straight-line instructions only, no `nop`")
            out.append(ins)
    return list(dict.fromkeys(out))


def _path(layers: list[_Layer], d: int, parent: int, move: int) -> list[int]:
    """Move indices from the initial state to the child (``move`` applied to state ``parent`` of layer d)."""
    moves = [move]
    i = parent
    for k in range(d, 0, -1):
        moves.append(int(layers[k].move[i]))
        i = int(layers[k].parent[i])
    return moves[::-1]


def _reads_below_inputs(program: Program, inputs: int) -> bool:
    """Does the program ever read or remove a slot below its own live values?"""
    live = inputs
    for ins in program:
        move = _Move(ins, ins.name, ins.arg) if ins.name in ("dup", "swap", "pick", "place", "pop") else None
        spec = ins.spec
        touches = move.touches if move else spec.reads(ins.arg)
        if touches > live or live + spec.delta(ins.arg) < 0:
            return True
        live += spec.delta(ins.arg)
    return False


def search(baseline, inputs: Sequence[str] | None = None, *, max_cycles: int | None = None,
           time_limit: float = 10.0, node_limit: int = 2_000_000, seed: int = 0, touch_context: bool = False,
           extra_constants: Sequence[int] = (), instructions: Sequence[Instruction | str] | None = None,
           fingerprint_tests: int = 8) -> SearchResult:
    """The shortest program equivalent to ``baseline`` (a Task, a Program or TASM text with ``inputs``),
    proved optimal within the searched instruction set when the search completes (see the module docstring).

    ``max_cycles`` limits the lengths searched; ``time_limit`` (seconds) and ``node_limit`` (states expanded)
    stop the search early, returning the best verified program so far with ``proved=False``.
    ``touch_context`` allows reads below the block's live values; ``extra_constants`` adds ``push``/``addi``
    constants; ``instructions`` replaces the searched instruction set altogether (instructions or their text,
    e.g. ``["dup 0", "add", "push 1"]``; optimality is then relative to exactly that set);
    ``fingerprint_tests`` is the initial number of fingerprint tests (doubled on a collision)."""
    started = time.perf_counter()
    program, types = _baseline_of(baseline, inputs)
    if not program.is_straight_line or any(i.name == "halt" for i in program):
        raise TasmError("the exact search handles straight-line blocks without `halt` only")
    verifier = Verifier(program, types, n_tests=VERIFY_TESTS, seed=seed + 7919)
    plan = verifier.plan
    counts = (plan.public_consumed, plan.secret_consumed, plan.digests_consumed, len(plan.output))
    if instructions is None:
        constants = _constants(program, verifier, extra_constants)
        searched = instruction_set(program, constants, plan.public_consumed, plan.secret_consumed, len(plan.output))
    else:
        searched = _parse_instructions(instructions)
    if not touch_context and _reads_below_inputs(program, len(types)):
        touch_context = True  # the baseline itself reaches into the context: search the same way
    scope = ("any stack slot (context elements may move, never be lost)" if touch_context else
             "reads limited to the block's live values (the emission env's `stack` masking)")
    upper = len(program) - 1 if max_cycles is None else min(len(program) - 1, max_cycles)
    deadline = started + time_limit
    lanes, nodes, first_bound = fingerprint_tests, 0, 0
    cap = len(program)  # a bound skipped after unresolved collisions caps what is proven
    best, proven, stopped, names = program, 0, "depth", ()
    while True:
        space = _Space(program, types, searched, lanes, seed + lanes, touch_context, counts)
        names = tuple(str(m.instruction) for m in space.moves)
        engine = _Engine(space, max(upper, 0), deadline, node_limit, nodes)
        outcome = _iterate(engine, verifier, first_bound, upper)
        nodes = engine.nodes
        proven = max(proven, min(outcome.lower, cap))
        if outcome.program is not None:
            best = outcome.program
        stopped = outcome.stopped
        if not outcome.collision:
            break
        if lanes < MAX_FINGERPRINT_TESTS:
            lanes *= 2  # the fingerprint could not tell a wrong program from the baseline: use more tests
            first_bound = outcome.lower
        else:  # give up on this length: it stays unproven, search the longer ones
            cap = min(cap, outcome.lower)
            first_bound = outcome.lower + 1
    proved = proven >= len(best)
    if proved:
        stopped = "proved"
    return SearchResult(best, len(best), proved, min(proven, len(best)), nodes, time.perf_counter() - started,
                        names, stopped, scope, lanes)


@dataclass
class _Outcome:
    program: Program | None  # a verified program shorter than the baseline, if found
    lower: int  # no equivalent program is shorter than this (given the iterations started at first_bound)
    stopped: str  # "proved" (search complete), "depth", "time" or "nodes"
    collision: bool = False  # the goal was met by programs that failed verification at length `lower`


def _iterate(engine: _Engine, verifier: Verifier, first_bound: int, upper: int) -> _Outcome:
    """Iterative deepening on the bound, from ``first_bound`` (already proven) up to ``upper`` instructions."""
    space = engine.space
    start = engine.initial()
    if first_bound == 0 and engine.is_goal(start.rows, start.depth, start.meta)[0]:
        if verifier.check([Program([])])[0].ok:
            return _Outcome(Program([]), 0, "proved")
        return _Outcome(None, 0, "proved", collision=True)
    lower = max(first_bound, 1, int(max(space.depth_bound(start.depth)[0], start.hval[0])))
    for bound in range(lower, upper + 1):
        found, collision = _run_bound(engine, verifier, start, bound)
        if found is not None:
            assert len(found) == bound, "a program shorter than the proven bound: the lower bound is not admissible"
            return _Outcome(found, bound, "proved")
        if engine.stopped:
            return _Outcome(None, bound, engine.stopped)
        if collision:
            return _Outcome(None, bound, "proved", collision=True)
        lower = bound + 1
    return _Outcome(None, lower, "depth")


def _run_bound(engine: _Engine, verifier: Verifier, start: _Layer, bound: int) -> tuple[Program | None, bool]:
    """One iteration: every state within the bound, layer by layer. Returns a verified goal program or None,
    and whether a goal was met by programs that all failed verification (a fingerprint collision)."""
    space = engine.space
    layers = [start]
    seen = _StateSet()
    seen.add_new(start.h1, start.h2)
    collision = False
    for d in range(bound):
        batches, goals = engine.expand(layers[-1], d, bound, seen)
        if goals:
            programs = list(dict.fromkeys(
                Program([space.moves[k].instruction for k in _path(layers, d, p, m)]) for p, m in goals))
            for program, verdict in zip(programs, verifier.check(programs)):
                if verdict.ok:
                    return program, False
            collision = True
        if not engine.stopped and time.perf_counter() > engine.deadline:
            engine.stopped = "time"
        if engine.stopped or d + 1 == bound:
            break
        layer = engine.merge(layers[-1], batches)
        if layer is None:
            break
        layers.append(layer)
    return None, collision
