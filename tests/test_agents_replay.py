"""Stage-3 replay: priorities, eviction and dedup rules, proportional sampling, crash-safe JSON-lines persistence
that rejects malformed files by line, and the regression guard's rule."""

import json
import math
import os
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tasm_env as te
from agents.replay import (FALLBACK_PRIORITY, FORMAT, FORMAT_VERSION, INVALID_PRIORITY, BuildResult,
                           RegressionGuard, BuildResultBuffer, ReplayError, task_hash)

ROOT = Path(__file__).resolve().parents[1]


def result(program="push 1", *, task="t", cycles=10, base=10, valid=True, fallback=False, time=0.0, version=0):
    """A build result; ``cycles=None`` or ``valid=False`` makes it invalid."""
    valid = valid and cycles is not None
    return BuildResult(f"h-{task}", task, program, valid, cycles if valid else None, base, fallback, time, version)


def improved(fraction: float, program: str, **kw) -> BuildResult:
    """A valid model result with improvement ``fraction`` over a 100-cycle baseline (priority 1 + fraction)."""
    return result(program, cycles=round(100 * (1 - fraction)), base=100, **kw)


# ---- BuildResult
def test_priority_and_improvement_of_each_kind():
    assert result(cycles=None).priority == INVALID_PRIORITY == 0.001
    assert result(cycles=None, fallback=True).priority == INVALID_PRIORITY  # invalid wins over fallback
    assert result(cycles=5, fallback=True).priority == FALLBACK_PRIORITY == 0.01
    assert result(cycles=5, fallback=True).improvement == 0.0  # the compiler's win is not the model's
    assert result(cycles=10, base=10).priority == 1.0
    assert result(cycles=15, base=10).improvement == 0.0  # slower: no bonus, no penalty
    assert result(cycles=7, base=10).improvement == pytest.approx(0.3)
    assert result(cycles=7, base=10).priority == pytest.approx(1.3)
    assert result(cycles=0, base=10).priority == 2.0
    assert result(cycles=0, base=0).improvement == 0.0  # a free baseline cannot be beaten


@pytest.mark.parametrize("field, value, expected", [
    ("cycles", None, "cycles"), ("cycles", -1, "cycles"), ("cycles", 2.0, "cycles"), ("cycles", True, "cycles"),
    ("baseline_cycles", -3, "baseline_cycles"), ("valid", 1, "valid"), ("fallback_used", "no", "fallback_used"),
    ("time", math.nan, "time"), ("time", "now", "time"), ("model_version", -1, "model_version"),
    ("task_hash", "", "task_hash"), ("program", 3, "program"),
])
def test_bad_fields_are_rejected_with_their_name(field, value, expected):
    with pytest.raises(ReplayError, match=expected):
        replace(result(), **{field: value})


def test_invalid_results_carry_no_cycles_and_fields_are_coerced():
    with pytest.raises(ReplayError, match="None for an invalid"):
        BuildResult("h", "t", "push 1", False, 3, 10, False, 0.0, 0)
    r = BuildResult("h", "t", te.Program.parse("push 1  add"), True, np.int64(4), np.int32(10), np.bool_(False), 5, 0)
    assert (r.program, type(r.cycles), type(r.baseline_cycles), r.time) == ("push 1\nadd", int, int, 5.0)


def test_task_hash_is_stable_and_ignores_the_name():
    a = te.Task.from_tasm("dup 0 mul", ("field",), name="square")
    assert task_hash(a) == task_hash(te.Task.from_tasm("dup 0 mul", ("field",), name="other"))
    assert task_hash(a) != task_hash(te.Task.from_tasm("dup 0 dup 0 mul mul", ("field",), name="square"))
    assert len(task_hash(a)) == 32 and int(task_hash(a), 16) >= 0
    code = ("import tasm_env as te; from agents.replay import task_hash; "
            "print(task_hash(te.Task.from_tasm('dup 0 mul', ('field',), name='square')))")
    other_process = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                                   env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "123"}, check=True)
    assert other_process.stdout.strip() == task_hash(a)  # not Python's salted hash
    with pytest.raises(ReplayError, match="Task"):
        task_hash("dup 0 mul")


