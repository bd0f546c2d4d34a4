"""The batched stack state machine against a plain-Python reference, and the properties the masks promise."""

from collections import deque
from functools import lru_cache

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tasm_env as te
from tasm_env.emission.machine import StackMachine
from tasm_env.emission.spec import TaskSpec
from tasm_env.emission.state import CONTEXT, LEVELS, ORIGIN, PAD, VALUE_LEVELS, EmissionState

TABLE_LEVELS = tuple(level for level in LEVELS if level not in VALUE_LEVELS)
"""The levels these machines (built without a value state) serve; dataflow: tests/test_dataflow_mask.py."""
from tasm_env.emission.vocab import BOOL, EOS, FIELD, INPUT_TYPE_CODES, U32, Kind, Vocabulary
from tasm_env.plan import Shape, summarize
from tasm_env.tasks.idioms import IDIOMS
from tasm_env.tasks.tir import TIR, Node

VOCAB = Vocabulary.default()
COUNTS = ("public_reads", "secret_reads", "digests", "outputs")
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                         HealthCheck.data_too_large])


def raw_task(tasm: str, inputs, name: str) -> te.Task:
    """A task straight from a block, without lifting (sponge and merkle blocks have no TIR)."""
    inputs = tuple(inputs)
    tir = TIR.build(inputs, [Node("input", (), i) for i in range(len(inputs))], [])
    program = te.Program.parse(tasm)
    return te.Task(name, inputs, tir, program, baseline_cycles=len(program))


def _pool():
    tasks = [te.Task.from_tasm(i.tasm, i.inputs, name=i.name) for i in IDIOMS]
    tasks += [
        raw_task("sponge_init sponge_absorb sponge_squeeze pop 5 pop 5", ("field",) * 10, "sponge"),
        raw_task("merkle_step merkle_step", ("u32",) + ("field",) * 5, "merkle"),
        raw_task("write_io 3", ("field",) * 3, "write-3"),
        raw_task("push 100 add push 12 mul addi 100", ("field",), "constants"),
        raw_task("read_io 5 read_io 2 add add add add add write_io 1 divine 3 pop 3", (), "io-heavy"),
    ]
    specs = [TaskSpec.from_task(t, VOCAB) for t in tasks]
    by_name = {t.name: t for t in tasks}
    for name in ("u64-add", "io-sum", "select", "hash-pair", "merkle", "io-heavy", "sponge", "triple"):
        task = by_name[name]  # tight budgets stress the reachability rule
        specs.append(TaskSpec.from_task(task, VOCAB, budget=len(task.baseline)))
    return tasks, specs


TASKS, SPECS = _pool()
MACHINE = StackMachine(SPECS, max_len=48)
SHALLOW = StackMachine([s for s in SPECS if s.peak_depth <= 12], max_depth=12)  # the depth cap binds


# ----------------------------------------------------------------------------------------- reference


