"""A codebook extended by the templates of later first visits (:meth:`~tasm_env.emission.value_templates.Codebook.
extended`) equals the codebook of all of them built at once, field by field (shapes, dtypes and padding too)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_value_fast_reads import MODEL, TASKS, TOKEN

from tasm_env.emission.value_templates import Codebook, Templates

FIELDS = [name for name in vars(Codebook([])) if name != "count"]


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.integers(0, len(TASKS) - 1), TOKEN), min_size=1, max_size=120), st.integers(1, 6))
def test_an_extended_codebook_equals_one_built_at_once(pairs, parts):
    templates = Templates(MODEL.decoders)
    book = None
    for part in np.array_split(np.arange(len(pairs)), parts):
        templates.ids(np.array([pairs[i][0] for i in part], dtype=np.int64),
                      np.array([pairs[i][1] for i in part], dtype=np.int64))
        book = templates.codebook()  # extended by this part's new templates
    whole = Codebook(templates.every)
    assert book.count == whole.count
    for name in FIELDS:
        a, b = getattr(book, name), getattr(whole, name)
        assert a.dtype == b.dtype and a.shape == b.shape and (a == b).all(), name
