"""Verifier-guided decoding (agents.beam, agents.best): whatever the decoder and however wrong the policy, the
returned program is verified (or the baseline); the verifier budget is never exceeded; merging prefixes with
equal value states saves expansions; the policy-free beam finds what the probes allow."""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import agents.best as best
import tasm_env as te
from tasm_env.verify import Verdict, Verifier
import numpy as np

from agents.beam import BeamError, BeamStats, CachedPrior, policy_beam, policy_log_probs, progress, search, value_beam
from agents.best import DecodeError, best_program, best_programs, choose
from agents.policy import PolicyConfig, TasmPolicy, bound_to
from agents.pretrain import PretrainConfig, pretrain
from tasm_env.envs.gfn import TasmGFNEnv

torch.set_num_threads(1)

SMALL = PolicyConfig(d_model=16, heads=2, gnn_layers=1, decoder_layers=1, d_ff=32, edge_dim=4)
TINY = [te.Task.from_tasm("push 0 add mul", ("field", "field"), name="mul-after-add-0"),
        te.Task.from_tasm("dup 0 pop 1 add", ("field", "field"), name="add-after-dup-pop")]
WASTEFUL = te.Task.from_tasm("push 3 mul dup 0 swap 1 pop 1", ("field", "field"), name="add-then-a-wasted-copy")
"""A baseline whose end a stack-move search shortens: its prefix ``push 3 mul`` already leaves what it leaves."""
RIGHT = {"mul-after-add-0": "mul", "add-after-dup-pop": "add"}
WRONG = {"mul-after-add-0": "add", "add-after-dup-pop": "mul"}  # same shape, wrong operation


def _trained_on(answers: dict, masking: str = "typed", seed: int = 0) -> TasmPolicy:
    """A policy taught (MLE) to write ``answers`` for the tiny tasks."""
    env = TasmGFNEnv(tasks=TINY, suite=None, masking=masking, max_len=3)
    torch.manual_seed(seed)
    policy = TasmPolicy(env, SMALL)
    corpus = [(i, te.Program.parse(answers[t.name])) for i, t in enumerate(TINY)]
    pretrain(policy, corpus, PretrainConfig(epochs=60, batch_size=2, lr=2e-2), progress=False)
    return policy


@pytest.fixture(scope="module")
def adversary() -> TasmPolicy:
    """Favours wrong programs: its most likely block for each tiny task is the wrong operation."""
    return _trained_on(WRONG)


@pytest.fixture(scope="module")
def helper() -> TasmPolicy:
    return _trained_on(RIGHT)


class CountingVerifier(Verifier):
    """The verifier, counting every program it is handed (class-wide, reset per test)."""

    programs = 0

    def check(self, candidates, prove=False):
        CountingVerifier.programs += len(candidates)
        return super().check(candidates, prove=prove)


class LyingScreen(CountingVerifier):
    """A screening verifier that accepts everything (the confirming one, on another seed, is honest): only
    the final confirmation stands between a wrong program and the user."""

    def check(self, candidates, prove=False):
        verdicts = super().check(candidates, prove=prove)
        if self.seed_ == 0:
            return [Verdict(True, "lie") if not v.ok else v for v in verdicts]
        return verdicts

    def __init__(self, task, *args, seed=0, **kwargs):
        super().__init__(task, *args, seed=seed, **kwargs)
        self.seed_ = seed


@pytest.fixture
def counting(monkeypatch):
    CountingVerifier.programs = 0
    monkeypatch.setattr(best, "Verifier", CountingVerifier)
    return CountingVerifier


def _verified(task, program) -> bool:
    return te.verify(task.baseline, program, task.inputs, n_tests=64, seed=5).ok


# -------------------------------------------------------------------------------------- never wrong


def test_the_adversary_proposes_wrong_programs_under_both_decoders(adversary):
    """The premise of the tests below: without verification, both decoders would hand out wrong programs."""
    for decode in ("sample", "beam"):
        drawn = best.candidates(TINY, adversary, 8, decode=decode, width=4)
        for task, programs in zip(TINY if decode == "sample" else TINY[:1], drawn):
            favourite = programs[0] if decode == "beam" else max(set(programs), key=programs.count)
            assert str(favourite).strip() == WRONG[task.name] and not _verified(task, favourite)


def test_the_beam_prunes_what_the_probes_prove_lost(adversary):
    """``mul`` for a + b is lost on the probes (a lane pair differing in one input meets b = 0): the beam drops
    it although the adversary's policy puts almost all its mass there."""
    env = TasmGFNEnv(tasks=TINY, suite=None, masking="typed", value_state=True)
    stats = BeamStats()
    with bound_to(env, adversary):
        finished = [str(f.program).strip() for f in policy_beam(adversary, 1, width=4, keep=8, stats=stats)]
    assert stats.pruned > 0 and WRONG[TINY[1].name] not in finished and RIGHT[TINY[1].name] in finished


