"""The batched executor against the reference VM, on every straight-line program Hypothesis can produce."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tasm_env as te
from tasm_env import batch, testing as tst
from tasm_env.vm import run
from tasm_env.vm import run as run_vm

_SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reference(program, stack, public, secret, digests, ram_seed):
    """What the reference VM does on one lane: ('crash', kind, cycle) or the observable final state."""
    try:
        ex = run(program, stack=stack[16:], floor=stack[:16], public_input=public, secret_input=secret,
                 secret_digests=digests, ram_seed=ram_seed)
    except te.VMError as err:
        return ("crash", err.kind, err.cycle)
    return ("ok", ex.stack, ex.output, ex.ram, ex.public_input_consumed, ex.secret_input_consumed,
            ex.secret_digests_consumed, ex.cycles, None if ex.sponge is None else tuple(ex.sponge.state))


def batched(result: batch.BatchResult, lane: int):
    if result.crashed[lane]:
        return ("crash", result.crash_kind(lane), int(result.crash_cycle[lane]))
    return ("ok", tuple(int(v) for v in result.stack[lane]), tuple(int(v) for v in result.output[lane]),
            result.ram(lane), result.public_input_consumed, result.secret_input_consumed,
            result.secret_digests_consumed, result.cycles,
            None if result.sponge is None else tuple(int(v) for v in result.sponge[lane]))


def lanes_of(depth: int):
    """1 to 4 lanes of inputs with a stack of the given depth."""
    def tokens(k, n):
        return st.lists(st.lists(tst.stack_values(), min_size=k, max_size=k), min_size=n, max_size=n)

    return st.integers(1, 4).flatmap(lambda n: st.tuples(
        st.lists(tst.stacks(depth, depth), min_size=n, max_size=n),
        st.integers(0, 16).flatmap(lambda k: tokens(k, n)),
        st.integers(0, 16).flatmap(lambda k: tokens(k, n)),
        st.integers(0, 3).flatmap(lambda k: st.lists(st.lists(st.tuples(*[tst.field_elements()] * 5), min_size=k,
                                                              max_size=k), min_size=n, max_size=n)),
        st.lists(st.sampled_from([0, 1, 7, 2**40]), min_size=n, max_size=n),
    ))


def cases(mnemonics=tst.STRAIGHT_LINE_MNEMONICS, max_length=24):
    """(program, lanes): programs that keep the stack deep enough to run, and inputs for them."""
    return st.integers(16, 40).flatmap(lambda depth: st.tuples(
        tst.runnable_programs(depth, max_length=max_length, mnemonics=mnemonics), lanes_of(depth)))


def check_agreement(program, lanes):
    stacks, public, secret, digests, seeds = lanes
    result = batch.run_batch(program, np.array(stacks, dtype=np.uint64),
                             np.array(public, dtype=np.uint64).reshape(len(stacks), -1),
                             np.array(secret, dtype=np.uint64).reshape(len(stacks), -1),
                             np.array(digests, dtype=np.uint64).reshape(len(stacks), -1, 5),
                             ram_seed=np.array(seeds, dtype=np.uint64))
    for lane in range(len(stacks)):
        expected = reference(program, stacks[lane], public[lane], secret[lane],
                             [tuple(d) for d in digests[lane]], seeds[lane])
        assert batched(result, lane) == expected, f"lane {lane} of {program!r}"


ARITHMETIC = ("push", "dup", "swap", "pick", "place", "pop", "add", "mul", "eq", "lt", "and", "xor", "split",
               "div_mod", "pow", "log_2_floor", "pop_count", "invert", "addi", "assert", "xx_add", "xx_mul",
               "xb_mul", "x_invert")
MEMORY = ("push", "dup", "swap", "pop", "read_mem", "write_mem", "sponge_init", "sponge_absorb_mem",
           "sponge_absorb", "sponge_squeeze", "xx_dot_step", "xb_dot_step", "merkle_step_mem", "merkle_step",
           "read_io", "write_io", "divine", "hash", "assert_vector", "addi")


@_SETTINGS
@given(tst.straight_line_programs(max_length=12), st.integers(16, 20).flatmap(lanes_of))
def test_batch_agrees_with_vm_on_any_program_even_crashing_ones(program, lanes):
    check_agreement(program, lanes)


@_SETTINGS
@given(cases())
def test_batch_agrees_with_vm_on_runnable_programs(case):
    check_agreement(*case)


@_SETTINGS
@given(cases(ARITHMETIC))
def test_batch_agrees_with_vm_on_arithmetic_blocks(case):
    check_agreement(*case)


@_SETTINGS
@given(cases(MEMORY))
def test_batch_agrees_with_vm_on_memory_io_and_hashing(case):
    check_agreement(*case)


@pytest.mark.slow
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(max_length=40))
def test_batch_agrees_with_vm_many_examples(case):
    check_agreement(*case)


def test_group_runs_many_programs_on_shared_inputs():
    rng = np.random.default_rng(1)
    stacks = rng.integers(0, 1 << 32, size=(50, 18), dtype=np.uint64)
    programs = ["add", "mul", "lt", "dup 1 dup 1 add", "split", "pop 2 push 3"]
    inputs = batch.Inputs(stacks)
    run_ = batch.run_group(programs, inputs)
    for p, program in enumerate(programs):
        alone = batch.run_batch(program, stacks)
        together = batch.result_of(run_, p)
        assert np.array_equal(alone.stack, together.stack)
        assert np.array_equal(alone.crashed, together.crashed)


def test_control_flow_is_refused_with_a_clear_error():
    with pytest.raises(te.BatchError, match="straight-line"):
        batch.run_batch("f: call f", np.zeros((1, 16), dtype=np.uint64))


def test_non_canonical_inputs_are_refused():
    with pytest.raises(te.TasmError, match="canonical"):
        batch.run_batch("add", [[te.P] * 16])


def test_ram_pool_lanes_meet_every_pool_value_and_replay_on_the_vm():
    pool = np.array([0, 1, te.P - 1, 2**32, 7], dtype=np.uint64)
    lanes = len(pool)
    stacks = np.zeros((lanes, 17), dtype=np.uint64)
    stacks[:, -1] = 1000
    inputs = batch.Inputs(stacks, ram_seed=12345, ram_pool=pool, ram_offset=np.arange(lanes))
    seen = inputs.initial_ram(np.full(lanes, 1000, dtype=np.uint64))
    assert sorted(seen.tolist()) == sorted(pool.tolist())
    run = batch.GroupRun([batch.compile_block("read_mem 1 pop 1", inputs.shape)], inputs)
    result = batch.result_of(run, 0)
    for lane in range(lanes):
        cells = {1000: int(seen[lane])}
        ex = run_vm("read_mem 1 pop 1", stack=[1000], ram=cells)
        assert ex.stack[-1] == int(result.stack[lane][-1]) == int(seen[lane])


def test_sponge_state_is_reported():
    result = batch.run_batch("sponge_init push 1 push 2 push 3 push 4 push 5 push 6 push 7 push 8 push 9 push 10 "
                             "sponge_absorb", np.zeros((2, 16), dtype=np.uint64))
    assert result.sponge is not None and result.sponge.shape == (2, 16)
    ex = run_vm("sponge_init push 1 push 2 push 3 push 4 push 5 push 6 push 7 push 8 push 9 push 10 sponge_absorb")
    assert tuple(int(v) for v in result.sponge[0]) == tuple(ex.sponge.state)
    assert batch.run_batch("push 1 pop 1", np.zeros((1, 16), dtype=np.uint64)).sponge is None
