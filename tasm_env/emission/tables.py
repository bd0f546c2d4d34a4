"""The per-task-set tables of the emission machines, built once in numpy, and the mask-and-step rules over them.

:class:`EmissionTables` holds everything a mask or a step looks up for a list of tasks sharing one vocabulary:

* ``static`` (rows, V) bool: legality that depends only on (bound slots, live depth, sponge, u32 code), then
  one row per number of bound slots for level ``none`` and an EOS-only row (the budget is spent);
* ``reach[level]``: the :class:`~tasm_env.emission.reach.Reachability` of ``stack`` and ``typed``;
* ``effects`` (rows, :data:`EFFECT_FIELDS`) int32: what a token adds to a row's effect columns, per (sponge on?,
  effect class, token), plus the type of the constant a slot push pushes;
* ``facts`` (tasks, :class:`TaskField`) int64: per task its inputs, budget, table starts and effect base;
* ``slot_sources`` (V, tracked): the column each new slot type is gathered from (in ``layout.type_sources``);
* ``resolve`` and ``is_u32`` (tasks, ORIGIN + tracked): per task, what each slot code means.

:class:`TableView` is those tables in one array library (numpy for the single-row machine, torch for the batch
machine) with the rules that read them: where a row is in the tables, its mask, whether a token is legal, what
a step writes. Both machines call these rules; neither has its own copy.
"""

from __future__ import annotations

import enum
import functools
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from .. import isa
from ..errors import TaskError
from .reach import Reachability, finishing_moves
from .spec import TaskSpec
from .state import CONTEXT, COUNTERS, EFFECT_COLUMNS, MASKED_LEVELS, ORIGIN, TYPE_CHECK_EXEMPT, Layout
from .vocab import BOOL, FIELD, INPUT_TYPE_CODES, SLOT_TYPE, U32, Kind, Vocabulary

EFFECT_FIELDS = (*EFFECT_COLUMNS, "slot_result")
"""Columns of the token effect table: the :data:`EFFECT_COLUMNS` a step adds, then the slot push's type."""
ADDED = len(EFFECT_COLUMNS)
"""How many effect columns a step adds to the row (the rest it writes)."""


class TaskField(enum.IntEnum):
    """Columns of the per-task fact table. A level's static start follows its reach start."""

    N_INPUTS = 0
    BUDGET = 1
    STACK_REACH = 2  # the task's start state in the ``stack`` reachability
    STACK_STATIC = 3  # its start row in the static table under ``stack`` (every u32 code passes)
    TYPED_REACH = 4
    TYPED_STATIC = 5
    EFFECT_BASE = 6  # its effect class * V: where its rows of the token effect table start


LEVEL_FIELDS = {"stack": (TaskField.STACK_REACH, TaskField.STACK_STATIC),
                "typed": (TaskField.TYPED_REACH, TaskField.TYPED_STATIC)}
"""Per masked level, the (reach start, static start) fields of :class:`TaskField`: adjacent, in the order of a
row's (reach offset, static offset), so that one slice of each adds them."""
assert all(static == reach + 1 for reach, static in LEVEL_FIELDS.values())


# ------------------------------------------------------------------------------------ slot movements

def moved_slots(name: str, arg: int, tracked: int) -> list[int]:
    """Where each of the top ``tracked`` slots (st0 first) comes from after the index instruction ``name arg``:
    the ISA's one definition of the move (:func:`tasm_env.isa.move_stack`) applied to the slot numbers."""
    return isa.move_stack(name, arg, list(range(tracked))[::-1])[::-1][:tracked]


