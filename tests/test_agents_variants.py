"""Variants of a baseline for pre-training: verified, emittable, within budget, distinct, cheapest first;
peephole never costlier; deterministic; the corpus cache round-trips and never trusts a bad file."""

import json

import pytest

import tasm_env as te
from agents import variants as av
from agents.variants import VariantError, cycles, peephole, variant_corpus, variants
from tasm_env.emission.spec import default_budget
from tasm_env.tasks.measure import program_cost
from tasm_env.verify import Verifier
from tasm_env.emission.vocab import Vocabulary

SECONDS = 60.0  # generous: the work limits, not the clock, must stop these searches (determinism)
INDEPENDENT_SEED = 987_654  # a test set neither the search nor its re-check used


@pytest.fixture(scope="module")
def train():
    return te.load_suite("tasm-basic-v0").split("train")


@pytest.fixture(scope="module")
def headroom_task(train):
    """The first easy train task whose proved optimum is cheaper than its baseline."""
    return next(t for t in train if t.tier == "easy" and t.optimum is not None and t.optimum.proved
                and t.optimum.cycles < t.baseline_cycles)


@pytest.fixture(scope="module")
def sample(train, headroom_task):
    """A few small tasks of two tiers with their variants (computed once: the properties below share them)."""
    medium = next(t for t in train if t.tier == "medium")
    tasks = [headroom_task, next(t for t in train if t.tier == "easy" and t is not headroom_task), medium]
    return [(task, variants(task, seconds=SECONDS, seed=1)) for task in tasks]


def _independent_verdicts(task, programs):
    return Verifier(task.baseline, task.inputs, n_tests=64, seed=INDEPENDENT_SEED).check(programs)


def test_every_variant_is_equivalent_on_independent_tests(sample):
    for task, found in sample:
        assert found, f"{task.name}: no variants at all"
        for program, verdict in zip(found, _independent_verdicts(task, found)):
            assert verdict.ok, f"{task.name}: {program!r}: {verdict.reason}"


def test_every_variant_is_emittable_within_budget_distinct_and_not_the_baseline(sample):
    for task, found in sample:
        bound = Vocabulary.default().bind(task)
        baseline_ids = bound.encode(task.baseline)
        encoded = [tuple(bound.encode(p)) for p in found]  # raises if some instruction has no token
        assert [bound.decode(ids) for ids in encoded] == found
        assert all(len(ids) <= default_budget(len(task.baseline)) for ids in encoded)
        assert len(set(encoded)) == len(encoded)
        assert tuple(baseline_ids) not in encoded
        assert len(found) <= 16


def test_variants_come_cheapest_first_and_cycles_is_the_real_cycle_cost(sample):
    for task, found in sample:
        costs = [cycles(p) for p in found]
        assert costs == sorted(costs)
        assert all(c <= task.baseline_cycles for c in costs)
        for program in (found[0], found[-1]):
            assert program_cost(program, task.inputs, reference=task.baseline)[0] == cycles(program)


def test_max_variants_is_respected(headroom_task):
    assert len(variants(headroom_task, max_variants=3, seconds=SECONDS)) <= 3
    assert variants(headroom_task, max_variants=0) == []


def test_peephole_finds_something_cheaper_where_a_cheaper_optimum_is_known(headroom_task):
    best = peephole(headroom_task, seconds=SECONDS)
    assert _independent_verdicts(headroom_task, [best])[0].ok
    assert headroom_task.optimum.cycles <= cycles(best) < headroom_task.baseline_cycles  # nothing beats a proof


def test_peephole_is_never_costlier_than_the_baseline(train):
    for task in [t for t in train if t.tier == "easy"][1:4]:
        best = peephole(task, seconds=SECONDS)
        assert cycles(best) <= task.baseline_cycles
        assert best == task.baseline or _independent_verdicts(task, [best])[0].ok


def test_peephole_returns_the_baseline_when_nothing_is_cheaper():
    task = te.Task.from_tasm("mul", inputs=("field", "field"), name="one-mul")
    assert peephole(task, seconds=SECONDS) == task.baseline
    assert variants(task, seconds=SECONDS) == []  # no shorter program and no other spelling of one `mul`


