"""Completion decoding (agents.complete): a prefix holding every value the block must leave is finished by stack
moves into a block that verifies; nothing illegal under the masks is ever proposed; the verifier budget counts
every completed candidate; the arrangement really arranges (checked on the reference VM)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import agents.best as best
import agents.complete as complete
import tasm_env as te
from agents.best import best_program
from agents.complete import (JUNK, arrangement, clean_up, complete_each, complete_programs, completions, extend, gap,
                             legal_under_masks)
from agents.policy import PolicyConfig, TasmPolicy
from agents.pretrain import PretrainConfig, pretrain
from tasm_env.emission.vocab import EOS
from tasm_env.envs.gfn import TasmGFNEnv
from tasm_env.verify import Verifier
from tasm_env.vm import run

torch.set_num_threads(1)

# inputs a, b -> outputs a + b (deeper) and a * b (on top)
SUM_PRODUCT = te.Task.from_tasm("dup 1 dup 1 add pick 2 pick 2 mul", ("field", "field"), name="sum-product")
# prefixes of it: every value on the stack (a b s p), or the sum still missing (a b p a b)
READY = te.Program.parse("dup 1 dup 1 add dup 2 dup 2 mul")
SHORT = te.Program.parse("dup 1 dup 1 mul dup 2 dup 2")


def _env(task=SUM_PRODUCT, masking="dataflow"):
    return TasmGFNEnv(tasks=[task], suite=None, masking=masking, value_state=True)


def _replay_legal(env, program) -> bool:
    """An independent replay: every token legal under the env's masks, one at a time, and EOS at the end."""
    machine = env.machine
    tokens = env.specs[0].bound.encode(program)
    if len(tokens) > env.specs[0].budget:
        return False
    state = machine.initial([0])
    for token in tokens:
        if not bool(machine.forward_masks(state, env.masking)[0, token]):
            return False
        state = machine.step(state, torch.tensor([token]))
    return bool(machine.forward_masks(state, env.masking)[0, EOS])


def test_a_hand_made_prefix_completes_into_a_verifying_block():
    env = _env()
    probes = env.machine.values.probes(0)
    g = gap(probes, probes.outcome(probes.evaluate(READY)))
    assert g.completable and g.missing == 0 and len(g.live) == 4 and len(g.goal) == 2
    found = completions(env, 0, READY)
    assert found, "the prefix holds a + b and a * b: stack moves must finish it"
    last = [c for c in found if c.prefix_length == len(READY)]
    assert last and all(c.moves for c in last)
    for c in found:
        assert te.verify(SUM_PRODUCT, c.program, n_tests=128, seed=5).ok, str(c.program)
        assert _replay_legal(env, c.program)
    # the shortest arrangement of (a b s p) -> (s p) takes three moves (two picks and a pop, or the like)
    assert min(len(c.moves) for c in last) == 3


def test_a_prefix_missing_a_value_is_not_completed_by_moves_but_one_instruction_finishes_it():
    env = _env()
    probes = env.machine.values.probes(0)
    g = gap(probes, probes.outcome(probes.evaluate(SHORT)))
    assert g.missing == 1 and not g.completable
    assert completions(env, 0, SHORT) == []
    extended = extend(env, 0, [SHORT])
    assert extended, "a b p a b: one `add` and stack moves finish it"
    verifier = Verifier(SUM_PRODUCT, n_tests=128, seed=9)
    assert all(v.ok for v in verifier.check(extended))
    for program in extended:
        assert tuple(program[:len(SHORT)]) == tuple(SHORT)
        assert program[len(SHORT)].name not in complete.STACK_MOVES


def test_complete_programs_keeps_only_legal_distinct_candidates_cheapest_first():
    env = _env()
    drawn = [READY, READY, SHORT, te.Program.parse("dup 0 dup 0 mul pop 1 pop 1")]
    programs = complete_programs(env, 0, drawn, keep=64)
    assert programs and len(set(programs)) == len(programs)
    assert [len(p) for p in programs] == sorted(len(p) for p in programs)
    assert all(_replay_legal(env, p) for p in programs)
    assert len(complete_programs(env, 0, drawn, keep=1)) == 1


def test_broken_arrangements_are_never_proposed(monkeypatch):
    """An arrangement that does not arrange (here: one pop too many, or nothing at all) must be filtered out by
    the masks' check, never handed to the verifier."""
    env = _env()
    good = completions(env, 0, READY)
    assert good
    monkeypatch.setattr(complete, "arrangement", lambda live, goal, node_limit=0: (te.Instruction("pop", 1),))
    assert completions(env, 0, READY) == []
    assert complete_programs(env, 0, [READY], keep=8, extra=False) == []


