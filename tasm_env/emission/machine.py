"""The batched stack state machine of the emission problem: states, steps and action masks, in torch.

    specs = [TaskSpec.from_task(task, vocab) for task in tasks]    # output arity, I/O totals, budget, binding
    machine = StackMachine(specs)
    state = machine.initial(task_ids)                    # (B,) task index per row
    mask = machine.forward_masks(state, "typed")         # (B, V) bool, column 0 = EOS
    state = machine.step(state, actions)                 # batched, no Python loop over rows
    machine.backward_step(state, actions)                # exact inverse
    machine.decode(state)                                 # the programs

An episode appends one token at a time to an empty block for one task; it ends with EOS, which the machine
does not store (torchgfn's exit, the Gymnasium env's ``done``). A batch of states is an
:class:`~tasm_env.emission.state.EmissionState` (rows laid out by :class:`~tasm_env.emission.state.Layout`);
the tables the machine looks up are an :class:`~tasm_env.emission.tables.EmissionTables`, and the rules that
read them are :class:`~tasm_env.emission.tables.TableView`'s, shared with the single-row machine
(:mod:`tasm_env.emission.row`).

Everything is relative to the task's start, so the initial state is the same row for every task (torchgfn's
single ``s0``); the task travels with the row (torchgfn: the condition). Task parameters come from a
:class:`~tasm_env.emission.spec.TaskSpec`. For torchgfn, whose exit action is the last index: action ``i < V - 1``
is token ``i + 1`` and exit is EOS, so its forward mask is ``mask.roll(-1, 1)``; its ``_step`` hands over a
private copy, so ``step(..., inplace=True)``, and with masked actions a machine built with
``violation_level=None`` steps fastest.

Masking levels (:meth:`StackMachine.forward_masks`):

* ``none``: every token that decodes for the task is legal while the length budget lasts; EOS is always legal
  (and is the only legal action once the budget is spent).
* ``stack``: a token is legal iff (1) it reads no slot below the block's inputs: ``reads <= live depth`` (this
  also keeps the live depth >= 0); (2) ``read_io``/``divine``/``merkle_step``/``write_io`` keep the running
  totals of public input, secret input, secret digests and public output within the baseline's (the block
  must consume and produce exactly what the baseline does, so nothing beyond it can ever verify); (3) sponge
  instructions come after a ``sponge_init`` of the block; (4) the live depth stays <= ``max_depth``; (5) from
  the resulting state the block can still be finished within the budget: the exact minimum number of tokens to
  reach the output arity with all of the baseline's input consumed and output written (a shortest-path table
  over live depth, the four counts and the sponge flag) is at most the budget left. EOS is legal iff that
  minimum is 0: live depth == output arity and the I/O totals equal the baseline's, so every EOS-terminated
  legal block has the baseline's static shape (what the verifier compares before running anything).
* ``typed``: ``stack``, and instructions with u32 operands only where the slot types say those operands hold
  u32 or bool values. Inputs are typed by the task; constants below 2^32 are u32 (0 and 1 bool); results are
  typed by the instruction (``split``/``div_mod``/``and``/``xor``/``log_2_floor``/``pop_count`` -> u32,
  ``lt``/``eq`` -> bool, the rest field); ``dup``/``swap``/``pick``/``place`` move types. ``merkle_step``'s
  node index is not type-checked, so that a block still owing a secret digest can always be finished.
* ``dataflow``: ``typed`` narrowed by the value state (a machine built with ``values``, a
  :class:`~tasm_env.emission.values.ValueModel`): EOS only where the block matches the baseline on every probe,
  no ``pop`` that loses a value an output needs, unless nothing else is legal
  (:func:`~tasm_env.emission.values.restrict`; docs/envs.md says what it guarantees).

Every mask leaves at least one legal action in every state reachable at its level, and under ``stack`` and
``typed`` every legal prefix can still be finished within the budget (the tokens used to finish have no u32
operands, so they are legal at every level). Masks at ``stack``/``typed`` are specified for prefixes legal at
``stack`` (``violation == -1``); on other rows (and on garbage rows such as torchgfn's sink states) they are
some boolean mask, computed without error.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
import torch

from ..asm import Program
from ..errors import TaskError
from .spec import TaskSpec
from ..errors import ConfigError
from .state import (CONTEXT, LEVELS, MASKED_LEVELS, NO_VIOLATION, ORIGIN, PAD, VALUE_LEVELS, EmissionState,
                    check_level)
from .tables import LEVEL_FIELDS, EmissionTables, TableView, TaskField
from ..collector import collector_paused
from .value_stacks import ValueArrays, ValueStacks, take_arrays, value_arrays
from .values import PAUSE_AT, ValueFacts, ValueModel, pop_tokens, restrict_rows
from .vocab import EOS

__all__ = ["LEVELS", "StackMachine", "TorchOps", "take"]



def take(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``torch.take(table, index)`` for indices in ``[0, table.numel())``: the elements of ``table`` (read flat)
    at ``index`` (int64, any shape), by ``index_select`` on the flat table (several times faster than
    ``torch.take`` on the batch's index arrays: ~12 us against ~80-130 us for (1,024, 16))."""
    return table.reshape(-1).index_select(0, index.reshape(-1)).reshape(index.shape)


