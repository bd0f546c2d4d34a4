"""The batched executor: straight-line TASM blocks on many inputs (and many programs) at once, in numpy.

A block is first compiled into a dataflow plan (:mod:`tasm_env.plan`, cached), in which stack shuffling has
disappeared and only value-producing operations remain. The plan is then evaluated over a value matrix ``V``
of shape (values, lanes): operations are grouped by dependency level and kind, and each group is one
vectorised numpy computation (:mod:`tasm_env.batch_ops` has one evaluator per operation kind), across all the
programs of a group at once. Every lane records its first crash (the lowest cycle; within one instruction,
Triton's check order, which is the order of :data:`~tasm_env.errors.VM_ERROR_KINDS`).

Public entry points: :func:`run_batch` (one program, many inputs) and :func:`run_group` (many programs, the
same inputs; used by :mod:`tasm_env.verify`). The reference VM (:mod:`tasm_env.vm`) is the oracle: property
tests check that both agree on every straight-line program.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain
from typing import Callable, Mapping, Sequence

import numpy as np

from . import field as F
from .asm import Program
from .batch_align import aligned_levels
from .batch_live import live_operations
from .batch_ops import BY_CODE, EVALUATORS, evaluator, permute_and_merkle
from .errors import VM_ERROR_KINDS, BatchError, InputError, TasmError
from .plan import KINDS_PER_CYCLE, NO_CRASH, OPERATIONS, Plan, Shape, compile_block

__all__ = ["EVALUATORS", "BatchResult", "Contexts", "GroupRun", "Inputs", "NO_CRASH", "Plan", "Schedule", "Shape",
           "compile_block",
           "evaluate_schedule", "evaluator", "result_of", "run_batch", "run_group"]

_U64 = np.uint64


# ------------------------------------------------------------------------------------------ evaluation


@dataclass
class Inputs:
    """Inputs for many lanes. ``stack`` is (lanes, depth) with the top in the LAST column and depth >= 16;
    ``public_input``/``secret_input`` are (lanes, n); ``secret_digests`` is (lanes, n, 5); ``ram`` holds
    initial cells shared by all lanes; other cells read ``field.mix(address, ram_seed[lane])``, or 0 where the
    seed is 0. With ``ram_pool`` (a 1-D array of values) given, a lane whose ``ram_offset`` is >= 0 reads
    ``ram_pool[(mix(address, ram_seed) + ram_offset) % len(ram_pool)]`` instead: over ``len(ram_pool)`` lanes
    with the same seed and offsets 0, 1, ..., every address meets every pool value once (the verifier's edge
    tests). All values are canonical field elements."""

    stack: np.ndarray
    public_input: np.ndarray | None = None
    secret_input: np.ndarray | None = None
    secret_digests: np.ndarray | None = None
    ram: Mapping[int, int] | None = None
    ram_seed: np.ndarray | int = 0
    ram_pool: np.ndarray | None = None
    ram_offset: np.ndarray | None = None

    def __post_init__(self):
        self.stack = _as_u64(self.stack, 2, "stack")
        lanes = self.stack.shape[0]
        self.public_input = _as_u64(self.public_input, 2, "public_input", (lanes, 0))
        self.secret_input = _as_u64(self.secret_input, 2, "secret_input", (lanes, 0))
        self.secret_digests = _as_u64(self.secret_digests, 3, "secret_digests", (lanes, 0, 5))
        for name in ("public_input", "secret_input", "secret_digests"):
            if getattr(self, name).shape[0] != lanes:
                raise TasmError(f"{name} has {getattr(self, name).shape[0]} lanes, the stack has {lanes}")
        if self.secret_digests.shape[2] != 5:
            raise TasmError("secret_digests must have shape (lanes, n, 5)")
        self.ram_seed = np.broadcast_to(np.asarray(self.ram_seed, dtype=_U64), (lanes,))
        if self.ram_pool is not None:
            self.ram_pool = _as_u64(self.ram_pool, 1, "ram_pool")
            offset = np.full(lanes, -1, dtype=np.int64) if self.ram_offset is None else self.ram_offset
            self.ram_offset = np.broadcast_to(np.asarray(offset, dtype=np.int64), (lanes,))
            if not len(self.ram_pool) and (self.ram_offset >= 0).any():
                raise TasmError("ram_pool is empty but some lanes have a ram_offset")
        cells = dict(self.ram or {})
        self._ram_keys = np.array(sorted(cells), dtype=_U64)
        self._ram_values = np.array([cells[k] for k in sorted(cells)], dtype=_U64)

    @property
    def lanes(self) -> int:
        return self.stack.shape[0]

    @property
    def shape(self) -> Shape:
        return Shape(self.stack.shape[1], self.public_input.shape[1], self.secret_input.shape[1],
                     self.secret_digests.shape[1])

    def _seeded_only(self) -> bool:
        """Whether :meth:`initial_ram` is the lanes' seeds' alone (no pool read, no given cells)."""
        return (self.ram_pool is None or not (self.ram_offset >= 0).any()) and not len(self._ram_keys)

    def initial_ram(self, address: np.ndarray) -> np.ndarray:
        """Initial contents at ``address`` (any shape ending in lanes)."""
        mixed = F.mix(address, self.ram_seed)  # the lanes' seeds broadcast along address's last axis
        value = np.where(self.ram_seed == 0, _U64(0), mixed)
        if self.ram_pool is not None and (self.ram_offset >= 0).any():
            size = _U64(len(self.ram_pool))
            index = (mixed % size + np.maximum(self.ram_offset, 0).astype(_U64) % size) % size
            value = np.where(self.ram_offset >= 0, self.ram_pool[index], value)
        if len(self._ram_keys):
            slot = np.minimum(np.searchsorted(self._ram_keys, address), len(self._ram_keys) - 1)
            hit = self._ram_keys[slot] == address
            value = np.where(hit, self._ram_values[slot], value)
        return value


def _as_u64(values, ndim: int, name: str, empty_shape=None) -> np.ndarray:
    if values is None:
        return np.zeros(empty_shape, dtype=_U64)
    if isinstance(values, np.ndarray) and values.dtype == _U64:
        array = values
    else:
        array = np.asarray(values, dtype=object)  # Python ints stay exact (no float64 for 2^63 and above)
        bad = next((v for v in array.flat if not (isinstance(v, (int, np.integer)) and 0 <= int(v) < F.P)), None)
        if bad is not None:
            raise InputError(f"{name}: expected canonical field elements (ints in [0, p)), got "
                             f"{type(bad).__name__} {bad!r}")
        array = array.astype(_U64) if array.size else np.zeros(array.shape, dtype=_U64)
    if array.ndim != ndim:
        raise TasmError(f"{name}: expected a {ndim}-dimensional array, got shape {array.shape}")
    if array.size and (array >= _U64(F.P)).any():
        raise TasmError(f"{name}: expected canonical field elements (integers in [0, p))")
    return array


_GATHERED = 6  # operations with up to this many inputs have their input rows gathered all at once


@dataclass
class Schedule:
    """The operations of one or more plans as flat arrays in global value rows, cut into groups of one kind
    and arity at one dependency level, in level order."""

    groups: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]  # kind, inputs (n_in, m), out, cycle, program
    paired: frozenset[int] = frozenset()
    """Indices ``i`` of the ``permute`` groups followed by a ``merkle`` group of the same level (``i + 1``): the
    two are evaluated with one Tip5 call (:func:`tasm_env.batch_ops.permute_and_merkle`)."""

    @classmethod
    def build(cls, plans: Sequence[Plan], shared, offsets: np.ndarray, sources=None,
              merge_reads: bool = False, align: bool = False, observed: Sequence[Sequence[int]] | None = None
              ) -> "Schedule":
        """Plan p's source ids ``i < shared`` (one count, or one per plan) are rows ``i + sources[p]`` (default
        0: one set of sources for all), its own ids rows ``i + offsets[p]``.

        With ``merge_reads``, the ``mem_read`` operations of one level that follow at least one write form one
        group whatever their number of earlier writes: each one's (address, value) pairs padded to the group's
        widest by repeating its last pair (applied again, the last write changes nothing, so every read gets
        the same value). Fewer, wider groups: for few lanes, where numpy's cost per call dominates.

        With ``align``, operations take the levels of :func:`tasm_env.batch_align.aligned_levels` (the costly
        kinds of different plans on shared levels: fewer groups of them), not their plans' earliest ones.

        With ``observed`` (per plan, the ids whose values the caller reads), only the operations of
        :func:`tasm_env.batch_live.live_operations` are scheduled: those that can crash or lead to an observed
        value (the rows of the others are left as they were)."""
        counts, widths = [len(plan.kind) for plan in plans], [len(plan.inputs) for plan in plans]
        total, n_ids = sum(counts), sum(widths)
        if not total:
            return cls([])

        def flat(name: str, n: int) -> np.ndarray:  # one attribute of every plan, concatenated
            return np.fromiter(chain.from_iterable([getattr(plan, name) for plan in plans]), dtype=np.int64, count=n)
        kind_a, level_a, cycle_a, n_in_a = (flat(name, total) for name in ("kind", "level", "cycle", "n_in"))
        program = np.repeat(np.arange(len(plans)), counts)
        out_a = flat("out", total) + offsets[program]  # results are always the plan's own ids
        ids = flat("inputs", n_ids)
        shared_of = np.repeat(np.broadcast_to(np.asarray(shared), (len(plans),)), widths)  # tasks' own sources
        source = 0 if sources is None else np.repeat(sources, widths)
        ids = np.where(ids < shared_of, ids + source, ids + np.repeat(offsets, widths))
        start = np.concatenate(([0], np.cumsum(n_in_a)[:-1]))
        if observed is not None:
            seen = np.fromiter(chain.from_iterable(observed), dtype=np.int64)
            owner = np.repeat(np.arange(len(plans)), [len(o) for o in observed])
            seen_shared = np.broadcast_to(np.asarray(shared), (len(plans),))[owner]
            seen_source = 0 if sources is None else np.asarray(sources)[owner]
            seen = np.where(seen < seen_shared, seen + seen_source, seen + offsets[owner])
            keep = live_operations(level_a, kind_a, start, n_in_a, ids, out_a, seen)
            if not keep.all():
                if not keep.any():
                    return cls([])
                kind_a, level_a, cycle_a, n_in_a = kind_a[keep], level_a[keep], cycle_a[keep], n_in_a[keep]
                program, out_a, start = program[keep], out_a[keep], start[keep]
        if align:
            level_a = aligned_levels(level_a, kind_a, start, n_in_a, ids, out_a)
        # one sort key (level, kind, arity); a stable sort keeps each group's operations in plan order
        widest = int(n_in_a.max())
        arity = np.where((kind_a == _MEM_READ) & (n_in_a > 1), widest, n_in_a) if merge_reads else n_in_a
        key = (level_a * len(OPERATIONS) + _RANK[kind_a]) * (widest + 1) + arity
        order = np.argsort(key, kind="stable")
        key, start, out_a, cycle_a, program = key[order], start[order], out_a[order], cycle_a[order], program[order]
        n_in_a = n_in_a[order]
        bounds = [0, *(np.flatnonzero(key[1:] != key[:-1]) + 1).tolist(), len(order)]
        firsts = bounds[:-1]
        kinds, widths = kind_a[order][firsts].tolist(), np.maximum.reduceat(n_in_a, firsts).tolist()
        # the inputs of all operations of up to _GATHERED inputs in one (inputs, operations) matrix, each group
        # a slice of it (the columns past an operation's own inputs are never read)
        gathered = ids[np.minimum(start[None, :] + np.arange(min(max(widths), _GATHERED))[:, None], n_ids - 1)]
        groups = []
        level_of = (key[firsts] // ((widest + 1) * len(OPERATIONS))).tolist()
        paired = frozenset(i for i in range(len(kinds) - 1) if kinds[i] == _PERMUTE and kinds[i + 1] == _MERKLE
                           and level_of[i] == level_of[i + 1])
        for a, b, kind, width in zip(firsts, bounds[1:], kinds, widths):
            if kind == _MEM_READ and merge_reads and width > 1:  # pad with each read's last pair, repeated
                own, column = n_in_a[a:b][None, :], np.arange(width)[:, None]
                rows = ids[start[a:b][None, :] + np.where(column < own, column, own - 2 + (column - own) % 2)]
            elif width <= _GATHERED:
                rows = gathered[:width, a:b]
            else:
                rows = ids[start[a:b][None, :] + np.arange(width)[:, None]]
            groups.append((kind, rows, out_a[a:b], cycle_a[a:b], program[a:b]))
        return cls(groups, paired)


class GroupRun:
    """The evaluated value matrix of a group of plans on shared inputs, with accessors per program."""

    def __init__(self, plans: Sequence[Plan], inputs: Inputs):
        self.plans = list(plans)
        self.inputs = inputs
        shape = inputs.shape
        if any(other != shape for other in {id(plan.shape): plan.shape for plan in self.plans}.values()):
            raise BatchError("every plan in a group must be compiled for the inputs' shape")
        self.shared = shared = shape.shared
        sizes = [p.n_local for p in self.plans]
        self.offsets = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)  # local id -> row shift
        lanes = inputs.lanes
        V = np.empty((shared + sum(sizes), lanes), dtype=_U64)
        s = shape.stack_depth
        V[:s] = inputs.stack.T
        V[s : s + shape.public_inputs] = inputs.public_input.T
        s += shape.public_inputs
        V[s : s + shape.secret_inputs] = inputs.secret_input.T
        s += shape.secret_inputs
        V[s : s + 5 * shape.secret_digests] = inputs.secret_digests.reshape(lanes, -1).T
        counts = [len(plan.const_ids) for plan in self.plans]
        n = sum(counts)
        if n:
            rows = np.fromiter(chain.from_iterable([plan.const_ids for plan in self.plans]), np.int64, n)
            V[rows + np.repeat(self.offsets, counts)] = np.fromiter(
                chain.from_iterable([plan.const_values for plan in self.plans]), _U64, n)[:, None]
        self.V = V
        self.crash = np.repeat(np.array([[plan.static_crash] for plan in self.plans], dtype=np.int64), lanes, axis=1)
        if len(self.plans) == 1:  # a single plan's schedule is reused across runs
            schedule = _single_schedule(self.plans[0], shared)
        else:
            schedule = Schedule.build(self.plans, shared, self.offsets)
        self._evaluate(schedule)

    def _evaluate(self, schedule: Schedule) -> None:
        evaluate_schedule(schedule, self.V, self.crash, self.inputs)

    def take_lanes(self, lanes: np.ndarray, inputs: Inputs) -> "GroupRun":
        """This run on ``lanes`` only (an index array), ``inputs`` being exactly those lanes' inputs, without
        evaluating again: every lane's values and crash depend on that lane's own inputs only."""
        lanes = np.asarray(lanes, dtype=np.int64)
        if inputs.lanes != len(lanes) or inputs.shape != self.inputs.shape:
            raise BatchError(f"take_lanes: {inputs.lanes} lanes of inputs of shape {inputs.shape} for {len(lanes)} "
                             f"lanes of a run on inputs of shape {self.inputs.shape}")
        run = object.__new__(GroupRun)
        run.plans, run.inputs, run.shared, run.offsets = self.plans, inputs, self.shared, self.offsets
        run.V, run.crash = self.V[:, lanes], self.crash[:, lanes]
        return run

    # ---- per-program views
    def rows(self, p: int, ids) -> np.ndarray:
        """Global rows of program ``p``'s value ids."""
        ids = np.asarray(ids, dtype=np.int64)
        return np.where(ids < self.shared, ids, ids + self.offsets[p])

    def values(self, p: int, ids) -> np.ndarray:
        return self.V[self.rows(p, ids)]

    def final_ram(self, p: int, addresses: np.ndarray) -> np.ndarray:
        """Program p's RAM contents after its run at the given address values, shape (k, lanes)."""
        plan = self.plans[p]
        value = self.inputs.initial_ram(addresses)
        if plan.writes:
            written = self.values(p, plan.writes)
            for k in range(0, len(plan.writes), 2):
                value = np.where(written[k][None, :] == addresses, written[k + 1][None, :], value)
        return value