def test_peephole_removes_dead_code_down_to_a_single_instruction():
    task = te.Task.from_tasm("dup 0 pop 1 dup 1 dup 1 mul swap 2 pop 2", inputs=("field",) * 2, name="dead-code")
    best = peephole(task, seconds=SECONDS)
    assert len(best) == 1 and _independent_verdicts(task, [best])[0].ok


def test_same_seed_same_variants(headroom_task):
    first = variants(headroom_task, seconds=SECONDS, seed=5, max_variants=6)
    assert variants(headroom_task, seconds=SECONDS, seed=5, max_variants=6) == first


def test_a_baseline_without_a_spelling_in_the_vocabulary_is_an_error():
    many_constants = " ".join(f"push {1000 + k} add" for k in range(5))  # 5 constants, 4 slots
    task = te.Task.from_tasm(many_constants, inputs=("field",), name="constants")
    with pytest.raises(VariantError, match="constants"):
        variants(task)


def test_bad_arguments_are_rejected(headroom_task):
    with pytest.raises(te.TasmError, match="max_variants"):
        variants(headroom_task, max_variants=-1)
    with pytest.raises(te.TasmError, match="n_tests"):
        peephole(headroom_task, n_tests=0)
    with pytest.raises(te.TasmError, match="unknown arguments"):
        variant_corpus([headroom_task], progress=False, max_variant=3)


def test_spread_keeps_the_cheapest_and_spaces_the_rest():
    chain = list(range(10))  # costliest first, as a chain is
    assert av._spread(chain, 4) == [0, 3, 6, 9]
    assert av._spread(chain, 1) == [9]
    assert av._spread(chain, 20) == chain
    assert av._spread(chain, 0) == []


# ------------------------------------------------------------------------------------------- the cache


@pytest.fixture(scope="module")
def two_tasks(train):
    return [t for t in train if t.tier == "easy"][:2]


def _corpus(tasks, path):
    return variant_corpus(tasks, cache=path, progress=False, max_variants=4, seconds=SECONDS)


def _counting(monkeypatch):
    """Count calls of variants() made by variant_corpus (the real function still runs)."""
    calls = []
    real = av.variants

    def counted(task, **kwargs):
        calls.append(task.name)
        return real(task, **kwargs)

    monkeypatch.setattr(av, "variants", counted)
    return calls


def test_the_cache_round_trips_without_recomputing(two_tasks, tmp_path, monkeypatch):
    path = tmp_path / "variants.json"
    first = _corpus(two_tasks, path)
    assert set(first) == {t.name for t in two_tasks}
    assert json.loads(path.read_text())["entries"]  # plain JSON on disk
    calls = _counting(monkeypatch)
    assert _corpus(two_tasks, path) == first
    assert calls == []
    variant_corpus(two_tasks[:1], cache=path, progress=False, max_variants=3, seconds=SECONDS)
    assert calls == [two_tasks[0].name]  # other settings: another key, computed afresh


@pytest.mark.parametrize("garbage", ["{not json", "[1, 2, 3]", '{"version": 1, "entries": {"k": [7]}}', ""])
def test_a_corrupt_cache_warns_and_is_recomputed(two_tasks, tmp_path, monkeypatch, garbage):
    path = tmp_path / "variants.json"
    path.write_text(garbage)
    calls = _counting(monkeypatch)
    task = two_tasks[0]
    with pytest.warns(UserWarning, match="ignoring the variant cache"):
        found = _corpus([task], path)
    assert calls == [task.name]
    assert all(v.ok for v in _independent_verdicts(task, found[task.name]))
    json.loads(path.read_text())  # rewritten, readable again


def test_a_tampered_cache_entry_is_not_trusted(two_tasks, tmp_path, monkeypatch):
    path = tmp_path / "variants.json"
    _corpus(two_tasks, path)
    data = json.loads(path.read_text())
    task = two_tasks[0]
    key = next(k for k in data["entries"] if k.startswith(f"{task.name}:"))
    wrong = str(te.Program(task.baseline.instructions[1:]))  # drops an instruction: not equivalent
    assert not _independent_verdicts(task, [wrong])[0].ok
    data["entries"][key] = [wrong]
    path.write_text(json.dumps(data))
    calls = _counting(monkeypatch)
    with pytest.warns(UserWarning, match="does not check out"):
        found = _corpus(two_tasks, path)
    assert calls == [task.name]
    assert te.Program.parse(wrong) not in found[task.name]
    assert all(v.ok for v in _independent_verdicts(task, found[task.name]))