class TorchOps:
    """:class:`~tasm_env.emission.tables.ArrayOps` over batches of rows as torch tensors."""

    def __init__(self, tables: EmissionTables):
        L = tables.layout
        self.max_len, self.type_sources = L.max_len, L.type_sources
        self.code_limit = ORIGIN + L.tracked - 1
        self.n_codes = tables.n_codes
        columns = tables.u32_columns
        # the type columns whose u32-ness picks the typed static row (a slice when contiguous: a cheaper gather)
        self.u32_columns = slice(columns[0], columns[-1] + 1) if columns and tables.u32_contiguous else columns

    convert = staticmethod(torch.from_numpy)
    take = staticmethod(take)
    where = staticmethod(torch.where)

    @staticmethod
    def clip(x, low, high):
        return x.clamp(low, high)

    @staticmethod
    def rows(table, index):
        return table.index_select(0, index)

    @staticmethod
    def add_pairs(starts, offsets):
        where = starts + offsets  # (B, 2): one add for both
        return where[:, 0], where[:, 1]

    @staticmethod
    def column(data, column):
        return data[:, column]

    def put_token(self, data, position, token) -> None:
        token = token.masked_fill(token == EOS, PAD).to(data.dtype)  # EOS writes PAD where PAD already is
        data.scatter_(1, position.clamp(0, self.max_len).long()[:, None], token[:, None])

    def gather_types(self, data, sources):
        return data[:, self.type_sources].gather(1, sources)

    def u32_code(self, view: TableView, data, task):
        """(B,) the typed static row offset: the bits of the checked slots whose codes hold u32 values."""
        codes = data[:, self.u32_columns].clamp(0, self.code_limit)
        return (take(view.is_u32, task[:, None] * (self.code_limit + 1) + codes) * view.u32_bits).sum(1)


class _Terms(NamedTuple):
    """Per-row table positions every legality test needs, all (B,)."""

    task: torch.Tensor
    info: torch.Tensor  # (B, TaskField) the task's facts
    row: torch.Tensor  # row of the static legality table
    pattern: torch.Tensor  # row of the reachability pattern table
    here: torch.Tensor  # the current state in the flat distance table


