"""Rewards: the seed's formulas and ranges, partial credit, costs, schedules and the caching reward model."""

import math

import numpy as np

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from token_edits import task_blocks

import tasm_env as te
from tasm_env.emission.machine import StackMachine
from tasm_env.emission.reward import (Evaluation, RewardModel, cost_of, cycle_log_reward, cycle_reward,
                                      linear_anneal, partial_credit, shaped_log_reward, shaped_phase, shaped_reward)
from tasm_env.emission.spec import TaskSpec
from tasm_env.emission.vocab import EOS, Vocabulary

EPS = 1e-3


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 500), st.integers(1, 500)), min_size=1, max_size=20),
       st.floats(0.25, 4.0))
def test_cycle_reward_formula_and_range(rows, beta):
    valid, cycles, base = zip(*rows)
    r = cycle_reward(valid, cycles, base, eps=EPS, beta=beta)
    log_r = cycle_log_reward(valid, cycles, base, eps=EPS, beta=beta)
    for k, (v, c, b) in enumerate(rows):
        want = (1 + max(0.0, (b - c) / b)) ** beta if v else EPS ** beta
        assert r[k].item() == pytest.approx(want, rel=1e-9)
        assert log_r[k].item() == pytest.approx(math.log(want), rel=1e-9, abs=1e-12)
        if v:
            assert 1 <= r[k].item() <= 2 ** beta + 1e-12
    assert r.dtype == torch.float64 and r.shape == (len(rows),)


def test_cycle_reward_examples():
    r = cycle_reward([True, True, True, False], [1, 3, 6, 1], [3, 3, 3, 3])
    assert r.tolist() == pytest.approx([1 + 2 / 3, 1.0, 1.0, EPS])  # slower programs get no bonus and no penalty
    assert cycle_reward([True], [0], [0]).item() == 1.0  # a zero-cost baseline gives no improvement term
    with pytest.raises(ValueError):
        cycle_reward([True], [1], [1], eps=0)


def test_shaped_reward_is_the_seeds_formula():
    k = torch.tensor([-1, 0, 3, 9])
    n = torch.tensor([5, 5, 6, 10])
    assert shaped_reward(k, n, EPS).tolist() == pytest.approx([1 + EPS, EPS, EPS + 3 / 6, EPS + 9 / 10])
    assert shaped_log_reward(k, n, EPS).tolist() == pytest.approx(
        [math.log(1 + EPS), math.log(EPS), math.log(EPS + 0.5), math.log(EPS + 0.9)])


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 300).flatmap(lambda n: st.tuples(st.integers(-1, n - 1), st.just(n))))
def test_shaped_reward_range(kn):
    k, n = kn
    r = shaped_reward([k], [n], EPS).item()
    assert EPS <= r <= 1 + EPS
    assert (r == pytest.approx(1 + EPS)) == (k < 0)


def test_shaped_reward_from_the_machine_on_hand_made_sequences():
    task = te.Task.from_tasm("dup 1 dup 1 add", ("field", "field"), name="add-keep")
    vocab = Vocabulary.default()
    machine = StackMachine([TaskSpec.from_task(task, vocab)])
    bound = machine.specs[0].bound
    cases = {  # program -> first violation (0-based); the episode's length counts its EOS
        "dup 1 dup 1 add": -1,
        "pop 3": 0,
        "dup 1 add add add": 3,  # the third add reads below the two inputs
        "dup 1 dup 1": 2,  # four values where three are wanted: the EOS violates
        "dup 0 dup 3 add": 1,
    }
    for text, k in cases.items():
        ids = bound.encode(te.Program.parse(text), eos=True)
        state = machine.initial([0])
        for a in ids:
            state = machine.step(state, torch.tensor([a]))
        assert state.violation.item() == k, text
        assert machine.final_violation(state).item() == k, text
        got = shaped_reward(machine.final_violation(state), torch.tensor([len(ids)]), EPS).item()
        assert got == pytest.approx(1 + EPS if k < 0 else EPS + k / len(ids)), text


def test_schedules():
    assert linear_anneal(0) == 2.0 and linear_anneal(10_000) == 0.5 and linear_anneal(50_000) == 0.5
    assert linear_anneal(5_000) == pytest.approx(1.25)
    values = [linear_anneal(s) for s in range(0, 12_000, 500)]
    assert values == sorted(values, reverse=True)
    assert shaped_phase(0) and shaped_phase(699) and not shaped_phase(700)


# ----------------------------------------------------------------------------------------- the model


