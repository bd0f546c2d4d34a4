"""The lane pairs' first stack differences carried from parent to child
(:func:`~tasm_env.emission.stack_facts.stepped_differences`) equal those computed from the child's whole stack
(:func:`~tasm_env.emission.stack_facts.first_differences`), and ``pair_losses`` gives the same facts from them as
from the stacks."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasm_env.emission.probe_facts import pair_losses
from tasm_env.emission.stack_facts import first_differences, stepped_differences


def _stack(draw, n: int, D: int, K: int, values: int) -> np.ndarray:
    # few distinct values: lanes alike (and alike up to some height) are common
    return np.array(draw(st.lists(st.integers(0, values - 1), min_size=n * D * K, max_size=n * D * K)),
                    dtype=np.uint64).reshape(n, D, K)


@st.composite
def steps(draw):
    n, K, D = draw(st.integers(1, 6)), draw(st.integers(1, 5)), draw(st.integers(1, 10))
    values = draw(st.integers(1, 3))
    S = _stack(draw, n, D, K, values)
    depth = np.array(draw(st.lists(st.integers(0, D), min_size=n, max_size=n)), dtype=np.int64)
    S[np.arange(D)[None] >= depth[:, None]] = 0
    base = np.array([draw(st.integers(0, int(d))) for d in depth], dtype=np.int64)  # slots kept below
    tail = np.array(draw(st.lists(st.integers(0, 4), min_size=n, max_size=n)), dtype=np.int64)
    return S, depth, base, tail, _stack(draw, n, 4, K, values)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps())
def test_stepped_differences_equal_the_child_stacks_own(step):
    S, depth, base, tail, new = step
    n, D, K = S.shape
    child = np.zeros((n, D + 4, K), np.uint64)
    child[:, :D] = S
    rb, rj = np.nonzero(np.arange(4)[None] < tail[:, None])
    child[rb, base[rb] + rj] = new[rb, rj]
    new_depth = base + tail
    child[np.arange(D + 4)[None] >= new_depth[:, None]] = 0
    got = stepped_differences(first_differences(S, depth), base, rb, rj, new[rb, rj])
    assert (got == first_differences(child, new_depth)).all()


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps(), st.data())
def test_pair_losses_from_differences_equal_those_from_stacks(step, data):
    S, depth, _, _, _ = step
    n, D, K = S.shape
    if data.draw(st.booleans()):  # every lane's stack alike: only the crash bits and the output tell pairs apart
        S = np.repeat(S[:, :, :1], K, axis=2)
    P = data.draw(st.integers(0, 4))
    pair_i = np.array(data.draw(st.lists(st.integers(0, K - 1), min_size=n * P, max_size=n * P)),
                      dtype=np.int64).reshape(n, P)
    pair_j = np.array(data.draw(st.lists(st.integers(0, K - 1), min_size=n * P, max_size=n * P)),
                      dtype=np.int64).reshape(n, P)
    real = np.array(data.draw(st.lists(st.booleans(), min_size=n * P, max_size=n * P)), dtype=bool).reshape(n, P)
    crashed = np.array(data.draw(st.lists(st.booleans(), min_size=n * K, max_size=n * K)), dtype=bool).reshape(n, K)
    crashed &= data.draw(st.booleans())  # often none crashed
    base_crashed = np.zeros((n, K), bool)
    live = depth - data.draw(st.integers(0, 2))
    output = _stack(data.draw, n, 2, K, 2)
    output[: n // 2] = 0  # rows that wrote nothing
    want = _plain_pair_losses(S, depth, live, crashed, base_crashed, pair_i, pair_j, real, output)
    stacks = pair_losses(S, depth, live, crashed, base_crashed, pair_i, pair_j, real, (output,))
    assert (want[0] == stacks[0]).all() and (want[1] == stacks[1]).all()
    diff = np.take_along_axis(first_differences(S, depth), pair_i * K + pair_j, 1)
    got = pair_losses(None, depth, live, crashed, base_crashed, pair_i, pair_j, real, (output,), diff)
    assert (want[0] == got[0]).all() and (want[1] == got[1]).all()


def _plain_pair_losses(S, depth, live, crashed, base_crashed, pair_i, pair_j, real, output):
    """``pair_losses`` by its definition, row by row and pair by pair (no shortcut: every row's output compared)."""
    n, P = pair_i.shape
    lost = (crashed & ~base_crashed).any(-1)
    pop_loses = np.zeros((n, 6), bool)
    for b in range(n):
        for p in range(6):
            h = depth[b] - p - 1
            for q in range(P):
                i, j = pair_i[b, q], pair_j[b, q]
                both = crashed[b, i] and crashed[b, j]
                alike = real[b, q] and crashed[b, i] == crashed[b, j] \
                    and (both or (output[b, :, i] == output[b, :, j]).all()) \
                    and (both or h < 0 or (S[b, :h + 1, i] == S[b, :h + 1, j]).all())
                if alike and p == 0:
                    lost[b] = True
                if alike and p >= 1 and p <= live[b]:
                    pop_loses[b, p] = True
    return lost, pop_loses
