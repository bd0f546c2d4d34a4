"""Build the shipped suites (deterministic: same seed, same suite).

    python -m tasm_env.tasks.build                       # both suites at the current version (v1)
    python -m tasm_env.tasks.build --suite tasm-idioms --version 1 --time-limit 20 --jobs 2

Suites are named ``FAMILY-vN`` (``tasm-basic-v1``, ``tasm-idioms-v1``); ``--suite`` takes a family or a full
name. The tasks and splits of a family do not depend on the version; the optima do: v1 records optima of the
widened search (vocabulary, folded and solved constants) with the exact set each proof is relative to, while
the shipped v0 files (the narrow constant set) stay as they are, loadable and marked superseded once v1 ships.

For every task the exact optimum search runs with a time and node budget; a task records a proven optimum only
when the search proved it, otherwise the best verified program found (an upper bound). Splits are fixed by a
seeded shuffle within each tier (70 / 15 / 15 for generated tasks, 60 / 20 / 20 for idioms), so they stay
disjoint and stratified.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from tqdm import tqdm

from .generate import generate
from .idioms import IDIOMS
from .search import search, to_optimum
from ..asm import Program
from .suite import Suite, available_suites, load_suite, save_suite
from .task import Task

SUITE_DIR = Path(__file__).resolve().parent.parent / "data" / "suites"
BASIC_TIERS = {"easy": 120, "medium": 100, "hard": 80}


def assign_splits(tasks: Sequence[Task], fractions: tuple[float, float], seed: int) -> dict[str, tuple[str, ...]]:
    """Disjoint train / val / test split names, stratified by tier; ``fractions`` are (val, test)."""
    rng = np.random.default_rng(seed)
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for tier in sorted({t.tier for t in tasks}):
        names = [t.name for t in tasks if t.tier == tier]
        order = rng.permutation(len(names))
        n_val = int(round(fractions[0] * len(names)))
        n_test = int(round(fractions[1] * len(names)))
        for rank, i in enumerate(order):
            split = "val" if rank < n_val else "test" if rank < n_val + n_test else "train"
            splits[split].append(names[i])
    return {k: tuple(sorted(v)) for k, v in splits.items()}


def _optimum(job: tuple[Task, float, int, Program | None]) -> Task:
    task, time_limit, node_limit, incumbent = job
    result = search(task, time_limit=time_limit, node_limit=node_limit, incumbent=incumbent)
    return task.with_optimum(to_optimum(result))


def with_optima(tasks: Iterable[Task], time_limit: float, node_limit: int, label: str, jobs: int = 1,
                progress: bool = True, previous: Suite | None = None) -> list[Task]:
    """Run the exact search on every task (in ``jobs`` processes, with a progress bar unless not ``progress``)
    and record what it established. A task's optimum in ``previous`` (same name and baseline), re-verified by
    the search, seeds it as the best known program, so a search stopped early records no worse an upper bound
    than before. The result does not depend on ``jobs``."""
    def incumbent(task: Task) -> Program | None:
        old = previous.tasks.get(task.name) if previous is not None else None
        return old.optimum.program if old is not None and old.optimum and old.baseline == task.baseline else None

    work = [(task, time_limit, node_limit, incumbent(task)) for task in tasks]
    bar = dict(total=len(work), desc=f"optimum search ({label})", unit="task", file=sys.stderr,
               disable=not progress)
    if jobs <= 1:
        return [_optimum(w) for w in tqdm(work, **bar)]
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        return list(tqdm(pool.imap(_optimum, work), **bar))


CURRENT_VERSION = 1
"""The version the builder writes by default (v0 was built by the narrow-constant search)."""


def _previous(family: str, version: int) -> Suite | None:
    """The shipped suite of the version before (its optima seed the search), if there is one."""
    name = f"{family}-v{version - 1}"
    return load_suite(name) if name in available_suites() else None


def build_idioms(time_limit: float, node_limit: int, jobs: int = 1, version: int = CURRENT_VERSION) -> Suite:
    name = f"tasm-idioms-v{version}"
    tasks = [Task.from_tasm(i.tasm, i.inputs, name=i.name, tier="idiom") for i in IDIOMS]
    tasks = with_optima(tasks, time_limit, node_limit, name, jobs, previous=_previous("tasm-idioms", version))
    return Suite(name, version, "Hand-written classic TASM blocks (keep-inputs arithmetic, select, powers, "
                 "u64 addition with carry, comparisons, dot products, hashing, memory and I/O patterns).",
                 {t.name: t for t in tasks}, assign_splits(tasks, (0.2, 0.2), seed=1))


def build_basic(time_limit: float, node_limit: int, jobs: int = 1, version: int = CURRENT_VERSION,
                seed: int = 2026) -> Suite:
    name = f"tasm-basic-v{version}"
    tasks = []
    for k, (tier, count) in enumerate(BASIC_TIERS.items()):
        for i, tir in enumerate(generate(tier, count, seed=seed + k)):
            tasks.append(Task.from_tir(tir, name=f"basic-{tier}-{i:03d}", tier=tier))
    tasks = with_optima(tasks, time_limit, node_limit, name, jobs, previous=_previous("tasm-basic", version))
    return Suite(name, version, "Generated TIR programs in three tiers (easy: field arithmetic on 1-3 inputs; "
                 "medium: up to 10 operations with u32 operations and constants; hard: up to 25 operations with "
                 "I/O, memory, hashing and assertions), compiled by the classical compiler.",
                 {t.name: t for t in tasks}, assign_splits(tasks, (0.15, 0.15), seed=seed))


BUILDERS: dict[str, Callable[..., Suite]] = {"tasm-idioms": build_idioms, "tasm-basic": build_basic}
"""Builder of each suite family: (time_limit, node_limit, jobs, version) -> Suite."""


def _family(name: str) -> str:
    """``tasm-basic`` from ``tasm-basic`` or ``tasm-basic-v1``."""
    stem, _, version = name.rpartition("-v")
    family = stem if stem and version.isdigit() else name
    if family not in BUILDERS:
        raise argparse.ArgumentTypeError(f"unknown suite {name!r}: expected one of {', '.join(sorted(BUILDERS))} "
                                         "(optionally with -vN)")
    return family


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the shipped task suites.")
    parser.add_argument("--suite", type=_family, action="append", metavar="FAMILY",
                        help=f"{' or '.join(sorted(BUILDERS))} (a -vN suffix is allowed); default: both")
    parser.add_argument("--version", type=int, default=CURRENT_VERSION,
                        help=f"suite version to write (default {CURRENT_VERSION}): FAMILY-vVERSION.json")
    parser.add_argument("--time-limit", type=float, default=10.0, help="seconds of optimum search per task")
    parser.add_argument("--node-limit", type=int, default=2_000_000, help="search states per task")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes for the search")
    parser.add_argument("--out", type=Path, default=SUITE_DIR)
    args = parser.parse_args(argv)
    if args.version < 1:
        parser.error("--version: v0 is the shipped narrow-constant build; write version 1 or later")
    for family in args.suite or sorted(BUILDERS):
        name = f"{family}-v{args.version}"
        suite = BUILDERS[family](args.time_limit, args.node_limit, args.jobs, args.version)
        save_suite(suite, args.out / f"{name}.json")
        proved = sum(t.optimal_cycles is not None for t in suite)
        print(f"{name}: {len(suite)} tasks, {proved} with a proven optimum -> {args.out / (name + '.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
