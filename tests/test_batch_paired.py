"""One Tip5 call for a ``permute`` group and the ``merkle`` group of its level (``Schedule.paired``,
``batch_ops.permute_and_merkle``): the same results and crashes as the two evaluators apart, on random words
(u32 limits among the node indices); a schedule of random hashing blocks (sponge, ``hash``, ``merkle_step``, RAM,
crashing ones too) gives the values and crash codes of the plans' own run; and pairs do occur."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_batch import MEMORY, lanes_of
from test_batch_align import run_scheduled

import tasm_env as te
from tasm_env import batch, isa, testing as tst
from tasm_env.batch_ops import EVALUATORS, permute_and_merkle

_SETTINGS = settings(max_examples=60, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
_WORDS = st.one_of(st.sampled_from([0, 1, 2, (1 << 32) - 1, 1 << 32, te.P - 1]), st.integers(0, te.P - 1))


def _operands(data, count: int, shape: tuple[int, ...]) -> list[np.ndarray]:
    size = int(np.prod(shape))
    return [np.array(data.draw(st.lists(_WORDS, min_size=size, max_size=size)), dtype=np.uint64).reshape(shape)
            for _ in range(count)]


@_SETTINGS
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4), st.data())
def test_one_call_gives_what_the_two_evaluators_give(m_permute, m_merkle, lanes, data):
    """Results and crash masks of the paired call equal the ``permute`` and ``merkle`` evaluators' apart."""
    permute_x = _operands(data, 16, (m_permute, lanes))
    merkle_x = _operands(data, 11, (m_merkle, lanes))
    pair = permute_and_merkle(permute_x, merkle_x)
    for (results, crashes), (name, x) in zip(pair, (("permute", permute_x), ("merkle", merkle_x))):
        alone_results, alone_crashes = EVALUATORS[name](x, None)
        assert len(results) == len(alone_results)
        assert all(np.array_equal(a, b) for a, b in zip(results, alone_results)), name
        assert [(k, m.tolist()) for k, m in crashes] == [(k, m.tolist()) for k, m in alone_crashes], name


# every instruction that runs Tip5 or touches the sponge (isa), with test_batch's RAM and I/O ones
_HASHING = tuple(sorted(set(MEMORY) | {spec.name for spec in isa.iter_instructions() if spec.uses_hash_table}))


@_SETTINGS
@given(st.integers(16, 24).flatmap(lambda depth: st.tuples(
    st.lists(tst.runnable_programs(depth, max_length=20, mnemonics=_HASHING), min_size=2, max_size=8),
    lanes_of(depth))), st.booleans())
def test_paired_schedules_give_the_same_values_and_crashes(case, align):
    """Every value row and every lane's crash code of a schedule with paired Tip5 groups (aligned, as the
    screen's, or on the plans' own levels) equals the plans' run one by one."""
    programs, lanes = case
    inputs, plans, together, V, crash = run_scheduled(programs, lanes, merge_reads=True, align=align)
    shared = inputs.shape.shared
    for p, plan in enumerate(plans):
        alone = batch.GroupRun([plan], inputs)
        assert np.array_equal(crash[p], alone.crash[0]), str(programs[p])
        rows = together.offsets[p] + shared + np.arange(plan.n_local)
        assert np.array_equal(V[rows], alone.V[shared:]), str(programs[p])


def test_pairs_occur():
    """Guard for the tests above: a hash and a merkle step of different plans on one aligned level share a call,
    and a merkle step reading a hash of its own plan (a later level) does not."""
    shape = batch.Inputs(np.zeros((1, 24), dtype=np.uint64), secret_digests=np.zeros((1, 2, 5), dtype=np.uint64)).shape
    texts = ["hash", "push 3 swap 6 merkle_step", "hash push 3 swap 6 merkle_step"]
    plans = [batch.compile_block(te.Program.parse(text), shape) for text in texts]
    offsets = np.concatenate(([0], np.cumsum([plan.n_local for plan in plans])[:-1]))
    schedule = batch.Schedule.build(plans, shape.shared, offsets, align=True)
    kinds = [batch.OPERATIONS[g[0]] for g in schedule.groups]
    assert len(schedule.paired) == 1
    i = next(iter(schedule.paired))
    assert kinds[i:i + 2] == ["permute", "merkle"] and kinds.count("merkle") == 2
    assert sorted(schedule.groups[i + 1][4].tolist()) == [1]