class Reference:
    """One row recomputed from its tokens in plain Python, with an independent breadth-first search."""

    def __init__(self, spec: TaskSpec, max_depth: int, tracked: int):
        self.spec, self.D, self.T = spec, max_depth, tracked
        self.bound = spec.bound
        self.k, self.o = spec.n_inputs, spec.output_arity
        self.totals = spec.io_totals
        v = VOCAB
        self.moves = {(int(v.reads[i]), int(v.delta[i]), *(int(getattr(v, c)[i]) for c in COUNTS),
                       bool(v.needs_sponge[i]), bool(v.starts_sponge[i]))
                      for i in range(len(v)) if v.kind[i] == Kind.INSTRUCTION}
        self.dist = self._distances()

    def _distances(self) -> dict:
        """Minimum tokens from (depth, sponge, owed counts) to the end, by BFS on the reversed move graph."""
        ranges = [range(t + 1) for t in self.totals]
        states = [(d, f, (p, s, m, w)) for d in range(self.D + 1) for f in (0, 1)
                  for p in ranges[0] for s in ranges[1] for m in ranges[2] for w in ranges[3]]
        back: dict = {}
        for state in states:
            d, f, owed = state
            for reads, delta, *use, needs, starts in self.moves:
                nd = d + delta
                left = tuple(o - u for o, u in zip(owed, use))
                if reads > d or (needs and not f) or min(left) < 0 or not 0 <= nd <= self.D:
                    continue
                back.setdefault((nd, f or starts, left), []).append(state)
        dist, queue = {}, deque()
        for f in (0, 1):
            dist[(self.o, f, (0, 0, 0, 0))] = 0
            queue.append((self.o, f, (0, 0, 0, 0)))
        while queue:
            state = queue.popleft()
            for previous in back.get(state, ()):
                if previous not in dist:
                    dist[previous] = dist[state] + 1
                    queue.append(previous)
        return dist

    def resolve(self, code: int) -> int:
        if code < ORIGIN:
            return code
        j = code - ORIGIN
        return INPUT_TYPE_CODES[self.spec.input_types[self.k - 1 - j]] if j < self.k else CONTEXT

    def run(self, tokens) -> dict:
        """Every field of the row after ``tokens`` (EOS entries end nothing but can record a violation)."""
        row = dict(length=0, change=0, counts=[0, 0, 0, 0], sponge=False, violation=-1,
                   types=[ORIGIN + j for j in range(self.T)], tokens=[])
        for a in tokens:
            if row["violation"] < 0 and a not in self.legal(row, "stack"):
                row["violation"] = row["length"]
            if a == EOS:
                continue
            self.apply(row, a)
        return row

    def apply(self, row: dict, a: int) -> None:
        v = VOCAB
        row["tokens"].append(a)
        row["length"] += 1
        row["change"] += int(v.delta[a])
        row["counts"] = [c + int(getattr(v, name)[a]) for c, name in zip(row["counts"], COUNTS)]
        row["sponge"] = row["sponge"] or bool(v.starts_sponge[a])
        t, name, arg = list(row["types"]), v.mnemonic[a], v.arg[a]
        if name == "dup":
            t = [t[arg]] + t
        elif name == "swap":
            t[0], t[arg] = t[arg], t[0]
        elif name == "pick":
            t = [t[arg]] + t[:arg] + t[arg + 1:]
        elif name == "place":
            t = t[1:arg + 1] + [t[0]] + t[arg + 1:]
        else:
            pops, pushes = int(v.pops[a]), int(v.pushes[a])
            t = [int(x) for x in self.bound.result_types[a, :pushes]] + t[pops:]
        row["types"] = (t + [FIELD] * self.T)[: self.T]  # below the tracked slots: forgotten

    def legal(self, row: dict, level: str) -> set:
        v, spec = VOCAB, self.spec
        length = row["length"]
        if level == "none":
            ids = set(np.flatnonzero(self.bound.emittable).tolist()) if length < spec.budget else set()
            return ids | {EOS}
        d = self.k + row["change"]
        owed = tuple(t - c for t, c in zip(self.totals, row["counts"]))
        f = row["sponge"]
        legal = set()
        if d == self.o and not any(owed):
            legal.add(EOS)
        for a in np.flatnonzero(self.bound.emittable):
            if v.reads[a] > d or (v.needs_sponge[a] and not f):
                continue
            left = tuple(o - int(getattr(v, c)[a]) for o, c in zip(owed, COUNTS))
            if min(left) < 0:
                continue
            need = self.dist.get((d + int(v.delta[a]), int(f or v.starts_sponge[a]), left))
            if need is None or need > spec.budget - length - 1:
                continue
            if level == "typed" and v.mnemonic[a] != "merkle_step":
                positions = np.flatnonzero(v.u32_operands[a])
                if any(self.resolve(row["types"][p]) not in (U32, BOOL) for p in positions):
                    continue
            legal.add(int(a))
        return legal


@lru_cache(maxsize=None)
def reference(machine_id: int, n: int) -> Reference:
    machine = {id(MACHINE): MACHINE, id(SHALLOW): SHALLOW}[machine_id]
    return Reference(machine.specs[n], machine.max_depth, machine.layout.tracked)


def check_row(machine: StackMachine, state: EmissionState, b: int, ref_row: dict) -> None:
    L = machine.layout
    data = state.data[b]
    assert int(data[L.length]) == ref_row["length"]
    assert data[L.tokens].tolist() == ref_row["tokens"] + [PAD] * (machine.max_len - ref_row["length"])
    assert int(data[L.change]) == ref_row["change"]
    assert data[L.counters].tolist() == ref_row["counts"]
    assert bool(state.sponge_on[b]) == ref_row["sponge"]
    assert int(data[L.violation]) == ref_row["violation"]
    assert data[L.types].tolist() == ref_row["types"]


