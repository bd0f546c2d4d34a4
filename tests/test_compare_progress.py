"""Progress per run: pool workers report every scored batch to the driver (a queue), which draws one bar per
active run and one for the sweep; the events are counted per run, never timed."""

from __future__ import annotations

from agents.compare.backends import run_units
from agents.compare.interface import RunUnit

TASK = "basic-easy-003"


def units() -> list[RunUnit]:
    return [RunUnit(agent=agent, seed=seed, task=TASK, budget=8, batch=4, checkpoint="fresh")
            for agent in ("mcmc", "exact") for seed in (0, 1)]


def events_of(workers: int) -> tuple[dict, list]:
    seen: dict[tuple, list] = {}
    records = run_units(units(), workers=workers, progress=False,
                        on_progress=lambda key, used, budget, best: seen.setdefault(key, []).append((used, budget)))
    return seen, records


def check(seen: dict, records: list) -> None:
    assert set(seen) == {u.key() for u in units()}  # every run reported, under its own key
    for record in records:
        used = [u for u, _ in seen[record.agent, record.seed, record.task]]
        assert used == sorted(set(used)) and used[-1] == record.programs_scored  # one event per scored batch
        assert all(b == 8 for _, b in seen[record.agent, record.seed, record.task])
    # MCMC proposes one program per round: 8 rounds, 8 events; exact proposes its optimum once
    assert [len(seen["mcmc", s, TASK]) for s in (0, 1)] == [8, 8]
    assert [seen["exact", s, TASK] for s in (0, 1)] == [[(1, 8)], [(1, 8)]]


def test_pool_workers_report_progress_per_run():
    check(*events_of(workers=2))


def test_in_process_runs_report_the_same_events():
    check(*events_of(workers=1))
