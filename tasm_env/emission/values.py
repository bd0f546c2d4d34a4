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
executor's evaluators (:func:`tasm_env.batch.evaluator`), on the parent prefix's value matrix. The state is a
pure function of (task, prefix), cached per prefix, so ``backward_step`` undoes it exactly by construction.

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
from typing import Sequence

import numpy as np

from .. import batch
from ..plan import KINDS_PER_CYCLE, OPERATIONS
from ..asm import Program
from ..coverage import CONTEXT_DEPTH, FLAVOURS
from ..errors import ConfigError, TasmError
from ..verify import Verifier
from ..tasks.interpret import TirCrash, evaluate
from ..tasks.tir import TIR, Ref
from .vocab import EOS

__all__ = ["DEFAULT_PROBES", "MAX_POP", "SLOT_WINDOW", "Outcome", "TaskProbes", "ValueFacts", "ValueModel",
           "pop_tokens", "restrict"]

DEFAULT_PROBES = 8
SLOT_WINDOW = 16
"""Slots ``slot_nodes`` reports (the reach of ``dup``/``swap``)."""
MAX_POP = 5
"""The largest ``pop`` argument."""
CACHE_SIZE = 1 << 16
"""(task, prefix) facts a ValueModel keeps."""
RUN_CACHE_SIZE = 1 << 13
"""(task, prefix) value matrices a ValueModel keeps for the steps after them."""
EQUAL_FLAVOUR = "all-equal"


@dataclass
class _Run:
    """One block's evaluated plan on the probes: value matrix (ids, K) and each lane's first crash code."""

    plan: batch.Plan
    V: np.ndarray
    crash: np.ndarray


def _evaluate(plan: batch.Plan, inputs: batch.Inputs, parent: _Run | None) -> _Run:
    """Evaluate ``plan`` on the probes, reusing ``parent``'s values where its plan is a prefix of this one."""
    shape, K = inputs.shape, inputs.lanes
    start = 0
    if parent is not None and len(parent.plan.kind) <= len(plan.kind) \
            and plan.out[:len(parent.plan.out)] == parent.plan.out and parent.plan.static_crash == batch.NO_CRASH:
        start = len(parent.plan.kind)
    V = np.empty((shape.shared + plan.n_local, K), dtype=np.uint64)
    if start:
        known = parent.V.shape[0]
        V[:known] = parent.V
        crash = parent.crash.copy()
    else:
        known = 0
        crash = np.full(K, batch.NO_CRASH, dtype=np.int64)
        rows = [inputs.stack.T, inputs.public_input.T, inputs.secret_input.T,
                inputs.secret_digests.reshape(K, -1).T]
        V[:shape.shared] = np.concatenate(rows) if shape.shared else V[:0]
    for i, value in zip(plan.const_ids, plan.const_values):
        if i >= known:
            V[i] = value
    crash = np.minimum(crash, plan.static_crash)
    first = sum(plan.n_in[:start])
    for j in range(start, len(plan.kind)):
        n = plan.n_in[j]
        operands = [V[i] for i in plan.inputs[first:first + n]]
        first += n
        results, crashes = batch.evaluator(OPERATIONS[plan.kind[j]])(operands, inputs)
        for k, result in enumerate(results):
            V[plan.out[j] + k] = result
        for kind_index, mask in crashes:
            crash = np.where(mask, np.minimum(crash, plan.cycle[j] * KINDS_PER_CYCLE + kind_index), crash)
    return _Run(plan, V, crash)


def _final_ram(run: _Run, inputs: batch.Inputs, addresses: np.ndarray) -> np.ndarray:
    """The RAM contents after ``run`` at ``addresses`` (n, K): later writes win over earlier ones."""
    value = inputs.initial_ram(addresses)
    writes = run.plan.writes
    for k in range(0, len(writes), 2):
        value = np.where(run.V[writes[k]][None, :] == addresses, run.V[writes[k + 1]][None, :], value)
    return value


@dataclass
class Outcome:
    """One block's run on the K probes (arrays are slot or word first, lane last)."""

    stack: np.ndarray  # (depth, K) uint64, deepest first (the context included)
    crashed: np.ndarray  # (K,) bool
    output: np.ndarray  # (n, K) public output in write order
    sponge: np.ndarray | None  # (16, K) or None: never initialised
    written: np.ndarray  # (2w, K): address, final contents, address, final contents ... of every write
    ram_match: np.ndarray  # (K,) its final RAM equals the baseline's at every cell either touched


