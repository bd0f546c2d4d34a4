"""The results table and plot of docs/results.md, from the evaluation reports `tasm-env evaluate --json` wrote.

    python benchmarks/results_table.py [--reports docs/results] [--plot docs/results.png]

Prints one summary row per agent (all test tasks), then each agent's table by tier, and draws mean improvement
over the baseline against samples drawn. The reports hold every task's verified best cycles after each sample,
so nothing here re-runs a policy; `tasm-env evaluate` (see docs/results.md) produces them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agents.evaluate import Report, plot_improvement

ORDER = ("MLE", "TB", "LPV", "RTB", "RTB-stage3")
LABELS = {"RTB-stage3": "RTB + stage 3"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=Path, default=Path("docs/results"))
    parser.add_argument("--plot", type=Path, help="write the improvement-vs-samples plot here")
    args = parser.parse_args()
    found = {p.stem: p for p in sorted(args.reports.glob("*.json"))}
    names = [n for n in ORDER if n in found] + [n for n in found if n not in ORDER]
    reports = {LABELS.get(n, n): Report.from_json(found[n]) for n in names}
    header = ("agent", "validity", "verified", "fallback", "improved", "headroom improved", "capture", "mean gain")
    print(" | ".join(header))
    for label, report in reports.items():
        row = report.summary(by=None)[0]
        headroom = f"{round(row['headroom_improved_share'] * row['headroom_tasks'])} / {row['headroom_tasks']}" \
            if row["headroom_tasks"] else "-"
        capture = f"{row['mean_capture']:.3f}" if row["mean_capture"] is not None else "-"
        print(" | ".join([label, f"{row['validity']:.1%}", f"{row['verified_share']:.1%}",
                          f"{row['fallback_share']:.1%}", f"{row['improved_share']:.1%}", headroom, capture,
                          f"{row['mean_relative_improvement']:.1%}"]))
    for label, report in reports.items():
        print(f"\n== {label}\n{report.to_text()}")
    if args.plot:
        plot_improvement(reports, args.plot)
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
