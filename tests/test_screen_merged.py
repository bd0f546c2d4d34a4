"""One evaluation for a whole batch: the screen evaluates the blocks of every task together (each ``mem_read``
reading its own task's RAM, :class:`tasm_env.batch.Contexts`), and the reward model screens the blocks of
tasks it already asked about in the same evaluation as the first visits. Both must give exactly what one
evaluation per task, and one block at a time, give: the same refutations, tests, parts and reasons, the same
verdicts and rewards."""

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from token_edits import distinct_by_task, task_blocks

import tasm_env as te
from tasm_env import batch
from tasm_env.emission.reward import Evaluation, RewardModel, cost_of, task_key
from tasm_env.emission.screen import first_round, random_round, screen
from tasm_env.emission.spec import TaskSpec
from tasm_env.emission.vocab import Vocabulary
from tasm_env.envs.common import resolve_tasks
from tasm_env.verify import verifier_of

_SUITE = resolve_tasks(suite="tasm-basic-v1", split="train")
# tasks reading and writing RAM with 1 to 5 inputs (their random rounds read different RAM), and a few others
POOL = [_SUITE[i] for i in (84, 85, 87, 89, 92, 93, 96, 100, 104, 105, 114, 121, 3, 25, 47)]
_VOCAB = Vocabulary.default()
_BOUND = [TaskSpec.from_task(t, _VOCAB).bound for t in POOL]
_TOKENS = [[i for i in range(1, len(b)) if isinstance(b.token(i), te.Instruction)] for b in _BOUND]
_SETTINGS = settings(max_examples=40, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

def pool_blocks():
    return task_blocks(POOL, _BOUND, _TOKENS, 3)

def pool_round(t: int):
    key = task_key(POOL[t])
    return random_round(key[1], key[2], 40, 42, key[0])

def outcome_of(found, j: int) -> tuple:
    return bool(found.refuted[j]), int(found.test[j]), found.part[j], found.reason(j) if found.refuted[j] else ""


def pool_work(blocks, use_verifier) -> list[tuple]:
    """The screen's work for (task, program) blocks of the pool: each task's distinct programs, with a
    verifier's first round where ``use_verifier[t]`` else the task's random round."""
    by_task = distinct_by_task(blocks)
    return [(verifier_of(POOL[t], None, 40, 42) if use_verifier[t] else pool_round(t), programs)
            for t, programs in by_task.items()]


def test_the_pool_reads_different_ram():
    """Guard for the tests below: the pool's random rounds read more than one kind of initial RAM, and its
    baselines read RAM."""
    kinds = {batch.Inputs.__name__ + str(pool_round(t).run.inputs.ram_seed.tobytes()) for t in range(len(POOL))}
    assert len(kinds) >= 4
    assert sum("read_mem" in str(te.Program.coerce(t.baseline)) for t in POOL) >= 5

@_SETTINGS
@given(st.lists(pool_blocks(), min_size=1, max_size=40), st.lists(st.booleans(), min_size=len(POOL),
                                                              max_size=len(POOL)))
def test_one_evaluation_equals_one_per_task(blocks, use_verifier):
    """Screening many tasks' blocks in one evaluation gives, for every block, what screening its task alone
    gives (refuted or not, the test, the part, the reason), for random rounds and verifiers' first rounds."""
    work = pool_work(blocks, use_verifier)
    together = screen(work)
    for (round_, programs), found in zip(work, together):
        alone = screen([(round_, programs)])[0]
        for j in range(len(programs)):
            assert outcome_of(found, j) == outcome_of(alone, j), str(programs[j])

@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2**64 - 2**32), st.integers(0, 6), st.integers(0, 4)),
                min_size=1, max_size=6), st.integers(0, 2**32), st.booleans(), st.booleans())
