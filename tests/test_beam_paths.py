"""The beam's fast paths equal the slow ones they replace: each distinct prefix of a beam's rows once (a prefix
tree), the rows' tokens spelt as encoding spells them, value-state progress of many rows at once."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tasm_env as te
from agents.beam import canonical_tokens, progress
from agents.complete import complete_programs, distinct_prefixes
from tasm_env.envs.gfn import TasmGFNEnv

torch.set_num_threads(1)

TASK = te.Task.from_tasm("push 3 mul dup 0 swap 1 pop 1 push 5 add", ("field", "field"), name="wasteful-then-add")
BLOCKS = ["push 3 mul dup 0 swap 1 pop 1", "push 3 mul dup 0", "push 3 mul push 5 add", "dup 0 add", "push 3 mul",
          "push 3 mul dup 0 swap 1 pop 1 push 5 add", "swap 1 push 3", "push 3 mul dup 0 pop 1 push 5"]


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(st.integers(0, 3), max_size=6), max_size=8))
def test_distinct_prefixes_are_every_rows_prefixes_once_at_their_first_occurrence(rows):
    """The prefix tree's walk yields what deduplicating every (row, prefix) pair in row order yields."""
    every = {}
    for b, row in enumerate(rows):
        for t in range(len(row) + 1):
            every.setdefault(tuple(row[:t]), (b, t))
    assert [(b, tokens, t) for b, tokens, t in distinct_prefixes(rows)] == \
        [(b, tokens, t) for tokens, (b, t) in every.items()]


def small_env() -> TasmGFNEnv:
    """A dataflow env of TASK with the value state."""
    return TasmGFNEnv(tasks=[TASK], suite=None, masking="dataflow", max_len=12, value_state=True)


def test_completions_from_the_rows_tokens_equal_those_from_their_programs():
    """complete_programs handed the blocks' tokens proposes what it proposes encoding them itself, and some."""
    env = small_env()
    drawn = [te.Program.parse(text) for text in BLOCKS]
    tokens = [env.specs[0].bound.encode(p) for p in drawn]
    plain = complete_programs(env, 0, drawn, 64)
    assert plain and complete_programs(small_env(), 0, drawn, 64, encoded=tokens) == plain


@settings(max_examples=40, deadline=None)
@given(picks=st.lists(st.integers(0, 10 ** 6), min_size=1, max_size=12))
def test_canonical_tokens_spell_a_row_as_encoding_its_program_does(picks):
    """A row of emittable tokens mapped through canonical_tokens is bound.encode of the row's program."""
    env = small_env()
    bound, spelling = env.specs[0].bound, canonical_tokens(env, 0)
    emittable = []
    for i in range(1, len(env.machine.vocab)):
        try:
            bound.decode([i])
            emittable.append(i)
        except te.TasmError:
            pass
    for row in (emittable, [emittable[p % len(emittable)] for p in picks]):  # every id, then a drawn row
        assert [spelling[i] for i in row] == bound.encode(bound.decode(row))


def one_row_progress(env: TasmGFNEnv, task: te.Task, rows) -> np.ndarray:
    """The per-row formula ``progress`` vectorises, read off each row's ValueFacts (the reference's record):
    twice the share of outputs ready, plus reach and the share of nodes present, minus depth distance and
    cycles; 0 for a row without facts."""
    facts = env.machine.value_facts(rows)
    n, final, base = len(task.tir.nodes), max(len(task.tir.outputs), 1), task.baseline_cycles
    depth, lengths = env.machine.live_depth(rows).tolist(), rows.length.tolist()
    expected = np.zeros(len(facts))
    for i, f in enumerate(facts):
        if f is not None:
            present = set(f.slot_nodes[f.slot_nodes >= 0].tolist())
            reach = (max(present) + 1) / n if present else 0.0
            expected[i] = 2 * f.ready_share + 0.5 * reach + 0.25 * len(present) / n \
                - abs(depth[i] - final) / (2 * final) - lengths[i] / base
    return expected


def test_progress_of_many_rows_is_the_one_row_formula_bit_for_bit():
    """progress over a batch, off the machine's value arrays, equals, double for double, the per-row formula it
    vectorises on the rows' ValueFacts."""
    env = small_env()
    programs = [te.Program(te.Program.parse(text)[:t]) for text in BLOCKS for t in range(len(te.Program.parse(text)) + 1)]
    rows = env.machine.encode(programs, 0)
    expected = one_row_progress(env, TASK, rows)
    got = progress(env, TASK)(rows, env.machine.value_arrays(rows))
    assert len(set(expected.tolist())) > 5  # the rows differ
    assert got.tobytes() == expected.tobytes()