@dataclass(frozen=True)
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
    """One task's probes, its baseline's outcome on them and its graph nodes' values there."""

    def __init__(self, task, k: int = DEFAULT_PROBES, n_tests: int = 40, seed: int = 42):
        if int(k) < 2:
            raise ConfigError(f"the value state needs at least 2 probes, got {k}")
        self.verifier = verifier = Verifier(task.baseline, task.inputs, n_tests, seed)
        self.shape = verifier.shape
        self.lanes = _choose_lanes(verifier, int(k))
        self.k = len(self.lanes)
        self.inputs = verifier.tests.lanes(self.lanes)
        self.n_inputs = len(task.inputs)
        self.bottom = self.shape.stack_depth - self.n_inputs  # stack index of the block's deepest slot
        self.base_run = _evaluate(verifier.plan, self.inputs, None)
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

    def evaluate(self, program: Program, parent: _Run | None = None) -> _Run:
        """``program`` evaluated on the probes; ``parent``: the run of a prefix of it (its values are reused)."""
        return _evaluate(batch.compile_block(program, self.shape), self.inputs, parent)

    def outcome(self, run: _Run) -> Outcome:
        plan, V, inputs, K = run.plan, run.V, self.inputs, self.k
        sponge = None if plan.sponge is None else V[plan.sponge]
        writes = V[plan.writes] if plan.writes else np.zeros((0, K), np.uint64)
        addresses = writes[0::2]
        written = np.empty_like(writes)
        written[0::2] = addresses
        written[1::2] = _final_ram(run, inputs, addresses) if len(addresses) else addresses
        base = getattr(self, "base_run", run)
        cells = np.concatenate([base.V[base.plan.touched], V[plan.touched]]).reshape(-1, K)
        ram_match = (_final_ram(base, inputs, cells) == _final_ram(run, inputs, cells)).all(0) if len(cells) \
            else np.ones(K, dtype=bool)
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
        eos_ok = self._matches(o)
        lost = bool((o.crashed & ~b.crashed).any()) or self._merges(o, None)
        pop_loses = np.array([False] + [self._merges(o, n) if n <= live else False for n in range(1, MAX_POP + 1)])
        return ValueFacts(slot_nodes, ready, lost, eos_ok, pop_loses)

    def _matches(self, o: Outcome) -> bool:
        """The block matches the baseline on every probe, as the verifier compares."""
        b = self.base
        if not np.array_equal(o.crashed, b.crashed) or o.stack.shape != b.stack.shape \
                or o.output.shape != b.output.shape or (o.sponge is None) != (b.sponge is None):
            return False
        runs = ~b.crashed
        parts = [(o.stack, b.stack), (o.output, b.output)] + ([] if b.sponge is None else [(o.sponge, b.sponge)])
        return all(bool((x[:, runs] == y[:, runs]).all()) for x, y in parts) and bool(o.ram_match[runs].all())

    def _merges(self, o: Outcome, popped: int | None) -> bool:
        """Some pair the baseline tells apart is in identical states after the prefix (and ``pop popped``)."""
        i, j = self.pairs
        if not len(i):
            return False
        stack = o.stack if not popped else o.stack[:-popped]
        same = o.crashed[i] == o.crashed[j]
        crashed = o.crashed[i] & o.crashed[j]
        for part in (stack, o.output, o.sponge, o.written):
            if part is not None and len(part):
                same &= crashed | (part[:, i] == part[:, j]).all(0)
        return bool(same.any())