def test_contexts_read_each_programs_own_ram(programs, seed, seeded_only, merge_reads):
    """Programs evaluated together, each with its own initial RAM (seeded, zero, pooled, with given cells; or
    only seeded ones, which take one mix for all rows), after 0-4 writes of their own, get exactly the values
    and crashes of a run of each on its own inputs (run alone: no merged reads, one context), with and without
    the reads of a level merged whatever their number of earlier writes."""
    rng = np.random.default_rng(seed)
    stack = rng.integers(0, te.field.P, size=(4, 20), dtype=np.uint64)
    address = int(stack[0, -1])
    if seeded_only:  # distinct seeds per context and lane, a zero seed, a pool that no lane reads
        contexts = [batch.Inputs(stack, ram_seed=rng.integers(0, 3, size=4, dtype=np.uint64) * (c + 1))
                    for c in range(3)]
        contexts.append(batch.Inputs(stack, ram_seed=5, ram_pool=np.array([1, 2], dtype=np.uint64)))
    else:
        contexts = [batch.Inputs(stack, ram_seed=rng.integers(1, 2**63, size=4, dtype=np.uint64)),
                    batch.Inputs(stack, ram_seed=0),
                    batch.Inputs(stack, ram_seed=7, ram_pool=np.array([0, 1, te.field.P - 1], dtype=np.uint64),
                                 ram_offset=np.array([0, 1, 2, -1])),
                    batch.Inputs(stack, ram_seed=3, ram={address: 5, 17: 9})]
    texts = ["".join(f"push {w} push {(a + w % 2) % te.field.P} write_mem 1 pop 1 " for w in range(writes))
             + f"read_mem 1 push 17 read_mem 1 push {a} read_mem 2 dup 2 push {a} write_mem 1 push {a} read_mem 1"
             + " pop 1" * k for _, a, k, writes in programs]
    plans = [batch.compile_block(te.Program.parse(text), contexts[0].shape) for text in texts]
    which = np.array([c for c, _, _, _ in programs])
    shared = contexts[0].shape.shared
    sizes = np.array([plan.n_local for plan in plans], dtype=np.int64)
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1]))  # plan p's own id i is row i + offsets[p]
    V = np.zeros((shared + int(sizes.sum()), 4), dtype=np.uint64)
    V[:shared] = batch.GroupRun(plans[:1], contexts[0]).V[:shared]  # the sources
    for p, plan in enumerate(plans):
        if plan.const_ids:
            V[np.array(plan.const_ids) + offsets[p]] = np.array(plan.const_values, np.uint64)[:, None]
    crash = np.repeat(np.array([[plan.static_crash] for plan in plans], dtype=np.int64), 4, axis=1)
    schedule = batch.Schedule.build(plans, shared, offsets, merge_reads=merge_reads)
    batch.evaluate_schedule(schedule, V, crash, batch.Contexts(contexts, which))
    for p, plan in enumerate(plans):
        alone = batch.GroupRun([plan], contexts[which[p]])
        assert np.array_equal(crash[p], alone.crash[0])
        rows = np.arange(plan.n_local) + shared
        assert np.array_equal(V[rows + offsets[p]], alone.V[rows]), texts[p]

@settings(max_examples=80, deadline=None)
@given(st.integers(0, 6), st.integers(1, 5), st.integers(0, 2**32))
def test_mem_read_takes_the_latest_write(pairs, operations, seed):
    """``mem_read``'s evaluator against its definition: the initial RAM at the address, then each earlier
    (address, value) write in order, the later one winning where several hit (addresses from a few values, so
    that they do)."""
    rng = np.random.default_rng(seed)
    x = list(rng.integers(0, 3, size=(1 + 2 * pairs, operations, 4), dtype=np.uint64))
    ctx = batch.Inputs(np.zeros((4, 16), dtype=np.uint64), ram_seed=rng.integers(0, 9, size=4, dtype=np.uint64))
    expected = ctx.initial_ram(x[0])
    for k in range(1, len(x), 2):
        expected = np.where(x[k] == x[0], x[k + 1], expected)
    (value,), crashes = batch.evaluator("mem_read")(x, ctx)
    assert np.array_equal(value, expected) and crashes == []

