"""The batched stack state machine of the emission problem: states, steps and action masks, in torch.

    specs = [TaskSpec.from_task(task, vocab) for task in tasks]    # output arity, I/O totals, budget, binding
    machine = StackMachine(specs)
    state = machine.initial(task_ids)                    # (B,) task index per row
    mask = machine.forward_masks(state, "typed")         # (B, V) bool, column 0 = EOS
    state = machine.step(state, actions)                 # batched, no Python loop over rows
    machine.backward_step(state, actions)                # exact inverse
    machine.decode(state)                                 # the programs

An episode appends one token at a time to an empty block for one task; it ends with EOS, which the machine
does not store (torchgfn's exit, the Gymnasium env's ``done``). A batch of states is one int32 tensor ``data``
of shape (B, width) plus the task index of each row (:class:`EmissionState`). Its columns (:class:`Layout`):

* ``tokens`` (max_len): the prefix, padded with :data:`PAD`; ``length``: tokens so far;
* ``change``: the net stack change so far, so the live depth is ``n_inputs + change`` (the block's inputs plus
  what it pushed; the context below the inputs is off limits);
* ``counters``: public input words, secret input words and secret digests consumed, public output words
  written so far; ``sponge``: 0 until the block runs ``sponge_init`` (then a positive table offset);
* ``violation``: the first step whose token was illegal under ``violation_level`` (``-1`` if none), for the
  seed's shaped reward when masking is ``none``;
* ``types``: a code per slot, st0 first, for the top ``max_depth`` slots (every slot that can be live under
  ``stack``/``typed``, so typing is exact there): :data:`~tasm_env.vocab.FIELD`, ``U32``, ``BOOL`` or
  ``ORIGIN + j`` = "the value at position j of the initial stack", which each task resolves to its input's
  type or to context (:meth:`StackMachine.slot_types` gives the resolved top ``type_window`` slots);
* derived table offsets and scratch columns that make masks and steps cheap.

Everything is relative to the task's start, so the initial state is the same row for every task (torchgfn's
single ``s0``); the task travels with the row (torchgfn: the condition). Task parameters come from a
:class:`TaskSpec`. For torchgfn, whose exit action is the last index: action ``i < V - 1`` is token ``i + 1``
and exit is EOS, so its forward mask is ``mask.roll(-1, 1)``; its ``_step`` hands over a private copy, so
``step(..., inplace=True)``, and with masked actions a machine built with ``violation_level=None`` steps fastest.

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

Every mask leaves at least one legal action in every state reachable at its level, and under ``stack`` and
``typed`` every legal prefix can still be finished within the budget (the tokens used to finish have no u32
operands, so they are legal at every level). Masks at ``stack``/``typed`` are specified for prefixes legal at
``stack`` (``violation == -1``); on other rows (and on garbage rows such as torchgfn's sink states) they are
some boolean mask, computed without error.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np
import torch

from . import isa
from .asm import Program
from .errors import TaskError, TasmError
from .plan import NO_CRASH, Shape, summarize
from .vocab import BOOL, EOS, FIELD, INPUT_TYPE_CODES, SLOT_TYPE, U32, BoundVocabulary, Kind, Vocabulary

LEVELS = ("none", "stack", "typed")
STATE_DTYPE = torch.int32
"""dtype of state rows (every column fits; half the memory traffic of int64)."""
PAD = -1
"""Token id of an empty position in ``tokens`` (torchgfn's dummy action is -1 too)."""
NO_VIOLATION = -1
CONTEXT = 3
"""Resolved slot type of a position below the block's inputs (off limits)."""
ORIGIN = 3
"""Slot code ``ORIGIN + j``: the value at position j of the initial stack (resolved per task)."""
TYPE_CHECK_EXEMPT = frozenset({"merkle_step"})
"""u32-operand instructions ``typed`` does not type-check (see the module docstring)."""

_INF = 1 << 20
_COUNTERS = ("public_reads", "secret_reads", "digests", "outputs")
_SPEC_BIG = 1 << 12  # "unlimited" input counts when summarising a baseline


def default_budget(baseline_length: int) -> int:
    """Default length budget for a baseline of ``n`` instructions: ``max(2n, n + 8)``."""
    return max(2 * baseline_length, baseline_length + 8)


# ------------------------------------------------------------------------------------------- task spec


@dataclass(frozen=True)
class TaskSpec:
    """What the state machine needs to know about one task.

    ``output_arity`` is the baseline's final live depth (its outputs above the context); ``public_reads``,
    ``secret_reads``, ``digests`` and ``outputs`` its I/O totals; ``peak_depth`` its highest live depth;
    ``budget`` the most tokens (EOS excluded) an episode may emit; ``bound`` the vocabulary bound to the task.
    """

    name: str
    input_types: tuple[str, ...]
    output_arity: int
    budget: int
    public_reads: int
    secret_reads: int
    digests: int
    outputs: int
    peak_depth: int
    bound: BoundVocabulary

    @property
    def n_inputs(self) -> int:
        return len(self.input_types)

    @property
    def io_totals(self) -> tuple[int, int, int, int]:
        return self.public_reads, self.secret_reads, self.digests, self.outputs

    @classmethod
    def from_task(cls, task, vocab: Vocabulary, budget: int | None = None) -> "TaskSpec":
        """The spec of a :class:`~tasm_env.tasks.task.Task` (anything with ``name``, ``inputs``, ``baseline``).
        ``budget`` defaults to :func:`default_budget` of the baseline's length."""
        program: Program = Program.coerce(task.baseline)
        inputs = tuple(task.inputs)
        name = getattr(task, "name", "task")
        k = len(inputs)
        summary = summarize(program, Shape(16 + k, _SPEC_BIG, _SPEC_BIG, _SPEC_BIG))
        if summary.static_crash != NO_CRASH:
            raise TaskError(f"task {name!r}: the baseline crashes regardless of its inputs")
        depth = peak = k
        for position, instruction in enumerate(program):
            if instruction.spec.reads(instruction.arg) > depth:
                raise TaskError(f"task {name!r}: baseline instruction {position} `{instruction}` reads below the "
                                f"block's {k} inputs (live depth {depth})")
            depth += instruction.spec.delta(instruction.arg)
            peak = max(peak, depth)
        budget = default_budget(len(program)) if budget is None else int(budget)
        if budget < 1:
            raise TaskError(f"task {name!r}: the budget must be at least 1 token, got {budget}")
        return cls(name, inputs, summary.final_depth - 16, budget, summary.public_consumed,
                   summary.secret_consumed, summary.digests_consumed, summary.outputs, peak,
                   vocab.bind(task, name=name))


# --------------------------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Layout:
    """Column positions in a state row.

    ``tokens`` (max_len, plus one scratch column that stays PAD), then what a token adds to: ``length``,
    ``change``, the four I/O ``counters``, ``sponge`` and two derived table ``offsets`` (where the row is in the
    reachability and static legality tables relative to its task's start, kept so that a mask needs no
    arithmetic); then ``violation``, the slot ``types`` (``tracked`` of them, st0 first) and four columns a type
    update gathers from besides them: the constants FIELD, U32, BOOL and ``slot_result`` (scratch: the type of
    the constant a slot push would push)."""

    max_len: int
    tracked: int

    @property
    def tokens(self) -> slice:
        return slice(0, self.max_len)

    @property
    def length(self) -> int:
        return self.max_len + 1

    @property
    def effects(self) -> slice:
        """length, change, the four counts, sponge and the two offsets: what a token adds to."""
        return slice(self.max_len + 1, self.max_len + 10)

    @property
    def change(self) -> int:
        return self.max_len + 2

    @property
    def counters(self) -> slice:
        """Public input words, secret input words, secret digests consumed; public output words written."""
        return slice(self.max_len + 3, self.max_len + 7)

    @property
    def sponge(self) -> int:
        return self.max_len + 7

    @property
    def offsets(self) -> slice:
        return slice(self.max_len + 8, self.max_len + 10)

    @property
    def violation(self) -> int:
        return self.max_len + 10

    @property
    def types(self) -> slice:
        return slice(self.max_len + 11, self.max_len + 11 + self.tracked)

    @property
    def type_sources(self) -> slice:
        """types, FIELD, U32, BOOL, slot_result: what a type update gathers from."""
        return slice(self.max_len + 11, self.max_len + 15 + self.tracked)

    @property
    def slot_result(self) -> int:
        return self.max_len + 14 + self.tracked

    @property
    def width(self) -> int:
        return self.max_len + 15 + self.tracked


class EmissionState:
    """A batch of prefixes: ``data`` (B, width) int32 and ``task`` (B,) int64 (row -> task index).

    Treat it as immutable: the machine caches per-row table lookups on it (a mask and the step after it share
    them). To change rows, build a new EmissionState."""

    __slots__ = ("data", "task", "layout", "_cache")

    def __init__(self, data: torch.Tensor, task: torch.Tensor, layout: Layout):
        self.data = data
        self.task = task
        self.layout = layout
        self._cache: dict = {}

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


# ------------------------------------------------------------------------------------- reachability
#
# Whether a block can still be finished depends on (live depth, sponge flag, input/output still owed) and on
# the budget left. For every task signature (output arity, I/O totals) a shortest-path table gives the minimum
# number of tokens from each such state to the end. A token moves the state by its "move class": a depth
# change (most tokens), an I/O step (also moves a count), switching the sponge on, or ending (EOS). For every
# state and every budget left, which classes keep the block finishable is a bit pattern; there are few distinct
# patterns, so a mask is two row lookups: static legality (reads, sponge, types, bound slots) and the pattern.


@functools.lru_cache(maxsize=4096)
def _distances(moves: tuple, max_depth: int, pad: int, target: int, totals: tuple[int, int, int, int]) -> np.ndarray:
    """Minimum tokens from every (outputs owed, digests owed, secret owed, public owed, sponge, padded live
    depth) to live depth ``target`` with nothing owed, using ``moves`` = (reads, delta, public, secret, digests,
    outputs, needs_sponge, starts_sponge). The depth axis has ``pad`` unreachable cells on both sides."""
    P_, S_, M_, W_ = totals
    Dp = max_depth + 1 + 2 * pad
    dist = np.full((W_ + 1, M_ + 1, S_ + 1, P_ + 1, 2, Dp), _INF, dtype=np.int64)
    dist[0, 0, 0, 0, :, pad + target] = 0
    while True:
        new = dist.copy()
        for reads, delta, up, us, um, uw, needs, starts in moves:
            lo, hi = max(reads, -delta), min(max_depth, max_depth - delta)
            if lo > hi or up > P_ or us > S_ or um > M_ or uw > W_:
                continue
            for f in (1,) if needs else (0, 1):
                source = new[uw:, um:, us:, up:, f, pad + lo:pad + hi + 1]
                after = dist[:W_ + 1 - uw, :M_ + 1 - um, :S_ + 1 - us, :P_ + 1 - up, max(f, int(starts)),
                             pad + lo + delta:pad + hi + delta + 1]
                np.minimum(source, after + 1, out=source)
        if np.array_equal(new, dist):
            dist.flags.writeable = False
            return dist
        dist = new


def _moves(vocab: Vocabulary, typed: bool) -> tuple:
    """Distinct effects of the fixed instruction tokens that are legal whatever the slot types under ``typed``
    (all of them under ``stack``), each with the smallest ``reads`` among the tokens having it."""
    best: dict[tuple, int] = {}
    for i in np.flatnonzero(vocab.kind == Kind.INSTRUCTION):
        if typed and vocab.u32_operands[i].any() and vocab.mnemonic[i] not in TYPE_CHECK_EXEMPT:
            continue
        effect = (int(vocab.delta[i]), *(int(getattr(vocab, c)[i]) for c in _COUNTERS),
                  bool(vocab.needs_sponge[i]), bool(vocab.starts_sponge[i]))
        best[effect] = min(best.get(effect, 1 << 30), int(vocab.reads[i]))
    return tuple(sorted((reads, *effect) for effect, reads in best.items()))


def _move_classes(vocab: Vocabulary, pad: int) -> tuple[tuple, np.ndarray]:
    """The move classes (``("eos",)``, ``("delta", d)``, ``("io", d, counter, count)``, ``("start", d)``) and
    each token's class index."""
    classes: list[tuple] = [("eos",)] + [("delta", d) for d in range(-pad, pad + 1)]
    class_of = np.zeros(len(vocab), dtype=np.int64)
    for i in range(len(vocab)):
        use = [int(getattr(vocab, c)[i]) for c in _COUNTERS]
        delta = int(vocab.delta[i])
        if vocab.kind[i] == Kind.EOS:
            cls = ("eos",)
        elif any(use):
            if sum(u > 0 for u in use) > 1:
                raise TasmError(f"token {i} consumes or produces two kinds of input/output; not supported")
            j = int(np.argmax(use))
            cls = ("io", delta, j, use[j])
        elif vocab.starts_sponge[i]:
            cls = ("start", delta)
        else:
            cls = ("delta", delta)
        if cls not in classes:
            classes.append(cls)
        class_of[i] = classes.index(cls)
    return tuple(classes), class_of


@functools.lru_cache(maxsize=1024)
def _segment(moves: tuple, classes: tuple, max_depth: int, pad: int, target: int, totals: tuple) -> tuple:
    """One signature's flat distance table, the distance after each move class from each state (INF where the
    move is impossible), and the strides (sponge, public, secret, digests, outputs)."""
    dist = _distances(moves, max_depth, pad, target, totals)
    P_, S_, M_, W_ = totals
    Dp = dist.shape[-1]
    counter_strides = (2 * Dp, 2 * Dp * (P_ + 1), 2 * Dp * (P_ + 1) * (S_ + 1), 2 * Dp * (P_ + 1) * (S_ + 1) * (M_ + 1))
    flat = dist.reshape(-1)
    w, m, s, p, f, d = np.indices(dist.shape).reshape(6, -1)
    owed = (p, s, m, w)
    here = np.arange(flat.size)
    after = np.full((flat.size, len(classes)), _INF, dtype=np.int64)
    for c, cls in enumerate(classes):
        if cls[0] == "eos":
            after[:, c] = flat
            continue
        delta = cls[1]
        valid = (d + delta >= 0) & (d + delta < Dp)
        nxt = here + delta
        if cls[0] == "io":
            _, _, j, count = cls
            valid &= owed[j] >= count
            nxt = nxt - count * counter_strides[j]
        elif cls[0] == "start":
            nxt = nxt + (1 - f) * Dp
        after[valid, c] = flat[nxt[valid]]
    return flat, after, (Dp, *counter_strides)


class _Reach:
    """Reachability for one move set over all tasks of a machine: per task where its segment starts, the flat
    distance table, the pattern id of every (state, budget left) and the patterns as (n_patterns, V) masks."""

    def __init__(self, vocab: Vocabulary, moves: tuple, specs: Sequence[TaskSpec], max_depth: int, pad: int):
        classes, class_of = _move_classes(vocab, pad)
        segments: dict[tuple, int] = {}
        parts = []
        for spec in specs:
            key = (spec.output_arity, spec.io_totals)
            if key not in segments:
                segments[key] = len(parts)
                parts.append(_segment(moves, classes, max_depth, pad, *key))
        longest = max((int(np.where(after[:, 1:] < _INF, after[:, 1:], 0).max()) for _, after, _ in parts), default=0)
        self.columns = 2 + longest  # budget left 0..columns-1; more than that allows everything finishable
        slack = np.arange(self.columns) - 1  # tokens allowed after the next one
        packed, bases, offset = [], [], 0
        for flat, after, _ in parts:
            bits = after[:, None, :] <= slack[None, :, None]  # (states, columns, classes)
            bits[:, :, 0] = (flat == 0)[:, None]  # EOS: legal iff nothing is left to do
            packed.append(np.packbits(bits, axis=-1).reshape(flat.size * self.columns, -1))
            bases.append(offset)
            offset += flat.size
        packed = np.concatenate(packed)
        width = -(-packed.shape[1] // 8) * 8  # whole 64-bit words, so that rows sort as integers
        words = np.zeros((len(packed), width), dtype=np.uint8)
        words[:, : packed.shape[1]] = packed
        words = words.view(np.uint64)
        if words.shape[1] == 1:
            unique, inverse = np.unique(words[:, 0], return_inverse=True)
        else:
            unique, inverse = np.unique(words, axis=0, return_inverse=True)
        unique_bits = np.unpackbits(unique.view(np.uint8).reshape(len(unique), -1), axis=1)[:, : len(classes)]
        self.patterns = torch.tensor(np.ascontiguousarray(unique_bits[:, class_of], dtype=bool))  # (n, V)
        self.pattern_flat = self.patterns.reshape(-1)
        self.pattern_id = torch.tensor(inverse.reshape(-1), dtype=torch.int32)  # ids fit; half the memory
        self.dist = torch.tensor(np.concatenate([flat for flat, _, _ in parts]), dtype=torch.int32)
        # per task: index of its start state (live depth = inputs, nothing done) and its strides
        self.task_columns = np.zeros((len(specs), 6), dtype=np.int64)
        for n, spec in enumerate(specs):
            seg = segments[(spec.output_arity, spec.io_totals)]
            strides = parts[seg][2]
            start = bases[seg] + pad + spec.n_inputs + sum(t * s for t, s in zip(spec.io_totals, strides[1:]))
            self.task_columns[n] = (start, *strides)


# ------------------------------------------------------------------------------------ slot movements


def _slot_sources(vocab: Vocabulary, tracked: int) -> np.ndarray:
    """(V, tracked): the column each new slot type is gathered from, in ``[old types (tracked), FIELD, U32, BOOL,
    slot constant type]``. Slots surfacing from below the tracked ones come back as FIELD."""
    field_col, slot_col = tracked + FIELD, tracked + 3
    V = len(vocab)
    src = np.tile(np.arange(tracked), (V, 1))
    for i in range(V):
        if vocab.kind[i] in (Kind.EOS, Kind.RESERVED):
            continue
        name, arg = vocab.mnemonic[i], vocab.arg[i]
        if isa.BY_NAME[name].arg is isa.Arg.INDEX:
            src[i] = _PERMUTATIONS[name](list(range(tracked)), arg)
            continue
        pops, pushes = int(vocab.pops[i]), int(vocab.pushes[i])
        results = [slot_col if t == SLOT_TYPE else tracked + int(t) for t in vocab.result_types[i, :pushes]]
        src[i] = (results + list(range(pops, tracked)) + [field_col] * pops)[:tracked]
    return src


def _dup(s, i):
    return [s[i]] + s[:-1]


def _swap(s, i):
    s = list(s)
    s[0], s[i] = s[i], s[0]
    return s


def _pick(s, i):
    return [s[i]] + s[:i] + s[i + 1:]


def _place(s, i):
    return s[1:i + 1] + [s[0]] + s[i + 1:]


_PERMUTATIONS = {"dup": _dup, "swap": _swap, "pick": _pick, "place": _place}
"""How each index instruction moves the top slots (st0 first); the ISA table only records their size change."""


# ------------------------------------------------------------------------------------------ machine

# columns of the per-task info table: k, budget, then per level (stack, typed) the reach start and static start
_K, _BUDGET, _LEVEL, _CLASS = 0, 1, {"stack": 2, "typed": 4}, 6  # _CLASS: effect class * V (see step)


class _Terms(NamedTuple):
    """Per-row table rows every legality test needs, all (B,)."""

    task: torch.Tensor
    info: torch.Tensor  # (B, columns) the task's row of the info table
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
    records (None: record none, a faster step for agents that only take masked actions).
    """

    def __init__(self, specs: Sequence[TaskSpec], max_len: int | None = None, max_depth: int = 64,
                 type_window: int = 16, violation_level: str | None = "stack"):
        if not specs:
            raise TaskError("a StackMachine needs at least one TaskSpec")
        vocab = specs[0].bound.vocab
        for spec in specs:
            if spec.bound.vocab != vocab:
                raise TaskError(f"task {spec.name!r} is bound to another vocabulary; all tasks must share one")
        if violation_level not in ("stack", "typed", None):
            raise ValueError(f"violation_level must be 'stack', 'typed' or None, got {violation_level!r}")
        if type_window < 2:
            raise ValueError("type_window must be at least 2")
        self.type_window = int(type_window)
        self.vocab = vocab
        self.specs = tuple(specs)
        self.max_len = max(s.budget for s in specs) if max_len is None else int(max_len)
        self.max_depth = int(max_depth)
        self.violation_level = violation_level
        self.layout = Layout(self.max_len, max(self.max_depth, self.type_window))
        self.n_actions = len(vocab)
        for spec in specs:
            if spec.budget > self.max_len:
                raise TaskError(f"task {spec.name!r}: budget {spec.budget} exceeds max_len {self.max_len}")
            if max(spec.peak_depth, spec.n_inputs, spec.output_arity) > self.max_depth:
                raise TaskError(f"task {spec.name!r}: its baseline reaches live depth {spec.peak_depth}, above "
                                f"max_depth {self.max_depth}; raise max_depth")
        self._pad = int(max(1, np.abs(vocab.delta).max()))
        self._build_static_table()
        self._build_task_tables()
        self._build_token_tables()
        self._check_budgets()

    # ---- tables
    def _build_static_table(self) -> None:
        """Legality that depends only on (bound slots, live depth, sponge, u32 code): rows in that order; then one
        row per number of bound slots for level `none`, and an EOS-only row (the budget is spent)."""
        v, T, D = self.vocab, self.layout.tracked, self.max_depth
        checked = v.u32_operands.copy()
        for i, name in enumerate(v.mnemonic):
            if name in TYPE_CHECK_EXEMPT:
                checked[i] = False
        positions = [p for p in range(16) if checked[:, p].any()]
        if positions and max(positions) >= T:
            raise ValueError(f"max_depth {D} is too small for u32 operands at st{max(positions)}")
        start = self.layout.types.start  # the typed code reads these type columns (a slice when contiguous)
        contiguous = positions == list(range(len(positions)))
        self._u32_columns = slice(start, start + len(positions)) if contiguous else [start + p for p in positions]
        self._u32_bits = torch.tensor([1 << b for b in range(len(positions))], dtype=torch.int64)
        self._n_codes = C = 1 << len(positions)
        self._max_bound = max(len(s.bound.constants) for s in self.specs)
        eos = v.kind == Kind.EOS
        rows = []
        for slots in range(self._max_bound + 1):
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
        self._n_static = len(rows)
        self._depth_stride = 2 * C  # static rows per unit of live depth
        for slots in range(self._max_bound + 1):
            rows.append((v.kind == Kind.INSTRUCTION) | ((v.kind == Kind.SLOT) & (v.slot < slots)) | eos)
        self._eos_only_row = len(rows)
        rows.append(eos)
        self._static = torch.tensor(np.stack(rows))  # (rows, V) bool
        self._static_flat = self._static.reshape(-1)

    def _build_task_tables(self) -> None:
        T, specs, C = self.layout.tracked, self.specs, self._n_codes
        K = max(1, self.vocab.n_slots)
        slot_types = np.full((len(specs), K), FIELD, dtype=np.int64)
        is_u32 = np.zeros((len(specs), ORIGIN + T), dtype=np.int64)  # slot code -> holds a u32 value
        is_u32[:, [U32, BOOL]] = 1
        resolve = np.full((len(specs), ORIGIN + T), CONTEXT, dtype=np.int64)
        resolve[:, :ORIGIN] = (FIELD, U32, BOOL)
        for n, spec in enumerate(specs):
            slot_types[n, : len(spec.bound.slot_types)] = spec.bound.slot_types
            for j in range(min(T, spec.n_inputs)):
                resolve[n, ORIGIN + j] = INPUT_TYPE_CODES[spec.input_types[spec.n_inputs - 1 - j]]
            is_u32[n] = (resolve[n] == U32) | (resolve[n] == BOOL)
        self._slot_type_table = slot_types  # (tasks, slots): type of each bound constant
        self._resolve = torch.tensor(resolve.reshape(-1))
        self._is_u32 = torch.tensor(is_u32.reshape(-1))
        self._reach: dict[str, _Reach] = {}
        built: dict[tuple, _Reach] = {}
        for level in ("stack", "typed"):  # one reachability per distinct move set (they usually coincide)
            moves = _moves(self.vocab, typed=level == "typed")
            if moves not in built:
                built[moves] = _Reach(self.vocab, moves, specs, self.max_depth, self._pad)
            self._reach[level] = built[moves]
        info = np.zeros((len(specs), 6), dtype=np.int64)
        for n, spec in enumerate(specs):
            static_start = (len(spec.bound.constants) * (self.max_depth + 1) + spec.n_inputs) * self._depth_stride
            info[n] = (spec.n_inputs, spec.budget,
                       self._reach["stack"].task_columns[n, 0], static_start + C - 1,  # stack: every code passes
                       self._reach["typed"].task_columns[n, 0], static_start)
        self._info = torch.tensor(info)
        self._n_bound = torch.tensor([len(s.bound.constants) for s in specs], dtype=torch.int64)

    def _build_token_tables(self) -> None:
        """What a token adds to a row's effect columns, per (sponge on?, effect class, token): an effect class is
        the tasks sharing distance-table strides and slot constant types, so I/O tokens and slot pushes, whose
        effects depend on the task, are one lookup too."""
        v, specs = self.vocab, self.specs
        use = np.stack([getattr(v, c) for c in _COUNTERS], axis=1)  # (V, 4)
        classes: dict[tuple, int] = {}
        task_class = np.zeros(len(specs), dtype=np.int64)
        slot_types = self._slot_type_table
        for n in range(len(specs)):
            key = (tuple(self._reach["stack"].task_columns[n, 1:]), tuple(slot_types[n]))
            task_class[n] = classes.setdefault(key, len(classes))
        table = np.zeros((2, len(classes), len(v), 10), dtype=np.int64)
        for (strides, types), c in classes.items():
            sponge_stride, counter_strides = strides[0], np.array(strides[1:])
            for on in (0, 1):
                first = v.starts_sponge & (on == 0)  # the first sponge_init switches the sponge flag
                t = table[on, c]
                t[:, 0] = v.kind != Kind.EOS  # length
                t[:, 1] = v.delta
                t[:, 2:6] = use
                t[:, 6] = first * len(classes) * len(v)  # sponge: the offset of the sponge-on rows
                t[:, 7] = v.delta - use @ counter_strides + first * sponge_stride  # reach offset
                t[:, 8] = v.delta * self._depth_stride + first * self._n_codes  # static offset
                t[:, 9] = np.where(v.slot >= 0, np.array(types)[np.maximum(v.slot, 0)], FIELD)  # slot result
        self._n_effect_classes = len(classes)
        self._effects = torch.tensor(table.reshape(-1, 10), dtype=STATE_DTYPE)
        self._info = torch.cat([self._info, torch.tensor(task_class * len(v))[:, None]], dim=1)
        self._src = torch.tensor(_slot_sources(v, self.layout.tracked), dtype=torch.int64)

    def _check_budgets(self) -> None:
        start = self.initial(torch.arange(len(self.specs)))
        for level in ("stack", "typed"):
            need = torch.take(self._reach[level].dist, self._compute_terms(start, level).here)
            for n in np.flatnonzero((need > self._info[:, _BUDGET]).numpy()):
                raise TaskError(f"task {self.specs[n].name!r}: a block needs at least {int(need[n])} tokens to reach "
                                f"its output arity and I/O, more than its budget of {self.specs[n].budget}")

    # ---- states
    def task_index(self, name: str) -> int:
        for n, spec in enumerate(self.specs):
            if spec.name == name:
                return n
        raise TaskError(f"no task named {name!r} in this machine")

    @property
    def s0(self) -> torch.Tensor:
        """The initial state row (width,), the same for every task."""
        L = self.layout
        row = torch.zeros(L.width, dtype=STATE_DTYPE)
        row[: L.length] = PAD  # the tokens and the scratch column after them
        row[L.violation] = NO_VIOLATION
        row[L.type_sources] = torch.cat([ORIGIN + torch.arange(L.tracked), torch.tensor([FIELD, U32, BOOL, FIELD])])
        return row

    def initial(self, task) -> EmissionState:
        """Empty prefixes for the given task indices (an int, a sequence or a (B,) tensor)."""
        task = torch.as_tensor(task, dtype=torch.int64).reshape(-1)
        if len(task) and (int(task.min()) < 0 or int(task.max()) >= len(self.specs)):
            raise IndexError(f"task indices must be in 0..{len(self.specs) - 1}")
        return EmissionState(self.s0.repeat(len(task), 1), task, self.layout)

    def _task_info(self, state: EmissionState) -> tuple[torch.Tensor, torch.Tensor]:
        task = state.task.clamp(0, len(self.specs) - 1)  # garbage rows (torchgfn's sink states) stay in range
        return task, self._info.index_select(0, task)

    def n_inputs(self, state: EmissionState) -> torch.Tensor:
        """(B,) how many inputs each row's block takes."""
        return self._task_info(state)[1][:, _K]

    def live_depth(self, state: EmissionState) -> torch.Tensor:
        """(B,) the block's inputs plus the net stack change so far."""
        return self.n_inputs(state) + state.change

    def remaining(self, state: EmissionState) -> torch.Tensor:
        """(B,) tokens the budget still allows (EOS excluded)."""
        return self._task_info(state)[1][:, _BUDGET] - state.length

    def slot_types(self, state: EmissionState) -> torch.Tensor:
        """Resolved (B, type_window) slot types, st0 first: FIELD, U32, BOOL, or CONTEXT below the inputs."""
        T, W = self.layout.tracked, self.type_window
        task, info = self._task_info(state)
        codes = state.types[:, :W].clamp(0, ORIGIN + T - 1)
        resolved = torch.take(self._resolve, task[:, None] * (ORIGIN + T) + codes)
        below = torch.arange(W)[None, :] >= (info[:, _K] + state.change)[:, None]
        return torch.where(below, CONTEXT, resolved)

    # ---- legality
    def _terms(self, state: EmissionState, level: str) -> _Terms:
        cached = state._cache.get(level)
        if cached is None:
            cached = state._cache[level] = self._compute_terms(state, level)
        return cached

    def _compute_terms(self, state: EmissionState, level: str) -> _Terms:
        L, data = self.layout, state.data
        task, info = self._task_info(state)
        reach = self._reach[level]
        at = _LEVEL[level]
        where = info[:, at:at + 2] + data[:, L.offsets]  # (reach index, static row)
        here = where[:, 0].clamp(0, len(reach.dist) - 1)
        left = (info[:, _BUDGET] - data[:, L.length]).clamp(0, reach.columns - 1)
        pattern = torch.take(reach.pattern_id, here * reach.columns + left)
        row = where[:, 1]
        if level == "typed" and self._n_codes > 1:
            T = L.tracked
            codes = data[:, self._u32_columns].clamp(0, ORIGIN + T - 1)
            row = row + (torch.take(self._is_u32, task[:, None] * (ORIGIN + T) + codes) * self._u32_bits).sum(1)
        return _Terms(task, info, row.clamp(0, self._n_static - 1), pattern, here)

    def _none_row(self, state: EmissionState) -> torch.Tensor:
        task, info = self._task_info(state)
        spent = state.length >= info[:, _BUDGET]
        return torch.where(spent, self._eos_only_row, self._n_static + self._n_bound.index_select(0, task))

    def forward_masks(self, state: EmissionState, level: str = "stack") -> torch.Tensor:
        """(B, V) bool: the legal next actions (column 0 = EOS) under ``level`` (see the module docstring)."""
        if level == "none":
            return self._static.index_select(0, self._none_row(state))
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
        t = self._terms(state, level)
        return self._static.index_select(0, t.row) & self._reach[level].patterns.index_select(0, t.pattern)

    def _legal(self, t: _Terms, actions: torch.Tensor, level: str) -> torch.Tensor:
        V = self.n_actions
        return torch.take(self._static_flat, t.row * V + actions) \
            & torch.take(self._reach[level].pattern_flat, t.pattern * V + actions)

    def legal(self, state: EmissionState, actions: torch.Tensor, level: str = "stack") -> torch.Tensor:
        """(B,) bool: is ``actions[b]`` legal in row b under ``level``? (The masks' rules, one action per row.)"""
        actions = actions.reshape(-1).to(torch.int64).clamp(0, self.n_actions - 1)
        if level == "none":
            return torch.take(self._static_flat, self._none_row(state) * self.n_actions + actions)
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
        return self._legal(self._terms(state, level), actions, level)

    def is_complete(self, state: EmissionState) -> torch.Tensor:
        """(B,) bool: EOS is legal under ``stack`` (output arity reached, I/O totals met)."""
        return torch.take(self._reach["stack"].dist, self._terms(state, "stack").here) == 0

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
            info, legal = terms.info, self._legal(terms, a, self.violation_level)
        data = state.data if inplace else state.data.clone()
        # the sponge column holds 0, or after the first sponge_init the offset of the sponge-on effect rows
        effect = self._effects.index_select(0, info[:, _CLASS] + data[:, L.sponge] + a)
        length = data[:, L.length]
        token = a.masked_fill(a == EOS, PAD).to(data.dtype)  # EOS writes PAD where PAD already is
        data.scatter_(1, length.clamp(0, self.max_len).long()[:, None], token[:, None])
        if legal is not None:
            violation = data[:, L.violation]
            data[:, L.violation] = torch.where((violation < 0) & ~legal, length, violation)
        data[:, L.effects] += effect[:, :9]
        data[:, L.slot_result] = effect[:, 9]
        data[:, L.types] = data[:, L.type_sources].gather(1, self._src.index_select(0, a))
        if inplace:
            state._cache.clear()
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
        tokens, lengths, tasks = state.tokens.tolist(), state.length.tolist(), state.task.tolist()
        return [self.specs[n].bound.decode(row[:m]) for row, m, n in zip(tokens, lengths, tasks)]

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


# ------------------------------------------------------------------------------------------ benchmark


def _benchmark(batch: int = 1024, budget: int = 32, steps: int = 24, repeats: int = 3) -> None:
    """Mask + step rates over the idiom tasks: ``python -m tasm_env.stack [batch] [budget]``. Actions are drawn
    between the timed calls, as a policy would. "copy" steps return new states and record violations; "in place"
    steps write into a row copy the caller made (torchgfn's ``_step`` makes one anyway; not timed) and record
    none (agents that only take masked actions never violate)."""
    import time

    import tasm_env as te
    from .tasks.idioms import IDIOMS

    vocab = Vocabulary.default()
    tasks = [te.Task.from_tasm(i.tasm, i.inputs, name=i.name) for i in IDIOMS]
    specs = [TaskSpec.from_task(t, vocab, budget=budget) for t in tasks]
    machines = {"copy": StackMachine(specs), "in place": StackMachine(specs, violation_level=None)}
    gen = torch.Generator().manual_seed(0)
    print(f"{len(tasks)} tasks, {len(vocab)} tokens, batch {batch}, budget {budget}, "
          f"torch threads {torch.get_num_threads()}")
    for level in LEVELS:
        for mode, machine in machines.items():
            best = (0.0, 0.0, 0.0)
            for _ in range(repeats):
                state = machine.initial(torch.randint(len(tasks), (batch,), generator=gen))
                mask_s = step_s = 0.0
                for _ in range(steps):
                    t0 = time.perf_counter()
                    mask = machine.forward_masks(state, level)
                    t1 = time.perf_counter()
                    mask[:, EOS] &= ~mask[:, 1:].any(1)  # keep emitting while anything else is legal
                    actions = (torch.rand(mask.shape, generator=gen) * mask).argmax(1)
                    if mode == "in place":
                        state = EmissionState(state.data.clone(), state.task, state.layout)
                    t2 = time.perf_counter()
                    state = machine.step(state, actions, inplace=mode == "in place")
                    step_s += time.perf_counter() - t2
                    mask_s += t1 - t0
                rate = steps * batch / (mask_s + step_s)
                if rate > best[0]:
                    best = (rate, mask_s / steps, step_s / steps)
            print(f"{level:>5} {mode:>8}: {best[0]:>11,.0f} state-steps/s  (mask {best[1] * 1e6:5.0f} us + step "
                  f"{best[2] * 1e6:5.0f} us per batch)")


if __name__ == "__main__":
    import sys

    _benchmark(*(int(x) for x in sys.argv[1:3]))
