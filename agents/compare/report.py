"""The tables and plots of a sweep, aggregated with rliable (Agarwal et al. 2021).

The score of one run is its **capture** of the optimum: ``(b - c) / (b - o)`` for baseline cycles ``b``, best
valid cycles found ``c`` (``b`` when nothing verified) and the exact search's optimum ``o``, clipped to [0, 1].
Tasks whose baseline is already optimal (``b == o``: nothing to capture) are left out of the scores (they still
count in "tasks valid" and the per-task table). Per agent, the scores form a (seeds x tasks) matrix;
rliable gives the interquartile mean (IQM) and mean with 95% stratified bootstrap confidence intervals, the
performance profiles and the probability of improvement of one agent over another."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from tasm_env.atomic import atomic_write_text

from .interface import RunRecord

REPS = 2000  # bootstrap resamples (rliable's default is 50000; 2000 keeps the report under seconds)
TIERS = ("easy", "medium", "hard", "idiom")


def headroom(record: RunRecord) -> bool:
    """Whether the task has a saving to capture (no recorded optimum: assume it has)."""
    return record.optimum_cycles is None or record.optimum_cycles < record.baseline_cycles


def capture(record: RunRecord) -> float:
    """The run's share of the optimum's saving, in [0, 1] (for a task with :func:`headroom`)."""
    b, c = record.baseline_cycles, record.best_cycles
    if not headroom(record):
        raise ValueError(f"task {record.task} has no headroom: its baseline is optimal")
    o = record.optimum_cycles if record.optimum_cycles is not None else 0
    return float(np.clip((b - c) / (b - o), 0.0, 1.0))


def complete_tasks(records: Sequence[RunRecord]) -> tuple[list[str], list[str], list[int]]:
    """(agents, tasks, seeds) with the tasks every agent ran for every seed (a partial sweep's extra runs are
    left out, so every table is complete)."""
    agents = list(dict.fromkeys(r.agent for r in records))
    have = {(r.agent, r.seed, r.task) for r in records}
    seeds = sorted({r.seed for r in records})
    tasks = [t for t in sorted({r.task for r in records}) if all((a, s, t) in have for a in agents for s in seeds)]
    return agents, tasks, seeds


def score_matrices(records: Sequence[RunRecord]) -> tuple[dict[str, np.ndarray], list[str], list[int]]:
    """{agent: (seeds, tasks) capture} on the complete tasks with headroom, those tasks and the seeds."""
    agents, tasks, seeds = complete_tasks(records)
    by = {(r.agent, r.seed, r.task): r for r in records}
    tasks = [t for t in tasks if headroom(by[agents[0], seeds[0], t])]
    return ({a: np.array([[capture(by[a, s, t]) for t in tasks] for s in seeds]) for a in agents}, tasks, seeds)


def interval_estimates(scores: dict[str, np.ndarray], seed: int = 0) -> tuple[dict, dict]:
    from rliable import library as rly
    from rliable import metrics

    def both(x):
        return np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x)])

    with warnings.catch_warnings():  # arch (under rliable) warns that RandomState is deprecated: it still works
        warnings.simplefilter("ignore", FutureWarning)
        return rly.get_interval_estimates(scores, both, reps=REPS, random_state=np.random.RandomState(seed))


def markdown(records: Sequence[RunRecord], settings: dict) -> str:
    from rliable import metrics

    agents, tasks, seeds = complete_tasks(records)
    if not tasks:
        return "# tasm-env compare\n\nno task was run by every agent yet\n"
    scores, scored, _ = score_matrices(records)
    by = {(r.agent, r.seed, r.task): r for r in records}
    n = len(tasks)
    lines = [f"# tasm-env compare: {settings['suite']} {settings['split']} split", "",
             f"{len(agents)} agents x {len(seeds)} seeds x {n} tasks; budget {settings['budget']} programs scored "
             f"per run (batch {settings['batch']}). Capture = share of the optimum's saving found, in [0, 1], on the "
             f"{len(scored)} tasks whose baseline is not optimal; IQM and mean with 95% stratified bootstrap "
             f"intervals (rliable, {REPS} resamples). Valid: a verified program no costlier than the baseline "
             "(confirmed on fresh tests); improved: strictly cheaper.", "",
             "| agent | tasks valid | tasks improved | mean capture [95% CI] | IQM capture [95% CI] | "
             "valid share of scored | programs scored | seconds per run |",
             "|---|---|---|---|---|---|---|---|"]
    point, ci = interval_estimates(scores) if scored else ({}, {})
    for a in agents:
        runs = [by[a, s, t] for s in seeds for t in tasks]
        valid = np.mean([sum(by[a, s, t].found for t in tasks) for s in seeds])
        improved = np.mean([sum(by[a, s, t].best_cycles < by[a, s, t].baseline_cycles for t in tasks) for s in seeds])
        share = sum(r.valid_scored for r in runs) / max(1, sum(r.programs_scored for r in runs))
        if scored:
            (iqm, mean), ((iqm_lo, mean_lo), (iqm_hi, mean_hi)) = point[a], ci[a]
            cells = f"{mean:.3f} [{mean_lo:.3f}, {mean_hi:.3f}] | {iqm:.3f} [{iqm_lo:.3f}, {iqm_hi:.3f}]"
        else:
            cells = "- | -"
        lines.append(f"| {a} | {valid:.1f}/{n} | {improved:.1f}/{n} | {cells} | {share:.3f} | "
                     f"{np.mean([r.programs_scored for r in runs]):.0f} | {np.mean([r.seconds for r in runs]):.1f} |")
    if len(agents) > 1 and scored:
        lines += ["", "Probability of improvement P(row > column) of capture (rliable, point estimates):", "",
                  "| | " + " | ".join(agents) + " |", "|---|" + "---|" * len(agents)]
        for x in agents:
            cells = ["-" if x == y else f"{metrics.probability_of_improvement(scores[x], scores[y]):.2f}" for y in agents]
            lines.append(f"| {x} | " + " | ".join(cells) + " |")
    tier_of = {r.task: r.tier for r in records}
    tiers = [t for t in TIERS if any(tier_of[k] == t for k in tasks)]
    lines += ["", "## per tier: mean capture (tasks valid, mean over seeds)", "",
              "| agent | " + " | ".join(f"{t} ({sum(tier_of[k] == t for k in tasks)} tasks)" for t in tiers) + " |",
              "|---|" + "---|" * len(tiers)]
    for a in agents:
        cells = []
        for tier in tiers:
            cols = [i for i, k in enumerate(scored) if tier_of[k] == tier]
            found = np.mean([sum(by[a, s, k].found for k in tasks if tier_of[k] == tier) for s in seeds])
            mean = f"{scores[a][:, cols].mean():.3f}" if cols else "-"
            cells.append(f"{mean} ({found:.1f} valid)")
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    lines += ["", "## per task: best cycles over seeds (min / mean)", "",
              "| task | tier | baseline | optimum | " + " | ".join(agents) + " |",
              "|---|---|---|---|" + "---|" * len(agents)]
    for t in tasks:
        first = by[agents[0], seeds[0], t]
        cells = []
        for a in agents:
            cycles = [by[a, s, t].best_cycles for s in seeds]
            cells.append(f"{min(cycles)} / {np.mean(cycles):.1f}")
        optimum = first.optimum_cycles if first.optimum_cycles is not None else "-"
        lines.append(f"| {t} | {first.tier} | {first.baseline_cycles} | {optimum} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def best_cost_curve(record: RunRecord, grid: np.ndarray) -> np.ndarray:
    """Best cycles so far over the baseline's, at each number of programs scored in ``grid``."""
    points = np.array(record.curve, dtype=float)
    index = np.searchsorted(points[:, 0], grid, side="right") - 1
    return points[index, 1] / record.baseline_cycles