class Contexts:
    """The initial RAM of programs evaluated together whose lanes read different RAM: program ``p`` reads
    ``contexts[of_program[p]]`` (each an :class:`Inputs` with the same lane count). :func:`evaluate_schedule`
    takes one in place of an :class:`Inputs`; each ``mem_read`` group reads every program's own RAM."""

    def __init__(self, contexts: Sequence[Inputs], of_program: np.ndarray):
        self.contexts = list(contexts)
        self.of_program = np.asarray(of_program, dtype=np.int64)
        if self.of_program.size and not 0 <= self.of_program.min() <= self.of_program.max() < len(self.contexts):
            raise BatchError(f"Contexts: program contexts must be in [0, {len(self.contexts)})")
        seeded = all(c._seeded_only() for c in self.contexts)
        self._seeds = np.stack([c.ram_seed for c in self.contexts]) if seeded and self.contexts else None

    def select(self, program: np.ndarray) -> "_Selected":
        """The RAM of the operations of a group, ``program`` the program of each (its rows)."""
        return _Selected(self.contexts, self.of_program[program], self._seeds)


class _Selected:
    """:meth:`Inputs.initial_ram` for the operations of one group, each reading its own program's RAM
    (``seeds``: every context's lane seeds, (contexts, lanes), where each context's RAM is its seeds' alone)."""

    def __init__(self, contexts: list[Inputs], which: np.ndarray, seeds: np.ndarray | None = None):
        self.contexts, self.which, self.seeds = contexts, which, seeds

    def initial_ram(self, address: np.ndarray) -> np.ndarray:
        """Initial contents at ``address`` ((operations, lanes)): row ``i`` from ``contexts[which[i]]``."""
        which = self.which
        first = int(which[0])
        if (which == first).all():
            return self.contexts[first].initial_ram(address)
        if self.seeds is not None:  # Inputs.initial_ram with each row's own lane seeds: one mix for all rows
            seeds = self.seeds[which]
            return np.where(seeds == 0, _U64(0), F.mix(address, seeds))
        value = np.empty(address.shape, dtype=_U64)
        for c in np.unique(which).tolist():
            rows = which == c
            value[rows] = self.contexts[c].initial_ram(address[rows])
        return value


