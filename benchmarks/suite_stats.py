"""The shipped suites in numbers: tasks per tier, baseline cost, proven optima and the headroom above the
compiler. Prints a markdown table and saves docs/headroom.png.

    python benchmarks/suite_stats.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tasm_env.tasks.suite import available_suites, load_suite

PLOT = Path(__file__).resolve().parent.parent / "docs" / "headroom.png"


def rows():
    for name in available_suites():
        suite = load_suite(name)
        order = {"easy": 0, "medium": 1, "hard": 2}
        for tier in sorted({t.tier for t in suite}, key=lambda t: (order.get(t, 9), t)):
            tasks = [t for t in suite if t.tier == tier]
            proved = [t for t in tasks if t.optimal_cycles is not None]
            headroom = np.array([t.headroom for t in proved]) if proved else np.zeros(0)
            found = [t for t in tasks if t.optimum is not None and t.optimum.cycles < t.baseline_cycles]
            yield name, tier, tasks, proved, headroom, found


def main() -> None:
    print("| suite | tier | tasks | mean baseline cycles | proven optimum | improvable (found cheaper) | "
          "mean headroom (proven) | headroom quartiles |")
    print("|---|---|---|---|---|---|---|---|")
    series = []
    for name, tier, tasks, proved, headroom, found in rows():
        quart = (" / ".join(f"{q:.0%}" for q in np.quantile(headroom, [0.25, 0.5, 0.75]))
                 if len(headroom) else "-")
        mean = f"{headroom.mean():.1%}" if len(headroom) else "-"
        print(f"| {name} | {tier} | {len(tasks)} | {np.mean([t.baseline_cycles for t in tasks]):.1f} | "
              f"{len(proved) / len(tasks):.0%} | {len(found) / len(tasks):.0%} | {mean} | {quart} |")
        series.append((f"{name}\n{tier}", headroom))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plot; `pip install tasm-env[plots]`)")
        return
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.boxplot([s for _, s in series], showmeans=True)
    ax.set_xticks(range(1, len(series) + 1), [n for n, _ in series])
    for i, (_, s) in enumerate(series, start=1):
        ax.scatter(np.full(len(s), i) + np.random.default_rng(i).uniform(-0.15, 0.15, len(s)), s, s=6, alpha=0.4)
    ax.set_ylabel("headroom (baseline - optimum) / baseline")
    ax.set_title("How much cheaper than the compiler a block can be (tasks with a proven optimum)")
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    fig.tight_layout()
    fig.savefig(PLOT, dpi=120)
    print(f"plot: {PLOT}")


if __name__ == "__main__":
    main()
