"""decode="complete" for the comparison's learned agents (agents.compare.single_task): each draw is finished by
stack moves (agents.complete.complete_each) before the harness scores it; the budget counts every completed
program; the agent learns from the completed blocks it proposed."""

import pytest
import torch

import agents.complete as complete
import tasm_env as te
from agents.compare.interface import AgentContext, CompareError, RunUnit, ScoringBudget, make_agent, register, run_unit
from agents.policy import PolicyConfig

torch.set_num_threads(1)

SMALL = PolicyConfig(d_model=16, heads=2, gnn_layers=1, decoder_layers=1, d_ff=32, edge_dim=4).to_dict()
# the inputs are already the outputs, in the other order: every draw's empty prefix completes (by a swap)
SWAP = te.Task.from_tasm("swap 1", ("field", "field"), name="swap-two")


def _context(decode: str, seed: int = 0) -> AgentContext:
    return AgentContext(seed=seed, checkpoint="fresh", options={"policy_config": SMALL, "decode": decode})


@pytest.mark.parametrize("name", ["tb", "reinforce", "ppo"])
def test_decode_complete_scores_and_learns_the_completed_draws(name, monkeypatch):
    calls = []
    original = complete.complete_each

    def spy(env, task, drawn, **kwargs):
        out = original(env, task, drawn, **kwargs)
        calls.append(([str(p) for p in drawn], [str(p) for p in out]))
        return out

    monkeypatch.setattr(complete, "complete_each", spy)
    agent, budget = make_agent(name, _context("complete")), ScoringBudget(SWAP, 32)
    scored_all = []
    for round_ in range(2):
        proposals = [str(p) for p in agent.propose(SWAP, 8)]
        assert len(calls) == round_ + 1 and proposals == calls[-1][1]  # one completed program per draw, in order
        assert [str(p) for p in agent.pending.programs()] == proposals  # what it learns from is what is scored
        scored = budget.score(proposals)
        agent.learn(SWAP, scored)
        scored_all += scored
    assert budget.used == 16
    assert any(a != b for a, b in zip(*calls[0])), "completion changed no draw: the test shows nothing"
    assert all(s.valid for s in scored_all)


def test_decode_complete_through_run_unit_counts_every_program_against_the_budget():
    records = {}
    for decode in ("sample", "complete"):
        register(f"test-complete-{decode}", lambda context, d=decode: make_agent("tb", _context(d, context.seed)))
        records[decode] = run_unit(RunUnit(agent=f"test-complete-{decode}", seed=0, task=SWAP.name, budget=12,
                                           batch=4), task=SWAP)
    assert records["complete"].programs_scored == 12 and records["complete"].valid_scored == 12
    assert records["complete"].found and records["complete"].best_cycles <= SWAP.baseline_cycles
    assert records["sample"].valid_scored < 12


def test_unknown_decode_and_maskable_ppo_are_refused():
    with pytest.raises(CompareError, match="unknown decode"):
        make_agent("tb", _context("beam"))
    with pytest.raises(CompareError, match="not built"):
        make_agent("maskable_ppo", _context("complete"))
