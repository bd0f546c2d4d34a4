"""The tables and plots of a sweep, aggregated with rliable (Agarwal et al. 2021).

The score of one run is its **capture** of the optimum: ``(b - c) / (b - o)`` for baseline cycles ``b``, best
valid cycles found ``c`` (``b`` when nothing verified) and the reference ``o``, clipped to [0, 1]. The reference
is the cheaper of the exact search's recorded program and every run's verified best in the sweep: the optimum
where the record proves it; where it does not, the best known (a run may beat the record: then it was no optimum).
Tasks whose baseline is the reference (``b == o``: nothing to capture) are left out of the scores (they still
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
POI_REPS = 200  # resamples per pair for the probability of improvement (a Mann-Whitney U per task per resample)
TIERS = ("easy", "medium", "hard", "idiom")


def reference_cycles(records: Sequence[RunRecord]) -> dict[str, int | None]:
    """Per task, the cycles capture is measured against: the cheaper of the recorded optimum and every run's
    verified best here (None: no optimum recorded). Where the record proves its optimum no run is below it, so
    this is the optimum; where it does not, a run may beat it, and then it was no optimum."""
    reference: dict[str, int | None] = {}
    for r in records:  # best_cycles is the baseline's where nothing verified, so never below a verified program
        if r.optimum_cycles is None:
            reference[r.task] = None
        else:
            reference[r.task] = min(reference.get(r.task, r.optimum_cycles), r.optimum_cycles, r.best_cycles)
    return reference


def headroom(record: RunRecord, reference: int | None) -> bool:
    """Whether the task has a saving to capture against ``reference`` (none recorded: assume it has)."""
    return reference is None or reference < record.baseline_cycles


def capture(record: RunRecord, reference: int | None) -> float:
    """The run's share of the saving to ``reference`` (:func:`reference_cycles`), in [0, 1] (for a task with
    :func:`headroom`; no reference: the saving's share of the baseline)."""
    b, c = record.baseline_cycles, record.best_cycles
    if not headroom(record, reference):
        raise ValueError(f"task {record.task} has no headroom: its baseline is the reference")
    o = reference if reference is not None else 0
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
    reference = reference_cycles(records)
    tasks = [t for t in tasks if headroom(by[agents[0], seeds[0], t], reference[t])]
    return ({a: np.array([[capture(by[a, s, t], reference[t]) for t in tasks] for s in seeds]) for a in agents},
            tasks, seeds)


def saving_matrices(records: Sequence[RunRecord]) -> dict[str, np.ndarray]:
    """{agent: (seeds, tasks) relative saving ``(b - c) / b``} on every complete task: the score the
    probability of improvement falls back on when no task records an optimum below its baseline."""
    agents, tasks, seeds = complete_tasks(records)
    by = {(r.agent, r.seed, r.task): r for r in records}
    return {a: np.array([[(by[a, s, t].baseline_cycles - by[a, s, t].best_cycles) / by[a, s, t].baseline_cycles
                          for t in tasks] for s in seeds]) for a in agents}


def interval_estimates(scores: dict[str, np.ndarray], seed: int = 0) -> tuple[dict, dict]:
    from rliable import library as rly
    from rliable import metrics

    def both(x):
        return np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x)])

    with warnings.catch_warnings():  # arch (under rliable) warns that RandomState is deprecated: it still works
        warnings.simplefilter("ignore", FutureWarning)
        return rly.get_interval_estimates(scores, both, reps=REPS, random_state=np.random.RandomState(seed))