# ---------------------------------------------------------------------------------------- properties


@SETTINGS
@given(st.data(), st.sampled_from(TABLE_LEVELS), st.sampled_from(["deep", "shallow"]))
def test_batched_steps_and_masks_equal_the_reference(data, level, which):
    machine = MACHINE if which == "deep" else SHALLOW
    tasks = data.draw(st.lists(st.integers(0, len(machine.specs) - 1), min_size=1, max_size=4), label="tasks")
    state = machine.initial(tasks)
    refs = [reference(id(machine), n) for n in tasks]
    rows = [ref.run([]) for ref in refs]
    history = [[] for _ in tasks]
    for _ in range(data.draw(st.integers(1, 24), label="steps")):
        mask = machine.forward_masks(state, level)
        actions = []
        for b, ref in enumerate(refs):
            legal = ref.legal(rows[b], level)
            assert set(np.flatnonzero(mask[b].numpy()).tolist()) == legal, (level, b, history[b])
            done = history[b] and history[b][-1] == EOS
            actions.append(EOS if done else data.draw(st.sampled_from(sorted(legal))))
        state = machine.step(state, torch.tensor(actions))
        for b, ref in enumerate(refs):
            history[b].append(actions[b])
            rows[b] = ref.run(history[b])
            check_row(machine, state, b, rows[b])


def _rollout(machine, tasks, level, seed, steps=None):
    """Random legal episodes for every task row; returns the states along the way and the actions."""
    gen = torch.Generator().manual_seed(seed)
    state = machine.initial(tasks)
    states, actions = [state], []
    for _ in range(steps or machine.max_len + 1):
        mask = machine.forward_masks(state, level)
        assert mask.any(1).all(), "a mask with no legal action"
        weights = mask.float()
        weights[:, EOS] *= 0.05  # long episodes
        a = torch.multinomial(weights, 1, generator=gen)[:, 0]
        state = machine.step(state, a)
        states.append(state)
        actions.append(a)
    return states, actions


ROLLOUTS = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@ROLLOUTS
@given(st.sampled_from(TABLE_LEVELS), st.integers(0, 2**31))
def test_masks_never_empty_and_every_legal_episode_ends_within_its_budget(level, seed):
    tasks = torch.arange(len(SPECS)).repeat(3)
    states, actions = _rollout(MACHINE, tasks, level, seed)
    ended = torch.zeros(len(tasks), dtype=torch.bool)
    for state, a in zip(states, actions):
        remaining = MACHINE.remaining(state)
        assert (remaining >= 0).all()
        mask = MACHINE.forward_masks(state, level)
        assert MACHINE.legal(state, a, level).all()  # the one-action test agrees with the mask
        spent = remaining == 0
        assert not mask[spent, 1:].any()  # at the budget, only EOS
        if level != "none":
            assert (state.violation == -1).all()
            newly = (a == EOS) & ~ended
            assert MACHINE.is_complete(state)[newly].all()
        ended |= a == EOS
    assert ended.all(), "every episode ends by its budget"


@pytest.mark.parametrize("level", ["stack", "typed"])
def test_eos_terminated_legal_blocks_have_the_baselines_static_shape(level):
    tasks = torch.arange(len(SPECS)).repeat(3)
    states, actions = _rollout(MACHINE, tasks, level, seed=5)
    done = set()
    for state, a in zip(states, actions):
        for b in torch.nonzero((a == EOS)).flatten().tolist():
            if b in done:
                continue
            done.add(b)
            spec = SPECS[int(tasks[b])]
            assert int(MACHINE.live_depth(state)[b]) == spec.output_arity
            program = MACHINE.decode(state[b:b + 1])[0]
            shape = Shape(16 + spec.n_inputs, 64, 64, 64)
            got = summarize(program, shape)
            assert got.final_depth - 16 == spec.output_arity
            assert (got.public_consumed, got.secret_consumed, got.digests_consumed, got.outputs) == spec.io_totals
    assert len(done) == len(tasks)