def _task(text, inputs, name):
    return te.Task.from_tasm(text, inputs, name=name)


def test_partial_credit():
    task = _task("dup 0 write_io 1", ("field", "field"), "out")
    verifier = RewardModel().verifier(task)
    shares = partial_credit(verifier, ["dup 0 write_io 1", "push 0 push 0 write_io 2", "pop 1", "invert",
                                       "call f f: return", "dup 1 write_io 1"])
    assert shares[0] == 1.0
    assert shares[2] < 1 / 3 + 0.01  # one of three output slots can only match by chance
    assert shares[4] == 0.0  # not a straight-line block
    assert 0.0 <= shares.min() and shares.max() <= 1.0
    assert 2 / 3 <= shares[5] < 1.0  # the stack is right, the output word mostly wrong
    lt = _task("lt", ("u32", "u32"), "lt")
    assert partial_credit(RewardModel().verifier(lt), ["lt", "push -1 lt"]).tolist() == [1.0, 0.0]  # crashes


def test_reward_model_rewards_cheaper_equivalents():
    task = _task("swap 1 swap 1 add", ("field", "field"), "add")
    model = RewardModel()
    log_r = model.log_rewards(task, ["swap 1 swap 1 add", "add", "swap 1 add", "mul", "add add"])
    want = [0.0, math.log(1 + 2 / 3), math.log(1 + 1 / 3), math.log(EPS), math.log(EPS)]
    assert log_r.tolist() == pytest.approx(want)
    assert torch.exp(log_r).tolist() == pytest.approx(model.rewards(task, ["swap 1 swap 1 add", "add", "swap 1 add",
                                                                           "mul", "add add"]).tolist())
    beta = RewardModel(beta=2.0).log_rewards(task, ["add"])
    assert beta.item() == pytest.approx(2 * math.log(1 + 2 / 3))


def test_reward_model_caches_and_never_confuses_tasks():
    a = _task("push 1 add", ("field",), "same-name")
    b = _task("push 2 add", ("field",), "same-name")
    model = RewardModel()
    first = model.evaluate([a, a, b], ["push 1 add", "addi 1", "push 1 add"])
    assert [e.valid for e in first] == [True, True, False]
    assert model.cache_info()["misses"] == 3
    again = model.evaluate([b, a], ["push 1 add", "addi 1"])
    assert [e.valid for e in again] == [False, True]
    assert model.cache_info()["hits"] == 2 and model.cache_info()["tasks"] == 2
    inputs = _task("push 1 add", ("u32",), "same-name")  # same name and baseline, other input types
    model.evaluate([inputs], ["push 1 add"])
    assert model.cache_info()["tasks"] == 3
    small = RewardModel(cache_size=2)
    small.evaluate(a, ["push 1 add", "addi 1", "push 0 add push 1 add"])
    assert small.cache_info()["size"] == 2
    small.evaluate(a, ["push 1 add"])  # evicted first: verified again
    assert small.cache_info()["misses"] == 4


def test_reward_model_costs_and_partial_credit():
    task = _task("dup 0 mul dup 0 mul", ("field",), "fourth")
    heights = RewardModel(cost={"processor": 1.0, "op_stack": 1.0})
    e = heights.evaluate(task, ["dup 0 mul dup 0 mul"])[0]
    assert e.valid and e.cost == e.baseline_cost == cost_of(task.baseline, task, {"processor": 1.0, "op_stack": 1.0})
    padded = RewardModel(cost="padded_height").evaluate(task, ["dup 0 mul dup 0 mul"])[0]
    assert padded.cost == 256.0  # the Lookup table's 256 rows dominate small blocks
    assert cost_of("dup 0 mul", task, "cycles") == 2.0
    with pytest.raises(te.TasmError, match="unknown cost"):
        RewardModel(cost="seconds")
    with pytest.raises(te.TasmError, match="unknown tables"):
        RewardModel(cost={"cpu": 1.0})
    credit = RewardModel(partial_credit=0.5)
    log_r = credit.log_rewards(task, ["dup 0 mul dup 0 mul", "dup 0 mul", "pop 1 push 0"])
    assert log_r[0].item() == 0.0
    assert math.log(EPS) < log_r[1].item() < 0.0  # invalid but partly right: between eps and 1
    with pytest.raises(ValueError):
        RewardModel(partial_credit=1.0)


def test_reward_model_reports_unparsable_programs():
    task = _task("add", ("field", "field"), "add")
    e = RewardModel().evaluate(task, ["add", "frobnicate"])
    assert e[0].valid and not e[1].valid and "not a program" in e[1].reason
    assert isinstance(e[0], Evaluation)