@pytest.mark.parametrize("decode", ["sample", "beam"])
def test_best_program_falls_back_rather_than_return_the_adversarys_programs(adversary, decode, monkeypatch):
    monkeypatch.setattr(best, "Verifier", LyingScreen)  # screening lets everything through
    for task in TINY:
        outcome = best_program(task, adversary, samples=8, decode=decode, width=4)
        assert _verified(task, outcome.program), (decode, str(outcome.program))
        if outcome.fallback_used:
            assert outcome.program == task.baseline and "baseline" in outcome.note


def test_a_candidate_that_crashes_where_the_cost_is_measured_is_refuted_not_raised(monkeypatch):
    """A screen that lets a block through which crashes on the cost test (``push 0 assert`` in front): ``choose``
    must drop it, not raise while costing it, and return what the confirming verifier passes."""
    monkeypatch.setattr(best, "Verifier", LyingScreen)
    for task in TINY:
        crashing = te.Program.parse("push 0 assert " + str(task.baseline))
        outcome = choose(task, [crashing, task.baseline], budget=4)
        assert outcome.program == task.baseline and _verified(task, outcome.program)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(decode=st.sampled_from(["sample", "beam"]), samples=st.integers(1, 6), budget=st.integers(2, 8),
       width=st.integers(1, 4), seed=st.integers(0, 3), lying=st.booleans(),
       masking=st.sampled_from([None, "dataflow"]), who=st.sampled_from(["adversary", "helper"]),
       baseline=st.booleans())
def test_best_program_is_always_verified_and_within_budget(adversary, helper, monkeypatch, decode, samples, budget,
                                                          width, seed, lying, masking, who, baseline):
    CountingVerifier.programs = 0
    monkeypatch.setattr(best, "Verifier", LyingScreen if lying else CountingVerifier)
    policy = adversary if who == "adversary" else helper
    outcomes = best_programs(TINY + [WASTEFUL], policy, samples, decode=decode, width=width,
                             verifier_budget=budget, masking=masking, seed=seed, baseline_completion=baseline)
    for task, outcome in zip(TINY + [WASTEFUL], outcomes):
        assert _verified(task, outcome.program)
        assert outcome.fallback_used == (outcome.program == task.baseline and outcome.fallback_used)
        assert outcome.verifier_calls <= budget
    assert CountingVerifier.programs == sum(o.verifier_calls for o in outcomes) <= budget * (len(TINY) + 1)


def test_the_helper_gets_its_shorter_programs_through_either_decoder(helper):
    for decode in ("sample", "beam"):
        for task, outcome in zip(TINY, best_programs(TINY, helper, 8, decode=decode, width=4)):
            assert not outcome.fallback_used and str(outcome.program).strip() == RIGHT[task.name], decode
            assert outcome.cycles < task.baseline_cycles and outcome.decode == decode


# ------------------------------------------------------------------------------------------- budget


@pytest.mark.parametrize("decode", ["sample", "beam"])
@pytest.mark.parametrize("budget", [2, 9])
def test_the_verifier_budget_is_never_exceeded(counting, decode, budget):
    """An untrained policy on real tasks proposes many distinct candidates: the budget must cut them."""
    tasks = [t for t in te.load_suite("tasm-basic-v1").split("test") if t.tier == "easy"][:2]
    torch.manual_seed(1)
    policy = TasmPolicy(TasmGFNEnv(tasks=tasks, suite=None, masking="typed"), SMALL)
    for task in tasks:
        before = counting.programs
        outcome = best_program(task, policy, samples=24, decode=decode, width=8, verifier_budget=budget)
        used = counting.programs - before
        assert used == outcome.verifier_calls <= budget
        assert _verified(task, outcome.program)


def test_choose_screens_in_order_and_confirms_within_the_budget(counting):
    task = TINY[0]
    wrong, right = te.Program.parse("add"), te.Program.parse("mul")
    assert choose(task, [wrong, wrong, right], budget=2).fallback_used  # only `wrong` screened, 1 call left
    assert counting.programs == 2 - 1  # the confirmation had nothing to confirm
    outcome = choose(task, [wrong, wrong, right], budget=3)
    assert not outcome.fallback_used and outcome.program == right and outcome.verifier_calls == 3
    with pytest.raises(DecodeError, match="at least 2"):
        choose(task, [right], budget=1)
    with pytest.raises(DecodeError, match="decode must be one of"):
        best_program(task, _trained_on(RIGHT), 2, decode="greedy")


# ---------------------------------------------------------------------------------------- the beam


