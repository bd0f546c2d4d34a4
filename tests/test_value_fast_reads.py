"""The value-stack fast path's shortcuts equal their plain paths: first-visit templates decoded per task in one call
(:meth:`~tasm_env.emission.value_templates.Templates.ids`) equal those decoded token by token, and the facts of a
step's whole fresh chunk, read without a copy, equal the same rows' facts read in another order (copied)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tasm_env as te
from tasm_env import isa
from tasm_env.emission.spec import TaskSpec
from tasm_env.emission.value_stacks import ValueStacks
from tasm_env.emission.value_templates import Templates
from tasm_env.emission.values import ValueModel
from tasm_env.emission.vocab import Vocabulary

VOCAB = Vocabulary.default()
SUITE = te.load_suite("tasm-basic-v1")
# from the ISA's records: instructions with effects beside the stack (RAM, the public and secret input and the
# public output, the sponge), ones that crash on some values, and ones that only shrink the stack (pop)
EFFECTS = {spec.name for spec in isa.INSTRUCTIONS if spec.ram_rows or spec.ram_rows_per_arg or spec.sponge
           or spec.stream in ("public_input", "secret_input", "public_output")}
CRASHING = {spec.name for spec in isa.INSTRUCTIONS if spec.crashes}
SHRINKING = {spec.name for spec in isa.INSTRUCTIONS if spec.pops_per_arg and not spec.pushes_per_arg
             and spec.stream is None}
# tasks of every tier, and ones whose baselines use RAM, I/O and the sponge (tokens bound differently per task)
TASKS = [t for t in SUITE.train if t.tier == "easy"][:3] + [t for t in SUITE.train if t.tier != "easy"][:3] + \
    [t for t in list(SUITE.train) + list(SUITE.test)
     if any(i.name in EFFECTS for i in t.baseline.instructions)][:6]
SPECS = [TaskSpec.from_task(t, VOCAB) for t in TASKS]
MODEL = ValueModel.of(TASKS, SPECS)
MNEMONIC = VOCAB.mnemonic


def _raises(task: int, token: int) -> bool:
    try:
        MODEL.decoders[task]([token])
    except te.TasmError:
        return True
    return False


# tokens drawn often: ones some task cannot decode (the one call raises), and ones that crash, write RAM or do I/O
ODD = sorted({token for task in range(len(TASKS)) for token in range(1, len(VOCAB)) if _raises(task, token)})
RICH = [i for i in range(1, len(VOCAB)) if MNEMONIC[i] in EFFECTS | CRASHING | SHRINKING]
TOKEN = st.one_of(st.integers(1, len(VOCAB) - 1), st.sampled_from(ODD), st.sampled_from(RICH))
FIELDS = ("change", "keep", "tail", "constants", "ops", "size", "writes", "sponge", "public", "secret", "output")


def fields(t) -> tuple | None:
    return None if t is None else tuple(getattr(t, name) for name in FIELDS)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.integers(0, len(TASKS) - 1), TOKEN), min_size=1, max_size=200), st.integers(1, 4))
def test_templates_decoded_per_task_equal_token_by_token(pairs, parts):
    """Any tokens (unbound slots and reserved ids too, which make the one call raise), in a few batches."""
    batched, alone = Templates(MODEL.decoders), Templates(MODEL.decoders)
    for part in np.array_split(np.arange(len(pairs)), parts):
        tasks = np.array([pairs[i][0] for i in part], dtype=np.int64)
        tokens = np.array([pairs[i][1] for i in part], dtype=np.int64)
        ids = batched.ids(tasks, tokens)
        for task, token, i in zip(tasks.tolist(), tokens.tolist(), ids.tolist()):
            mine, theirs = batched.template(task, token), alone.template(task, token)
            assert fields(mine) == fields(theirs), (task, token)
            assert i == (-1 if mine is None else mine.index), (task, token)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.integers(0, len(TASKS) - 1), st.lists(TOKEN, min_size=1, max_size=8)), min_size=1,
                max_size=40))
def test_a_fresh_chunk_read_in_place_equals_a_copied_read(rows):
    """Prefixes of one length, all new: their facts come from the chunk their step made, in order (read in
    place); on a second store, stepped in the same order, their facts asked in reverse order (the rows copied out
    of the chunk): equal facts."""
    length = min(len(tokens) for _, tokens in rows)  # every row cut to the shortest: one step makes them all
    keys = []
    for task, tokens in rows:
        try:
            SPECS[task].bound.decode(tokens[:length])
        except te.TasmError:
            continue
        keys.append((task, tuple(tokens[:length])))
    keys = list(dict.fromkeys(keys))
    if not keys:
        return
    in_place, copied = ValueStacks(MODEL), ValueStacks(MODEL)
    covered, facts = in_place.facts(keys)
    copied.stacks(keys)  # the chunk made in the keys' order: read back reversed, its rows are copied out
    back, back_facts = copied.facts(keys[::-1])
    assert np.array_equal(covered, back[::-1])
    if facts is None:
        assert back_facts is None
        return
    for name in ("slot_nodes", "outputs_ready", "lost", "eos_ok", "pop_loses"):
        assert np.array_equal(getattr(facts, name), getattr(back_facts, name)[::-1]), name
