"""Aligned levels (:mod:`tasm_env.batch_align`): a schedule whose costly operations wait for shared levels gives
exactly the values and crashes of the plans' own levels, on random blocks that crash, hash, use the sponge,
RAM and the extension field; its levels respect every dependency; and the screen's verdicts do not change."""

import contextlib

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_batch import ARITHMETIC, MEMORY, lanes_of
from test_screen_merged import POOL, outcome_of, pool_blocks, pool_work

import tasm_env as te
from tasm_env import batch, testing as tst
from tasm_env.batch_align import ALIGNED, STRIDES, aligned_levels
from tasm_env.emission import screen as screen_module
from tasm_env.emission.screen import screen
from tasm_env.plan import OUTPUTS

_SETTINGS = settings(max_examples=60, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
_MNEMONICS = tuple(sorted(set(ARITHMETIC) | set(MEMORY)))


def _groups(depth: int):
    """1 to 6 runnable blocks (crashing ones too) at one stack depth, and lanes of inputs for them."""
    return st.tuples(st.lists(tst.runnable_programs(depth, max_length=20, mnemonics=_MNEMONICS), min_size=1,
                              max_size=6), lanes_of(depth))


def inputs_of(lanes) -> batch.Inputs:
    stacks, public, secret, digests, seeds = lanes
    n = len(stacks)
    return batch.Inputs(np.array(stacks, dtype=np.uint64), np.array(public, dtype=np.uint64).reshape(n, -1),
                        np.array(secret, dtype=np.uint64).reshape(n, -1),
                        np.array(digests, dtype=np.uint64).reshape(n, -1, 5), ram_seed=np.array(seeds, np.uint64))


def starting_arrays(plans, run: batch.GroupRun, inputs: batch.Inputs) -> tuple[np.ndarray, np.ndarray]:
    """The value rows (the run's sources and every plan's constants, the rest zero) and the static crash codes
    that a schedule of ``plans`` starts from; ``run`` is their reference :class:`batch.GroupRun`."""
    shared = inputs.shape.shared
    V = np.zeros_like(run.V)
    V[:shared] = run.V[:shared]  # the sources (no operation writes them)
    for p, plan in enumerate(plans):
        if plan.const_ids:
            V[np.array(plan.const_ids) + run.offsets[p]] = np.array(plan.const_values, np.uint64)[:, None]
    crash = np.repeat(np.array([[plan.static_crash] for plan in plans], dtype=np.int64), inputs.lanes, axis=1)
    return V, crash


def run_scheduled(programs, lanes, **build):
    """Compile ``programs`` for ``lanes``, run them once as a :class:`batch.GroupRun` (the reference) and once
    through a schedule built with ``build`` (``Schedule.build``'s keywords); (inputs, plans, reference, V, crash)
    where V and crash are the schedule's."""
    inputs = inputs_of(lanes)
    plans = [batch.compile_block(program, inputs.shape) for program in programs]
    reference = batch.GroupRun(plans, inputs)
    V, crash = starting_arrays(plans, reference, inputs)
    schedule = batch.Schedule.build(plans, inputs.shape.shared, reference.offsets, **build)
    batch.evaluate_schedule(schedule, V, crash, inputs)
    return inputs, plans, reference, V, crash


@contextlib.contextmanager
def live_from(n: int):
    """The screen's schedules of live operations only from ``n`` plans (0: always; a huge n: never)."""
    before = screen_module.LIVE_FROM
    screen_module.LIVE_FROM = n
    try:
        yield
    finally:
        screen_module.LIVE_FROM = before


def _flat(plans, offsets):
    """The flattened (level, kind, start, n_in, ids, out) of plans as :meth:`batch.Schedule.build` has them
    (one set of sources: ids below ``shared`` stay)."""
    shared = plans[0].shape.shared
    level = np.concatenate([plan.level for plan in plans]).astype(np.int64)
    kind = np.concatenate([plan.kind for plan in plans]).astype(np.int64)
    n_in = np.concatenate([plan.n_in for plan in plans]).astype(np.int64)
    ids = np.concatenate([[i if i < shared else i + offsets[p] for i in plan.inputs]
                          for p, plan in enumerate(plans)]).astype(np.int64)
    out = np.concatenate([np.array(plan.out, dtype=np.int64) + offsets[p] for p, plan in enumerate(plans)])
    start = np.concatenate(([0], np.cumsum(n_in)[:-1]))
    return level, kind, start, n_in, ids, out


@_SETTINGS
@given(st.integers(16, 32).flatmap(_groups), st.booleans())
def test_aligned_schedule_gives_the_same_values_and_crashes(case, merge_reads):
    """Every value row and every lane's crash code of an aligned schedule equals the unaligned run's."""
    programs, lanes = case
    _, _, reference, V, crash = run_scheduled(programs, lanes, merge_reads=merge_reads, align=True)
    assert np.array_equal(crash, reference.crash), programs
    assert np.array_equal(V, reference.V), programs


@_SETTINGS
@given(st.integers(16, 32).flatmap(lambda depth: st.lists(
    tst.runnable_programs(depth, max_length=24, mnemonics=_MNEMONICS), min_size=1, max_size=6)))
def test_aligned_levels_respect_every_dependency(programs):
    """An operation's aligned level is above the level of every operation whose result it reads, and a costly
    operation's is a multiple of its kind's stride."""
    shape = batch.Inputs(np.zeros((1, 32), dtype=np.uint64)).shape
    plans = [batch.compile_block(program, shape) for program in programs]
    offsets = np.concatenate(([0], np.cumsum([plan.n_local for plan in plans])[:-1])) + shape.shared
    level, kind, start, n_in, ids, out = _flat(plans, offsets - shape.shared)
    new = aligned_levels(level, kind, start, n_in, ids, out)
    writer = {}
    for j, (k, o) in enumerate(zip(kind.tolist(), out.tolist())):
        for row in range(o, o + OUTPUTS[batch.OPERATIONS[k]]):
            writer[row] = j
    for j in range(len(level)):
        for row in ids[start[j]:start[j] + n_in[j]].tolist():
            if row in writer:
                assert new[writer[row]] < new[j]
        if kind[j] in ALIGNED:
            assert new[j] % STRIDES[batch.OPERATIONS[kind[j]]] == 0
    assert (new >= level).all()


def test_alignment_shares_permutation_groups():
    """Guard for the tests above: permutations on different levels of different plans share a group once
    aligned (the unaligned schedule has one group per level)."""
    shape = batch.Inputs(np.zeros((1, 24), dtype=np.uint64)).shape
    texts = ["dup 0 add " * k + "hash" for k in range(1, 4)]  # permutations on levels 2, 3, 4
    plans = [batch.compile_block(te.Program.parse(text), shape) for text in texts]
    offsets = np.concatenate(([0], np.cumsum([plan.n_local for plan in plans])[:-1]))
    count = [sum(g[0] == batch.OPERATIONS.index("permute")
                 for g in batch.Schedule.build(plans, shape.shared, offsets, align=a).groups) for a in (False, True)]
    assert count[0] == 3 and count[1] < count[0]


@contextlib.contextmanager
def _unaligned():
    """The screen's schedules built with the plans' own levels (``align`` ignored)."""
    build = batch.Schedule.build
    batch.Schedule.build = lambda plans, *args, align=False, **kwargs: build(plans, *args, **kwargs)
    try:
        yield
    finally:
        batch.Schedule.build = build


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(pool_blocks(), min_size=1, max_size=40), st.lists(st.booleans(), min_size=len(POOL),
                                                              max_size=len(POOL)), st.booleans())