def test_for_task_fills_in_the_task():
    task = te.Task.from_tasm("dup 0 mul", ("field",), name="square")
    r = BuildResult.for_task(task, "dup 0 mul", 2, model_version=3, time=7.0)
    assert (r.task_hash, r.task, r.valid, r.baseline_cycles, r.model_version) == \
        (task_hash(task), "square", True, task.baseline_cycles, 3)
    assert not BuildResult.for_task(task, "mul", None).valid


# ---- add / evict / dedup
def test_constructor_wants_a_positive_capacity():
    for bad in (0, -1, 2.5, "3", True):
        with pytest.raises(ReplayError, match="capacity"):
            BuildResultBuffer(bad)


def test_full_buffer_evicts_the_lowest_priority():
    buf = BuildResultBuffer(3)
    assert buf.extend([improved(0.5, "a"), result("b", cycles=None), improved(0.1, "c")]) == 3
    assert buf.add(improved(0.2, "d"))
    assert [r.program for r in buf] == ["a", "c", "d"]  # the invalid one went
    assert buf.add(improved(0.3, "e"))
    assert [r.program for r in buf] == ["a", "d", "e"]  # then the lowest valid one


def test_a_new_entry_below_everything_is_dropped_not_a_better_one():
    buf = BuildResultBuffer(2)
    buf.extend([improved(0.5, "a"), improved(0.4, "b")])
    assert not buf.add(result("junk", cycles=None))
    assert not buf.add(result("fb", fallback=True))
    assert [r.program for r in buf] == ["a", "b"]


def test_ties_evict_the_oldest_and_a_new_tie_counts_as_newest():
    buf = BuildResultBuffer(3)
    buf.extend([improved(0.2, "old"), improved(0.2, "mid"), improved(0.9, "best")])
    assert buf.add(improved(0.2, "new"))  # ties with the lowest: the oldest of them goes
    assert [r.program for r in buf] == ["mid", "best", "new"]


def test_readding_a_program_refreshes_it_and_keeps_the_higher_priority():
    buf = BuildResultBuffer(3)
    buf.extend([improved(0.5, "a", time=1.0), improved(0.1, "b"), improved(0.3, "c")])
    assert buf.add(result("a", cycles=None, time=9.0, version=4))  # a flaky re-run: keep the valid record
    assert len(buf) == 3
    a = next(r for r in buf if r.program == "a")
    assert (a.valid, a.cycles, a.time, a.model_version) == (True, 50, 9.0, 4)
    assert [r.program for r in buf] == ["b", "c", "a"]  # now the newest
    buf.add(improved(0.6, "b", time=3.0))  # a better measurement replaces the record
    assert next(r for r in buf if r.program == "b") == improved(0.6, "b", time=3.0)
    assert buf.add(improved(0.3, "a", task="other"))  # same text, other task: a different build
    assert len(buf) == 3 and "c" not in [r.program for r in buf]


def test_refreshed_entries_are_evicted_by_their_new_age():
    buf = BuildResultBuffer(2)
    buf.extend([improved(0.2, "a"), improved(0.2, "b"), improved(0.2, "a")])  # a is now younger than b
    buf.add(improved(0.2, "c"))
    assert [r.program for r in buf] == ["a", "c"]


def test_many_adds_keep_the_best_capacity_entries():
    # checks the heap against a brute-force reading of the rule, through refreshes and evictions
    rng = np.random.default_rng(3)
    buf, reference = BuildResultBuffer(20), {}
    for step in range(3000):
        r = improved(int(rng.integers(0, 8)) / 10, f"p{rng.integers(0, 60)}", time=float(step))
        buf.add(r)
        old = reference.pop(r.key, None)
        reference[r.key] = r if old is None or r.priority >= old.priority else replace(old, time=r.time)
        if len(reference) > 20:
            ages = list(reference)
            del reference[min(ages, key=lambda k: (reference[k].priority, ages.index(k)))]
    assert list(buf) == list(reference.values())
    assert len(buf._heap) <= 2 * len(buf) + 65


