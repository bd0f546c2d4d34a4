"""The single-row state machine: one episode of one task, in numpy.

The batched machine (:mod:`tasm_env.emission.machine`) pays torch's per-call overhead (about 150 us a mask and
200 us a step at batch 1); a single-episode env needs a few microseconds. :class:`RowMachine` is the other view
of the same :class:`~tasm_env.emission.tables.EmissionTables`: it calls the same rules
(:class:`~tasm_env.emission.tables.TableView`) with numpy rows and Python ints, so its row holds what the batched
machine's row holds for the same prefix (tests/test_envs_gym.py checks rows, masks and rewards against the
torchgfn env).
"""

from __future__ import annotations

import operator

import numpy as np

from ..asm import Program
from ..errors import ConfigError
from .state import CONTEXT, NO_VIOLATION, VALUE_LEVELS, check_level
from .tables import LEVEL_FIELDS, EmissionTables, TableView, TaskField
from .values import ValueFacts, ValueModel, pop_tokens, restrict
from .vocab import EOS

__all__ = ["RowMachine", "RowOps"]

MASK_CACHE_SIZE = 1 << 14
"""Masks a RowMachine keeps (by level, static row and pattern) before it starts over."""


class RowOps:
    """:class:`~tasm_env.emission.tables.ArrayOps` over one numpy row of one task, with Python ints. Rows are
    always legal states here, so nothing needs clipping."""

    def __init__(self, tables: EmissionTables, task: int):
        self.type_sources = tables.layout.type_sources
        codes = tables.is_u32[task].tolist()
        u32 = frozenset(code for code, holds in enumerate(codes) if holds)
        # (column, bit) of each slot whose u32-ness picks the typed static row, with the codes that hold u32
        self.u32_checks = [(column, bit, u32) for column, bit in zip(tables.u32_columns, tables.u32_bits.tolist())
                           ] if tables.n_codes > 1 else []

    # the C functions themselves where one fits: a step is a few microseconds, a Python call ~0.1 us of it
    convert = staticmethod(np.asarray)
    take = staticmethod(np.ndarray.item)  # take(flat, index): one element as a Python scalar
    column = staticmethod(np.ndarray.item)
    rows = staticmethod(operator.getitem)

    @staticmethod
    def add_pairs(starts, offsets):
        return starts[0] + offsets[0], starts[1] + offsets[1]
    put_token = staticmethod(operator.setitem)  # put_token(row, position, token)

    clip = None  # rows are legal states: they never leave the tables

    @staticmethod
    def where(condition: bool, a, b):
        return a if condition else b

    def gather_types(self, data: np.ndarray, sources: np.ndarray) -> np.ndarray:
        return data[self.type_sources][sources]