def improvement_estimates(scores: dict[str, np.ndarray], seed: int = 0, reps: int = POI_REPS
                          ) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], tuple[float, float]]]:
    """P(x > y) for every ordered pair of agents, with 95% stratified bootstrap intervals: rliable's pairwise
    recipe (``get_interval_estimates`` on ``{pair: (scores_x, scores_y)}``, runs of x and y resampled
    independently within each task, ``metrics.probability_of_improvement`` on each resample).

    One bootstrap per unordered pair: Mann-Whitney's U counts ties as halves, so P(y > x) = 1 - P(x > y) on
    every resample, and the percentile interval of P(y > x) is the mirror of P(x > y)'s."""
    from rliable import library as rly
    from rliable import metrics

    names = list(scores)
    pairs = {f"{x}\t{y}": (scores[x], scores[y]) for i, x in enumerate(names) for y in names[i + 1:]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        point, ci = rly.get_interval_estimates(pairs, metrics.probability_of_improvement, reps=reps,
                                               random_state=np.random.RandomState(seed))
    points, intervals = {}, {}
    for key in pairs:
        x, y = key.split("\t")
        p, (lo, hi) = float(np.ravel(point[key])[0]), np.ravel(ci[key]).astype(float)
        points[x, y], intervals[x, y] = p, (float(lo), float(hi))
        points[y, x], intervals[y, x] = 1.0 - p, (1.0 - hi, 1.0 - lo)
    return points, intervals


BUDGET_POINTS = (16, 32, 64, 128, 256, 512, 1024)


def budget_points(budget: int) -> list[int]:
    """The budgets the by-budget table reads off the curves: the powers of two up to ``budget``, and it."""
    return [b for b in BUDGET_POINTS if b < budget] + [budget]


def cost_at_budgets(records: Sequence[RunRecord], budget: int, seed: int = 0
                    ) -> tuple[list[int], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Mean best valid cycles / baseline after 16, 32, ... programs scored (read off each run's curve), per
    agent over the (seeds x complete tasks) matrix, with 95% stratified bootstrap intervals (rliable).
    Returns (budgets, {agent: means}, {agent: (2, budgets) bounds})."""
    grid = np.array(budget_points(budget))
    mean, ci = curve_estimates(records, grid, REPS, seed)
    return list(grid), mean, ci


def curve_estimates(records: Sequence[RunRecord], grid: np.ndarray, reps: int, seed: int = 0
                    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """rliable's sample-efficiency recipe on the best-cost curves: (seeds, tasks, points) matrices per agent,
    the mean at each point with a stratified bootstrap interval."""
    from rliable import library as rly
    from rliable import metrics

    agents, tasks, seeds = complete_tasks(records)
    by = {(r.agent, r.seed, r.task): r for r in records}
    curves = {a: np.array([[best_cost_curve(by[a, s, t], grid) for t in tasks] for s in seeds]) for a in agents}
    with warnings.catch_warnings():  # arch (under rliable) warns that RandomState is deprecated: it still works
        warnings.simplefilter("ignore", FutureWarning)
        return rly.get_interval_estimates(
            curves, lambda x: np.array([metrics.aggregate_mean(x[..., g]) for g in range(x.shape[-1])]),
            reps=reps, random_state=np.random.RandomState(seed))


def improved_at_budgets(records: Sequence[RunRecord], budget: int) -> dict[str, list[float]]:
    """Tasks improved (strictly below the baseline, mean over seeds) after 16, 32, ... programs scored."""
    agents, tasks, seeds = complete_tasks(records)
    by = {(r.agent, r.seed, r.task): r for r in records}
    grid = np.array(budget_points(budget))
    return {a: list(np.mean([[best_cost_curve(by[a, s, t], grid) < 1.0 for t in tasks] for s in seeds],
                            axis=0).sum(axis=0)) for a in agents}


def markdown(records: Sequence[RunRecord], settings: dict) -> str:
    agents, tasks, seeds = complete_tasks(records)
    if not tasks:
        return "# tasm-env compare\n\nno task was run by every agent yet\n"
    scores, scored, _ = score_matrices(records)
    by = {(r.agent, r.seed, r.task): r for r in records}
    n = len(tasks)
    lines = [f"# tasm-env compare: {settings['suite']} {settings['split']} split", "",
             f"{len(agents)} agents x {len(seeds)} seeds x {n} tasks; budget {settings['budget']} programs scored "
             f"per run (batch {settings['batch']}). Capture = share of the optimum's saving found, in [0, 1], on the "
             f"{len(scored)} tasks whose baseline is above the reference (the proved optimum, else the best "
             "known: see the per-task table); IQM and mean with 95% stratified bootstrap "
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
    grid, cost, cost_ci = cost_at_budgets(records, settings["budget"])
    improved_by = improved_at_budgets(records, settings["budget"])
    lines += ["", "## by budget: mean best valid cycles / baseline [95% CI] (tasks improved) after N programs "
              "scored", "", "Read off each run's curve (1.000: the baseline, nothing cheaper found yet); all "
              f"{n} tasks, lower is better.", "",
              "| agent | " + " | ".join(f"N = {b}" for b in grid) + " |", "|---|" + "---|" * len(grid)]
    for a in agents:
        cells = [f"{cost[a][g]:.3f} [{cost_ci[a][0][g]:.3f}, {cost_ci[a][1][g]:.3f}] ({improved_by[a][g]:.1f})"
                 for g in range(len(grid))]
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    if len(agents) > 1:
        if scored:
            poi, poi_ci = improvement_estimates(scores)
            what = f"capture on the {len(scored)} tasks with headroom"
        else:
            poi, poi_ci = improvement_estimates(saving_matrices(records))
            what = (f"relative saving (baseline - best) / baseline on all {n} tasks (no task has a proved or "
                    "best-known program below its baseline, so capture is undefined)")
        lines += ["", "## probability of improvement", "",
                  f"P(row > column) of {what} [95% stratified bootstrap interval; rliable, {POI_REPS} resamples "
                  "per pair]. An interval above 0.5: the row agent is better; one straddling 0.5: no evidence "
                  "either way.", "",
                  "| | " + " | ".join(agents) + " |", "|---|" + "---|" * len(agents)]
        for x in agents:
            cells = ["-" if x == y else f"{poi[x, y]:.2f} [{poi_ci[x, y][0]:.2f}, {poi_ci[x, y][1]:.2f}]"
                     for y in agents]
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
    reference = reference_cycles(records)
    lines += ["", "## per task: best cycles over seeds (min / mean)", "",
              "optimum: the exact search's proved optimum; with *, not proved: the best known, the cheaper of the "
              "search's record and every verified run here (capture's reference).", "",
              "| task | tier | baseline | optimum | " + " | ".join(agents) + " |",
              "|---|---|---|---|" + "---|" * len(agents)]
    for t in tasks:
        first = by[agents[0], seeds[0], t]
        cells = []
        for a in agents:
            cycles = [by[a, s, t].best_cycles for s in seeds]
            cells.append(f"{min(cycles)} / {np.mean(cycles):.1f}")
        optimum = "-" if reference[t] is None else f"{reference[t]}{'' if first.optimum_proved else '*'}"
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
    from rliable import plot_utils

    agents, tasks, seeds = complete_tasks(records)
    if not tasks:
        return []
    scores, scored, _ = score_matrices(records)
    grid = np.unique(np.linspace(0, budget, 33).astype(int))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    mean, ci = curve_estimates(records, grid, REPS // 10)
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


def write_report(records: Sequence[RunRecord], settings: dict, out: Path, unfinished: dict[str, str] | None = None,
                 tasks_total: int | None = None) -> tuple[str, list[Path]]:
    """Write ``out/compare.md`` and the plots. ``unfinished``: {agent: "k/n runs"} of a sweep that has not
    finished (``tasks_total``: its tasks), said under the title. Agents appear in ``settings["agents"]``'s order
    (runs finish in any order on several workers)."""
    order = {a: i for i, a in enumerate(settings.get("agents", ()))}
    records = sorted(records, key=lambda r: order.get(r.agent, len(order)))  # stable: each agent's runs in order
    text = markdown(records, settings)
    if unfinished:
        title, rest = text.split("\n", 1)
        agents = sorted({r.agent for r in records})
        done = len(complete_tasks(records)[1])
        note = ", ".join(f"{a} {k}" for a, k in unfinished.items())
        missing = [a for a in unfinished if a not in agents]
        text = (f"{title}\n\n**Unfinished sweep**: {done} of {tasks_total} tasks were finished by every agent "
                f"for every seed; the tables hold those. Runs done: {note}."
                + (f" Not in the tables (no run yet): {', '.join(missing)}." if missing else "") + f"\n{rest}")
    atomic_write_text(Path(out) / "compare.md", text)
    return text, plot(records, settings["budget"], Path(out))


__all__ = ["budget_points", "capture", "best_cost_curve", "cost_at_budgets", "improved_at_budgets",
           "improvement_estimates", "markdown", "reference_cycles", "saving_matrices", "plot", "score_matrices",
           "write_report"]