def test_merged_reads_are_fewer_groups():
    """Guard for the test above: its programs' reads after different numbers of writes share a level, so
    merging them makes fewer ``mem_read`` groups."""
    shape = batch.Inputs(np.zeros((1, 20), dtype=np.uint64)).shape
    texts = ["".join(f"push {w} push {w % 2} write_mem 1 pop 1 " for w in range(writes)) + "push 3 read_mem 1"
             for writes in range(1, 5)]
    plans = [batch.compile_block(te.Program.parse(text), shape) for text in texts]
    offsets = np.concatenate(([0], np.cumsum([plan.n_local for plan in plans])[:-1]))
    reads = batch.OPERATIONS.index("mem_read")
    count = [sum(g[0] == reads for g in batch.Schedule.build(plans, shape.shared, offsets, merge_reads=m).groups)
             for m in (False, True)]
    assert count == [4, 1]

class _OneAtATime:
    """The reward model's semantics, one block at a time and screened alone: a block of a task whose verifier
    was not asked for before the batch is screened on the task's random round (a refutation there is the
    evaluation); any other block asks for the verifier, is screened on its first round, else checked.
    Evaluations are kept per (task, block)."""

    def __init__(self):
        self.asked: set = set()
        self.kept: dict = {}

    def evaluate(self, tasks, programs) -> list[Evaluation]:
        asked, found = set(self.asked), []
        for task, program in zip(tasks, programs):
            key = (task_key(task), te.Program.coerce(program))
            if key not in self.kept:
                self.kept[key] = self._one(task, key[1], key[0] in asked)
            found.append(self.kept[key])
        return found

    def _one(self, task, program, asked: bool) -> Evaluation:
        key, nan = task_key(task), float("nan")
        base = cost_of(task.baseline, task)
        round_ = None if asked else random_round(key[1], key[2], 40, 42, key[0])
        if round_ is not None:
            found = screen([(round_, [program])])[0]
            if found.refuted[0]:
                return Evaluation(False, found.reason(0), nan, base)
        self.asked.add(key)
        verifier = verifier_of(task, None, 40, 42)
        found = screen([(verifier, [program])])[0]
        if found.refuted[0]:
            return Evaluation(False, found.reason(0), nan, base)
        verdict = verifier.check([program])[0]
        return Evaluation(verdict.ok, verdict.reason, cost_of(program, task) if verdict.ok else nan, base)

def _fields(e: Evaluation) -> tuple:
    return e.valid, e.reason, "nan" if math.isnan(e.cost) else e.cost, e.baseline_cost

@_SETTINGS
@given(st.lists(st.lists(pool_blocks(), min_size=1, max_size=30), min_size=1, max_size=3),
       st.sets(st.integers(0, len(POOL) - 1), max_size=len(POOL)))
def test_the_reward_model_equals_one_block_at_a_time(batches, asked):
    """Over a few batches on one model (tasks visited, then asked, then seen again), every evaluation (validity,
    reason, cost, baseline cost) and log-reward equals the one-block-at-a-time reference's. The first batch
    also holds the baselines of the ``asked`` tasks (they survive the random round: the verifier is asked)."""
    model, reference = RewardModel(), _OneAtATime()
    batches[0] = [(t, te.Program.coerce(POOL[t].baseline)) for t in sorted(asked)] + batches[0]
    for blocks in batches:
        tasks = [POOL[t] for t, _ in blocks]
        programs = [p for _, p in blocks]
        got, want = model.evaluate(tasks, programs), reference.evaluate(tasks, programs)
        assert [_fields(e) for e in got] == [_fields(e) for e in want]
        assert np.array_equal(model.log_rewards_of(got).numpy(), model.log_rewards_of(want).numpy())

