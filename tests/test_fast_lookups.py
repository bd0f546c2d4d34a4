"""The beam's speed paths equal the paths they replace, on Hypothesis-drawn inputs: ``slot_nodes_of`` looking
slots up by value against its lane-by-lane comparison; value-state progress read off the value arrays against
the one from :class:`ValueFacts` rows; the merge keys of some rows against those of every row; the value
readout with its node keys and values (and its slot table and mask) kept against computing them;
``select_cache_rows`` against advanced indexing; ``state_features`` against ``unpack(pack_state(...))``."""

import numpy as np
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from agents.beam import progress
from agents.policy import (Memory, PolicyConfig, TasmPolicy, pack_state, select_cache_rows, state_features,
                          unpack)
from tasm_env.emission.probe_facts import slot_nodes_of
from tasm_env.envs.gfn import TasmGFNEnv
from test_beam_paths import TASK, one_row_progress, small_env

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


def _walks(env: TasmGFNEnv, picks) -> list:
    """Programs of random walks under the masks, one a list of picks."""
    machine, programs = env.machine, []
    for row in picks:
        state = machine.initial([0])
        for p in row:
            legal = torch.nonzero(machine.forward_masks(state, env.masking)[0, 1:])[:, 0] + 1
            if not len(legal):
                break
            state = machine.step(state, legal[p % len(legal)][None])
        programs.extend(machine.decode(state))
    return programs


WALKS = st.lists(st.lists(st.integers(0, 10 ** 6), max_size=8), min_size=1, max_size=10)


@settings(max_examples=40, deadline=None)
@given(picks=WALKS)
def test_progress_from_the_value_arrays_equals_the_one_row_formula(picks):
    """progress of drawn legal rows read off the machine's value arrays equals, double for double, the one-row
    formula on the rows' ValueFacts."""
    env = small_env()
    rows = env.machine.encode(_walks(env, picks), 0)
    expected = one_row_progress(env, TASK, rows)
    assert progress(env, TASK)(rows, env.machine.value_arrays(rows)).tobytes() == expected.tobytes()


@settings(max_examples=40, deadline=None)
@given(picks=WALKS, order=st.randoms(use_true_random=False))
def test_the_merge_keys_of_some_rows_are_those_of_every_row(picks, order):
    """stored_value_keys for drawn rows in a drawn order (repeats allowed) are the keys of the whole state's
    rows at those positions (the beam asks only for the rows it examines)."""
    env = small_env()
    rows = env.machine.encode(_walks(env, picks), 0)
    every = env.machine.stored_value_keys(rows)
    some = [order.randrange(len(every)) for _ in range(order.randrange(2 * len(every) + 1))]
    fresh = env.machine.encode(_walks(env, picks), 0)  # the keys asked for first, on a state of their own
    assert env.machine.stored_value_keys(fresh, some) == [every[b] for b in some]
    # not vacuous: a draw whose every key is None (every walk used the sponge) does not count, and Hypothesis
    # fails the test if too few draws count
    assume(any(key is not None for key in every))


SMALL = PolicyConfig(d_model=16, heads=2, gnn_layers=2, decoder_layers=2, d_ff=32, edge_dim=4)


@settings(max_examples=20, deadline=None)
@given(picks=WALKS, seed=st.integers(0, 1000))
def test_the_value_readout_with_kept_node_projections_is_the_same_tensor(picks, seed):
    """The value readout over a memory that keeps its node keys and values (computed once, read again) gives the
    same tensor, bit for bit, as over a plain memory computing them every call."""
    env = small_env()
    torch.manual_seed(seed)
    net = TasmPolicy(env, SMALL).module
    rows = env.machine.encode(_walks(env, picks), 0)
    features = unpack(pack_state(env, rows), env.max_len)
    with torch.no_grad():
        plain = net.memory(torch.zeros(len(rows), dtype=torch.long))[0]
        kept = Memory(plain.nodes, plain.mask, plain.pooled, derived={})
        h = torch.randn(len(rows), 1, 16)
        want = net.values(h, features, plain)
        assert torch.equal(net.values(h, features, kept), want)
        assert len(kept.derived) == 4 and torch.equal(net.values(h, features, kept), want)  # read back


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.integers(0, 4), min_size=1, max_size=12), length=st.integers(1, 6))
def test_select_cache_rows_is_advanced_indexing(rows, length):
    """The caches' rows picked by index_select are those advanced indexing picks, repeats and order included."""
    caches = [{"k": torch.randn(5, 2, length, 3), "v": torch.randn(5, 2, length, 3)} for _ in range(2)]
    index = torch.tensor(rows)
    for got, cache in zip(select_cache_rows(caches, index), caches):
        assert got.keys() == cache.keys() and all(torch.equal(got[name], cache[name][index]) for name in cache)


@settings(max_examples=20, deadline=None)
@given(picks=WALKS)
def test_state_features_are_the_unpacked_packing(picks):
    """The beam's features without the packing are those ``unpack(pack_state(...))`` gives, field by field."""
    env = small_env()
    rows = env.machine.encode(_walks(env, picks), 0)
    want, got = unpack(pack_state(env, rows), env.max_len), state_features(env, rows)
    for name in ("tokens", "length", "numbers", "types", "origins", "slot_nodes", "outputs_ready"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype and torch.equal(a, b), name
