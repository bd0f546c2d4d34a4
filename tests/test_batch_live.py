"""Live operations (:mod:`tasm_env.batch_live`): a schedule of only the operations that can crash or reach an
observed value gives exactly the crashes and observed values of the whole plans, on random blocks that crash,
hash, use the sponge, RAM and the extension field; no evaluator of a kind outside CRASHING reports a crash; and
the screen's verdicts do not change."""


import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_batch import ARITHMETIC, MEMORY, lanes_of
from test_batch_align import inputs_of, live_from, starting_arrays
from test_screen_merged import POOL, outcome_of, pool_blocks, pool_work

import tasm_env as te
from tasm_env import batch, isa, testing as tst
from tasm_env.batch_live import CRASHING
from tasm_env.batch_ops import BY_CODE
from tasm_env.emission.screen import screen

_SETTINGS = settings(max_examples=60, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
_MNEMONICS = tuple(sorted(set(ARITHMETIC) | set(MEMORY)))


def _observed_rows(plan, p, shared, offsets, which):
    ids = [i for part, ids in zip(which, (plan.stack, plan.output, plan.sponge or [])) if part for i in ids]
    return ids, [i if i < shared else i + offsets[p] for i in ids]


@_SETTINGS
@given(st.integers(16, 32).flatmap(lambda depth: st.tuples(st.lists(
    tst.runnable_programs(depth, max_length=24, mnemonics=_MNEMONICS), min_size=1, max_size=6), lanes_of(depth))),
    st.tuples(st.booleans(), st.booleans(), st.booleans()), st.booleans(), st.booleans())
def test_live_schedule_gives_the_same_crashes_and_observed_values(case, which, merge_reads, align):
    """Every lane's crash code, and the value of every observed id (any mix of final stack, output and sponge),
    of a schedule of the live operations equal the whole run's."""
    programs, lanes = case
    inputs = inputs_of(lanes)
    plans = [batch.compile_block(program, inputs.shape) for program in programs]
    reference = batch.GroupRun(plans, inputs)
    shared = inputs.shape.shared
    observed = [_observed_rows(plan, p, shared, reference.offsets, which)[0] for p, plan in enumerate(plans)]
    V, crash = starting_arrays(plans, reference, inputs)
    schedule = batch.Schedule.build(plans, shared, reference.offsets, merge_reads=merge_reads, align=align,
                                    observed=observed)
    batch.evaluate_schedule(schedule, V, crash, inputs)
    assert np.array_equal(crash, reference.crash), programs
    for p, plan in enumerate(plans):
        rows = _observed_rows(plan, p, shared, reference.offsets, which)[1]
        assert np.array_equal(V[rows], reference.V[rows]), programs[p]


def test_dead_operations_are_dropped():
    """Guard for the test above: a popped hash and a popped product are not scheduled, a popped `invert`
    (it can crash) and the product it reads are."""
    shape = batch.Inputs(np.zeros((1, 30), dtype=np.uint64)).shape
    plans = [batch.compile_block(te.Program.parse(text), shape)
             for text in ("hash pop 5 dup 0 mul pop 1", "dup 0 mul invert pop 1")]
    offsets = np.concatenate(([0], np.cumsum([plan.n_local for plan in plans])[:-1]))
    observed = [plan.stack for plan in plans]
    kinds = [sorted(batch.OPERATIONS[g[0]] for g in batch.Schedule.build(plans, shape.shared, offsets, observed=o)
                    .groups for _ in g[2]) for o in (observed, None)]  # one name per operation
    assert kinds[0] == ["invert", "mul"] and kinds[1] == ["invert", "mul", "mul", "permute"]


def _arities() -> dict[int, set[int]]:
    """Per operation kind, the numbers of inputs its operations have in plans of every straight-line
    instruction (a RAM read after a write too; ``u32_check``, made only by a crash, reads one)."""
    shape = batch.Shape(40, 8, 8, 2)
    found = {batch.OPERATIONS.index("u32_check"): {1}}
    for name in sorted(isa.STRAIGHT_LINE):
        spec = isa.BY_NAME[name]
        arg = "" if spec.arg is isa.Arg.NONE else " 3" if spec.arg is isa.Arg.COUNT else " 1"
        for text in (f"sponge_init {name}{arg}", f"write_mem 2 read_mem 1 {name}{arg}"):
            plan = batch.compile_block(te.Program.parse(text), shape)
            for kind, n in zip(plan.kind, plan.n_in):
                found.setdefault(kind, set()).add(n)
    return found


_ARITIES = _arities()


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 8), st.data())
def test_no_evaluator_outside_crashing_reports_a_crash(lanes, data):
    """The evaluator of every kind not in CRASHING, at every arity, returns no crash masks on any values (zeros,
    ones, u32 limits, p - 1 and random words among them); one of a kind in CRASHING returns some."""
    special = st.sampled_from([0, 1, 2, (1 << 32) - 1, 1 << 32, te.P - 1])
    words = st.one_of(special, st.integers(0, te.P - 1))
    ctx = batch.Inputs(np.zeros((lanes, 16), dtype=np.uint64), ram_seed=7)
    for code, arities in sorted(_ARITIES.items()):
        for arity in sorted(arities):
            x = [np.array(data.draw(st.lists(words, min_size=lanes, max_size=lanes)), dtype=np.uint64)
                 for _ in range(arity)]
            _, crashes = BY_CODE[code](x, ctx)
            assert bool(crashes) == (code in CRASHING), batch.OPERATIONS[code]


def test_every_kind_is_checked():
    """Guard for the test above: it calls the evaluator of every operation kind."""
    assert set(_ARITIES) == set(range(len(batch.OPERATIONS)))



@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(pool_blocks(), min_size=1, max_size=40), st.lists(st.booleans(), min_size=len(POOL),
                                                              max_size=len(POOL)), st.booleans())
def test_the_screen_refutes_the_same_with_and_without_dead_operations(blocks, use_verifier, settle):
    """The screen's outcome for every block (refuted or not, test, part, reason) is the same with only the live
    operations scheduled (the default from LIVE_FROM plans, here always) and with every operation."""
    work = pool_work(blocks, use_verifier)
    with live_from(0):
        live = screen(work, settle)
    with live_from(1 << 60):
        whole = screen(work, settle)
    for (_, programs), a, b in zip(work, live, whole):
        for j in range(len(programs)):
            assert outcome_of(a, j) == outcome_of(b, j), str(programs[j])