def test_reward_model_on_decoded_episodes():
    """The env path: decode states, then score them (a smoke test of the pieces working together)."""
    task = _task("dup 1 dup 1 add", ("field", "field"), "add-keep")
    machine = StackMachine([TaskSpec.from_task(task, Vocabulary.default())])
    state = machine.encode(["dup 1 dup 1 add", "dup 0 dup 2 add", "dup 1 dup 1 mul"], 0)
    log_r = RewardModel().log_rewards(task, machine.decode(state))
    assert log_r.tolist() == pytest.approx([0.0, 0.0, math.log(EPS)])
    assert EOS == 0


# ------------------------------------------------------------------ the screened path against the reference

from hypothesis import HealthCheck  # noqa: E402

from tasm_env.emission.reward import task_key  # noqa: E402
from tasm_env.emission.screen import screen  # noqa: E402
from tasm_env.envs.common import resolve_tasks  # noqa: E402

_POOL = resolve_tasks(suite="tasm-basic-v1", split="train")[:: 7][:8]  # every tier, a few input counts
_VOCAB = Vocabulary.default()
_BOUND = [TaskSpec.from_task(t, _VOCAB).bound for t in _POOL]
_TOKENS = [[i for i in range(1, len(b)) if isinstance(b.token(i), te.Instruction)] for b in _BOUND]  # decodable


def _reference(model: RewardModel, tasks, programs) -> torch.Tensor:
    """The old path: one verifier call per (task, block), no screen, no batching across tasks."""
    evaluations = []
    for task, program in zip(tasks, programs):
        verdict = model.verifier(task).check([program])[0]
        cost = cost_of(program, task, model.cost) if verdict.ok else float("nan")
        evaluations.append(Evaluation(verdict.ok, verdict.reason, cost, cost_of(task.baseline, task, model.cost)))
    return model.log_rewards_of(evaluations)


def _blocks():
    return task_blocks(_POOL, _BOUND, _TOKENS, 2)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(_blocks(), min_size=1, max_size=40))
def test_batched_screened_rewards_equal_the_reference_path(batch):
    """Rewards of a batch over several tasks (screened together, one verifier call per task) equal the
    reference's (one verifier call per block) exactly; a refutation by the screen is one the verifier makes."""
    tasks = [_POOL[t] for t, _ in batch]
    programs = [p for _, p in batch]
    model = RewardModel()
    got = model.log_rewards(tasks, programs)
    want = _reference(model, tasks, programs)
    assert torch.equal(got, want), [(str(p), g, w) for p, g, w in zip(programs, got.tolist(), want.tolist()) if g != w]
    by_task: dict = {}
    for task, program in zip(tasks, programs):
        by_task.setdefault(task_key(task), (task, []))[1].append(program)
    work = [(model.verifier(task), list(dict.fromkeys(ps))) for task, ps in by_task.values()]
    for (verifier, ps), found in zip(work, screen(work)):
        for j, program in enumerate(ps):
            if found.refuted[j]:
                assert not verifier.check([program])[0].ok, str(program)


def test_the_screen_refutes_most_random_blocks_and_never_a_valid_one():
    """Guard that the screen does work (not an empty pass-through) and keeps every equivalent block."""
    task = _POOL[0]
    rng = np.random.default_rng(0)
    programs = [_BOUND[0].decode(rng.choice(_TOKENS[0], size=int(rng.integers(1, 20))).tolist()) for _ in range(200)]
    verifier = RewardModel().verifier(task)
    variants = [te.Program.coerce(task.baseline)] + [p for p in programs if verifier.check([p])[0].ok]
    found = screen([(verifier, programs + variants)])[0]
    verdicts = verifier.check(programs)
    assert not any(found.refuted[len(programs):])
    assert all(not v.ok for v, r in zip(verdicts, found.refuted) if r)
    shaped = sum(1 for p in programs if _same_shape(verifier, p))
    wrong_shaped = sum(1 for p, v in zip(programs, verdicts) if not v.ok and _same_shape(verifier, p))
    assert found.refuted.sum() >= 0.5 * wrong_shaped
    assert shaped > 0


def _same_shape(verifier, program) -> bool:
    from dataclasses import replace

    from tasm_env.plan import summarize
    try:
        return replace(summarize(program, verifier.shape), cycles=0) == replace(verifier.summary, cycles=0)
    except te.TasmError:
        return False
