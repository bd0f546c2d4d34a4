"""``machine.take`` (the torch batch machine's table lookup by flat index) equals ``torch.take``."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tasm_env.emission.machine import take


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 7), min_size=1, max_size=3), st.lists(st.integers(0, 9), min_size=0, max_size=3),
       st.integers(0, 2**32 - 1), st.sampled_from([torch.int64, torch.int32, torch.bool]))
def test_take_is_torch_take(table_shape, index_shape, seed, dtype):
    """Random tables (1 to 3 dimensions, read flat) and random in-range index arrays of any shape, the
    empty one included."""
    rng = np.random.default_rng(seed)
    table = torch.from_numpy(rng.integers(-50, 50, table_shape)).to(dtype)
    index = torch.from_numpy(rng.integers(0, table.numel(), index_shape, dtype=np.int64))
    got, want = take(table, index), torch.take(table, index)
    assert got.shape == want.shape and got.dtype == want.dtype
    assert torch.equal(got, want)