class ValueModel:
    """The value state of prefixes of a list of tasks (probes built on first use, facts cached per prefix).

    ``decode(task, tokens)`` must turn a token list into the task's :class:`~tasm_env.asm.Program` (the bound
    vocabulary's ``decode``)."""

    def __init__(self, tasks: Sequence, decoders: Sequence, k: int = DEFAULT_PROBES, n_tests: int = 40,
                 seed: int = 42):
        if len(tasks) != len(decoders):
            raise TasmError("a ValueModel needs one decoder per task")
        self.tasks, self.decoders = list(tasks), list(decoders)
        self.k, self.n_tests, self.seed = int(k), int(n_tests), int(seed)
        self._probes: dict[int, TaskProbes] = {}
        self._cache: OrderedDict = OrderedDict()
        self._runs: OrderedDict = OrderedDict()  # (task, prefix) -> _Run, for the steps after it

    @classmethod
    def of(cls, tasks: Sequence, specs: Sequence, k: int = DEFAULT_PROBES, n_tests: int = 40,
           seed: int = 42) -> "ValueModel":
        """The model of tasks with their :class:`~tasm_env.emission.spec.TaskSpec` (whose bound vocabularies
        decode the prefixes)."""
        return cls(tasks, [spec.bound.decode for spec in specs], k, n_tests, seed)

    def probes(self, task: int) -> TaskProbes:
        found = self._probes.get(task)
        if found is None:
            found = self._probes[task] = TaskProbes(self.tasks[task], self.k, self.n_tests, self.seed)
        return found

    def facts(self, task: int, tokens: Sequence[int]) -> ValueFacts:
        return self.facts_many([(task, tuple(tokens))])[0]

    def facts_many(self, keys: Sequence[tuple[int, tuple]]) -> list[ValueFacts]:
        """Facts of many (task, prefix tokens) pairs: the new ones run as one group per task."""
        cache = self._cache
        missing: dict[int, list[tuple]] = {}
        for key in keys:
            if key not in cache and key not in missing.get(key[0], ()):
                missing.setdefault(key[0], []).append(key)
        for task, todo in missing.items():
            probes = self.probes(task)
            for key in todo:
                cache[key] = probes.facts(probes.outcome(self._run(probes, key)))
        while len(cache) > CACHE_SIZE:
            cache.popitem(last=False)
        return [cache[key] for key in keys]

    def value_key(self, task: int, tokens: Sequence[int]) -> bytes:
        """A hashable digest of the prefix's whole state on the probes (stack, crashes, public output, sponge,
        RAM written): two prefixes with equal keys are indistinguishable on the probes (search merges them)."""
        probes = self.probes(task)
        o = probes.outcome(self._run(probes, (task, tuple(tokens))))
        parts = [o.stack, o.crashed, o.output, o.written, np.zeros(0) if o.sponge is None else o.sponge]
        return b"|".join(np.ascontiguousarray(p).tobytes() + bytes(str(p.shape), "ascii") for p in parts) \
            + (b"n" if o.sponge is None else b"s")

    def _run(self, probes: TaskProbes, key: tuple[int, tuple]) -> _Run:
        """The run of a prefix, extending its parent's (itself built the same way, or found in the cache)."""
        runs, (task, tokens), decode = self._runs, key, self.decoders[key[0]]
        known = len(tokens)
        while known >= 0 and (task, tokens[:known]) not in runs:
            known -= 1
        if known < 0:
            parent = runs[(task, ())] = probes.evaluate(decode([]))
            known = 0
        else:
            parent = runs[(task, tokens[:known])]
        for end in range(known + 1, len(tokens) + 1):
            parent = runs[(task, tokens[:end])] = probes.evaluate(decode(list(tokens[:end])), parent)
        while len(runs) > RUN_CACHE_SIZE:
            runs.popitem(last=False)
        return parent


# ------------------------------------------------------------------------------ the dataflow mask


def pop_tokens(vocab) -> np.ndarray:
    """(MAX_POP + 1,) the token id of ``pop n`` at index n (-1 where the vocabulary has none)."""
    ids = np.full(MAX_POP + 1, -1, dtype=np.int64)
    for i in range(len(vocab)):
        if vocab.mnemonic[i] == "pop" and 1 <= int(vocab.arg[i]) <= MAX_POP:
            ids[int(vocab.arg[i])] = i
    return ids


def restrict(mask: np.ndarray, facts: ValueFacts, pops: np.ndarray) -> None:
    """Narrow one row's ``typed`` mask (V,) to ``dataflow``, in place (the one implementation both machines
    call): EOS needs ``eos_ok`` and ``pop n`` is masked where it would lose a value an output needs. A row the
    narrowing would leave without a legal action keeps its ``typed`` mask (the budget forces the end), so EOS
    stays legal only in complete states, as under ``typed``."""
    narrowed = mask.copy()
    narrowed[EOS] &= facts.eos_ok
    narrowed[pops[facts.pop_loses & (pops >= 0)]] = False
    if narrowed.any():
        mask[:] = narrowed
