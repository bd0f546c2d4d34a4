"""The screen stops evaluating a candidate once its crashes decide its result (``screen.settler``, through
``batch.evaluate_schedule``'s ``settled``): every outcome (refuted or not, the test, the part, the reason) must
be exactly the one evaluating every candidate to its end gives (``screen(..., settle=False)``), and the programs
still evaluated must get exactly their full run's values and crashes."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from token_edits import task_blocks

import tasm_env as te
from tasm_env import batch
from tasm_env.emission.reward import task_key
from tasm_env.emission.screen import LANES, first_round, random_round, screen, settler
from tasm_env.emission.spec import TaskSpec
from tasm_env.emission.vocab import Vocabulary
from tasm_env.envs.common import resolve_tasks
from tasm_env.verify import verifier_of

_SUITE = resolve_tasks(suite="tasm-basic-v1", split="train")
_POOL = [_SUITE[i] for i in (3, 25, 47, 84, 89, 96, 104, 121, 150, 180, 200)]  # every tier, RAM, u32 ops
_VOCAB = Vocabulary.default()
_BOUND = [TaskSpec.from_task(t, _VOCAB).bound for t in _POOL]
_TOKENS = [[i for i in range(1, len(b)) if isinstance(b.token(i), te.Instruction)] for b in _BOUND]
_SETTINGS = settings(max_examples=60, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _round(t: int):
    key = task_key(_POOL[t])
    return random_round(key[1], key[2], 40, 42, key[0])


def _outcome(found, j: int) -> tuple:
    return bool(found.refuted[j]), int(found.test[j]), found.part[j], found.reason(j) if found.refuted[j] else ""


def _work(blocks, use_verifier):
    by_task: dict[int, list] = {}
    for t, program in blocks:
        by_task.setdefault(t, [])
        if program not in by_task[t]:
            by_task[t].append(program)
    return [(first_round(verifier_of(_POOL[t], None, 40, 42)) if use_verifier[t] else _round(t), programs)
            for t, programs in by_task.items()]


@_SETTINGS
@given(st.lists(task_blocks(_POOL, _BOUND, _TOKENS, 3), min_size=1, max_size=40),
       st.lists(st.booleans(), min_size=len(_POOL), max_size=len(_POOL)))
def test_settling_changes_no_outcome(blocks, use_verifier):
    """Random and edited blocks of several tasks in one batch (random rounds and verifiers' first rounds):
    the settled screen gives every block the outcome of the full evaluation."""
    work = _work(blocks, use_verifier)
    for (round_, programs), fast, full in zip(work, screen(work), screen(work, settle=False)):
        for j in range(len(programs)):
            assert _outcome(fast, j) == _outcome(full, j), str(programs[j])


def test_settling_changes_no_outcome_on_many_random_blocks():
    """The same on a seeded sample: 40 random token strings and 40 edited baselines per task, all tasks in one
    batch (random strings crash on some lanes and not others, where a wrong settler shows)."""
    rng = np.random.default_rng(1)
    work = []
    for t in range(len(_POOL)):
        baseline = _BOUND[t].encode(te.Program.coerce(_POOL[t].baseline))
        programs = []
        for k in range(80):
            tokens = rng.choice(_TOKENS[t], size=rng.integers(2, 24)).tolist()
            if k % 2:  # the baseline with one token replaced: often its static shape, so it is run
                tokens = list(baseline)
                tokens[rng.integers(len(tokens))] = int(rng.choice(_TOKENS[t]))
            program = _BOUND[t].decode(tokens)
            if program not in programs:
                programs.append(program)
        work.append((_round(t) if t % 2 else first_round(verifier_of(_POOL[t], None, 40, 42)), programs))
    for (_, programs), fast, full in zip(work, screen(work), screen(work, settle=False)):
        for j in range(len(programs)):
            assert _outcome(fast, j) == _outcome(full, j), str(programs[j])


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_a_settled_outcome_is_final(data):
    """By definition on crash matrices: whatever later crashes add (never removing one), a candidate the settler
    calls settled keeps its first differing lane and part, as long as its values are compared only where
    neither crashes: which lanes crash decides it. And a settler never unsettles."""
    n = data.draw(st.integers(1, 6))
    lanes = st.lists(st.booleans(), min_size=LANES, max_size=LANES)
    base = np.array(data.draw(st.lists(lanes, min_size=n, max_size=n)))
    now = np.array(data.draw(st.lists(lanes, min_size=n, max_size=n)))
    later = now | np.array(data.draw(st.lists(lanes, min_size=n, max_size=n)))
    differ_now = np.array(data.draw(st.lists(lanes, min_size=n, max_size=n)))  # any values, now and later
    differ_later = np.array(data.draw(st.lists(lanes, min_size=n, max_size=n)))
    settled = settler(base)
    code = lambda crashed: np.where(crashed, 7, batch.NO_CRASH)  # noqa: E731
    first_now, first_later = settled(code(now)), settled(code(later))
    assert (first_later >= first_now).all()
    for p in np.flatnonzero(first_now).tolist():
        outcomes = []
        for crashed, differ in ((now[p], differ_now[p]), (later[p], differ_later[p])):
            bad = (crashed != base[p]) | (differ & ~crashed & ~base[p])
            outcomes.append((bool(bad.any()), int(np.argmax(bad)) if bad.any() else -1,
                             bool((crashed != base[p])[np.argmax(bad)]) if bad.any() else None))
        assert outcomes[0] == outcomes[1], (base[p], now[p], later[p], differ_now[p], differ_later[p])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(task_blocks(_POOL[:1], _BOUND[:1], _TOKENS[:1], 3), min_size=2, max_size=12), st.data())
def test_programs_left_running_get_their_full_run(blocks, data):
    """``evaluate_schedule`` with a ``settled`` that settles a random set of programs after a random number of
    crashing groups: every program never settled has exactly the values and crash codes of the full run."""
    round_ = _round(0)
    plans = [batch.compile_block(p, round_.shape, keep=False) for _, p in blocks]
    settle_at = data.draw(st.integers(0, 4))
    chosen = np.array(data.draw(st.lists(st.booleans(), min_size=len(plans), max_size=len(plans))))
    calls = []

    def settled(crash):
        calls.append(1)
        return chosen if len(calls) > settle_at else np.zeros(len(plans), bool)

    V_full, crash_full, rows = _evaluate(plans, round_, None)
    V_fast, crash_fast, _ = _evaluate(plans, round_, settled)
    for p in range(len(plans)):
        if not chosen[p] or len(calls) <= settle_at:
            assert (V_fast[rows[p]] == V_full[rows[p]]).all() and (crash_fast[p] == crash_full[p]).all()


def _evaluate(plans, round_, hook):
    """The screen's evaluation of ``plans`` of one task (its sources, then each plan's rows), with ``hook``."""
    run, shared = round_.run, round_.shape.shared
    sizes = np.array([plan.n_local for plan in plans], dtype=np.int64)
    offsets = run.V.shape[0] + np.concatenate(([0], np.cumsum(sizes)[:-1])) - shared
    schedule = batch.Schedule.build(plans, shared, offsets, np.zeros(len(plans), dtype=np.int64))
    V = np.zeros((run.V.shape[0] + int(sizes.sum()), LANES), dtype=np.uint64)
    V[: run.V.shape[0]] = run.V
    for p, plan in enumerate(plans):
        if plan.const_ids:
            V[np.array(plan.const_ids) + offsets[p]] = np.array(plan.const_values, dtype=np.uint64)[:, None]
    crash = np.repeat(np.array([[plan.static_crash] for plan in plans], dtype=np.int64), LANES, axis=1)
    batch.evaluate_schedule(schedule, V, crash, run.inputs, hook)
    return V, crash, [slice(o + shared, o + shared + n) for o, n in zip(offsets, sizes)]


def test_settling_happens_on_random_blocks():
    """Guard against a settler that never settles: on random token strings of each task (which crash a lot),
    the settled evaluation leaves many candidates' later values unevaluated (unlike the full run)."""
    rng = np.random.default_rng(0)
    cut = total = 0
    for t in range(len(_POOL)):
        round_ = _round(t)
        programs = [_BOUND[t].decode(rng.choice(_TOKENS[t], size=rng.integers(4, 20)).tolist()) for _ in range(30)]
        plans = [batch.compile_block(p, round_.shape, keep=False) for p in programs]
        base = np.repeat(round_.run.crash[:1] != batch.NO_CRASH, len(plans), axis=0)
        V_full, _, rows = _evaluate(plans, round_, None)
        V_fast, _, _ = _evaluate(plans, round_, settler(base))
        cut += sum(not (V_fast[r] == V_full[r]).all() for r in rows)
        total += len(plans)
    assert cut >= total // 10, (cut, total)
