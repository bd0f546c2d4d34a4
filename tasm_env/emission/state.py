"""A state of the emission problem: the masking levels, the row layout and :class:`EmissionState`.

A batch of states is one int32 tensor ``data`` of shape (B, width) plus the task index of each row. Its columns
(:class:`Layout`), in order:

* ``tokens`` (max_len): the prefix, padded with :data:`PAD`, then one scratch column that stays PAD;
* the columns a token adds to (:data:`EFFECT_COLUMNS`): ``length``; ``change``, the net stack change so far, so
  the live depth is ``n_inputs + change`` (the context below the inputs is off limits); the four I/O counters
  (public input words, secret input words and secret digests consumed, public output words written);
  ``sponge`` (0 until the block runs ``sponge_init``, then a positive table offset); and the two table offsets
  (where the row is in the reachability and static legality tables relative to its task's start);
* ``violation``: the first step whose token was illegal under the machine's ``violation_level`` (``-1`` if
  none), for the seed's shaped reward when masking is ``none``;
* ``types``: a code per slot, st0 first, for the top ``tracked`` slots: ``FIELD``, ``U32``, ``BOOL`` or
  ``ORIGIN + j`` = "the value at position j of the initial stack", which each task resolves to its input's type
  or to :data:`CONTEXT`;
* the constant columns a type update gathers from besides the types (:data:`TYPE_CONSTANTS`): FIELD, U32,
  BOOL, and ``slot_result`` (scratch: the type of the constant a slot push would push).

Everything is relative to the task's start, so the initial row is the same for every task.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from ..errors import ConfigError
from .vocab import BOOL, FIELD, U32

LEVELS = ("none", "stack", "typed", "dataflow")
"""Masking levels, loosest first (see :mod:`tasm_env.emission.machine`; ``dataflow`` is ``typed`` narrowed by
the value state, :mod:`tasm_env.emission.values`)."""
VALUE_LEVELS = ("dataflow",)
"""The levels that need a value state (a :class:`~tasm_env.emission.values.ValueModel`)."""
MASKED_LEVELS = ("stack", "typed")
"""The levels with reachability tables: every legal prefix can still be finished within the budget (``dataflow``
narrows ``typed``'s tables)."""
TYPE_CHECK_EXEMPT = frozenset({"merkle_step"})
"""u32-operand instructions ``typed`` does not type-check: a block still owing a secret digest can always be
finished."""
STATE_DTYPE = torch.int32
"""dtype of state rows (every column fits; half the memory traffic of int64)."""
PAD = -1
"""Token id of an empty position in ``tokens`` (torchgfn's dummy action is -1 too)."""
NO_VIOLATION = -1
CONTEXT = 3
"""Resolved slot type of a position below the block's inputs (off limits)."""
ORIGIN = 3
"""Slot code ``ORIGIN + j``: the value at position j of the initial stack (resolved per task)."""

COUNTERS = ("public_reads", "secret_reads", "digests", "outputs")
"""The I/O counters of a row, in column order (also the vocabulary's per-token I/O arrays)."""
EFFECT_COLUMNS = ("length", "change", *COUNTERS, "sponge", "reach_offset", "static_offset")
"""The columns a token adds to, in row order."""
TYPE_CONSTANTS = ("field", "u32", "bool", "slot_result")
"""The columns after the slot types, in order: FIELD, U32 and BOOL are constants (so column ``types.start +
tracked + code`` holds ``code``), ``slot_result`` is scratch a step writes."""


def check_level(level, what: str = "masking", allowed: tuple = LEVELS) -> str:
    """``level`` if it is one of ``allowed``, else :class:`~tasm_env.errors.ConfigError` naming them. The one
    place a masking level is checked."""
    if not isinstance(level, str) and level is not None or level not in allowed:
        raise ConfigError(f"{what} must be one of {', '.join(map(repr, allowed))}, got {level!r}")
    return level


@dataclass(frozen=True)
class Layout:
    """Column positions in a state row of ``max_len`` tokens tracking ``tracked`` slot types (see the module
    docstring). Every position is a plain attribute, computed once."""

    max_len: int
    tracked: int
    tokens: slice = field(init=False, repr=False, compare=False)
    scratch: int = field(init=False, repr=False, compare=False)
    effects: slice = field(init=False, repr=False, compare=False)
    """The :data:`EFFECT_COLUMNS`: what a token adds to."""
    length: int = field(init=False, repr=False, compare=False)
    change: int = field(init=False, repr=False, compare=False)
    counters: slice = field(init=False, repr=False, compare=False)
    """Public input words, secret input words, secret digests consumed; public output words written."""
    sponge: int = field(init=False, repr=False, compare=False)
    offsets: slice = field(init=False, repr=False, compare=False)
    """The reach offset and the static offset."""
    reach_offset: int = field(init=False, repr=False, compare=False)
    static_offset: int = field(init=False, repr=False, compare=False)
    violation: int = field(init=False, repr=False, compare=False)
    types: slice = field(init=False, repr=False, compare=False)
    type_sources: slice = field(init=False, repr=False, compare=False)
    """The types and the :data:`TYPE_CONSTANTS`: what a type update gathers from."""
    slot_result: int = field(init=False, repr=False, compare=False)
    width: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        def put(name, value):
            object.__setattr__(self, name, value)

        effects = self.max_len + 1  # after the tokens and their scratch column
        effect = {name: effects + i for i, name in enumerate(EFFECT_COLUMNS)}
        types = effects + len(EFFECT_COLUMNS) + 1  # after the effects and the violation
        constants = types + self.tracked
        put("tokens", slice(0, self.max_len))
        put("scratch", self.max_len)
        put("effects", slice(effects, effects + len(EFFECT_COLUMNS)))
        put("length", effect["length"])
        put("change", effect["change"])
        put("counters", slice(effect[COUNTERS[0]], effect[COUNTERS[-1]] + 1))
        put("sponge", effect["sponge"])
        put("reach_offset", effect["reach_offset"])
        put("static_offset", effect["static_offset"])
        put("offsets", slice(effect["reach_offset"], effect["static_offset"] + 1))
        put("violation", effects + len(EFFECT_COLUMNS))
        put("types", slice(types, constants))
        put("type_sources", slice(types, constants + len(TYPE_CONSTANTS)))
        put("slot_result", constants + TYPE_CONSTANTS.index("slot_result"))
        put("width", constants + len(TYPE_CONSTANTS))

    def initial_row(self) -> np.ndarray:
        """The (width,) int32 row of the empty prefix, the same for every task."""
        row = np.zeros(self.width, dtype=np.int32)
        row[: self.length] = PAD  # the tokens and the scratch column after them
        row[self.violation] = NO_VIOLATION
        row[self.types] = ORIGIN + np.arange(self.tracked)
        row[self.types.stop:self.type_sources.stop] = (FIELD, U32, BOOL, FIELD)
        return row


class EmissionState:
    """A batch of prefixes: ``data`` (B, width) int32 and ``task`` (B,) int64 (row -> task index).

    Treat it as immutable: the machine caches per-row table lookups on it (:meth:`memo`; a mask and the step
    after it share them). To change rows, build a new EmissionState (or call :meth:`forget` after writing)."""

    __slots__ = ("data", "task", "layout", "_cache")

    def __init__(self, data: torch.Tensor, task: torch.Tensor, layout: Layout):
        self.data = data
        self.task = task
        self.layout = layout
        self._cache: dict = {}

    def memo(self, key, compute: Callable[[], object]):
        """``compute()``, computed once per ``key`` for these rows."""
        value = self._cache.get(key)
        if value is None:
            value = self._cache[key] = compute()
        return value

    def forget(self) -> None:
        """Drop what :meth:`memo` kept (after writing into ``data``)."""
        self._cache.clear()

    def __len__(self) -> int:
        return self.data.shape[0]

    def __getitem__(self, rows) -> "EmissionState":
        return EmissionState(self.data[rows], self.task[rows], self.layout)

    def __repr__(self) -> str:
        return f"EmissionState({len(self)} rows, lengths {self.length.tolist()[:8]})"

    def clone(self) -> "EmissionState":
        return EmissionState(self.data.clone(), self.task.clone(), self.layout)

    def __eq__(self, other) -> bool:
        return (isinstance(other, EmissionState) and self.layout == other.layout
                and torch.equal(self.data, other.data) and torch.equal(self.task, other.task))

    __hash__ = None

    @property
    def tokens(self) -> torch.Tensor:
        return self.data[:, self.layout.tokens]

    @property
    def length(self) -> torch.Tensor:
        return self.data[:, self.layout.length]

    @property
    def change(self) -> torch.Tensor:
        return self.data[:, self.layout.change]

    @property
    def counters(self) -> torch.Tensor:
        return self.data[:, self.layout.counters]

    @property
    def sponge_on(self) -> torch.Tensor:
        """(B,) bool: the block has run ``sponge_init``."""
        return self.data[:, self.layout.sponge] > 0

    @property
    def violation(self) -> torch.Tensor:
        return self.data[:, self.layout.violation]

    @property
    def types(self) -> torch.Tensor:
        """Raw slot codes (see the module docstring); :meth:`StackMachine.slot_types` resolves them."""
        return self.data[:, self.layout.types]