@ROLLOUTS
@given(st.integers(0, 2**31))
def test_typed_within_stack_within_none(seed):
    tasks = torch.arange(len(SPECS)).repeat(2)
    for level in ("typed", "stack"):
        states, _ = _rollout(MACHINE, tasks, level, seed, steps=20)
        for state in states:
            typed, stack, none = (MACHINE.forward_masks(state, lv) for lv in ("typed", "stack", "none"))
            assert not (stack & ~none).any()
            if level == "typed":
                assert not (typed & ~stack).any()


@pytest.mark.parametrize("level", TABLE_LEVELS)
def test_backward_step_inverts_step(level):
    tasks = torch.arange(len(SPECS))
    states, actions = _rollout(MACHINE, tasks, level, seed=2, steps=16)
    for before, a, after in zip(states, actions, states[1:]):
        moved = a != EOS
        if moved.any():
            back = MACHINE.backward_step(after[moved], a[moved])
            assert back == before[moved]
        assert MACHINE.backward_masks(after)[moved, a[moved]].all()


def _all_tasks():
    from tasm_env.tasks.generate import generate

    tasks = list(TASKS)
    for tier in ("easy", "medium", "hard"):
        tasks += [te.Task.from_tir(tir, name=f"{tier}-{k}") for k, tir in enumerate(generate(tier, 8, seed=3))]
    return tasks


def test_the_baselines_own_tokens_are_legal_at_every_level():
    vocab = Vocabulary.default(n_slots=16)
    tasks = _all_tasks()
    specs = [TaskSpec.from_task(t, vocab) for t in tasks]
    machine = StackMachine(specs, max_depth=96)
    for budget_kind in ("default", "tight"):
        if budget_kind == "tight":
            specs = [TaskSpec.from_task(t, vocab, budget=len(t.baseline)) for t in tasks]
            machine = StackMachine(specs, max_depth=96)
        rows = [spec.bound.encode(task.baseline) for spec, task in zip(specs, tasks)]
        width = max(len(r) for r in rows)
        tokens = torch.tensor([r + [EOS] * (width + 1 - len(r)) for r in rows])
        state = machine.initial(torch.arange(len(tasks)))
        for t in range(width + 1):
            a = tokens[:, t]
            for level in TABLE_LEVELS:
                legal = machine.forward_masks(state, level).gather(1, a[:, None])[:, 0]
                bad = torch.nonzero(~legal).flatten().tolist()
                assert not bad, [(tasks[b].name, level, t, str(vocab.token(int(a[b])))) for b in bad]
            state = machine.step(state, a)
        assert (state.violation == -1).all()
        assert machine.is_complete(state).all()


def test_slot_types_follow_the_values():
    task = raw_task("dup 1 dup 1 eq", ("u32", "field"), "t")
    machine = StackMachine([TaskSpec.from_task(task, VOCAB)])
    state = machine.encode(["dup 1 dup 1 eq"], 0)
    types = machine.slot_types(state)[0].tolist()
    assert types[:5] == [BOOL, FIELD, U32, CONTEXT, CONTEXT]
    state = machine.encode(["split"], 0)
    assert machine.slot_types(state)[0, :4].tolist() == [U32, U32, U32, CONTEXT]
    state = machine.encode(["swap 1 push 1 push 7 push -1 pop 1"], 0)
    assert machine.slot_types(state)[0, :4].tolist() == [U32, BOOL, U32, FIELD]
    assert machine.live_depth(state).tolist() == [4]


def test_typed_masks_block_u32_instructions_on_field_values():
    task = te.Task.from_tasm("swap 1 lt", ("u32", "u32"), name="lt")
    field = te.Task.from_tasm("add", ("field", "field"), name="add")
    machine = StackMachine([TaskSpec.from_task(task, VOCAB), TaskSpec.from_task(field, VOCAB)])
    lt, split = VOCAB.id_of(te.Instruction("lt")), VOCAB.id_of(te.Instruction("split"))
    state = machine.initial([0, 1])
    typed, stack = machine.forward_masks(state, "typed"), machine.forward_masks(state, "stack")
    assert typed[0, lt] and not typed[1, lt] and stack[1, lt]
    state = machine.step(state, torch.tensor([split, split]))  # split makes u32 values
    assert machine.forward_masks(state, "typed")[:, lt].all()