@functools.lru_cache(maxsize=64)  # a pure function of the vocabulary: once per env, not per table (task)
def slot_sources(vocab: Vocabulary, tracked: int) -> np.ndarray:
    """(V, tracked): the column each new slot type is gathered from, in ``[old types (tracked), FIELD, U32, BOOL,
    slot constant type]``. Slots surfacing from below the tracked ones come back as FIELD. Cached and shared by
    every table of the vocabulary: never written to."""
    field_col, slot_col = tracked + FIELD, tracked + 3
    V = len(vocab)
    src = np.tile(np.arange(tracked), (V, 1))
    for i in range(V):
        if vocab.kind[i] in (Kind.EOS, Kind.RESERVED):
            continue
        name, arg = vocab.mnemonic[i], vocab.arg[i]
        if isa.BY_NAME[name].arg is isa.Arg.INDEX:
            src[i] = moved_slots(name, arg, tracked)
            continue
        pops, pushes = int(vocab.pops[i]), int(vocab.pushes[i])
        results = [slot_col if t == SLOT_TYPE else tracked + int(t) for t in vocab.result_types[i, :pushes]]
        src[i] = (results + list(range(pops, tracked)) + [field_col] * pops)[:tracked]
    return src


@functools.lru_cache(maxsize=64)
def _static_rows(v: Vocabulary, D: int, max_bound: int, positions: tuple) -> tuple[np.ndarray, int, int]:
    """The static legality rows (by bound slots, live depth, sponge flag and u32 code; then level none's and
    EOS only), the number of masked-level rows and the EOS-only row. Shared by every table of the same
    vocabulary and bounds (so an env's first reset of each task does not rebuild them); never written to."""
    checked = type_checked(v)
    C = 1 << len(positions)
    eos = v.kind == Kind.EOS
    rows = []
    for slots in range(max_bound + 1):
        emittable = (v.kind == Kind.INSTRUCTION) | ((v.kind == Kind.SLOT) & (v.slot < slots))
        for depth in range(D + 1):
            for sponge in (0, 1):
                base = emittable & (v.reads <= depth) & (~v.needs_sponge | bool(sponge))
                for code in range(C):
                    ok = base.copy()
                    for bit, p in enumerate(positions):
                        if not (code >> bit) & 1:
                            ok &= ~checked[:, p]
                    rows.append(ok | eos)  # EOS: the reachability pattern decides
    n_static = len(rows)  # rows of the masked levels; level none's follow
    for slots in range(max_bound + 1):
        rows.append((v.kind == Kind.INSTRUCTION) | ((v.kind == Kind.SLOT) & (v.slot < slots)) | eos)
    eos_only_row = len(rows)
    rows.append(eos)
    return np.stack(rows), n_static, eos_only_row


@functools.lru_cache(maxsize=64)
def type_checked(vocab: Vocabulary) -> np.ndarray:
    """(V, 16) bool: the u32 operands the ``typed`` level checks (``vocab.u32_operands`` but for the
    :data:`TYPE_CHECK_EXEMPT` instructions). Cached per vocabulary: never written to."""
    checked = vocab.u32_operands.copy()
    for i, name in enumerate(vocab.mnemonic):
        if name in TYPE_CHECK_EXEMPT:
            checked[i] = False
    return checked


# ------------------------------------------------------------------------------------------ the tables


