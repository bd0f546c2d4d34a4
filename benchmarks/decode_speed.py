"""CPU time per task of each decoder of the shipped policy (what ``tasm-env evaluate`` times, without verifying).

    python benchmarks/decode_speed.py                         # 3 test tasks per tier, 64 candidates each
    python benchmarks/decode_speed.py --per-tier 0            # every test task
    python benchmarks/decode_speed.py --only "beam + baseline"  # one decoder, in a process of its own
    python benchmarks/decode_speed.py --only "beam (default)" --coverage  # and the fast path's share of rows

For each decoder (``sample`` at temperature 1 and 0.5, ``beam`` of width 16 with its defaults and without
completing the baseline's prefixes, ``complete``) and task, the
process's CPU time of one :func:`agents.best.candidates` call (a fresh env per call, as ``evaluate`` makes one
per task: value caches start empty, first visits). CPU time, so the figures hold on a loaded machine; one torch
thread. With ``--coverage``, also the share of row facts the value-stack fast path
(:class:`~tasm_env.emission.value_stacks.ValueStacks`) covered, over every env of the run (the rest are the
reference's).
"""

from __future__ import annotations

import argparse
import time

import torch

import agents
from agents.best import candidates

DECODERS = (("sample T=1", "sample", 1.0, {}), ("sample T=0.5", "sample", 0.5, {}),
            ("beam (default)", "beam", 1.0, {}),
            ("beam + baseline completion", "beam", 1.0, {"baseline_completion": True}),
            ("complete", "complete", 1.0, {}))


def task_arguments(description: str) -> argparse.ArgumentParser:
    """The options every decoding benchmark takes: suite, split, tasks per tier, candidates per task."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--suite", default="tasm-basic-v1")
    parser.add_argument("--split", default="test")
    parser.add_argument("--per-tier", type=int, default=3, help="tasks per tier (0: all)")
    parser.add_argument("--samples", type=int, default=64)
    return parser


def policy_and_tasks(args: argparse.Namespace) -> tuple:
    """The shipped policy for ``args.suite``/``args.split`` (one torch thread) and the first ``args.per_tier``
    tasks of each tier (every task for 0)."""
    torch.set_num_threads(1)
    policy = agents.pretrained(args.suite, split=args.split)
    tasks = list(policy.env.tasks)
    if args.per_tier:
        tasks = [t for tier in ("easy", "medium", "hard") for t in [u for u in tasks if u.tier == tier][:args.per_tier]]
    return policy, tasks


def main() -> None:
    parser = task_arguments(__doc__.splitlines()[0])
    parser.add_argument("--only", default=None,
                        help="run only the decoders whose label contains this text (one process per decoder: the "
                             "block compiler's plan cache is process-wide, so a later row reuses an earlier row's plans)")
    parser.add_argument("--coverage", action="store_true", help="print the fast path's share of row facts")
    args = parser.parse_args()
    stores = _watched_stores() if args.coverage else None
    policy, tasks = policy_and_tasks(args)
    print(f"{args.suite} {args.split}: {len(tasks)} tasks, {args.samples} candidates each; CPU ms per task")
    print("decoder | " + " | ".join(("easy", "medium", "hard", "all")))
    for label, decode, temperature, extra in DECODERS:
        if args.only is not None and args.only not in label:
            continue
        spent: dict[str, list[float]] = {}
        for n, task in enumerate(tasks):
            started = time.process_time()
            candidates([task], policy, args.samples, decode=decode, temperature=temperature, seed=n, **extra)
            spent.setdefault(task.tier, []).append(1000 * (time.process_time() - started))
        every = [ms for values in spent.values() for ms in values]
        cells = [f"{sum(spent[t]) / len(spent[t]):.0f}" if spent.get(t) else "-" for t in ("easy", "medium", "hard")]
        print(f"{label} | " + " | ".join(cells + [f"{sum(every) / len(every):.0f}"]), flush=True)
        if stores:
            rows, covered = sum(s.rows for s in stores), sum(s.covered_rows for s in stores)
            print(f"  the value-stack fast path covered {covered / max(rows, 1):.1%} of {rows:,} row facts", flush=True)
            stores.clear()


def _watched_stores() -> list:
    """Every ValueStacks made from now on (each env makes its own), for their counters; timing is unchanged
    apart from one list append per env."""
    from tasm_env.emission.value_stacks import ValueStacks
    made, init = [], ValueStacks.__init__

    def watched(self, *args, **kwargs):
        init(self, *args, **kwargs)
        made.append(self)
    ValueStacks.__init__ = watched
    return made


if __name__ == "__main__":
    main()