def test_reads_below_the_inputs_are_masked_and_recorded_as_violations():
    task = te.Task.from_tasm("dup 1 dup 1 add", ("field", "field"), name="add-keep")
    machine = StackMachine([TaskSpec.from_task(task, VOCAB)])
    state = machine.initial([0])
    mask = machine.forward_masks(state, "stack")
    ids = {str(t): i for i, t in enumerate(VOCAB)}
    assert mask[0, ids["dup 1"]] and not mask[0, ids["dup 2"]] and not mask[0, ids["pop 3"]]
    assert machine.forward_masks(state, "none")[0, ids["dup 2"]]
    assert not mask[0, EOS]  # two inputs, three outputs
    # dup 1, add, add leave one value; the next add reads below the inputs
    state = machine.replay(torch.tensor([[ids["dup 1"], ids["add"], ids["add"], ids["add"]]]), 0)
    assert state.violation.tolist() == [3]
    assert machine.final_violation(state).tolist() == [3]
    ok = machine.encode(["dup 1 dup 1 add"], 0)
    assert machine.final_violation(ok).tolist() == [-1]
    long = machine.encode(["dup 1 dup 1"], 0)  # four values for three outputs: EOS would be the violation
    assert machine.final_violation(long).tolist() == [2]


def test_the_initial_state_is_the_same_row_for_every_task():
    state = MACHINE.initial(torch.arange(len(SPECS)))
    assert (state.data == MACHINE.s0).all()
    assert MACHINE.live_depth(state).tolist() == [s.n_inputs for s in SPECS]


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
def test_garbage_rows_do_not_crash_the_masks(dtype):
    for fill in (torch.iinfo(dtype).min, -1, 10**9):  # torchgfn's sink states are filled with iinfo.min
        data = torch.full((5, MACHINE.layout.width), fill, dtype=dtype)
        state = EmissionState(data, torch.tensor([0, 1, 2, -7, 10**6]), MACHINE.layout)
        for level in TABLE_LEVELS:
            assert MACHINE.forward_masks(state, level).shape == (5, len(VOCAB))
        MACHINE.slot_types(state)


def test_task_specs_reject_what_cannot_work():
    io = te.Task.from_tasm("read_io 2 add write_io 1", (), name="io-sum")
    with pytest.raises(te.TaskError, match="budget"):
        StackMachine([TaskSpec.from_task(io, VOCAB, budget=2)])
    with pytest.raises(te.TaskError, match="below"):
        TaskSpec.from_task(raw_task("add", ("field",), "shallow"), VOCAB)
    other = TaskSpec.from_task(io, Vocabulary.default(n_slots=2))
    with pytest.raises(te.TaskError, match="vocabulary"):
        StackMachine([TaskSpec.from_task(io, VOCAB), other])
    deep = raw_task("push 1 " * 20 + "pop 5 " * 4, (), "deep")
    with pytest.raises(te.TaskError, match="max_depth"):
        StackMachine([TaskSpec.from_task(deep, VOCAB)], max_depth=16)
    spec = TaskSpec.from_task(io, VOCAB)
    assert (spec.output_arity, spec.io_totals, spec.budget) == (0, (2, 0, 0, 1), 11)


def test_decode_and_encode_round_trip_through_states():
    programs = [t.baseline for t in TASKS]
    state = MACHINE.encode(programs, torch.arange(len(TASKS)))
    assert MACHINE.decode(state) == programs


def test_the_trident_layout_drives_the_machine_and_never_allows_reserved_ids():
    trident = Vocabulary.trident()
    tasks = []
    for task in TASKS:
        try:
            trident.bind(task).encode(task.baseline)
        except te.TasmError:  # constants outside the seed's 14, or addi
            continue
        tasks.append(task)
    assert len(tasks) >= 30
    machine = StackMachine([TaskSpec.from_task(t, trident) for t in tasks])
    reserved = torch.tensor(trident.kind == Kind.RESERVED)
    for b, task in enumerate(tasks):
        state = machine.initial([b])
        for a in machine.specs[b].bound.encode(task.baseline) + [EOS]:
            for level in TABLE_LEVELS:
                mask = machine.forward_masks(state, level)
                assert mask[0, a] and not mask[0, reserved].any(), (task.name, level)
            state = machine.step(state, torch.tensor([a]))