def test_a_task_whose_verifier_fails_fails_every_batch_after_the_others_are_screened():
    """A task that cannot be verified (its baseline crashes on every test) raises in every batch holding it,
    as before the merged screen; the first visits of the other tasks of the batch are evaluated first (kept)."""
    from types import SimpleNamespace

    import pytest

    from tasm_env.errors import TaskError
    broken = SimpleNamespace(name="broken", baseline=te.Program.parse("push 0 assert"), inputs=("field",))
    model = RewardModel()
    for other in (["push 7 add", "pop 1"], ["push 3 mul", "push 5 swap 1 pop 1"]):
        with pytest.raises(TaskError):
            model.evaluate([POOL[0], POOL[0], broken], [te.Program.parse(text) for text in other + ["push 0"]])
    assert model.cache_info()["hits"] == 0 and model.cache_info()["size"] == 4

def _same_static_shape(round_, program) -> bool:
    from dataclasses import replace

    from tasm_env.plan import summarize
    try:
        return replace(summarize(program, round_.shape), cycles=0) == replace(round_.summary, cycles=0)
    except te.TasmError:
        return False

def _by_definition(round_, program) -> tuple:
    """What the screen must say of a block of the baseline's static shape, from a run of the block alone on the
    round's lanes: refuted where, on a lane, exactly one of them crashes, or neither does and the final stack,
    public output or sponge differs; the test and part of the first such lane."""
    plan = batch.compile_block(program, round_.shape)
    mine, theirs = batch.GroupRun([plan], round_.run.inputs), round_.run
    b = theirs.plans[0]
    crash_mine, crash_theirs = mine.crash[0] != batch.NO_CRASH, theirs.crash[0] != batch.NO_CRASH
    parts = [crash_mine != crash_theirs]
    for ids, base_ids in ((plan.stack, b.stack), (plan.output, b.output), (plan.sponge or [], b.sponge or [])):
        same = (mine.values(0, ids) == theirs.values(0, base_ids)).all(0) if ids else np.ones(len(parts[0]), bool)
        parts.append(~same & ~crash_mine & ~crash_theirs)
    bad = np.any(parts, axis=0)
    if not bad.any():
        return False, -1, ""
    lane = int(np.argmax(bad))
    part = next(k for k in range(4) if parts[k][lane])
    return True, int(round_.tests[lane]), ("crash", "op stack", "public output", "sponge")[part]

@_SETTINGS
@given(st.lists(pool_blocks(), min_size=1, max_size=40), st.lists(st.booleans(), min_size=len(POOL),
                                                              max_size=len(POOL)))
def test_each_screened_block_is_refuted_by_definition(blocks, use_verifier):
    """For every block of its baseline's static shape, the screen's outcome (refuted, test, part) is the one
    its own run on the round's lanes gives (:func:`_by_definition`); the batch holds several tasks."""
    by_task = distinct_by_task(blocks)
    rounds = {t: screen_round for t, screen_round in
              ((t, first_round(verifier_of(POOL[t], None, 40, 42)) if use_verifier[t] else pool_round(t)) for t in by_task)}
    work = [(rounds[t], programs) for t, programs in by_task.items()]
    for (round_, programs), found in zip(work, screen(work)):
        for j, program in enumerate(programs):
            if _same_static_shape(round_, program):
                assert outcome_of(found, j)[:3] == _by_definition(round_, program), str(program)


@_SETTINGS
@given(st.lists(pool_blocks(), min_size=1, max_size=40), st.lists(st.booleans(), min_size=len(POOL),
                                                              max_size=len(POOL)))
def test_the_screens_uncached_static_pass_is_summarize(blocks, use_verifier):
    """The screen summarises new candidates with the uncached ``static_summary``: every outcome (refuted, test,
    part, reason; static refutations of random rounds included) is the one the cached ``summarize`` gives, and
    the screen leaves that cache alone (a candidate's summary is not kept)."""
    import pytest

    from tasm_env.emission import screen as screen_module
    from tasm_env.plan import summarize

    work = pool_work(blocks, use_verifier)
    before = summarize.cache_info().currsize
    fast = screen(work)
    assert summarize.cache_info().currsize == before
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(screen_module, "static_summary", summarize)
        reference = screen(work)
    for (_, programs), mine, theirs in zip(work, fast, reference):
        for j in range(len(programs)):
            assert outcome_of(mine, j) == outcome_of(theirs, j), str(programs[j])