class RowMachine:
    """One episode of task ``task`` of ``tables`` under masking ``level``, in numpy.

    ``row`` holds what the batched machine's row holds for the same prefix (tokens, length, stack change, I/O
    counters, violation, slot types; its table offsets are these tables'). ``track_violations``: record the
    first ``stack`` violation (for the shaped reward). ``type_window``: how many top slots :meth:`slot_types`
    reports. (A :class:`~tasm_env.emission.machine.StackMachine` in place of ``tables`` gives its tables and
    window.) ``values``: a :class:`~tasm_env.emission.values.ValueModel` and this task's index in it, for level
    ``dataflow`` and :meth:`value_facts`.
    """

    def __init__(self, tables: EmissionTables, task: int, level: str, track_violations: bool = False,
                 type_window: int = 16, values: tuple[ValueModel, int] | None = None):
        if not isinstance(tables, EmissionTables):  # a StackMachine, as before: the same tables, its window
            tables, type_window = tables.tables, tables.type_window
        self.tables, self.task, self.level = tables, int(task), check_level(level)
        self.layout = L = tables.layout
        self.spec = tables.specs[self.task]
        self.track_violations = track_violations
        self.ops = RowOps(tables, self.task)
        self.view = TableView(tables, self.ops)
        facts = tables.facts[self.task].tolist()
        self._inputs, self._budget = facts[TaskField.N_INPUTS], facts[TaskField.BUDGET]
        self._effect_base, self._n_bound = facts[TaskField.EFFECT_BASE], int(tables.n_bound[self.task])
        self._starts = {level: (facts[reach], facts[static]) for level, (reach, static) in LEVEL_FIELDS.items()}
        self._resolve = tables.resolve[self.task]
        self._types_window = slice(L.types.start, L.types.start + type_window)
        # the layout's columns as plain attributes of this object: one lookup less on every access
        self._length, self._change, self._violation = L.length, L.change, L.violation
        self._reach_offset, self._static_offset = L.reach_offset, L.static_offset
        self._u32_checks = self.ops.u32_checks
        # level none's two masks (tokens that decode; EOS only once the budget is spent), read-only
        self._none_masks = tuple(self._read_only(self.view.static[self.view.none_row(spent, self._n_bound)])
                                 for spent in (False, True))
        self._s0 = L.initial_row()
        self.row = self._s0.copy()
        self._mask: np.ndarray | None = None
        self._masks: dict[tuple, np.ndarray] = {}  # (level, static row, pattern) -> mask, read-only
        self.values = values
        self._pops = pop_tokens(tables.vocab)
        if self.level in VALUE_LEVELS and values is None:
            raise ConfigError("masking 'dataflow' needs a RowMachine built with values=(ValueModel, task index)")

    # ---- state
    def reset(self) -> None:
        self.row = self._s0.copy()
        self._mask = None

    @staticmethod
    def _read_only(mask: np.ndarray) -> np.ndarray:
        mask.flags.writeable = False
        return mask

    @property
    def length(self) -> int:
        return self.row.item(self._length)

    @property
    def depth(self) -> int:
        """The live depth: the block's inputs plus the net stack change so far."""
        return self._inputs + self.row.item(self._change)

    @property
    def remaining(self) -> int:
        """Tokens the budget still allows (EOS excluded)."""
        return self._budget - self.row.item(self._length)

    def counts(self) -> tuple[int, int, int]:
        """(length, live depth, budget left) at once (an env's observation wants all three every step)."""
        length = self.row.item(self._length)
        return length, self._inputs + self.row.item(self._change), self._budget - length

    @property
    def tokens(self) -> np.ndarray:
        """The prefix so far (token ids)."""
        return self.row[: self.length].astype(np.int64)

    @property
    def violation(self) -> int:
        return self.row.item(self._violation)

    def slot_types(self) -> np.ndarray:
        """The resolved types of the top ``type_window`` slots, st0 first (:meth:`StackMachine.slot_types`)."""
        row = self.row
        resolved = self._resolve.take(row[self._types_window])
        resolved[max(self._inputs + row.item(self._change), 0):] = CONTEXT
        return resolved

    def program(self) -> Program:
        return self.spec.bound.decode(self.tokens.tolist())

    # ---- legality
    def mask(self) -> np.ndarray:
        """(V,) bool: the legal next tokens under the level (column 0 = EOS). Cached until the next step."""
        if self._mask is None:
            self._mask = self.mask_at(self.level)
        return self._mask

    def mask_at(self, level: str) -> np.ndarray:
        """(V,) bool under any level (the batched machine's ``forward_masks`` for this row), read-only."""
        row = self.row
        length = row.item(self._length)
        starts = self._starts.get(level)
        if level in VALUE_LEVELS:
            mask = self.mask_at("typed").copy()
            restrict(mask, self.value_facts(), self._pops)
            return self._read_only(mask)
        if starts is None:  # "none", or not a level
            if level != "none":
                check_level(level)
            return self._none_masks[length >= self._budget]
        # the typed static row offset: the bits of the checked slots whose codes hold u32 values
        code = sum(bit for column, bit, u32 in self._u32_checks if row.item(column) in u32) \
            if level == "typed" else None
        view = self.view
        _, static, pattern = view.locate(level, starts, (row.item(self._reach_offset), row.item(self._static_offset)),
                                         self._budget - length, code)
        key = (level, static, pattern)
        mask = self._masks.get(key)
        if mask is None:
            if len(self._masks) >= MASK_CACHE_SIZE:
                self._masks.clear()
            mask = self._masks[key] = self._read_only(view.mask(level, static, pattern))
        return mask

    def value_facts(self) -> ValueFacts:
        """The value state's facts of the prefix (:class:`~tasm_env.emission.values.ValueFacts`)."""
        if self.values is None:
            raise ConfigError("this RowMachine has no value state: build it with values=(ValueModel, task index)")
        model, task = self.values
        return model.facts(task, self.row[: self.length].tolist())

    def legal(self, token: int) -> bool:
        return bool(self.mask()[token])

    def is_complete(self) -> bool:
        """EOS is legal under ``stack``: the output arity is reached and the I/O totals are met."""
        return bool(self.mask_at("stack")[EOS])

    def final_violation(self) -> int:
        """The first violation (under ``stack``) of an episode ending with EOS now: the recorded one, else the EOS
        position if EOS is illegal here, else -1 (:meth:`StackMachine.final_violation`)."""
        if self.violation >= 0:
            return self.violation
        return NO_VIOLATION if self.is_complete() else self.length

    # ---- transitions
    def step(self, token: int) -> None:
        """Append a token (not EOS: the episode's end is the env's business). Records the first ``stack``
        violation when tracking violations; does not check legality otherwise."""
        row = self.row
        if token == EOS:
            raise ValueError("RowMachine.step appends instruction tokens; EOS ends the episode outside it")
        length = row.item(self._length)
        if self.track_violations and row.item(self._violation) < 0 and not self.mask_at("stack")[token]:
            row[self._violation] = length
        self.view.step(row, self._effect_base, token, length)
        self._mask = None