def test_add_rejects_other_things():
    with pytest.raises(ReplayError, match="BuildResult"):
        BuildResultBuffer(2).add({"program": "push 1"})


# ---- reading
def test_sampling_is_proportional_to_priority():
    buf = BuildResultBuffer(10)
    entries = [improved(1.0, "double"), improved(0.0, "plain"), result("fb", fallback=True), result("x", cycles=None)]
    buf.extend(entries)
    draws = buf.sample(40_000, np.random.default_rng(0))  # more than len: with replacement
    counts = {r.program: 0 for r in entries}
    for r in draws:
        counts[r.program] += 1
    total = sum(r.priority for r in entries)
    for r in entries:  # uniform sampling would give 0.25 each
        assert counts[r.program] / len(draws) == pytest.approx(r.priority / total, abs=0.01)


def test_sampling_without_replacement_favours_high_priority_first():
    buf = BuildResultBuffer(10)
    buf.extend([improved(1.0, "hi"), result("lo", cycles=None)] + [improved(0.0, f"p{k}") for k in range(3)])
    rng = np.random.default_rng(1)
    firsts, lo_last = [], 0
    for _ in range(2000):
        draw = buf.sample(5, rng)
        assert sorted(r.program for r in draw) == sorted(r.program for r in buf)  # no repeats
        firsts.append(draw[0].program)
        lo_last += draw[-1].program == "lo"
    # ignoring priorities would put each entry first and last 400 times in 2000
    assert firsts.count("hi") / 2000 == pytest.approx(2 / 5.001, abs=0.04)
    assert firsts.count("lo") <= 5 and lo_last >= 1900  # expected about 0.4 and 1990


def test_sampling_is_reproducible_and_checks_its_arguments():
    buf = BuildResultBuffer(10)
    buf.extend(improved(k / 10, f"p{k}") for k in range(8))
    assert buf.sample(4, 5) == buf.sample(4, np.random.default_rng(5))
    assert buf.sample(0, 5) == []
    for n in (-1, 1.5):
        with pytest.raises(ReplayError, match="n must be"):
            buf.sample(n, 0)
    with pytest.raises(ReplayError, match="generator"):
        buf.sample(2, None)
    with pytest.raises(ReplayError, match="empty"):
        BuildResultBuffer(3).sample(1, 0)


def test_top_best_by_task_and_stats():
    buf = BuildResultBuffer(10)
    buf.extend([improved(0.3, "a"), improved(0.6, "b"), improved(0.3, "c"), result("d", cycles=None),
                result("e", cycles=80, base=100, fallback=True), improved(0.5, "f", task="u"),
                result("g", cycles=None, task="v")])
    assert [r.program for r in buf.top(3)] == ["b", "f", "c"]  # c ties a and is newer
    assert len(buf.top(50)) == 7 and buf.top(0) == []
    best = buf.best_by_task()
    assert {h: r.program for h, r in best.items()} == {"h-t": "b", "h-u": "f"}  # the fallback's 80 is not ours
    assert buf.stats() == {"size": 7, "capacity": 10, "tasks": 3, "valid": 4, "fallback": 1, "invalid": 2,
                           "improved": 4, "mean_improvement": pytest.approx((0.3 + 0.6 + 0.3 + 0.5) / 4)}
    assert BuildResultBuffer(1).stats()["mean_improvement"] is None


# ---- persistence
@st.composite
def build_results(draw):
    valid = draw(st.booleans())
    return BuildResult(
        task_hash=draw(st.sampled_from(["h1", "h2", "h3"])),
        task=draw(st.text(max_size=8)),
        program=draw(st.text(max_size=30)),  # any text: newlines, quotes and unicode must survive
        valid=valid,
        cycles=draw(st.integers(0, 10**6)) if valid else None,
        baseline_cycles=draw(st.integers(0, 10**6)),
        fallback_used=draw(st.booleans()),
        time=draw(st.floats(allow_nan=False, allow_infinity=False)),
        model_version=draw(st.integers(0, 2**40)),
    )


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.lists(build_results(), max_size=30))
def test_save_load_round_trip_is_exact(capacity, results):
    buf = BuildResultBuffer(capacity)
    buf.extend(results)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "replay.jsonl"
        buf.save(path)
        back = BuildResultBuffer.load(path)
        assert back == buf and back.capacity == capacity and list(back) == list(buf)
        assert [r.time for r in back] == [r.time for r in buf]  # bit-exact floats
        # the loaded buffer keeps evicting by the same rule as the original
        extra = improved(0.0, "probe", task="h1")
        assert back.add(extra) == buf.add(extra) and back == buf
        assert os.listdir(tmp) == ["replay.jsonl"]


