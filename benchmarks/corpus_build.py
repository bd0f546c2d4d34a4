"""Size and build time of the stage-1 corpus (agents.corpus). Prints; asserts nothing.

    python benchmarks/corpus_build.py --programs 2000 --jobs 2     # a fresh build in a temporary folder
    python benchmarks/corpus_build.py --cached                     # the default cache's 100k corpus: its
                                                                   # finished shards, or the merged file

A fresh build (the default) uses its own temporary cache folder and a seed no earlier run used (``--seed``,
default from the clock), so every shard is generated, searched and verified here. It prints the corpus's size
(programs and tasks, by tier and by source: baseline, the exact search's optimum, verified variant), what was
dropped (suite tasks, programs the final verifier or the masks rejected, duplicate tasks), the wall time, the
worker time per program and per tier, and the projected time of the full 100,000-program build at that rate on
``--jobs`` workers (the projection assumes the measured tier mix; on a shared machine rates vary). With
``--jobs 1`` the shards are built in this process, whose once-per-process costs (imports, the suites'
identities) are paid before the clock starts, as a long build's workers amortise them; ``--keep DIR`` builds
into DIR and keeps it (to compare the shards of two builds of the same settings).

``--cached`` reads the default cache (``$TASM_CORPUS_DIR`` or ``~/.cache/tasm-env/corpus``) for the default
settings: the merged corpus if it was finished, else the finished shards of the build so far, and projects the
rest of the build from their measured worker time.
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

from agents.corpus import CorpusSettings, cache_root, load_corpus

FULL = 100_000


def _projection(programs: int, cpu_seconds: float, worker_wall_seconds: float, jobs: int) -> str:
    """The full build's time at the measured CPU cost per program, on ``jobs`` cores of its own."""
    per_program = cpu_seconds / max(programs, 1)
    return (f"rate: {per_program * 1000:.0f} CPU-ms per program; the full {FULL:,} programs: about "
            f"{FULL * per_program / 3600:.1f} CPU-hours, {FULL * per_program / jobs / 3600:.1f} h on {jobs} free "
            f"cores (more on a shared machine: the workers' wall time here was "
            f"{worker_wall_seconds / max(cpu_seconds, 1e-9):.1f} x their CPU time)")


def warm_up(settings: CorpusSettings) -> float:
    """The costs every worker process pays once before its first shard (imports, the suites' identities),
    paid here before the clock starts, so the rate is that of a long build's shards; CPU seconds."""
    cpu = time.process_time()
    import agents.pretrain  # noqa: F401  (what build_shard imports on its first call)
    import tasm_env.envs.gfn  # noqa: F401
    from agents.corpus_shard import suite_identities

    suite_identities(tuple(settings.suites))
    return time.process_time() - cpu


def shard_figures(folder: Path, jobs: int) -> None:
    """Programs, tasks and CPU time per tier of the finished shards under ``folder``, and the projection."""
    shards = sorted((folder / "shards").glob("*.jsonl.gz"))
    programs, tasks, seconds, wall = Counter(), Counter(), Counter(), 0.0
    sources, dropped = Counter(), Counter()
    for path in shards:
        with gzip.open(path, "rt", encoding="utf-8") as text:
            header, *rows = [json.loads(line) for line in text]
        tier = header["job"]["tier"]
        seconds[tier] += header.get("cpu_seconds", header["seconds"])
        wall += header["seconds"]
        dropped.update({k: v for k, v in header["counts"].items() if k not in ("generated", "kept")})
        for row in rows:
            tasks[tier] += 1
            programs[tier] += len(row["programs"])
            sources.update(p["source"] for p in row["programs"])
    total = sum(programs.values())
    print(f"{len(shards)} finished shards under {folder}: {total} programs, {sum(tasks.values())} tasks (before "
          f"the global dedup of tasks)")
    for tier in programs:
        print(f"  {tier}: {programs[tier]} programs / {tasks[tier]} tasks, "
              f"{seconds[tier] / max(programs[tier], 1) * 1000:.0f} CPU-ms per program")
    print("by source: " + ", ".join(f"{k} {v}" for k, v in sources.items()))
    print("dropped: " + ", ".join(f"{k} {v}" for k, v in dropped.items()))
    print(_projection(total, sum(seconds.values()), wall, jobs))


def fresh(args: argparse.Namespace) -> None:
    seed = args.seed if args.seed is not None else int(time.time()) % 100_000 + 1
    settings = CorpusSettings(programs=args.programs, seed=seed, shard_tasks=args.shard_tasks,
                              variants=args.variants, node_limit=args.node_limit)
    start_up = warm_up(settings) if args.jobs <= 1 else None  # workers pay it in their first shard
    with tempfile.TemporaryDirectory(prefix="corpus-bench-") as temporary:
        folder = args.keep or temporary
        started = time.perf_counter()
        corpus = load_corpus(settings, cache_dir=folder, jobs=args.jobs, progress=not args.no_progress)
        wall = time.perf_counter() - started
        print(f"fresh build, seed {seed}, {args.jobs} workers, shards of {args.shard_tasks} tasks, variants "
              f"{settings.variants}, node_limit {settings.node_limit}"
              + (f"; start-up costs paid before the clock: {start_up:.1f} CPU-s" if start_up is not None else
                 "; the workers' start-up costs (imports, suite identities) are in their first shards"))
        print(corpus.report().replace(str(corpus.path), "(temporary)" if not args.keep else str(corpus.path)))
        print(f"wall: {wall:.0f} s ({len(corpus) / wall:.1f} programs/s)")
        print(_projection(len(corpus), corpus.stats["cpu_seconds"], corpus.stats["worker_seconds"], args.jobs))
        shard_figures(Path(folder) / settings.key(), args.jobs)


def cached(args: argparse.Namespace) -> None:
    settings = CorpusSettings()
    folder = cache_root(args.cache_dir) / settings.key()
    merged = folder / f"corpus-{settings.programs}.jsonl.gz"
    if merged.is_file():
        corpus = load_corpus(settings, cache_dir=args.cache_dir, progress=False)
        print(corpus.report())
        print(_projection(len(corpus), corpus.stats["cpu_seconds"], corpus.stats["worker_seconds"], args.jobs))
        return
    if not any((folder / "shards").glob("*.jsonl.gz")):
        print(f"no finished shards under {folder}")
        return
    print("(merged corpus not written yet)")
    shard_figures(folder, args.jobs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--programs", type=int, default=2000, help="target size of a fresh build (default 2000)")
    parser.add_argument("--shard-tasks", type=int, default=CorpusSettings().shard_tasks)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--variants", type=int, default=CorpusSettings().variants, help="variants per task")
    parser.add_argument("--node-limit", type=int, default=CorpusSettings().node_limit, help="exact search states")
    parser.add_argument("--keep", type=Path, default=None,
                        help="fresh build: cache folder to build into and keep (to compare shards of two builds)")
    parser.add_argument("--seed", type=int, default=None, help="fresh build: corpus seed (default from the clock)")
    parser.add_argument("--cached", action="store_true", help="report the default cache instead of building")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    (cached if args.cached else fresh)(args)


if __name__ == "__main__":
    main()
