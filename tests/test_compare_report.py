"""The comparison's report: probability of improvement with rliable's stratified-bootstrap intervals, the
best-cost-by-budget table read off the curves, re-rendering from results.json, and the task-major unit order
that makes a stopped sweep's report compare agents on the same tasks."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from agents.compare.interface import CompareError, RunRecord
from agents.compare.report import (budget_points, cost_at_budgets, improved_at_budgets, improvement_estimates,
                                   markdown, reference_cycles, score_matrices, write_report)
from agents.compare.sweep import SweepSettings, make_units, render_results, run_sweep

CELL = re.compile(r"(\d\.\d\d) \[(\d\.\d\d), (\d\.\d\d)\]")


def record(agent: str, seed: int, task: str, best: int, curve=None, baseline: int = 10,
           optimum: int | None = 0, proved: bool = False) -> RunRecord:
    return RunRecord(agent=agent, seed=seed, task=task, tier="easy", best_program="push 0", best_cycles=best,
                     baseline_cycles=baseline, programs_scored=64, valid_scored=1, found=best < baseline,
                     seconds=0.1, curve=curve or [[0, baseline], [8, best]], optimum_cycles=optimum,
                     optimum_proved=proved)


def synthetic(rng: np.random.Generator, lows: dict[str, int], seeds: int = 5, tasks: int = 8) -> list[RunRecord]:
    """Runs whose best cycles are drawn from [low, low + 5) per agent (baseline 10, optimum 0)."""
    return [record(a, s, f"t{t}", int(rng.integers(low, low + 5))) for a, low in lows.items()
            for s in range(seeds) for t in range(tasks)]


def test_a_clearly_better_agent_has_an_interval_above_one_half():
    rng = np.random.default_rng(0)
    good, bad = rng.uniform(0.6, 1.0, (5, 8)), rng.uniform(0.0, 0.4, (5, 8))
    point, ci = improvement_estimates({"good": good, "bad": bad})
    from rliable import metrics

    assert point["good", "bad"] == pytest.approx(metrics.probability_of_improvement(good, bad))
    assert 0.5 < ci["good", "bad"][0] <= point["good", "bad"] <= ci["good", "bad"][1]
    assert ci["bad", "good"][1] < 0.5  # the mirror: the worse agent's interval lies below one half
    assert point["bad", "good"] == pytest.approx(1 - point["good", "bad"])


def test_agents_from_one_distribution_straddle_one_half():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0, 1, (5, 8)), rng.uniform(0, 1, (5, 8))
    _, ci = improvement_estimates({"a": a, "b": b})
    assert ci["a", "b"][0] < 0.5 < ci["a", "b"][1]
    point, ci = improvement_estimates({"a": a, "same": a.copy()})
    assert point["a", "same"] == 0.5 and ci["a", "same"][0] <= 0.5 <= ci["a", "same"][1]


def test_the_interval_is_a_bootstrap_of_the_runs_not_a_fixed_band():
    # few runs and tasks: wide; many: narrow (an interval that ignored the data would not move)
    rng = np.random.default_rng(2)
    small = improvement_estimates({"x": rng.uniform(0.2, 1, (3, 3)), "y": rng.uniform(0, 0.8, (3, 3))})[1]
    large = improvement_estimates({"x": rng.uniform(0.2, 1, (10, 30)), "y": rng.uniform(0, 0.8, (10, 30))})[1]
    width = lambda ci: ci["x", "y"][1] - ci["x", "y"][0]  # noqa: E731
    assert width(large) < width(small)


def test_markdown_gives_probability_of_improvement_with_intervals():
    records = synthetic(np.random.default_rng(3), {"good": 0, "bad": 5})
    text = markdown(records, {"suite": "s", "split": "test", "budget": 64, "batch": 16})
    section = text.split("## probability of improvement", 1)[1].split("##", 1)[0]
    rows = {line.split(" | ")[0].strip("| "): line for line in section.splitlines() if line.startswith("| ")}
    point, lo, hi = (float(v) for v in CELL.search(rows["good"]).groups())
    assert lo > 0.5 and lo <= point <= hi
    point, lo, hi = (float(v) for v in CELL.search(rows["bad"]).groups())
    assert hi < 0.5


def test_without_headroom_the_probability_of_improvement_falls_back_on_relative_saving():
    # every task's baseline is its proved optimum: no capture; nobody beats it, but "bad" crashes more often
    records = [record(a, s, f"t{t}", 10, optimum=10, proved=True) for a in ("good", "bad") for s in range(4)
               for t in range(6)]
    text = markdown(records, {"suite": "s", "split": "test", "budget": 64, "batch": 16})
    assert "relative saving" in text and "| t0 | easy | 10 | 10 |" in text


def test_an_unproved_optimum_that_a_run_beats_is_no_optimum():
    """The record's best known (10 = the baseline) is not proved; runs of "good" verify 6-7 cycles. The task has
    headroom against the best known (6), capture is measured against it, the table marks it with *."""
    rng = np.random.default_rng(4)
    records = [record(a, s, f"t{t}", int(rng.integers(low, low + 2)), optimum=10)
               for a, low in {"good": 6, "bad": 10}.items() for s in range(4) for t in range(6)]
    records = [r if r.best_cycles <= 10 else record(r.agent, r.seed, r.task, 10, optimum=10) for r in records]
    reference = reference_cycles(records)
    for t in range(6):
        assert reference[f"t{t}"] == min(r.best_cycles for r in records if r.task == f"t{t}") < 10
    scores, tasks, _ = score_matrices(records)
    assert tasks == [f"t{t}" for t in range(6)] and scores["bad"].max() == 0.0 and scores["good"].max() == 1.0
    text = markdown(records, {"suite": "s", "split": "test", "budget": 64, "batch": 16})
    assert "relative saving" not in text and f"| t0 | easy | 10 | {reference['t0']}* |" in text


def test_cost_at_budgets_reads_the_curves():
    assert budget_points(128) == [16, 32, 64, 128] and budget_points(100) == [16, 32, 64, 100]
    records = [record("a", s, "t0", 5, curve=[[0, 10], [20, 5]]) for s in range(3)]
    records += [record("b", s, "t0", 8, curve=[[0, 10], [70, 8]]) for s in range(3)]
    grid, mean, ci = cost_at_budgets(records, 128)
    assert grid == [16, 32, 64, 128]
    assert mean["a"] == pytest.approx([1.0, 0.5, 0.5, 0.5]) and mean["b"] == pytest.approx([1.0, 1.0, 1.0, 0.8])
    assert np.all(ci["a"][0] <= mean["a"]) and np.all(mean["a"] <= ci["a"][1])
    assert improved_at_budgets(records, 128) == {"a": [0, 1, 1, 1], "b": [0, 0, 0, 1]}


def test_units_run_task_by_task_easier_tiers_first():
    settings = SweepSettings(agents=("exact", "mcmc"), tiers=("easy", "medium"), tasks=2, seeds=2, budget=4)
    units = make_units(settings)
    tiers = [u.task.split("-")[1] for u in units]
    assert tiers == sorted(tiers, key=["easy", "medium"].index)
    first = units[:4]  # one task: every agent, every seed, before the next task
    assert {u.task for u in first} == {units[0].task}
    assert {(u.agent, u.seed) for u in first} == {(a, s) for a in ("exact", "mcmc") for s in range(2)}


def test_report_rerenders_from_results_json_and_says_when_unfinished(tmp_path):
    settings = SweepSettings(agents=("exact", "mcmc"), tiers=("easy",), tasks=2, seeds=1, budget=4)
    run_sweep(tmp_path, settings, workers=1, progress=False)  # writes results.json only (the command reports)
    text, plots, unfinished = render_results(tmp_path)
    assert unfinished == {} and (tmp_path / "compare.md").read_text() == text
    assert "2 agents x 1 seeds x 2 tasks" in text and all(p.exists() for p in plots)
    data = json.loads((tmp_path / "results.json").read_text())
    last = data["runs"][-1]
    data["runs"] = data["runs"][:-1]  # the sweep stopped before its last unit
    (tmp_path / "results.json").write_text(json.dumps(data))
    text, _, unfinished = render_results(tmp_path)
    assert unfinished == {last["agent"]: "1/2 runs"}
    assert "Unfinished sweep" in text and "x 1 tasks" in text and last["task"] not in text
    data["runs"] = [r for r in data["runs"] if r["agent"] == "exact"]  # mcmc not started
    (tmp_path / "results.json").write_text(json.dumps(data))
    text, _, unfinished = render_results(tmp_path)
    assert unfinished == {"mcmc": "0/2 runs"} and "Not in the tables (no run yet): mcmc" in text
    data["runs"] = []
    (tmp_path / "results.json").write_text(json.dumps(data))
    with pytest.raises(CompareError, match="no task was finished"):
        render_results(tmp_path)


def test_the_report_lists_agents_in_the_settings_order_whatever_order_runs_finished(tmp_path):
    records = synthetic(np.random.default_rng(5), {"late": 0, "early": 5}, seeds=2, tasks=2)
    settings = {"suite": "s", "split": "test", "budget": 64, "batch": 16, "agents": ["early", "late"]}
    text, _ = write_report(records, settings, tmp_path)
    first_table = text.split("| agent |", 1)[1]
    assert first_table.index("| early |") < first_table.index("| late |")
