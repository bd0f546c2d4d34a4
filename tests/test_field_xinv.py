"""The extension-field inverse: the vectorised one (its cofactor products stacked into one multiplication per
round) equals the scalar one element by element, and the scalar one is the inverse (a * a^-1 = 1)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tasm_env import field as F
from tasm_env.field import P

words = st.sampled_from([0, 1, 2, P - 1, P - 2, (1 << 32) - 1, 1 << 32]) | st.integers(0, P - 1)
xfes = st.tuples(words, words, words)


@settings(max_examples=200, deadline=None)
@given(a=xfes)
def test_the_scalar_inverse_is_the_inverse(a):
    if not any(a):
        return
    assert F.xmul(a, F.xinv(a)) == (1, 0, 0)


@settings(max_examples=100, deadline=None)
@given(elements=st.lists(xfes | st.just((0, 0, 0)), min_size=1, max_size=40), lanes=st.sampled_from([1, 3, 8]))
def test_the_vectorised_inverse_equals_the_scalar_one(elements, lanes):
    # (elements, lanes) arrays: up to 320 words a coefficient, either side of vmul's small-array path
    cols = [np.array([[e[k]] * lanes for e in elements], dtype=np.uint64) for k in range(3)]
    got = F.vxinv(tuple(cols))
    for i, e in enumerate(elements):
        want = F.xinv(e) if any(e) else (0, 0, 0)
        for lane in range(lanes):
            assert tuple(int(c[i, lane]) for c in got) == want


def test_a_broadcast_coefficient():
    """One coefficient a scalar array, the others (2, 4): the result has the broadcast shape."""
    got = F.vxinv((np.uint64(5), np.full((2, 4), 7, dtype=np.uint64), np.zeros((2, 4), dtype=np.uint64)))
    assert all(c.shape == (2, 4) for c in got)
    assert tuple(int(c[1, 3]) for c in got) == F.xinv((5, 7, 0))