class EmissionTables:
    """Every table a mask or a step of ``specs`` looks up (numpy; see the module docstring). ``max_depth`` caps
    the live depth under ``stack``/``typed``; ``layout`` is the state rows'."""

    def __init__(self, specs: Sequence[TaskSpec], layout: Layout, max_depth: int):
        if not specs:
            raise TaskError("emission tables need at least one TaskSpec")
        vocab = specs[0].bound.vocab
        for spec in specs:
            if spec.bound.vocab != vocab:
                raise TaskError(f"task {spec.name!r} is bound to another vocabulary; all tasks must share one")
        for spec in specs:
            if spec.budget > layout.max_len:
                raise TaskError(f"task {spec.name!r}: budget {spec.budget} exceeds max_len {layout.max_len}")
            if max(spec.peak_depth, spec.n_inputs, spec.output_arity) > max_depth:
                raise TaskError(f"task {spec.name!r}: its baseline reaches live depth {spec.peak_depth}, above "
                                f"max_depth {max_depth}; raise max_depth")
        self.vocab, self.specs, self.layout, self.max_depth = vocab, tuple(specs), layout, int(max_depth)
        self.n_actions = len(vocab)
        self.pad = int(max(1, np.abs(vocab.delta).max()))  # the widest stack change of one token
        self._build_static()
        self._build_task_facts()
        self._build_effects()
        self._check_budgets()

    @classmethod
    def build(cls, specs: Sequence[TaskSpec], max_len: int | None = None, max_depth: int = 64,
              type_window: int = 16) -> "EmissionTables":
        """The tables of rows ``max_len`` tokens wide (default: the largest budget) tracking the types of
        ``max(max_depth, type_window)`` slots."""
        if not specs:
            raise TaskError("emission tables need at least one TaskSpec")
        max_len = max(s.budget for s in specs) if max_len is None else int(max_len)
        return cls(specs, Layout(max_len, max(int(max_depth), int(type_window))), max_depth)

    def _build_static(self) -> None:
        v, T, D = self.vocab, self.layout.tracked, self.max_depth
        checked = type_checked(v)
        positions = [p for p in range(16) if checked[:, p].any()]
        if positions and max(positions) >= T:
            raise ValueError(f"max_depth {D} is too small for u32 operands at st{max(positions)}")
        start = self.layout.types.start
        self.u32_columns = [start + p for p in positions]  # the type columns whose u32-ness picks a typed row
        self.u32_contiguous = positions == list(range(len(positions)))
        self.u32_bits = np.array([1 << b for b in range(len(positions))], dtype=np.int64)
        self.n_codes = C = 1 << len(positions)
        self.max_bound = max(len(s.bound.constants) for s in self.specs)
        self.static, self.n_static, self.eos_only_row = _static_rows(v, D, self.max_bound, tuple(positions))
        self.depth_stride = 2 * C  # static rows per unit of live depth

    def _build_task_facts(self) -> None:
        T, specs = self.layout.tracked, self.specs
        is_u32 = np.zeros((len(specs), ORIGIN + T), dtype=np.int64)  # slot code -> holds a u32 value
        resolve = np.full((len(specs), ORIGIN + T), CONTEXT, dtype=np.int64)
        resolve[:, :ORIGIN] = (FIELD, U32, BOOL)
        for n, spec in enumerate(specs):
            for j in range(min(T, spec.n_inputs)):
                resolve[n, ORIGIN + j] = INPUT_TYPE_CODES[spec.input_types[spec.n_inputs - 1 - j]]
            is_u32[n] = (resolve[n] == U32) | (resolve[n] == BOOL)
        self.resolve, self.is_u32 = resolve, is_u32
        self.reach: dict[str, Reachability] = {}
        built: dict[tuple, Reachability] = {}
        for level in MASKED_LEVELS:  # one reachability per distinct move set (they usually coincide)
            moves = finishing_moves(self.vocab, typed=level == "typed")
            if moves not in built:
                built[moves] = Reachability(self.vocab, moves, specs, self.max_depth, self.pad)
            self.reach[level] = built[moves]
        self.facts = np.zeros((len(specs), len(TaskField)), dtype=np.int64)
        for n, spec in enumerate(specs):
            static_start = (len(spec.bound.constants) * (self.max_depth + 1) + spec.n_inputs) * self.depth_stride
            fact = self.facts[n]
            fact[TaskField.N_INPUTS], fact[TaskField.BUDGET] = spec.n_inputs, spec.budget
            fact[TaskField.STACK_REACH] = self.reach["stack"].task_start[n]
            fact[TaskField.STACK_STATIC] = static_start + self.n_codes - 1  # stack: every u32 code passes
            fact[TaskField.TYPED_REACH] = self.reach["typed"].task_start[n]
            fact[TaskField.TYPED_STATIC] = static_start
        self.n_bound = np.array([len(s.bound.constants) for s in specs], dtype=np.int64)

    def _build_effects(self) -> None:
        """An effect class is the tasks sharing distance-table strides and slot constant types, so I/O tokens and
        slot pushes, whose effects depend on the task, are one lookup too."""
        v, specs = self.vocab, self.specs
        use = np.stack([getattr(v, c) for c in COUNTERS], axis=1)  # (V, 4)
        slot_types = np.full((len(specs), max(1, v.n_slots)), FIELD, dtype=np.int64)
        classes: dict[tuple, int] = {}
        for n, spec in enumerate(specs):
            slot_types[n, : len(spec.bound.slot_types)] = spec.bound.slot_types
            key = (tuple(self.reach["stack"].task_strides[n]), tuple(slot_types[n]))
            self.facts[n, TaskField.EFFECT_BASE] = classes.setdefault(key, len(classes)) * len(v)
        column = {name: i for i, name in enumerate(EFFECT_FIELDS)}
        table = np.zeros((2, len(classes), len(v), len(EFFECT_FIELDS)), dtype=np.int64)
        for (strides, types), c in classes.items():
            sponge_stride, counter_strides = strides[0], np.array(strides[1:])
            for on in (0, 1):
                first = v.starts_sponge & (on == 0)  # the first sponge_init switches the sponge flag
                t = table[on, c]
                t[:, column["length"]] = v.kind != Kind.EOS
                t[:, column["change"]] = v.delta
                t[:, column[COUNTERS[0]]:column[COUNTERS[-1]] + 1] = use
                t[:, column["sponge"]] = first * len(classes) * len(v)  # the offset of the sponge-on rows
                t[:, column["reach_offset"]] = v.delta - use @ counter_strides + first * sponge_stride
                t[:, column["static_offset"]] = v.delta * self.depth_stride + first * self.n_codes
                t[:, column["slot_result"]] = np.where(v.slot >= 0, np.array(types)[np.maximum(v.slot, 0)], FIELD)
        self.n_effect_classes = len(classes)
        self.effects = table.reshape(-1, len(EFFECT_FIELDS)).astype(np.int32)
        self.slot_sources = slot_sources(v, self.layout.tracked)

    def _check_budgets(self) -> None:
        for level in MASKED_LEVELS:
            need = self.reach[level].dist[self.facts[:, LEVEL_FIELDS[level][0]]]
            for n in np.flatnonzero(need > self.facts[:, TaskField.BUDGET]):
                raise TaskError(f"task {self.specs[n].name!r}: a block needs at least {int(need[n])} tokens to reach "
                                f"its output arity and I/O, more than its budget of {self.specs[n].budget}")