def test_merging_equal_value_states_reduces_expansions():
    """An exhaustive beam (width beyond the tree) over a tiny task: with merging, every value state is expanded
    once; without, every prefix is (up to 2 tokens). The merged search still finds the cheapest program."""
    task = TINY[1]  # dup 0 pop 1 add == add
    env = TasmGFNEnv(tasks=[task], suite=None, masking="typed", max_len=3, value_state=True)
    flat = lambda state, scores, mask: torch.zeros(mask.shape, dtype=torch.float64)  # noqa: E731
    merged, separate = BeamStats(), BeamStats()
    with_merge = [f.program for f in search(env, 0, 10_000, flat, max_length=2, stats=merged)]
    without = [f.program for f in search(env, 0, 10_000, flat, merge=False, max_length=2, stats=separate)]
    assert merged.merged > 0 and separate.merged == 0
    assert merged.expansions < separate.expansions
    assert set(with_merge) <= set(without) and len(with_merge) < len(without)
    assert te.Program.parse("add") in with_merge


def test_policy_beam_ranks_by_the_policys_log_probability(helper):
    env = TasmGFNEnv(tasks=TINY, suite=None, masking="typed", value_state=True)
    for i, task in enumerate(TINY):
        with bound_to(env, helper):
            finished = policy_beam(helper, i, width=4, keep=3)
        assert str(finished[0].program).strip() == RIGHT[task.name]
        assert [f.score for f in finished] == sorted((f.score for f in finished), reverse=True)
        assert all(f.score <= 0 for f in finished) and len(set(f.program for f in finished)) == len(finished)


def test_the_cached_beam_prior_agrees_with_the_estimator_call():
    """The incremental prior (one cached decoder step per depth, each child from its parent's caches) gives the
    log-probabilities of the estimator call on the whole prefixes, and the live depth it carries, at every depth of a beam whose rows come from
    several distinct parents (so re-indexing the caches matters); and the beam it steers finishes the same
    programs with the same scores as the reference path."""
    env = TasmGFNEnv(tasks=[WASTEFUL], suite=None, masking="dataflow", max_len=6, value_state=True)
    torch.manual_seed(3)
    policy = TasmPolicy(env, SMALL)  # untrained: its distributions differ from row to row
    cached = CachedPrior(policy, 0)
    seen, parents_seen = [], []

    def follow(parents):
        parents_seen.append(parents.tolist())
        cached.follow(parents)

    def prior(state, scores, mask):
        fast = cached(state, mask)
        with torch.no_grad():
            reference = policy_log_probs(policy, env, state, mask)
        seen.append((int(state.length[0]), len(state)))
        assert torch.equal(torch.isfinite(fast), torch.isfinite(reference))
        legal = torch.isfinite(reference)
        assert torch.allclose(fast[legal], reference[legal], atol=1e-5), f"depth {seen[-1][0]}"
        # the live depth it carries from parent to child is the one summed over the whole prefix
        assert torch.equal(cached.depth, policy.module.depths(state.tokens[:, :seen[-1][0]], state.task)[:, -1])
        return scores[:, None] + reference.to(torch.float64)

    list(search(env, 0, 6, prior, follow=follow))
    assert len(seen) >= 4 and max(n for _, n in seen) >= 3
    assert any(len(set(p)) >= 2 and p != list(range(len(p))) for p in parents_seen)  # re-indexing is exercised
    with bound_to(env, policy):
        fast = policy_beam(policy, 0, width=6, keep=32, complete=False)
        reference = policy_beam(policy, 0, width=6, keep=32, complete=False, incremental=False)
    assert [f.program for f in fast] == [f.program for f in reference]
    assert np.allclose([f.score for f in fast], [f.score for f in reference], atol=1e-5)


def test_progress_steers_the_beam_where_the_log_probability_alone_misses(adversary):
    """The adversary puts almost all its mass on ``add`` for the ``mul`` task: a beam of one row scored by
    log-probability alone never finishes ``mul``; with the value-state progress term (``mul`` makes the output
    ready, ``add`` does not) it does, and ``mul`` verifies. Merging still works with the progress term on."""
    env = TasmGFNEnv(tasks=TINY, suite=None, masking="dataflow", max_len=3, value_state=True)
    right = te.Program.parse(RIGHT[TINY[0].name])
    with bound_to(env, adversary):
        alone = [f.program for f in policy_beam(adversary, 0, width=1, keep=8, progress_weight=0, complete=False,
                                                baseline=False)]
        stats = BeamStats()
        steered = [f.program for f in policy_beam(adversary, 0, width=1, keep=8, progress_weight=10,
                                                  complete=False, baseline=False, stats=stats)]
    assert right not in alone and right in steered and _verified(TINY[0], right)
    assert stats.merged > 0