def test_inplace_step_matches_step():
    tasks = torch.arange(len(SPECS))
    states, actions = _rollout(MACHINE, tasks, "typed", seed=4, steps=10)
    for state, a, after in zip(states, actions, states[1:]):
        copy = EmissionState(state.data.clone(), state.task, state.layout)
        MACHINE.forward_masks(copy, "stack")  # fills the cache, which an in-place step must drop
        assert MACHINE.step(copy, a, inplace=True) is copy
        assert copy == after
        assert torch.equal(MACHINE.forward_masks(copy, "stack"), MACHINE.forward_masks(after, "stack"))


def test_violations_can_be_recorded_at_the_typed_level():
    task = te.Task.from_tasm("swap 1 lt", ("u32", "u32"), name="lt")
    field = te.Task.from_tasm("push 0 eq", ("field",), name="is-zero")
    machine = StackMachine([TaskSpec.from_task(task, VOCAB), TaskSpec.from_task(field, VOCAB)],
                           violation_level="typed")
    lt = VOCAB.id_of(te.Instruction("lt"))
    dup = VOCAB.id_of(te.Instruction("dup", 0))
    state = machine.replay(torch.tensor([[dup, lt], [dup, lt]]), torch.tensor([0, 1]))
    assert state.violation.tolist() == [-1, 1]  # lt on a field value is legal at `stack`, not at `typed`


def test_a_machine_without_violation_tracking_steps_the_same():
    fast = StackMachine(SPECS, max_len=48, violation_level=None)
    tasks = torch.arange(len(SPECS))
    states, actions = _rollout(MACHINE, tasks, "none", seed=6, steps=12)
    state = fast.initial(tasks)
    for a, want in zip(actions, states[1:]):
        state = fast.step(state, a)
        L = fast.layout
        same = torch.ones(L.width, dtype=torch.bool)
        same[L.violation] = False
        assert torch.equal(state.data[:, same], want.data[:, same])
        assert (state.violation == -1).all()
    with pytest.raises(ValueError, match="no violations"):
        fast.final_violation(state)


# ----------------------------------------------------------------------------------- the old import paths


@pytest.mark.parametrize("old, new", [
    ("tasm_env.stack", ("tasm_env.emission.machine", "tasm_env.emission.spec", "tasm_env.emission.state")),
    ("tasm_env.vocab", ("tasm_env.emission.vocab",)),
    ("tasm_env.reward", ("tasm_env.emission.reward",)),
])
def test_the_old_paths_warn_and_give_the_new_objects(old, new):
    import importlib
    import sys

    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=rf"{old.replace('.', '[.]')} is deprecated: import .*"
                                                rf"{new[0].replace('.', '[.]')}"):
        module = importlib.import_module(old)
    homes = [importlib.import_module(name) for name in new]
    assert module.__all__
    for name in module.__all__:
        assert any(getattr(home, name, None) is getattr(module, name) for home in homes), name


# ------------------------------------------------------------------------------- the row view of the tables


@SETTINGS
@given(st.data())
def test_the_row_machine_is_the_same_machine_on_one_row(data):
    """RowMachine over a StackMachine's own tables: the same row, masks at every level (on prefixes legal at
    ``stack``, where masks are specified) and slot types."""
    from tasm_env.emission.row import RowMachine

    task = data.draw(st.integers(0, len(SPECS) - 1), label="task")
    level = data.draw(st.sampled_from(TABLE_LEVELS), label="level")
    row = RowMachine(MACHINE, task, level, track_violations=True)
    state = MACHINE.initial([task])
    for _ in range(SPECS[task].budget):
        assert np.array_equal(row.row, state.data[0].numpy())
        for other in TABLE_LEVELS if row.violation < 0 else ("none",):  # masks are specified for legal prefixes
            assert np.array_equal(row.mask_at(other), MACHINE.forward_masks(state, other)[0].numpy()), other
        assert np.array_equal(row.slot_types(), MACHINE.slot_types(state)[0].numpy())
        assert row.final_violation() == int(MACHINE.final_violation(state)[0])
        legal = np.flatnonzero(row.mask()[1:]) + 1
        if not len(legal):
            break
        token = int(data.draw(st.sampled_from(legal.tolist()), label="token"))
        row.step(token)
        state = MACHINE.step(state, torch.tensor([token]))