def evaluate_schedule(schedule: Schedule, V: np.ndarray, crash: np.ndarray, ctx: "Inputs | Contexts | None",
                      settled: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
    """Run ``schedule`` on ``V`` (values, lanes) in place, lowering ``crash`` (programs, lanes) to each lane's
    first crash. ``ctx`` (the inputs' initial RAM, or :class:`Contexts`: one per program) is read by
    ``mem_read`` only (None for plans without it).

    ``settled`` (optional): called with ``crash`` after each group in which some lane crashed, it returns a
    (programs,) bool of the programs whose outcome the caller has already decided from their crashes so far;
    the remaining operations of those programs are skipped, so their values and crash codes are left
    incomplete (the other programs' are exactly as without it: programs only share source rows). A program
    once settled stays settled."""
    many = isinstance(ctx, Contexts)
    alive = None  # (programs,) bool once some program is settled
    groups, paired = schedule.groups, schedule.paired
    i = 0
    while i < len(groups):
        group = groups[i] if alive is None else _alive_part(groups[i], alive)
        if i in paired:  # a permute group and the merkle group of its level: one Tip5 call
            i += 1
            other = groups[i] if alive is None else _alive_part(groups[i], alive)
            if group is not None and other is not None:
                both = permute_and_merkle(list(V[group[1]]), list(V[other[1]]))
                crashed = _record(group, *both[0], V, crash) | _record(other, *both[1], V, crash)
                group = None
            else:
                crashed = False
                group = group if other is None else other
        else:
            crashed = False
        if group is not None:
            kind, program = group[0], group[4]
            results, crashes = BY_CODE[kind](list(V[group[1]]), ctx.select(program) if many and kind == _MEM_READ
                                             else ctx)
            crashed |= _record(group, results, crashes, V, crash)
        i += 1
        if crashed and settled is not None:
            done = settled(crash)
            if done.any():
                alive = ~done if alive is None else alive & ~done


def _alive_part(group: tuple, alive: np.ndarray) -> tuple | None:
    """The operations of ``group`` whose programs are ``alive`` (None if there are none)."""
    kind, rows, out, cycle, program = group
    keep = alive[program]
    if keep.all():
        return group
    if not keep.any():
        return None
    return kind, rows[:, keep], out[keep], cycle[keep], program[keep]


def _record(group: tuple, results: list, crashes: list, V: np.ndarray, crash: np.ndarray) -> bool:
    """Write a group's results into ``V`` and lower ``crash`` where its operations crashed: whether any did."""
    _, _, out, cycle, program = group
    for k, result in enumerate(results):
        V[out + k] = result
    crashed = False
    for kind_index, mask in crashes:
        if mask.any():
            code = np.where(mask, (cycle * KINDS_PER_CYCLE + kind_index)[:, None], NO_CRASH)
            np.minimum.at(crash, program, code)
            crashed = True
    return crashed


_MEM_READ = OPERATIONS.index("mem_read")
_PERMUTE, _MERKLE = OPERATIONS.index("permute"), OPERATIONS.index("merkle")
_GROUP_ORDER = [k for k in range(len(OPERATIONS)) if k != _MERKLE]
_GROUP_ORDER.insert(_GROUP_ORDER.index(_PERMUTE) + 1, _MERKLE)
_RANK = np.argsort(_GROUP_ORDER)  # kind code -> its place in _GROUP_ORDER
"""The order of the kinds' groups within a level: the kind codes', but ``merkle`` right after ``permute``
(the two then share one Tip5 call, see :attr:`Schedule.paired`)."""
_SCHEDULES: dict[int, tuple[Plan, Schedule]] = {}


def _single_schedule(plan: Plan, shared: int) -> Schedule:
    cached = _SCHEDULES.get(id(plan))
    if cached is None or cached[0] is not plan:
        if len(_SCHEDULES) > 4096:
            _SCHEDULES.clear()
        cached = _SCHEDULES[id(plan)] = (plan, Schedule.build([plan], shared, np.zeros(1, dtype=np.int64)))
    return cached[1]


@dataclass
class BatchResult:
    """One program's run on many lanes. Arrays are indexed by lane first. Where ``crashed[lane]`` is True,
    ``crash_kind`` and ``crash_cycle`` say how, and the other per-lane values are meaningless."""

    program: Program
    stack: np.ndarray  # (lanes, depth) final stack, top in the last column
    output: np.ndarray  # (lanes, n) public output in write order
    ram_addresses: np.ndarray  # (lanes, k) every RAM cell accessed (with repeats)
    ram_values: np.ndarray  # (lanes, k) final contents of those cells
    crashed: np.ndarray  # (lanes,) bool
    crash_code: np.ndarray = field(repr=False, default=None)
    cycles: int = 0
    public_input_consumed: int = 0
    secret_input_consumed: int = 0
    secret_digests_consumed: int = 0
    sponge: np.ndarray | None = None  # (lanes, 16) the sponge state after the block; None if never initialised

    @property
    def crash_cycle(self) -> np.ndarray:
        return np.where(self.crashed, self.crash_code // KINDS_PER_CYCLE, -1)

    @property
    def crash_kind_index(self) -> np.ndarray:
        return np.where(self.crashed, self.crash_code % KINDS_PER_CYCLE, -1)

    def crash_kind(self, lane: int) -> str | None:
        return VM_ERROR_KINDS[int(self.crash_kind_index[lane])] if self.crashed[lane] else None

    def ram(self, lane: int) -> dict[int, int]:
        """The RAM cells lane ``lane`` accessed, with their final contents (as the reference VM reports)."""
        return {int(a): int(v) for a, v in zip(self.ram_addresses[lane], self.ram_values[lane])}


def result_of(run: GroupRun, p: int) -> BatchResult:
    plan = run.plans[p]
    addresses = run.values(p, plan.touched).reshape(len(plan.touched), run.inputs.lanes)
    crash = run.crash[p]
    return BatchResult(
        program=plan.program,
        stack=run.values(p, plan.stack).T,
        output=run.values(p, plan.output).T,
        ram_addresses=addresses.T,
        ram_values=run.final_ram(p, addresses).T,
        crashed=crash != NO_CRASH,
        crash_code=crash,
        cycles=plan.cycles,
        public_input_consumed=plan.public_consumed,
        secret_input_consumed=plan.secret_consumed,
        secret_digests_consumed=plan.digests_consumed,
        sponge=None if plan.sponge is None else run.values(p, plan.sponge).T,
    )


def run_group(programs: Sequence[Program | str], inputs: Inputs) -> GroupRun:
    """Run many straight-line programs on the same lanes of inputs, vectorised across programs."""
    shape = inputs.shape
    return GroupRun([compile_block(p, shape) for p in programs], inputs)


def run_batch(
    program: Program | str,
    stacks,
    public_input=None,
    secret_input=None,
    secret_digests=None,
    ram: Mapping[int, int] | None = None,
    ram_seed=0,
) -> BatchResult:
    """Run one straight-line program on many lanes at once.

    ``stacks`` is (lanes, depth >= 16), each row a whole initial op stack with the top LAST (as ``vm.run``'s
    ``floor + stack``). The other arguments are per-lane arrays as in :class:`Inputs`.
    """
    inputs = Inputs(stacks, public_input, secret_input, secret_digests, ram, ram_seed)
    return result_of(run_group([program], inputs), 0)