class StackMachine:
    """The batched stack state machine over a list of tasks sharing one vocabulary.

    ``initial(task)`` starts rows; ``step``/``backward_step`` append/remove one token per row;
    ``forward_masks(state, level)`` gives (B, V) legal actions (column 0 = EOS). Nothing loops over the batch:
    a mask is two row lookups (static legality by bound slots, live depth, sponge and operand types; the
    reachability pattern by state and budget left) and one AND.

    ``max_len`` (default: the largest budget) is the width of the token columns; ``max_depth`` caps the live
    depth under ``stack``/``typed`` (and is how many slot types a row tracks); ``type_window`` is how many top
    slots :meth:`slot_types` reports; ``violation_level`` is the level whose first violation :meth:`step`
    records (None: record none, a faster step for agents that only take masked actions). ``tables``: the
    :class:`~tasm_env.emission.tables.EmissionTables` (built from the specs when not given). ``values``: a
    :class:`~tasm_env.emission.values.ValueModel` over the same tasks, for level ``dataflow`` and the value
    facts (:meth:`value_facts`, :meth:`slot_nodes`, :meth:`outputs_ready`).
    """

    def __init__(self, specs: Sequence[TaskSpec], max_len: int | None = None, max_depth: int = 64,
                 type_window: int = 16, violation_level: str | None = "stack", values: ValueModel | None = None):
        if not specs:
            raise TaskError("a StackMachine needs at least one TaskSpec")
        self.violation_level = check_level(violation_level, "violation_level", (*MASKED_LEVELS, None))
        if type_window < 2:
            raise ValueError("type_window must be at least 2")
        self.type_window = int(type_window)
        self.specs = tuple(specs)
        self.tables = EmissionTables.build(specs, max_len, max_depth, self.type_window)
        self.layout, self.max_len, self.max_depth = self.tables.layout, self.tables.layout.max_len, int(max_depth)
        self.vocab = self.tables.vocab
        self.n_actions = len(self.vocab)
        self.ops = TorchOps(self.tables)
        self.view = TableView(self.tables, self.ops)
        self._s0 = torch.from_numpy(self.layout.initial_row())
        # plain ints for the hot paths (indexing with an IntEnum takes torch's slower path)
        self._level_fields = {level: int(fields[0]) for level, fields in LEVEL_FIELDS.items()}
        self._budget_field, self._effect_field = int(TaskField.BUDGET), int(TaskField.EFFECT_BASE)
        self.values = values
        self.value_stacks = None if values is None else ValueStacks(values)
        self.fast_values = True  # False: every row's value facts from the reference (tests compare both)
        self._pops = pop_tokens(self.vocab)

    @property
    def s0(self) -> torch.Tensor:
        """The initial state row (width,), the same for every task."""
        return self._s0.clone()

    # ---- states
    def task_index(self, name: str) -> int:
        for n, spec in enumerate(self.specs):
            if spec.name == name:
                return n
        raise TaskError(f"no task named {name!r} in this machine")

    def initial(self, task) -> EmissionState:
        """Empty prefixes for the given task indices (an int, a sequence or a (B,) tensor)."""
        task = torch.as_tensor(task, dtype=torch.int64).reshape(-1)
        if len(task) and (int(task.min()) < 0 or int(task.max()) >= len(self.specs)):
            raise IndexError(f"task indices must be in 0..{len(self.specs) - 1}")
        return EmissionState(self._s0.repeat(len(task), 1), task, self.layout)

    def _task_info(self, state: EmissionState) -> tuple[torch.Tensor, torch.Tensor]:
        task = state.task.clamp(0, len(self.specs) - 1)  # garbage rows (torchgfn's sink states) stay in range
        return task, self.view.facts.index_select(0, task)

    def n_inputs(self, state: EmissionState) -> torch.Tensor:
        """(B,) how many inputs each row's block takes."""
        return self._task_info(state)[1][:, TaskField.N_INPUTS]

    def live_depth(self, state: EmissionState) -> torch.Tensor:
        """(B,) the block's inputs plus the net stack change so far."""
        return self.n_inputs(state) + state.change

    def remaining(self, state: EmissionState) -> torch.Tensor:
        """(B,) tokens the budget still allows (EOS excluded)."""
        return self._task_info(state)[1][:, TaskField.BUDGET] - state.length

    def slot_types(self, state: EmissionState) -> torch.Tensor:
        """Resolved (B, type_window) slot types, st0 first: FIELD, U32, BOOL, or CONTEXT below the inputs."""
        T, W = self.layout.tracked, self.type_window
        task, info = self._task_info(state)
        codes = state.types[:, :W].clamp(0, ORIGIN + T - 1)
        resolved = take(self.view.resolve, task[:, None] * (ORIGIN + T) + codes)
        below = torch.arange(W)[None, :] >= (info[:, TaskField.N_INPUTS] + state.change)[:, None]
        return torch.where(below, CONTEXT, resolved)

    # ---- legality
    def _terms(self, state: EmissionState, level: str) -> _Terms:
        return state.memo(level, lambda: self._compute_terms(state, level))

    def _compute_terms(self, state: EmissionState, level: str) -> _Terms:
        L, data, view = self.layout, state.data, self.view
        task, info = self._task_info(state)
        at = self._level_fields[level]
        code = self.ops.u32_code(view, data, task) if level == "typed" and self.tables.n_codes > 1 else None
        here, row, pattern = view.locate(level, info[:, at:at + 2], data[:, L.offsets],
                                         info[:, self._budget_field] - data[:, L.length], code)
        return _Terms(task, info, row, pattern, here)

    def _none_row(self, state: EmissionState) -> torch.Tensor:
        task, info = self._task_info(state)
        return self.view.none_row(state.length >= info[:, self._budget_field], self.view.n_bound.index_select(0, task))

    def forward_masks(self, state: EmissionState, level: str = "stack") -> torch.Tensor:
        """(B, V) bool: the legal next actions (column 0 = EOS) under ``level`` (see the module docstring)."""
        if check_level(level, "level") == "none":
            return self.view.static.index_select(0, self._none_row(state))
        if level in VALUE_LEVELS:
            return self._dataflow_masks(state)
        t = self._terms(state, level)
        return self.view.mask(level, t.row, t.pattern)

    # ---- the value state
    def _value_model(self) -> ValueModel:
        if self.values is None:
            raise ConfigError("masking 'dataflow' and the value facts need a machine built with values=ValueModel(...)")
        return self.values

    def value_facts(self, state: EmissionState) -> list[ValueFacts | None]:
        """The :class:`~tasm_env.emission.values.ValueFacts` of every row (None for a garbage row, such as
        torchgfn's sink states), computed once per state."""
        return state.memo("values", lambda: self._facts_list(state))

    def _value_keys(self, state: EmissionState) -> list[tuple | None]:
        """(task, prefix) of every row, None for a garbage row."""
        # numpy's tolist: torch's costs several times more per element (a (1,024, 68) token matrix a step)
        # the checks as array calls: only a valid row's key is built in Python
        length, task, tokens = state.length.numpy(), state.task.numpy(), state.tokens.numpy()
        ok = (length >= 0) & (length <= self.max_len) & (task >= 0) & (task < len(self.specs))
        # the columns some valid row reads, no more: the padding past the longest is never read
        tokens = tokens[:, :int(length[ok].max(initial=0))]
        inside = np.arange(tokens.shape[1])[None] < length[:, None]
        ok &= ~((tokens < 1) & inside).any(1)
        return [(n, tuple(row[:m])) if good else None
                for good, m, row, n in zip(ok.tolist(), length.tolist(), tokens.tolist(), task.tolist())]

    def value_arrays(self, state: EmissionState) -> ValueArrays:
        """Every row's value facts as arrays (computed once per state): the fast path
        (:class:`~tasm_env.emission.value_stacks.ValueStacks`) for the rows it covers, the reference
        (:meth:`~tasm_env.emission.values.ValueModel.facts_many`) for the rest, or for all rows when
        ``fast_values`` is False."""
        def compute() -> ValueArrays:  # keys and facts with the collector paused: one young collection after
            with collector_paused(len(state) >= PAUSE_AT):
                return value_arrays(self._value_model(), self._value_keys(state),
                                    self.value_stacks if self.fast_values else None)
        return state.memo("value_arrays", compute)

    def _facts_list(self, state: EmissionState) -> list[ValueFacts | None]:
        a, model = self.value_arrays(state), self._value_model()
        return [None if key is None else ValueFacts(a.slot_nodes[b], a.ready[b, :model.probes(key[0]).arity],
                                                    bool(a.lost[b]), bool(a.eos_ok[b]), a.pop_loses[b])
                for b, key in enumerate(a.keys)]

    def _dataflow_masks(self, state: EmissionState) -> torch.Tensor:
        mask = self.forward_masks(state, "typed").clone()
        a = self.value_arrays(state)
        rows = np.flatnonzero(a.valid)
        if len(rows):
            narrowed = mask.numpy()[rows]
            restrict_rows(narrowed, a.eos_ok[rows], a.pop_loses[rows], self._pops)
            mask.numpy()[rows] = narrowed  # shares memory with mask
        return mask

    def stored_value_keys(self, state: EmissionState, rows: Sequence[int] | None = None) -> list[bytes | None]:
        """Each row's :meth:`~tasm_env.emission.values.ValueModel.value_key` (the same bytes) where the fast path
        holds the row's stacks; None elsewhere (a garbage or uncovered row, or ``fast_values`` off: the
        reference's to compute, when needed). ``rows``: only these rows, in this order (default: every row)."""
        keys = self.value_arrays(state).keys
        if rows is not None:
            keys = [keys[b] for b in rows]
        found: list[bytes | None] = [None] * len(keys)
        if self.value_stacks is None or not self.fast_values:
            return found
        valid = [b for b, key in enumerate(keys) if key is not None]
        for b, key in zip(valid, self.value_stacks.value_keys([keys[b] for b in valid])):
            found[b] = key
        return found

    def gather(self, parts: Sequence[tuple[EmissionState, Sequence[int]]]) -> EmissionState:
        """The rows ``index`` of each state of ``parts``, in order, as one state, with the value arrays computed
        for them carried (a row's value facts are a function of its prefix: not computed again)."""
        index = [torch.as_tensor(list(i), dtype=torch.long) for _, i in parts]
        out = EmissionState(torch.cat([s.data[i] for (s, _), i in zip(parts, index)]),
                            torch.cat([s.task[i] for (s, _), i in zip(parts, index)]), self.layout)
        if self.values is not None:
            arrays = take_arrays([(self.value_arrays(s), i.numpy()) for (s, _), i in zip(parts, index)])
            out.memo("value_arrays", lambda: arrays)
        return out

    def slot_nodes(self, state: EmissionState) -> torch.Tensor:
        """(B, 16) int64: the task-graph node each of the top 16 live slots holds (st0 first), or -1."""
        return torch.from_numpy(self.value_arrays(state).slot_nodes.copy())

    def outputs_ready(self, state: EmissionState) -> torch.Tensor:
        """(B, 16) bool: output position i (st_i of the baseline's final stack) holds its value (False beyond
        the task's output arity)."""
        return torch.from_numpy(self.value_arrays(state).ready.copy())

    def lost(self, state: EmissionState) -> torch.Tensor:
        """(B,) bool: no continuation of the row can verify (the probes prove it)."""
        return torch.from_numpy(self.value_arrays(state).lost.copy())

    def legal(self, state: EmissionState, actions: torch.Tensor, level: str = "stack") -> torch.Tensor:
        """(B,) bool: is ``actions[b]`` legal in row b under ``level``? (The masks' rules, one action per row.)"""
        actions = actions.reshape(-1).to(torch.int64).clamp(0, self.n_actions - 1)
        if check_level(level, "level") in VALUE_LEVELS:
            return self.forward_masks(state, level).gather(1, actions[:, None])[:, 0]
        if level == "none":
            return take(self.view.static_flat, self._none_row(state) * self.n_actions + actions)
        t = self._terms(state, level)
        return self.view.legal(level, t.row, t.pattern, actions)

    def is_complete(self, state: EmissionState) -> torch.Tensor:
        """(B,) bool: EOS is legal under ``stack`` (output arity reached, I/O totals met)."""
        return self.view.complete(self._terms(state, "stack").here)

    # ---- transitions
    def step(self, state: EmissionState, actions: torch.Tensor, inplace: bool = False) -> EmissionState:
        """Append ``actions[b]`` to row b. Returns a new state; with ``inplace`` it writes into ``state.data``
        instead and returns ``state`` (for callers that already hold a private copy, as torchgfn's ``_step``
        does: saves a copy of every row).

        EOS leaves a row unchanged except that an illegal EOS is recorded as a violation (the episode itself
        ends outside the machine). A row at its budget must take EOS."""
        L = self.layout
        a = actions.reshape(-1).to(torch.int64).clamp(0, self.n_actions - 1)
        if self.violation_level is None:
            info, legal = self._task_info(state)[1], None
        else:
            terms = self._terms(state, self.violation_level)
            info, legal = terms.info, self.view.legal(self.violation_level, terms.row, terms.pattern, a)
        data = state.data if inplace else state.data.clone()
        length = data[:, L.length]
        if legal is not None:
            violation = data[:, L.violation]
            data[:, L.violation] = torch.where((violation < 0) & ~legal, length, violation)
        self.view.step(data, info[:, self._effect_field], a, length)  # EOS's effect is nothing
        if inplace:
            state.forget()
            return state
        return EmissionState(data, state.task, L)

    def replay(self, tokens, task, lengths: torch.Tensor | None = None) -> EmissionState:
        """The states after the prefixes ``tokens[b, :lengths[b]]`` (default: up to the first PAD or EOS),
        stepped from the start. ``task`` is one index or one per row."""
        tokens = torch.as_tensor(tokens, dtype=torch.int64)
        if tokens.dim() == 1:
            tokens = tokens[None, :]
        if lengths is None:
            stop = (tokens == PAD) | (tokens == EOS)
            lengths = torch.where(stop.any(1), stop.long().argmax(1), tokens.shape[1])
        lengths = torch.as_tensor(lengths, dtype=torch.int64).reshape(-1)
        state = self.initial(torch.as_tensor(task, dtype=torch.int64).reshape(-1).expand(len(tokens)))
        for t in range(int(lengths.max()) if len(lengths) else 0):
            active = t < lengths
            stepped = self.step(state, torch.where(active, tokens[:, t], EOS))
            state = EmissionState(torch.where(active[:, None], stepped.data, state.data), state.task, self.layout)
        return state

    def backward_step(self, state: EmissionState, actions: torch.Tensor | None = None) -> EmissionState:
        """Remove the last token of every row (``actions``, if given, must be those tokens).

        The exact inverse of :meth:`step`: since a step can forget slot types (a pop brings up a slot from
        below the window), the shorter prefixes are replayed from the start (O(length) batched steps)."""
        length = state.length
        if bool((length <= 0).any()):
            raise ValueError("backward_step on an empty prefix")
        if actions is not None:
            last = state.tokens.gather(1, (length - 1).long()[:, None])[:, 0].long()
            if not torch.equal(last, actions.reshape(-1).to(torch.int64)):
                raise ValueError("backward_step: the actions are not the rows' last tokens")
        return self.replay(state.tokens, state.task, length - 1)

    def backward_masks(self, state: EmissionState) -> torch.Tensor:
        """(B, V) bool: a prefix's only backward action is its last token (the state space is a tree)."""
        mask = torch.zeros(len(state), self.n_actions, dtype=torch.bool)
        length = state.length
        has = length > 0
        last = state.tokens.gather(1, (length.clamp(1, self.max_len) - 1).long()[:, None])[:, 0]  # garbage rows too
        last = last.clamp(0, self.n_actions - 1).long()
        mask[has, last[has]] = True
        return mask

    # ---- episode ends
    def final_violation(self, state: EmissionState) -> torch.Tensor:
        """(B,) the first violation of an episode that ends (EOS) in this state: the recorded one, else the
        EOS position if EOS is illegal here, else -1."""
        if self.violation_level is None:
            raise ValueError("this machine records no violations (violation_level=None)")
        eos_ok = self.legal(state, torch.zeros(len(state), dtype=torch.int64), self.violation_level)
        recorded = state.violation
        return torch.where(recorded >= 0, recorded, torch.where(eos_ok, NO_VIOLATION, state.length))

    def decode(self, state: EmissionState) -> list[Program]:
        """The program of every row (its prefix)."""
        lengths, tasks, tokens = state.length, state.task.tolist(), state.tokens
        if not len(lengths) or int(lengths.min()) < 0:  # (a negative length slices from the row's end)
            return [self.specs[n].bound.decode_ids(row[:m])
                    for row, m, n in zip(tokens.tolist(), lengths.tolist(), tasks)]
        # only each row's prefix to Python ints, in one flat list: the padded rows are mostly past it
        width = min(int(lengths.max()), tokens.shape[1])
        flat = tokens[:, :width][torch.arange(width) < lengths[:, None]].tolist()
        ends = torch.cumsum(lengths.clamp(max=width), 0).tolist()
        return [self.specs[n].bound.decode_ids(flat[a:b]) for a, b, n in zip([0, *ends], ends, tasks)]

    def encode(self, programs: Sequence[Program | str], task) -> EmissionState:
        """States after whole programs (replayed), one per program; ``task`` is one index or one per program."""
        task = torch.as_tensor(task, dtype=torch.int64).reshape(-1).expand(len(programs))
        rows = [self.specs[int(n)].bound.encode(p) for p, n in zip(programs, task)]
        width = max([len(r) for r in rows] + [1])
        if width > self.max_len:
            raise TaskError(f"a program of {width} tokens exceeds max_len {self.max_len}")
        tokens = torch.full((len(rows), width), PAD, dtype=torch.int64)
        for b, r in enumerate(rows):
            tokens[b, : len(r)] = torch.tensor(r, dtype=torch.int64)
        return self.replay(tokens, task, torch.tensor([len(r) for r in rows], dtype=torch.int64))