def test_the_screen_refutes_the_same_with_and_without_alignment(blocks, use_verifier, settle):
    """The screen's outcome for every block (refuted or not, test, part, reason) is the same with its schedule
    aligned (the default) and with the plans' own levels."""
    work = pool_work(blocks, use_verifier)
    aligned = screen(work, settle)
    with _unaligned():
        plain = screen(work, settle)
    for (_, programs), a, b in zip(work, aligned, plain):
        for j in range(len(programs)):
            assert outcome_of(a, j) == outcome_of(b, j), str(programs[j])




@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(pool_blocks(), min_size=1, max_size=60), st.lists(st.booleans(), min_size=len(POOL),
                                                              max_size=len(POOL)))
def test_the_screen_as_for_a_big_batch_refutes_as_the_whole_evaluation(blocks, use_verifier):
    """The screen's path for a big batch (the strides, only the live operations, settling, merged reads and one
    RAM context per kind of task, all together) gives every block the outcome of the whole evaluation (the
    plans' own levels, every operation, no settling)."""
    work = pool_work(blocks, use_verifier)
    with live_from(0):
        fast = screen(work)
    with _unaligned(), live_from(1 << 60):
        whole = screen(work, settle=False)
    for (_, programs), a, b in zip(work, fast, whole):
        for j in range(len(programs)):
            assert outcome_of(a, j) == outcome_of(b, j), str(programs[j])
