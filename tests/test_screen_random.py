"""The random round: first visits of a task are screened on the verifier's own random tests and static check
before its verifier is built; only refutations come from it, and each is one Verifier.check makes."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from token_edits import distinct_by_task, task_blocks

import tasm_env as te
from tasm_env.batch import NO_CRASH
from tasm_env.coverage import RANDOM
from tasm_env.emission import reward as reward_module
from tasm_env.emission.reward import RewardModel, task_key
from tasm_env.emission.screen import random_round, screen
from tasm_env.emission.spec import TaskSpec
from tasm_env.emission.vocab import Vocabulary
from tasm_env.envs.common import resolve_tasks
from tasm_env.errors import TaskError
from tasm_env.verify import Verifier
from tasm_env.verify_first import random_tests

_POOL = resolve_tasks(suite="tasm-basic-v1", split="train")[3::11][:12]  # every tier, I/O and crashing baselines
_VOCAB = Vocabulary.default()
_BOUND = [TaskSpec.from_task(t, _VOCAB).bound for t in _POOL]
_TOKENS = [[i for i in range(1, len(b)) if isinstance(b.token(i), te.Instruction)] for b in _BOUND]
_VERIFIERS = [Verifier(t.baseline, t.inputs, 40, 42) for t in _POOL]


def _round(t: int, n_tests: int = 40, seed: int = 42):
    key = task_key(_POOL[t])
    return random_round(key[1], key[2], n_tests, seed, key[0])


def _rows(values: np.ndarray, seeds: np.ndarray, offsets: np.ndarray) -> list[bytes]:
    return sorted(v.tobytes() + s.tobytes() + o.tobytes() for v, s, o in zip(values, seeds, offsets))


@pytest.mark.parametrize("t", range(len(_POOL)))
def test_random_tests_are_the_verifiers_random_tests(t):
    """The public random tests are the verifier's own: same shape, and the verifier's random-flavour lanes hold
    exactly these rows (sources, RAM seed and offset)."""
    task, verifier = _POOL[t], _VERIFIERS[t]
    tests = random_tests(te.Program.coerce(task.baseline), tuple(task.inputs), 40, 42)
    assert tests.shape == verifier.shape
    mine = verifier.tests.flavour == RANDOM
    assert mine.sum() == 40 == tests.lanes_count
    assert _rows(tests.values, tests.ram_seed, tests.ram_offset) == _rows(
        verifier.tests.values[mine], verifier.tests.ram_seed[mine], verifier.tests.ram_offset[mine])


def _blocks():
    return task_blocks(_POOL, _BOUND, _TOKENS, 3)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(_blocks(), min_size=1, max_size=30))
def test_the_random_round_refutes_only_what_the_verifier_refutes(blocks):
    """Every block the random round refutes, Verifier.check refutes too; a static refutation gives the
    verifier's own reason."""
    by_task = distinct_by_task(blocks)
    tasks = list(by_task)
    work = [(_round(t), by_task[t]) for t in tasks]
    for t, (_, programs), found in zip(tasks, work, screen(work)):
        verdicts = _VERIFIERS[t].check(programs)
        for j, (program, verdict) in enumerate(zip(programs, verdicts)):
            if found.refuted[j]:
                assert not verdict.ok, (str(program), found.reason(j))
                if "differs on random test" not in found.reason(j):  # a static refutation
                    assert found.reason(j) == verdict.reason


def test_the_random_round_does_work_and_keeps_every_equivalent_block():
    """Guard against an empty pass-through: most wrong random blocks are refuted (some by the static check),
    the baseline and every block the verifier accepts are not."""
    refuted = wrong = static = 0
    rng = np.random.default_rng(1)
    for t, task in enumerate(_POOL):
        programs = [_BOUND[t].decode(rng.choice(_TOKENS[t], size=int(rng.integers(1, 16))).tolist())
                    for _ in range(60)]
        verdicts = _VERIFIERS[t].check(programs)
        kept = [te.Program.coerce(task.baseline)] + [p for p, v in zip(programs, verdicts) if v.ok]
        found = screen([(_round(t), programs + kept)])[0]
        assert not found.refuted[len(programs):].any()
        refuted += int(found.refuted[:len(programs)].sum())
        wrong += sum(not v.ok for v in verdicts)
        static += sum("differs on random test" not in found.reason(j) for j in np.flatnonzero(found.refuted))
    assert refuted >= 0.8 * wrong and static > 0