def _saved(path: Path, *programs: str) -> BuildResultBuffer:
    buf = BuildResultBuffer(5)
    buf.extend(improved(0.1 * k, p) for k, p in enumerate(programs))
    buf.save(path)
    return buf


@pytest.mark.parametrize("broken", ["fsync", "replace"])
def test_a_failed_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, broken):
    path = tmp_path / "replay.jsonl"
    old = _saved(path, "a", "b")
    new = BuildResultBuffer(5)
    new.extend([improved(0.9, "c")])

    def crash(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, broken, crash)  # fails after the new contents were written to the temporary file
    with pytest.raises(ReplayError, match="cannot write replay file"):
        new.save(path)
    monkeypatch.undo()
    assert BuildResultBuffer.load(path) == old
    assert os.listdir(tmp_path) == ["replay.jsonl"]


def test_survives_a_process_killed_mid_save(tmp_path):
    path = tmp_path / "replay.jsonl"
    old = _saved(path, "a", "b")
    # a real crash runs no cleanup: kill the process at the rename, after the temporary file is fully written
    code = f"""
import os
from agents.replay import BuildResultBuffer, BuildResult
buf = BuildResultBuffer(5)
buf.add(BuildResult("h-t", "t", "c", True, 1, 100, False, 0.0, 0))
os.replace = lambda *a: os._exit(17)
buf.save({str(path)!r})
"""
    died = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert died.returncode == 17
    leftovers = [n for n in os.listdir(tmp_path) if n != "replay.jsonl"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".replay.jsonl.")  # the crash left its temporary
    assert BuildResultBuffer.load(path) == old  # ... which loading ignores
    newer = _saved(path, "x")  # and the next save works
    assert BuildResultBuffer.load(path) == newer


def _lines(buf: BuildResultBuffer, tmp_path: Path) -> list[str]:
    buf.save(tmp_path / "good.jsonl")
    return (tmp_path / "good.jsonl").read_text().splitlines()


def _edit_entry(lines: list[str], index: int, **changes) -> list[str]:
    entry = json.loads(lines[index])
    entry.update(changes)
    return lines[:index] + [json.dumps(entry)] + lines[index + 1:]


def _header(**changes) -> str:
    return json.dumps({"format": FORMAT, "version": FORMAT_VERSION, "capacity": 5, "size": 2, **changes})


