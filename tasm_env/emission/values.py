"""The value state of an emission prefix: what its stack and effects hold on K fixed probe inputs of its task.

    model = ValueModel(tasks)                     # one TaskProbes per task, built on first use
    facts = model.facts(task_index, tokens)       # a ValueFacts: slot_nodes, outputs_ready, lost, eos_ok, ...

**Probes.** K lanes (default :data:`DEFAULT_PROBES`) taken from the task's own verifier tests
(:class:`tasm_env.verify.Verifier`, the same ``n_tests`` and seed as the reward's): lanes the baseline passes
with inputs all equal to the edge pool's values (0, 1, 2, the baseline's constants and their neighbours), pairs of
the verifier's probe lanes that differ in one input only (``a`` and ``a + 1``), and random lanes. Lanes whose
RAM comes from the edge pool are left out (the TIR evaluator, which gives the graph nodes' values, reads RAM
by seed only).

**Values.** A prefix is a straight-line block, so its whole state on the probes is its dataflow plan
(:func:`tasm_env.batch.compile_block`) evaluated on them: the stack, the crash of every lane, the public output
written, the RAM written and the sponge. Plans grow by appending (a prefix's value ids and operations are the
first ones of every extension's), so a step evaluates only the new token's operations, with the batched
executor's evaluators (:func:`tasm_env.batch.evaluator`), on the parent prefix's value matrix; the new prefixes
of one call are stepped together (:mod:`tasm_env.emission.probe_runs`) and their facts computed as arrays, every
task's at once (:mod:`tasm_env.emission.probe_facts`), with Python's cyclic garbage collector paused meanwhile;
:meth:`TaskProbes.facts` is the one-prefix reference. The state
is a pure function of (task, prefix), cached per prefix, so ``backward_step`` undoes it exactly by construction.

**Facts** (:class:`ValueFacts`):

* ``slot_nodes`` (16,): for each of the top 16 live slots (st0 first), the smallest TIR node index (the
  graph's node order, :mod:`tasm_env.tasks.graph`) one of whose results equals the slot on every probe where
  neither the prefix nor the TIR crashed, else -1;
* ``outputs_ready`` (arity,): output position i (st_i of the baseline's final stack) is ready iff the slot at
  the same height above the block's bottom holds the baseline's final value on every probe where neither
  crashed;
* ``lost`` (an observation; the mask does not use it, see :func:`restrict`): no continuation of the prefix
  can verify, for one of two reasons the probes prove: the prefix crashed on a probe where the baseline does
  not, or two probes that differ only in the block's inputs leave the prefix in identical states (stack,
  output, RAM written, sponge, crash) while the baseline's outcomes on
  them differ (a value some output needs is gone for good: every continuation treats both lanes alike);
* ``eos_ok``: the prefix as a whole block matches the baseline on every probe as the verifier compares (crash
  pattern; where neither crashes: the whole stack, public output, sponge, RAM at every touched cell);
* ``pop_loses`` (6,): ``pop_loses[n]``: ``pop n`` now would make the state ``lost`` by the second reason.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .. import batch
from ..collector import collector_paused
from ..asm import Program
from ..coverage import CONTEXT_DEPTH, FLAVOURS
from ..errors import ConfigError, TasmError
from ..verify import Verifier
from ..tasks.interpret import TirCrash, evaluate
from ..tasks.tir import TIR, Ref
from .probe_facts import MAX_POP, SLOT_WINDOW, facts_of_tasks, state_digest
from .probe_runs import Run, evaluate as evaluate_plan, extend_many, final_ram
from .vocab import EOS

__all__ = ["DEFAULT_PROBES", "MAX_POP", "SLOT_WINDOW", "Outcome", "TaskProbes", "ValueFacts", "ValueModel",
           "pop_tokens", "restrict", "restrict_rows"]

DEFAULT_PROBES = 8
CACHE_SIZE = 1 << 16
"""(task, prefix) facts a ValueModel keeps by default (its ``cache_size``)."""
RUN_CACHE_SIZE = 1 << 13
"""(task, prefix) value matrices a ValueModel keeps for the steps after them."""
EQUAL_FLAVOUR = "all-equal"
PAUSE_AT = 64
"""New prefixes in one :meth:`ValueModel.facts_many` call from which Python's cyclic garbage collector is paused
while they are computed (see :func:`tasm_env.collector.collector_paused`)."""


@dataclass
class Outcome:
    """One block's run on the K probes (arrays are slot or word first, lane last)."""

    stack: np.ndarray  # (depth, K) uint64, deepest first (the context included)
    crashed: np.ndarray  # (K,) bool
    output: np.ndarray  # (n, K) public output in write order
    sponge: np.ndarray | None  # (16, K) or None: never initialised
    written: np.ndarray  # (2w, K): address, final contents, address, final contents ... of every write
    ram_match: np.ndarray  # (K,) its final RAM equals the baseline's at every cell either touched


