"""The variant search's fast path (agents.variant_memo.DataflowMemo): a remembered verdict equals the verdict of
verifying the candidate, programs that compute the same but differ statically are told apart, and variants()
with the memo equals variants() verifying every candidate."""

import pytest

import tasm_env as te
from agents import variants as av
from agents.variant_memo import DataflowMemo
from agents.variants import variants
from tasm_env.asm import Program
from tasm_env.verify import Verifier

SECONDS = 60.0  # the work limits, not the clock, stop the searches (determinism)


@pytest.fixture(scope="module")
def tasks():
    train = te.load_suite("tasm-basic-v0").split("train")
    return [next(t for t in train if t.tier == "easy"), next(t for t in train if t.tier == "medium")]


def _swaps(program: Program) -> list[Program]:
    """Every program with two adjacent instructions of ``program`` swapped (independent ones compute the same,
    dependent ones mostly do not)."""
    ins = list(program)
    return [Program(ins[:i] + [ins[i + 1], ins[i]] + ins[i + 2:]) for i in range(len(ins) - 1)]


def _checker(verifier: Verifier):
    calls = []

    def check(programs):
        calls.append(len(programs))
        return [v.ok for v in verifier.check(programs)]
    return check, calls


def test_a_remembered_verdict_is_the_verdict_of_verifying_the_candidate(tasks):
    task = tasks[0]
    found = variants(task, max_variants=4, seconds=SECONDS, seed=3)
    pool = [task.baseline] + found
    candidates = pool + [s for p in pool for s in _swaps(p)] + [s for p in pool for s in _swaps(p)][::3]
    direct = [v.ok for v in Verifier(task.baseline, task.inputs, n_tests=40, seed=11).check(candidates)]
    assert any(direct) and not all(direct)
    memo = DataflowMemo(Verifier(task.baseline, task.inputs, n_tests=40, seed=11).shape)
    check, calls = _checker(Verifier(task.baseline, task.inputs, n_tests=40, seed=11))
    remembered = []
    for k in range(0, len(candidates), 16):  # batches: the memo carries verdicts from one to the next
        remembered += memo.check(candidates[k:k + 16], lambda p: p, check)
    assert remembered == direct
    assert memo.hits > 0 and memo.asked == sum(calls) < len(candidates)
    hit_verdicts = set()  # both verdicts come from the memo somewhere (not only passes, not only failures)
    keys = memo.keys(candidates)
    seen = set()
    for k, ok in zip(keys, direct):
        if k in seen:
            hit_verdicts.add(ok)
        seen.add(k)
    assert hit_verdicts == {True, False}


def test_programs_that_compute_the_same_but_differ_statically_are_told_apart(tasks):
    task = tasks[0]
    reads = Program.parse("read_io 1\npop 1\n" + str(task.baseline))  # same dataflow, consumes an input
    verifier = Verifier(task.baseline, task.inputs, n_tests=40, seed=5)
    memo = DataflowMemo(verifier.shape)
    assert memo.keys([task.baseline])[0][1] == memo.keys([reads])[0][1]  # the dataflow alone cannot tell
    check, _ = _checker(verifier)
    assert memo.check([task.baseline, reads], lambda p: p, check) == [True, False]
    assert memo.check([reads, task.baseline], lambda p: p, check) == [False, True]


def test_variants_with_the_memo_equal_variants_verifying_every_candidate(tasks, monkeypatch):
    made = []

    class Recorded(DataflowMemo):
        def __init__(self, shape):
            super().__init__(shape)
            made.append(self)

    monkeypatch.setattr(av, "DataflowMemo", Recorded)
    fast = [variants(task, max_variants=16, seconds=SECONDS, seed=2) for task in tasks]
    assert sum(m.hits for m in made) > 0  # the memo answered some candidates without the verifier

    def every_candidate(self, candidates, program, verify):
        return verify(list(candidates))

    monkeypatch.setattr(Recorded, "check", every_candidate)
    slow = [variants(task, max_variants=16, seconds=SECONDS, seed=2) for task in tasks]
    assert fast == slow
    assert all(len(v) > 4 for v in fast)