def plot(records: Sequence[RunRecord], budget: int, out: Path) -> list[Path]:
    """``curves.png`` (mean best cost / baseline against programs scored, 95% bootstrap band) and
    ``profiles.png`` (rliable performance profiles of capture)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rliable import library as rly
    from rliable import metrics, plot_utils

    agents, tasks, seeds = complete_tasks(records)
    if not tasks:
        return []
    scores, scored, _ = score_matrices(records)
    by = {(r.agent, r.seed, r.task): r for r in records}
    grid = np.unique(np.linspace(0, budget, 33).astype(int))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    curves = {a: np.array([[best_cost_curve(by[a, s, t], grid) for t in tasks] for s in seeds]) for a in agents}
    # rliable's sample-efficiency pattern: (runs, tasks, points) matrices, one statistic per point
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        mean, ci = rly.get_interval_estimates(
            curves, lambda x: np.array([metrics.aggregate_mean(x[..., g]) for g in range(x.shape[-1])]),
            reps=REPS // 10, random_state=np.random.RandomState(0))
    for a in agents:
        ax.plot(grid, mean[a], label=a)
        ax.fill_between(grid, ci[a][0], ci[a][1], alpha=0.2)
    ax.set_xlabel("programs scored")
    ax.set_ylabel("best valid cycles / baseline (mean over runs)")
    ax.set_title("best cost against budget (95% bootstrap band)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    curves_path = out / "curves.png"
    fig.savefig(curves_path, dpi=110)
    plt.close(fig)
    if not scored:
        return [curves_path]
    taus = np.linspace(0.0, 1.0, 41)
    profiles, profile_cis = rly.create_performance_profile(scores, taus, reps=REPS // 2)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    plot_utils.plot_performance_profiles(profiles, taus, performance_profile_cis=profile_cis, ax=ax,
                                         colors=dict(zip(scores, plt.rcParams["axes.prop_cycle"].by_key()["color"] * 3)),
                                         xlabel=r"capture of the optimum's saving ($\tau$)",
                                         ylabel=r"fraction of runs with capture $> \tau$")
    ax.legend(list(scores), fontsize=8)
    fig.tight_layout()
    profiles_path = out / "profiles.png"
    fig.savefig(profiles_path, dpi=110)
    plt.close(fig)
    return [curves_path, profiles_path]


def write_report(records: Sequence[RunRecord], settings: dict, out: Path) -> tuple[str, list[Path]]:
    text = markdown(records, settings)
    atomic_write_text(Path(out) / "compare.md", text)
    return text, plot(records, settings["budget"], Path(out))


__all__ = ["capture", "best_cost_curve", "markdown", "plot", "score_matrices", "write_report"]