@dataclass(frozen=True, slots=True)  # slots: one object per prefix for the garbage collector, not two
class ValueFacts:
    """What the value state says about one prefix (see the module docstring)."""

    slot_nodes: np.ndarray
    outputs_ready: np.ndarray
    lost: bool
    eos_ok: bool
    pop_loses: np.ndarray

    @property
    def ready_share(self) -> float:
        """Share of output positions ready (1.0 for a block without outputs): the dense reward's potential."""
        return float(self.outputs_ready.mean()) if len(self.outputs_ready) else 1.0


def _choose_lanes(verifier: Verifier, k: int) -> np.ndarray:
    """K verifier test lanes: input pairs from the probe lanes, then all-equal lanes, then the rest."""
    tests, crashed = verifier.tests, verifier.baseline_crashes
    own_ram = tests.ram_offset < 0
    depth = tests.shape.stack_depth
    chosen: list[int] = []
    probes = tests.probes
    if probes is not None:
        for v, column in enumerate(probes.columns.tolist()):
            if CONTEXT_DEPTH <= column < depth and len(chosen) + 2 <= max(k // 2, 2):
                a, b = (int(x) for x in probes.lanes[0, v, :2])
                if a >= 0 and b >= 0 and own_ram[a] and own_ram[b]:
                    chosen += [a, b]
    equal = np.flatnonzero((tests.flavour == FLAVOURS.index(EQUAL_FLAVOUR)) & own_ram & ~crashed)
    passing = np.flatnonzero(own_ram & ~crashed)
    rest = np.flatnonzero(own_ram)
    for lane in [*equal.tolist(), *passing.tolist(), *rest.tolist()]:
        if len(chosen) >= k:
            break
        if lane not in chosen:
            chosen.append(lane)
    return np.array(chosen[:k], dtype=np.int64)


def _node_values(tir: TIR, verifier: Verifier, lanes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every TIR node result on the lanes: (values (R, K) uint64, node id (R,), known (R, K) bool)."""
    refs = [Ref(i, r) for i, node in enumerate(tir.nodes) for r in range(node.n_results())]
    owner = np.array([ref.node for ref in refs], dtype=np.int64)
    values = np.zeros((len(refs), len(lanes)), dtype=np.uint64)
    known = np.zeros((len(refs), len(lanes)), dtype=bool)
    inputs = verifier.tests.lanes(lanes)
    depth = inputs.stack.shape[1]
    n = len(tir.inputs)
    for j in range(len(lanes)):
        args = dict(inputs=[int(x) for x in inputs.stack[j, depth - n:]],
                    public_input=[int(x) for x in inputs.public_input[j]],
                    secret_input=[int(x) for x in inputs.secret_input[j]], ram_seed=int(inputs.ram_seed[j]))
        nodes = len(tir.nodes)
        while True:  # a crash at node c: the nodes before it still have values
            upto = [ref for ref in refs if ref.node < nodes]
            try:
                out = evaluate(TIR(tir.inputs, tir.nodes[:nodes], tuple(upto)), **args).outputs
                break
            except TirCrash as crash:
                nodes = crash.node
        values[: len(out), j] = out
        known[: len(out), j] = True
    return values, owner, known


class TaskProbes:
    """One task's probes, its baseline's outcome on them and its graph nodes' values there. ``verifier``: the
    task's :class:`~tasm_env.verify.Verifier` with ``n_tests`` and ``seed``, if one exists (a verifier's tests
    are a function of the baseline, its input types, ``n_tests`` and ``seed``; it is built otherwise)."""

    def __init__(self, task, k: int = DEFAULT_PROBES, n_tests: int = 40, seed: int = 42,
                 verifier: Verifier | None = None):
        if int(k) < 2:
            raise ConfigError(f"the value state needs at least 2 probes, got {k}")
        if verifier is None:
            verifier = Verifier(task.baseline, task.inputs, n_tests, seed)
        self.verifier = verifier
        self.shape = verifier.shape
        self.lanes = _choose_lanes(verifier, int(k))
        self.k = len(self.lanes)
        self.inputs = verifier.tests.lanes(self.lanes)
        self.n_inputs = len(task.inputs)
        self.bottom = self.shape.stack_depth - self.n_inputs  # stack index of the block's deepest slot
        base_run = evaluate_plan(verifier.plan, self.inputs, None)
        # the baseline's touched cells, their initial and their final contents (every outcome compares them)
        self._base_cells = base_run.V[base_run.plan.touched].reshape(-1, self.k)
        self._base_initial = self.inputs.initial_ram(self._base_cells)
        self._base_final = final_ram(base_run, self.inputs, self._base_cells, self._base_initial)
        self.base_run = base_run
        self.base = self.outcome(self.base_run)
        self.arity = self.base.stack.shape[0] - self.bottom
        self.node_values, self.node_of, self.node_known = _node_values(task.tir, verifier, self.lanes)
        # pairs of lanes that differ only in the block's inputs (same context, streams and RAM) ...
        rows = verifier.tests.values[self.lanes]
        other = np.ones(rows.shape[1], dtype=bool)
        other[self.bottom:self.shape.stack_depth] = False
        same = (rows[:, None, other] == rows[None, :, other]).all(-1)
        seeds, offsets = self.inputs.ram_seed, verifier.tests.ram_offset[self.lanes]
        same &= (seeds[:, None] == seeds[None, :]) & (offsets[:, None] == offsets[None, :])
        i, j = np.triu_indices(self.k, 1)
        keep = same[i, j]
        i, j = i[keep], j[keep]
        # ... on which the baseline's outcomes differ (crash flag, or stack, output, sponge where it runs)
        b = self.base
        differ = b.crashed[i] != b.crashed[j]
        runs = ~b.crashed[i] & ~b.crashed[j]
        for part in (b.stack, b.output, b.sponge):
            if part is not None and len(part):
                differ |= runs & (part[:, i] != part[:, j]).any(0)
        self.pairs = (i[differ], j[differ])

    def run(self, programs: Sequence[Program]) -> list[Outcome]:
        """The outcomes of straight-line blocks on the probes, each evaluated from scratch."""
        return [self.outcome(self.evaluate(p)) for p in programs]

    def evaluate(self, program: Program, parent: Run | None = None) -> Run:
        """``program`` evaluated on the probes; ``parent``: the run of a prefix of it (its values are reused)."""
        return evaluate_plan(batch.compile_block(program, self.shape), self.inputs, parent)

    def outcome(self, run: Run) -> Outcome:
        plan, V, inputs, K = run.plan, run.V, self.inputs, self.k
        sponge = None if plan.sponge is None else V[plan.sponge]
        writes = V[plan.writes] if plan.writes else np.zeros((0, K), np.uint64)
        addresses = writes[0::2]
        written = np.empty_like(writes)
        written[0::2] = addresses
        # a written cell's final contents are its last write's, whatever it held before: no initial RAM needed
        written[1::2] = final_ram(run, inputs, addresses, np.zeros_like(addresses)) if len(addresses) else addresses
        base = getattr(self, "base_run", run)
        mine = V[plan.touched].reshape(-1, K)  # cells the block touched, after the baseline's
        cells = np.concatenate([self._base_cells, mine])
        if len(cells):  # final_ram works cell by cell: the baseline's cells' contents are computed once
            initial = np.concatenate([self._base_initial, inputs.initial_ram(mine)]) if len(mine) \
                else self._base_initial
            theirs = np.concatenate([self._base_final, final_ram(base, inputs, mine, initial[len(self._base_cells):])]) \
                if len(mine) else self._base_final
            ram_match = (theirs == final_ram(run, inputs, cells, initial)).all(0)
        else:
            ram_match = np.ones(K, dtype=bool)
        return Outcome(V[plan.stack], run.crash != batch.NO_CRASH, V[plan.output].reshape(-1, K), sponge, written,
                       ram_match)

    # ---- facts
    def facts(self, o: Outcome) -> ValueFacts:
        b = self.base
        live = o.stack.shape[0] - self.bottom
        top = o.stack[::-1][:min(SLOT_WINDOW, max(live, 0))]  # (slots, K), st0 first
        # slot nodes: equal on every lane where neither the prefix nor the TIR crashed (at least one lane)
        lanes_ok = ~o.crashed[None, :] & self.node_known  # (R, K)
        equal = (top[:, None, :] == self.node_values[None]) | ~lanes_ok[None]
        match = equal.all(-1) & lanes_ok.any(-1)[None]
        slot_nodes = np.full(SLOT_WINDOW, -1, dtype=np.int64)
        hit = match.any(-1)
        slot_nodes[: len(top)][hit] = self.node_of[match.argmax(-1)[hit]]
        # outputs ready: st_i of the baseline's final stack at the same height above the block's bottom
        both = ~o.crashed & ~b.crashed
        ready = np.zeros(self.arity, dtype=bool)
        if both.any():
            for i in range(self.arity):
                height = self.bottom + self.arity - 1 - i
                if height < o.stack.shape[0]:
                    ready[i] = bool((o.stack[height, both] == b.stack[height, both]).all())
        eos_ok = self.matches(o)
        merges = self.merges(o)
        lost = bool((o.crashed & ~b.crashed).any()) or bool(merges[0])
        pop_loses = merges & (np.arange(MAX_POP + 1) <= live)
        pop_loses[0] = False
        return ValueFacts(slot_nodes, ready, lost, eos_ok, pop_loses)

    def matches(self, o: Outcome) -> bool:
        """The block matches the baseline on every probe, as the verifier compares."""
        b = self.base
        if not np.array_equal(o.crashed, b.crashed) or o.stack.shape != b.stack.shape \
                or o.output.shape != b.output.shape or (o.sponge is None) != (b.sponge is None):
            return False
        runs = ~b.crashed
        parts = [(o.stack, b.stack), (o.output, b.output)] + ([] if b.sponge is None else [(o.sponge, b.sponge)])
        return all(bool((x[:, runs] == y[:, runs]).all()) for x, y in parts) and bool(o.ram_match[runs].all())

    def merges(self, o: Outcome) -> np.ndarray:
        """(MAX_POP + 1,) bool: at n, some pair the baseline tells apart is in identical states (stack, output,
        sponge, RAM written, crash; lanes that both crashed agree on everything) after the prefix and ``pop n``
        (n = 0: the prefix itself; popping more than the stack holds leaves an empty stack)."""
        i, j = self.pairs
        found = np.zeros(MAX_POP + 1, dtype=bool)
        if not len(i):
            return found
        same = o.crashed[i] == o.crashed[j]
        crashed = o.crashed[i] & o.crashed[j]
        for part in (o.output, o.sponge, o.written):
            if part is not None and len(part):
                same &= crashed | (part[:, i] == part[:, j]).all(0)
        depth = o.stack.shape[0]
        # kept[d]: the pair agrees on the stack's d deepest slots (d = depth - n after pop n)
        kept = np.ones((depth + 1, len(i)), dtype=bool)
        if depth:
            np.logical_and.accumulate(crashed[None, :] | (o.stack[:, i] == o.stack[:, j]), axis=0, out=kept[1:])
        for n in range(MAX_POP + 1):
            found[n] = bool((same & kept[max(depth - n, 0)]).any())
        return found


class ValueModel:
    """The value state of prefixes of a list of tasks (probes built on first use, facts cached per prefix).

    ``decode(task, tokens)`` must turn a token list into the task's :class:`~tasm_env.asm.Program` (the bound
    vocabulary's ``decode``). ``verifiers``: a task's verifier with the same ``n_tests`` and ``seed``
    (:meth:`~tasm_env.emission.reward.RewardModel.verifier`), so that the probes and the reward share one.
    ``cache_size``: how many (task, prefix) facts it keeps (oldest dropped first); callers that revisit more
    prefixes (teacher forcing over a corpus) widen it with :meth:`keep_at_least`."""

    def __init__(self, tasks: Sequence, decoders: Sequence, k: int = DEFAULT_PROBES, n_tests: int = 40,
                 seed: int = 42, verifiers: Callable[[object], Verifier] | None = None,
                 cache_size: int = CACHE_SIZE):
        if len(tasks) != len(decoders):
            raise TasmError("a ValueModel needs one decoder per task")
        self.tasks, self.decoders, self.verifiers = list(tasks), list(decoders), verifiers
        self.k, self.n_tests, self.seed = int(k), int(n_tests), int(seed)
        if int(cache_size) < 1:
            raise ConfigError(f"a ValueModel's cache_size must be at least 1, got {cache_size}")
        self.cache_size = int(cache_size)
        self._probes: dict[int, TaskProbes] = {}
        self._cache: OrderedDict = OrderedDict()
        self._runs: OrderedDict = OrderedDict()  # (task, prefix) -> Run, for the steps after it
        self._last: dict[tuple[int, int], tuple] = {}  # (task, token) -> the token's instructions, decoded once

    @classmethod
    def of(cls, tasks: Sequence, specs: Sequence, k: int = DEFAULT_PROBES, n_tests: int = 40,
           seed: int = 42, verifiers: Callable[[object], Verifier] | None = None) -> "ValueModel":
        """The model of tasks with their :class:`~tasm_env.emission.spec.TaskSpec` (whose bound vocabularies
        decode the prefixes)."""
        return cls(tasks, [spec.bound.decode for spec in specs], k, n_tests, seed, verifiers)

    def keep_at_least(self, prefixes: int) -> None:
        """Widen the facts cache to at least ``prefixes`` entries (never narrows it)."""
        self.cache_size = max(self.cache_size, int(prefixes))

    def probes(self, task: int) -> TaskProbes:
        found = self._probes.get(task)
        if found is None:
            shared = None if self.verifiers is None else self.verifiers(self.tasks[task])
            found = self._probes[task] = TaskProbes(self.tasks[task], self.k, self.n_tests, self.seed, shared)
        return found

    @property
    def cached_prefixes(self) -> int:
        """How many prefixes' facts the cache holds now (at most ``cache_size``)."""
        return len(self._cache)

    def forget(self) -> None:
        """Drop the per-prefix caches (facts and runs) and keep the probes: the next prefixes are first visits."""
        self._cache.clear()
        self._runs.clear()

    def facts(self, task: int, tokens: Sequence[int]) -> ValueFacts:
        key = (task, tuple(tokens))
        found = self._cache.get(key)
        return found if found is not None else self.facts_many([key])[0]

    def facts_many(self, keys: Sequence[tuple[int, tuple]]) -> list[ValueFacts]:
        """Facts of many (task, prefix tokens) pairs. The new ones are computed together: their runs in rounds
        of one token (every prefix of a round extends its parent's run, all of them at once with
        :func:`~tasm_env.emission.probe_runs.extend_many`), then the facts of every task's prefixes as one set of arrays
        (:func:`~tasm_env.emission.probe_facts.facts_of_tasks`); :meth:`TaskProbes.facts` is the reference."""
        cache = self._cache
        missing = list(dict.fromkeys(key for key in keys if key not in cache))
        if missing:
            with collector_paused(len(missing) >= PAUSE_AT):
                self._compute(missing)
        found = [cache[key] for key in keys]
        while len(cache) > self.cache_size:
            cache.popitem(last=False)
        return found

    def _compute(self, missing: list[tuple[int, tuple]]) -> None:
        """The facts of new (task, prefix) pairs, into the cache."""
        cache = self._cache
        if missing:
            runs = self._runs_of(missing)
            if len(missing) == 1:  # one prefix (a Gymnasium step): the one-prefix path costs half as much
                key = missing[0]
                probes = self.probes(key[0])
                cache[key] = probes.facts(probes.outcome(runs[key]))
                return
            by_lanes: dict[int, list[tuple]] = {}  # every task's prefixes together (tasks share K, as a rule)
            for key in missing:
                by_lanes.setdefault(self.probes(key[0]).k, []).append(key)
            for todo in by_lanes.values():
                probes = [self.probes(key[0]) for key in todo]
                facts = facts_of_tasks(probes, [runs[key] for key in todo])
                for b, (key, p) in enumerate(zip(todo, probes)):
                    cache[key] = ValueFacts(facts.slot_nodes[b], facts.outputs_ready[b, :p.arity],
                                            bool(facts.lost[b]), bool(facts.eos_ok[b]), facts.pop_loses[b])

    def value_key(self, task: int, tokens: Sequence[int]) -> bytes:
        """A hashable digest of the prefix's whole state on the probes (stack, crashes, public output, sponge,
        RAM written): two prefixes with equal keys are indistinguishable on the probes (search merges them)."""
        probes = self.probes(task)
        key = (task, tuple(tokens))
        o = probes.outcome(self._runs_of([key])[key])
        return state_digest(o.stack, o.crashed, o.output, o.written, o.sponge)

    def _program(self, key: tuple[int, tuple], parent: Run | None) -> Program:
        """The prefix's program: its parent's with the last token's instruction appended (what decoding the
        whole prefix gives, without a walk over it per step), or the whole prefix decoded."""
        task, tokens = key
        decode = self.decoders[task]
        if parent is not None and tokens and tokens[-1] != EOS and tokens[-1] >= 0:
            last = self._last.get((task, tokens[-1]))
            if last is None:
                try:
                    last = decode([tokens[-1]]).instructions
                except TasmError:
                    last = ()  # decoding the whole prefix raises, naming the token's position
                self._last[(task, tokens[-1])] = last
            if len(last) == 1:
                return Program(parent.plan.program.instructions + last)
        return decode(list(tokens))

    def _runs_of(self, keys: Sequence[tuple[int, tuple]]) -> dict[tuple, Run]:
        """The runs of prefixes, each extending its parent's (cached, or computed here, shorter prefixes first)."""
        runs = self._runs
        parents: dict[tuple, tuple | None] = {}  # prefix to compute -> its parent prefix (None: the empty one)
        for task, tokens in keys:
            known = len(tokens)
            while known >= 0 and (task, tokens[:known]) not in runs and (task, tokens[:known]) not in parents:
                known -= 1
            if known < 0:
                parents[(task, ())] = None
                known = 0
            for end in range(known + 1, len(tokens) + 1):
                parents[(task, tokens[:end])] = (task, tokens[:end - 1])
        new: dict[tuple, Run] = {}
        by_length: dict[int, list[tuple]] = {}
        for key in parents:
            by_length.setdefault(len(key[1]), []).append(key)
        for length in sorted(by_length):
            todo = by_length[length]
            items = []
            for key in todo:
                probes, parent = self.probes(key[0]), parents[key]
                parent_run = None if parent is None else new.get(parent) or runs[parent]
                plan = batch.compile_block(self._program(key, parent_run), probes.shape)
                items.append((plan, probes.inputs, parent_run))
            # one prefix (a Gymnasium step): the reference evaluation, which extend_many equals, costs less
            new.update(zip(todo, extend_many(items) if len(items) > 1 else [evaluate_plan(*items[0])]))
        found = {key: new[key] if key in new else runs[key] for key in keys}
        runs.update(new)
        while len(runs) > RUN_CACHE_SIZE:
            runs.popitem(last=False)
        return found


# ------------------------------------------------------------------------------ the dataflow mask


def pop_tokens(vocab) -> np.ndarray:
    """(MAX_POP + 1,) the token id of ``pop n`` at index n (-1 where the vocabulary has none)."""
    ids = np.full(MAX_POP + 1, -1, dtype=np.int64)
    for i in range(len(vocab)):
        if vocab.mnemonic[i] == "pop" and 1 <= int(vocab.arg[i]) <= MAX_POP:
            ids[int(vocab.arg[i])] = i
    return ids


def restrict(mask: np.ndarray, facts: ValueFacts, pops: np.ndarray) -> None:
    """Narrow one row's ``typed`` mask (V,) to ``dataflow``, in place: :func:`restrict_rows` on one row, with
    one-row numpy calls (the Gymnasium env's step; a property test checks that both agree)."""
    narrowed = mask.copy()
    narrowed[EOS] &= facts.eos_ok
    narrowed[pops[facts.pop_loses & (pops >= 0)]] = False
    if narrowed.any():
        mask[:] = narrowed


def restrict_rows(masks: np.ndarray, eos_ok, pop_loses: np.ndarray, pops: np.ndarray) -> None:
    """Narrow ``typed`` masks (B, V) to ``dataflow``, in place: EOS needs ``eos_ok`` (B,) and ``pop n`` is
    masked where ``pop_loses`` (B, MAX_POP + 1) says it would lose a value an output needs. A row the
    narrowing would leave without a legal action keeps its ``typed`` mask (the budget forces the end), so EOS
    stays legal only in complete states, as under ``typed``."""
    narrowed = masks.copy()
    narrowed[:, EOS] &= eos_ok
    # pops without a token (-1) index the last column, with nothing blocked there: it stays as it is
    narrowed[:, pops] &= ~(pop_loses & (pops >= 0))
    np.copyto(masks, narrowed, where=narrowed.any(1)[:, None])