def test_legal_under_masks_rejects_what_the_masks_reject():
    env = _env()
    assert legal_under_masks(env, 0, [SUM_PRODUCT.baseline]) == [True]
    # reads below the block's inputs; stops short of the outputs; the right shape but the wrong values (no EOS)
    bad = ["dup 5 pop 1 dup 1 dup 1 add pick 2 pick 2 mul", "dup 1 dup 1 add", "dup 1 dup 1 mul pick 2 pick 2 add"]
    assert legal_under_masks(env, 0, [te.Program.parse(p) for p in bad]) == [False, False, False]
    assert legal_under_masks(_env(masking="typed"), 0, [te.Program.parse(bad[2])]) == [True]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-1, 2), min_size=1, max_size=9), st.lists(st.integers(0, 2), min_size=1, max_size=4))
def test_arrangement_arranges_on_the_reference_vm(live, goal):
    """Labels become values (junk: distinct ones); the moves, run on the VM, leave exactly the goal's values."""
    moves = arrangement(live, goal)
    if not set(goal) <= set(live):
        assert moves is None
        return
    assert moves is not None
    values = [1000 + i if label == JUNK else 10 + label for i, label in enumerate(live)]
    out = run(te.Program(moves), stack=values).stack
    assert list(out[16:]) == [10 + label for label in goal]
    fallback = clean_up(live, goal)
    if fallback is not None:
        assert len(moves) <= len(fallback)
        assert list(run(te.Program(fallback), stack=values).stack[16:]) == [10 + label for label in goal]


def _policy_for(task, answer: str) -> TasmPolicy:
    env = TasmGFNEnv(tasks=[task], suite=None, masking="dataflow")
    torch.manual_seed(0)
    policy = TasmPolicy(env, PolicyConfig(d_model=16, heads=2, gnn_layers=1, decoder_layers=1, d_ff=32, edge_dim=4))
    pretrain(policy, [(0, te.Program.parse(answer))], PretrainConfig(epochs=40, batch_size=1, lr=2e-2),
             progress=False)
    return policy


class CountingVerifier(Verifier):
    programs = 0

    def check(self, candidates, prove=False):
        CountingVerifier.programs += len(candidates)
        return super().check(candidates, prove=prove)


@pytest.mark.parametrize("budget", [2, 3, 5])
def test_the_verifier_budget_counts_every_completed_candidate(monkeypatch, budget):
    policy = _policy_for(SUM_PRODUCT, str(READY) + " pick 3 pick 3 pop 2")
    CountingVerifier.programs = 0
    monkeypatch.setattr(best, "Verifier", CountingVerifier)
    proposed = best.candidates([SUM_PRODUCT], policy, 16, decode="complete")[0]
    assert len(proposed) > budget, "the test needs more candidates than the budget"
    CountingVerifier.programs = 0
    outcome = best_program(SUM_PRODUCT, policy, samples=16, decode="complete", verifier_budget=budget)
    assert CountingVerifier.programs <= budget and outcome.verifier_calls == CountingVerifier.programs
    assert outcome.decode == "complete"
    assert te.verify(SUM_PRODUCT, outcome.program, n_tests=128, seed=3).ok


def test_complete_each_keeps_one_program_per_draw_in_order():
    env = _env()
    drawn = [SHORT, READY, SUM_PRODUCT.baseline]
    out = complete_each(env, 0, drawn)
    assert len(out) == 3
    assert out[0] == SHORT  # nothing completes it without a computing instruction
    assert tuple(out[1][:len(READY)]) == tuple(READY) and te.verify(SUM_PRODUCT, out[1]).ok
    assert te.verify(SUM_PRODUCT, out[2]).ok and len(out[2]) <= len(SUM_PRODUCT.baseline)
    assert te.verify(SUM_PRODUCT, complete_each(env, 0, [SHORT], extra=True)[0]).ok


@pytest.mark.parametrize("name", ["basic-easy-003", "basic-easy-060"])
def test_completions_of_a_suite_baseline_are_legal_and_verify(name):
    """Every completion of every prefix of a suite task's baseline (with the one-instruction search) replays
    legally under the dataflow masks and verifies."""
    task = te.load_suite("tasm-basic-v1").tasks[name]
    env = _env(task)
    programs = complete_programs(env, 0, [task.baseline], keep=64)
    assert task.baseline in programs or any(len(p) < len(task.baseline) for p in programs)
    verifier = Verifier(task, n_tests=128, seed=11)
    assert all(v.ok for v in verifier.check(programs))
    assert all(_replay_legal(env, p) for p in programs)


@pytest.mark.parametrize("name", ["basic-easy-003", "basic-hard-006"])
def test_completions_are_the_same_from_the_value_stacks_and_the_reference(name):
    """The prefixes' facts come from the machine's value-stack fast path (I/O prefixes among them: basic-hard-006
    reads, divines and writes) or, with ``fast_values`` off, from the reference: the same completions, and the
    fast path is used."""
    task = te.load_suite("tasm-basic-v1").tasks[name]
    drawn = [task.baseline] + ([task.optimum.program] if task.optimum is not None else [])
    fast, slow = _env(task), _env(task)
    slow.machine.fast_values = False
    assert complete_programs(fast, 0, drawn, keep=64) == complete_programs(slow, 0, drawn, keep=64)
    assert fast.machine.value_stacks.covered_rows > 0