@pytest.mark.parametrize("mangle, line, message", [
    (lambda ls: [], 1, "empty line; expected the header"),
    (lambda ls: [ls[0][:20]], 1, "not valid JSON"),
    (lambda ls: ['{"format": "something-else"}'] + ls[1:], 1, "not a replay buffer file"),
    (lambda ls: ["[1, 2]"] + ls[1:], 1, "not a replay buffer file"),
    (lambda ls: [_header(version=2)] + ls[1:], 1, "unsupported version 2; expected version 1"),
    (lambda ls: [_header(capacity=0)] + ls[1:], 1, "capacity must be an integer >= 1"),
    (lambda ls: [_header(capacity=1)] + ls[1:], 1, "size 2 exceeds capacity 1"),
    (lambda ls: [_header(extra=1)] + ls[1:], 1, "header keys"),
    (lambda ls: ls[:2] + [ls[2][:-9]], 3, "not valid JSON"),  # a truncated last line
    (lambda ls: ls[:2], 3, "truncated"),  # a whole line lost
    (lambda ls: ls + [ls[1]], 4, "duplicate"),
    (lambda ls: [_header(size=1)] + ls[1:], 3, "beyond the 1 the header announces"),
    (lambda ls: [ls[0], "", ls[2]], 2, "empty line"),
    (lambda ls: [ls[0], "[]", ls[2]], 2, "expected a JSON object"),
    (lambda ls: _edit_entry(ls, 2, cycles="12"), 3, "cycles of a valid result must be an integer"),
    (lambda ls: _edit_entry(ls, 1, valid=1), 2, "valid must be true or false"),
    (lambda ls: _edit_entry(ls, 1, time=None), 2, "time must be a finite number"),
    (lambda ls: _edit_entry(ls, 1, extra="x"), 2, "unknown extra"),
    (lambda ls: [ls[0], json.dumps({k: v for k, v in json.loads(ls[1]).items() if k != "cycles"}), ls[2]], 2,
     "missing cycles"),
])
def test_malformed_files_raise_with_the_line_and_what_was_expected(tmp_path, mangle, line, message):
    buf = BuildResultBuffer(5)
    buf.extend([improved(0.1, "a"), improved(0.2, "b")])
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(mangle(_lines(buf, tmp_path))) + "\n")
    with pytest.raises(ReplayError, match=f"line {line}: .*{message}"):
        BuildResultBuffer.load(path)


def test_loading_missing_or_binary_files_raises_replay_error(tmp_path):
    with pytest.raises(ReplayError, match="cannot read"):
        BuildResultBuffer.load(tmp_path / "absent.jsonl")
    (tmp_path / "empty").write_text("")
    with pytest.raises(ReplayError, match="line 1: missing line; expected the header"):
        BuildResultBuffer.load(tmp_path / "empty")
    (tmp_path / "bin").write_bytes(b"\x80\x04\x95")  # e.g. a pickle: not read, not run
    with pytest.raises(ReplayError, match="cannot read"):
        BuildResultBuffer.load(tmp_path / "bin")


def test_an_empty_buffer_round_trips(tmp_path):
    BuildResultBuffer(4).save(tmp_path / "r.jsonl")
    assert BuildResultBuffer.load(tmp_path / "r.jsonl") == BuildResultBuffer(4) != BuildResultBuffer(5)


# ---- regression guard
def test_guard_accepts_within_tolerance_of_the_best_ever():
    guard = RegressionGuard()
    assert guard.tolerance == 0.02 and guard.best is None
    assert guard.accept(0.70) and guard.best == 0.70  # the first score is always accepted
    assert guard.accept(0.68) and guard.best == 0.70  # a drop of exactly 2 points is allowed; best stays
    assert not guard.accept(0.679) and guard.best == 0.70
    assert guard.accept(0.75) and guard.best == 0.75
    # small accepted drops cannot ratchet the floor down: it is measured from the best ever accepted
    assert guard.accept(0.74) and guard.accept(0.73) and not guard.accept(0.72)
    assert RegressionGuard(best=0.20).accept(0.18)  # although 0.20 - 0.02 > 0.18 in floating point


def test_guard_with_zero_tolerance_and_persistence():
    guard = RegressionGuard(tolerance=0.0, best=0.5)
    assert not guard.accept(0.4999) and guard.accept(0.5)
    again = RegressionGuard.from_dict(json.loads(json.dumps(guard.to_dict())))
    assert again == guard and again.to_dict() == {"tolerance": 0.0, "best": 0.5}
    assert RegressionGuard.from_dict(RegressionGuard().to_dict()) == RegressionGuard()


@pytest.mark.parametrize("bad", [{"tolerance": -0.1, "best": None}, {"tolerance": 0.02}, [0.02, None],
                                 {"tolerance": 0.02, "best": "high"}, {"tolerance": math.inf, "best": None}])
def test_guard_rejects_malformed_state(bad):
    with pytest.raises(ReplayError):
        RegressionGuard.from_dict(bad)


def test_guard_rejects_non_finite_scores():
    with pytest.raises(ReplayError, match="score"):
        RegressionGuard().accept(math.nan)