# ---------------------------------------------------------------------------------------- the rules


class ArrayOps(Protocol):
    """The few array operations the rules need, for one array library (scalars or batches). Each view also
    computes a row's u32 code (which typed static row applies) its own way: a batched gather in torch, a set
    lookup per checked slot for one row."""

    def convert(self, array: np.ndarray) -> Any: ...
    def add_pairs(self, starts, offsets): ...  # (starts[0] + offsets[0], starts[1] + offsets[1])
    clip: Callable | None  # clip(x, low, high); None for views of legal rows only, which never leave the tables
    def take(self, flat, index): ...  # elements of a 1-D table
    def rows(self, table, index): ...  # rows of a 2-D table
    def where(self, condition, a, b): ...
    def column(self, data, column: int): ...  # one column of a row (a scalar) or of a batch
    def put_token(self, data, position, token) -> None: ...
    def gather_types(self, data, sources) -> Any: ...  # data's type sources at ``sources`` (slot_sources rows)


class TableView:
    """The tables of an :class:`EmissionTables` in one array library (``ops``), with the mask-and-step rules
    written once over them. Arrays are shared with ``tables`` where the library allows."""

    def __init__(self, tables: EmissionTables, ops: ArrayOps):
        c = ops.convert
        self.tables, self.ops, self.layout = tables, ops, tables.layout
        self.n_actions, self.n_static, self.eos_only_row = tables.n_actions, tables.n_static, tables.eos_only_row
        self.static = c(tables.static)
        self.static_flat = c(tables.static.reshape(-1))
        self.effects = c(tables.effects)
        self.facts = c(tables.facts)
        self.slot_sources = c(tables.slot_sources)
        self.resolve, self.is_u32 = c(tables.resolve.reshape(-1)), c(tables.is_u32.reshape(-1))
        self.n_bound = c(tables.n_bound)
        self.u32_bits = c(tables.u32_bits)
        self.reach = {level: _ReachView(reach, c) for level, reach in tables.reach.items()}

    def locate(self, level: str, starts, offsets, left, u32_code=None):
        """Where a row is under a masked ``level``: (its state in the distance table, its static row, its
        reachability pattern), from its task's (reach start, static start), its (reach offset, static offset),
        the budget left and its u32 code (``typed`` only; None: every code passes)."""
        ops, reach, clip = self.ops, self.reach[level], self.ops.clip
        here, static = ops.add_pairs(starts, offsets)
        if u32_code is not None:
            static = static + u32_code
        if clip is None:  # legal rows only (ints): nothing falls outside the tables but a long budget left
            left = min(left, reach.columns - 1)
        else:  # any rows, garbage ones too (torchgfn's sink states): keep every index in range
            here, static = clip(here, 0, reach.n_states - 1), clip(static, 0, self.n_static - 1)
            left = clip(left, 0, reach.columns - 1)
        return here, static, ops.take(reach.pattern_id, here * reach.columns + left)

    def none_row(self, spent, n_bound):
        """The static row of level ``none``: every token that decodes, or EOS only once the budget is spent."""
        return self.ops.where(spent, self.eos_only_row, self.n_static + n_bound)

    def mask(self, level: str, static, pattern):
        """The legal tokens of rows at (static row, pattern) under a masked ``level``."""
        ops = self.ops
        return ops.rows(self.static, static) & ops.rows(self.reach[level].patterns, pattern)

    def legal(self, level: str, static, pattern, token):
        """Is ``token`` legal at (static row, pattern)? (one entry of :meth:`mask`)."""
        ops, V = self.ops, self.n_actions
        return ops.take(self.static_flat, static * V + token) & ops.take(self.reach[level].pattern_flat,
                                                                         pattern * V + token)

    def complete(self, here):
        """EOS is legal under ``stack``: nothing is left to do from state ``here``."""
        return self.ops.take(self.reach["stack"].dist, here) == 0

    def step(self, data, effect_base, token, position) -> None:
        """Append ``token`` at ``position`` of ``data`` (a row or a batch), in place: add its effect, write the
        slot push's type and move the slot types. EOS's effect row and slot movement are nothing, so an EOS row
        of a batch is left as it was (the torch view writes PAD for it)."""
        ops, L = self.ops, self.layout
        effect = ops.rows(self.effects, effect_base + ops.column(data, L.sponge) + token)
        ops.put_token(data, position, token)
        data[..., L.effects] += effect[..., :ADDED]
        data[..., L.slot_result] = effect[..., ADDED]
        data[..., L.types] = ops.gather_types(data, ops.rows(self.slot_sources, token))


class _ReachView:
    """One :class:`~tasm_env.emission.reach.Reachability` converted to an array library."""

    def __init__(self, reach: Reachability, convert: Callable):
        self.dist, self.pattern_id = convert(reach.dist), convert(reach.pattern_id)
        self.patterns, self.pattern_flat = convert(reach.patterns), convert(reach.patterns.reshape(-1))
        self.columns, self.n_states = reach.columns, reach.n_states