def test_a_baseline_crashing_on_every_random_test_gets_no_round():
    """No round where the baseline crashes on all random tests: the verifier decides (here: it refuses)."""
    baseline = te.Program.parse("push 0 assert")
    assert random_round(baseline, ("field",), 40, 42) is None
    with pytest.raises(TaskError):
        Verifier(baseline, ("field",), 40, 42)


def test_refuted_first_visits_build_no_verifier(monkeypatch):
    """A reward model refutes blocks the random round refutes without asking for the task's verifier, with the
    verdict the verifier gives; a block that survives gets the verifier's verdict."""
    calls = []
    real = reward_module.verifier_of
    monkeypatch.setattr(reward_module, "verifier_of", lambda *a: calls.append(a) or real(*a))
    t = 0
    rng = np.random.default_rng(2)
    programs = [_BOUND[t].decode(rng.choice(_TOKENS[t], size=int(rng.integers(1, 16))).tolist()) for _ in range(40)]
    found = screen([(_round(t), programs)])[0]
    refuted = [p for j, p in enumerate(programs) if found.refuted[j]]
    assert refuted
    model = RewardModel()
    evaluations = model.evaluate(_POOL[t], refuted)
    assert not calls
    assert not any(e.valid for e in evaluations)
    assert not any(v.ok for v in _VERIFIERS[t].check(refuted))
    baseline = te.Program.coerce(_POOL[t].baseline)
    assert model.evaluate(_POOL[t], [baseline])[0].valid and len(calls) == 1


@pytest.mark.parametrize("t", range(len(_POOL)))
def test_the_round_runs_the_verifiers_random_tests(t):
    """The round's lanes are random tests of the task's verifier (sources and RAM seed), its shape and
    static summary the verifier's."""
    round_, verifier = _round(t), _VERIFIERS[t]
    assert round_.shape == verifier.shape and round_.summary == verifier.summary
    inputs = round_.run.inputs
    mine = verifier.tests.lanes(np.flatnonzero(verifier.tests.flavour == RANDOM))
    theirs = {s.tobytes() + p.tobytes() + q.tobytes() + r.tobytes() for s, p, q, r in
              zip(mine.stack, mine.public_input, mine.secret_input, mine.ram_seed)}
    for s, p, q, r in zip(inputs.stack, inputs.public_input, inputs.secret_input, inputs.ram_seed):
        assert s.tobytes() + p.tobytes() + q.tobytes() + r.tobytes() in theirs


_CASES = [task_key(t) for t in _POOL] + [("crashing", te.Program.parse("dup 0 push 1 eq assert"), ("field",))]


@pytest.mark.parametrize("case", _CASES, ids=[c[0] for c in _CASES])
def test_the_rounds_run_is_a_run_on_its_lanes(case):
    """The round's baseline run (its lanes taken from the run on every random test, crashing ones last) equals
    a run of the baseline on the round's lanes alone: values, crashes and inputs."""
    name, baseline, types = case
    round_ = random_round(baseline, types, 40, 42, name)
    if round_ is None:
        return
    tests = random_tests(baseline, types, 40, 42, name)
    fresh = te.batch.GroupRun(round_.run.plans, tests.lanes(round_.tests))
    assert np.array_equal(round_.run.V, fresh.V) and np.array_equal(round_.run.crash, fresh.crash)
    for name in ("stack", "public_input", "secret_input", "secret_digests", "ram_seed", "ram_offset"):
        assert np.array_equal(getattr(round_.run.inputs, name), getattr(fresh.inputs, name)), name
    with pytest.raises(te.TasmError, match="take_lanes"):
        fresh.take_lanes(np.arange(3), tests.lanes(np.arange(4)))


def test_values_where_both_crash_do_not_count():
    """A block equal to the baseline wherever the baseline runs, and crashing wherever it crashes (its values
    there differ), is accepted by the verifier and not refuted by the round, which holds crashing lanes."""
    baseline = te.Program.parse("dup 0 push 1 eq assert")
    candidate = te.Program.parse("dup 0 push 1 eq assert pop 1 push 1")
    round_ = random_round(baseline, ("field",), 40, 42)
    assert (round_.run.crash[0] != NO_CRASH).any()
    assert Verifier(baseline, ("field",), 40, 42).check([candidate])[0].ok
    assert not screen([(round_, [candidate])])[0].refuted[0]