def test_progress_ranks_the_children_by_how_far_they_reach_into_the_task_graph():
    """``progress`` rewards a prefix that makes the outputs ready over one that does not, at equal length."""
    task = TINY[0]
    env = TasmGFNEnv(tasks=[task], suite=None, masking="dataflow", max_len=3, value_state=True)
    rows = env.machine.encode([te.Program.parse("mul"), te.Program.parse("add"), te.Program.parse("pop 1")], 0)
    ahead = progress(env, task)(rows, env.machine.value_arrays(rows))
    assert ahead.shape == (3,) and ahead[0] > ahead[1] + 1 and np.isfinite(ahead).all()


def test_beam_completion_adds_stack_move_finishes_and_only_legal_ones(helper):
    """With ``complete``, the prefixes the beam held are finished by stack moves: every such candidate is legal
    under the masks (EOS at its end) and comes after the beam's own programs; some are new."""
    from agents.complete import legal_under_masks

    env = TasmGFNEnv(tasks=TINY, suite=None, masking="dataflow", max_len=4, value_state=True)
    gained = 0
    for i in range(len(TINY)):
        with bound_to(env, helper):
            plain = policy_beam(helper, i, width=2, keep=16, complete=False)
            more = policy_beam(helper, i, width=2, keep=16, complete=True)
        assert [f.program for f in more[:len(plain)]] == [f.program for f in plain]
        assert all(legal_under_masks(env, i, [f.program for f in more]))
        assert len(set(f.program for f in more)) == len(more) <= 16
        gained += len(more) - len(plain)
    assert gained > 0


def test_baseline_completion_finishes_the_baselines_prefixes_and_never_proposes_the_baseline(adversary):
    """With ``baseline``, the baseline's own prefixes are completed after the beam's candidates: the wasteful
    baseline's prefix ``push 3 mul`` is proposed (the adversary's beam alone misses it), the baseline itself never,
    every candidate is legal under the masks, the beam's own candidates come first unchanged, at most ``keep``."""
    from agents.complete import legal_under_masks

    env = TasmGFNEnv(tasks=[WASTEFUL], suite=None, masking="dataflow", max_len=6, value_state=True)
    short, whole = te.Program.parse("push 3 mul"), te.Program.coerce(WASTEFUL.baseline)
    with bound_to(env, adversary):
        plain = policy_beam(adversary, 0, width=1, keep=8, progress_weight=0, complete=False, baseline=False)
        more = policy_beam(adversary, 0, width=1, keep=8, progress_weight=0, complete=False, baseline=True)
        tight = policy_beam(adversary, 0, width=1, keep=len(plain) + 1, progress_weight=0, complete=False,
                            baseline=True)
    assert short not in [f.program for f in plain] and short in [f.program for f in more[len(plain):]]
    assert [f.program for f in more[:len(plain)]] == [f.program for f in plain]
    assert whole not in [f.program for f in more] and _verified(WASTEFUL, short)
    assert all(legal_under_masks(env, 0, [f.program for f in more])) and len(more) <= 8
    assert len(set(f.program for f in more)) == len(more)
    assert len(more) >= len(plain) + 2  # room for one completion only in `tight`: just one is appended
    assert [f.program for f in tight] == [f.program for f in more[:len(plain) + 1]]


def test_value_beam_finds_the_short_programs_and_is_seeded():
    for task in TINY:
        found = list(value_beam(task, width=8, count=4, seed=0))
        assert 1 <= len(found) <= 4 and len(set(found)) == len(found)
        assert te.Program.parse(RIGHT[task.name]) in found
        assert all(len(p) <= task.baseline_cycles for p in found)  # never dearer than the baseline
        assert found == list(value_beam(task, width=8, count=4, seed=0))


def test_beam_refuses_bad_settings():
    env = TasmGFNEnv(tasks=TINY, suite=None, masking="typed", max_len=3)
    flat = lambda state, scores, mask: torch.zeros(mask.shape)  # noqa: E731
    with pytest.raises(BeamError, match="value state"):
        next(search(env, 0, 4, flat))
    with pytest.raises(BeamError, match="width"):
        next(search(env, 0, 0, flat))
    with pytest.raises(BeamError, match="count"):
        next(value_beam(TINY[0], count=0))
    with pytest.raises(BeamError, match="pool"):
        next(search(TasmGFNEnv(tasks=TINY, suite=None, masking="typed", max_len=3, value_state=True), 0, 4, flat,
                    rescore=lambda rows, facts, prior: prior, pool=0))
    with pytest.raises(BeamError, match="progress_weight"):
        policy_beam(_trained_on(RIGHT), 0, progress_weight=-1)
