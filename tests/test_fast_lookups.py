"""The beam's speed paths equal the paths they replace: ``slot_nodes_of`` looking slots up by value against its
lane-by-lane comparison, and value-state progress read off the value arrays against the one from
:class:`ValueFacts` rows, on Hypothesis-drawn inputs."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tasm_env as te
from agents.beam import progress
from tasm_env.emission.probe_facts import slot_nodes_of
from tasm_env.envs.gfn import TasmGFNEnv

torch.set_num_threads(1)


@st.composite
def slot_inputs(draw):
    """Stacks and padded node tables of 1-3 tasks, values from a small alphabet (so that slots and nodes often
    agree, and nodes repeat one another), with crashed lanes and nodes known on some lanes only now and then."""
    n, D, K, T, R = (draw(st.integers(lo, hi)) for lo, hi in ((1, 12), (1, 20), (1, 4), (1, 3), (0, 10)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    alphabet = rng.integers(0, 2**64, size=3, dtype=np.uint64)
    S = alphabet[rng.integers(0, 3, size=(n, D, K))]
    depths = rng.integers(0, D + 1, size=n)
    live = depths - rng.integers(0, 3, size=n)
    crashed = rng.random((n, K)) < draw(st.sampled_from([0.0, 0.0, 0.1, 0.5]))
    tid = rng.integers(0, T, size=n)
    node_values = alphabet[rng.integers(0, 3, size=(T, R, K))]
    known = rng.random((T, R)) < 0.8  # each node known everywhere or nowhere, ...
    node_known = np.repeat(known[:, :, None], K, 2)
    if draw(st.booleans()):  # ... or on some lanes only
        node_known &= rng.random((T, R, K)) < 0.7
    node_of = rng.permutation(max(T * R, 1))[:T * R].reshape(T, R).astype(np.int64)
    return S, depths, live, crashed, tid, node_values, node_known, node_of


@settings(max_examples=400, deadline=None)
@given(inputs=slot_inputs())
def test_slot_nodes_by_value_equal_the_lane_by_lane_comparison(inputs):
    """The lookup by value finds, for every live slot, the node the lane-by-lane comparison finds (the first that
    matches, -1 for none), crashes, partly known nodes and repeated nodes included."""
    assert np.array_equal(slot_nodes_of(*inputs), slot_nodes_of(*inputs, by_value=False))


TASK = te.Task.from_tasm("push 3 mul dup 0 swap 1 pop 1 push 5 add", ("field", "field"), name="wasteful-then-add")


@settings(max_examples=40, deadline=None)
@given(picks=st.lists(st.lists(st.integers(0, 10 ** 6), max_size=8), min_size=1, max_size=10))
def test_progress_from_the_value_arrays_equals_the_one_from_value_facts(picks):
    """progress of drawn legal rows read off the machine's value arrays equals, double for double, progress
    read off the rows' ValueFacts."""
    env = TasmGFNEnv(tasks=[TASK], suite=None, masking="dataflow", max_len=12, value_state=True)
    machine, programs = env.machine, []
    for row in picks:  # a random walk under the masks
        state = machine.initial([0])
        for p in row:
            legal = torch.nonzero(machine.forward_masks(state, env.masking)[0, 1:])[:, 0] + 1
            if not len(legal):
                break
            state = machine.step(state, legal[p % len(legal)][None])
        programs.extend(machine.decode(state))
    rows = machine.encode(programs, 0)
    ahead = progress(env, TASK)
    from_facts = ahead(rows, machine.value_facts(rows))
    assert ahead(rows, machine.value_arrays(rows)).tobytes() == from_facts.tobytes()
