"""The stage-1 corpus at scale: verified programs for freshly generated tasks of every tier, built once in
parallel and cached.

    corpus = load_corpus(CorpusSettings(programs=100_000))   # builds on the first call, reuses the cache after
    tasks, examples = corpus.tasks, corpus.examples()          # Task list; (task index, Program) pairs

**What it holds.** For each generated task (easy, medium and hard, in the ratio ``tier_weights``): its
baseline, the exact search's best program within ``search_seconds`` (seeded with the best peephole variant)
and up to ``variants`` verified variants of the baseline (:mod:`agents.variants`), distinct, every one
re-verified against the baseline, spellable by the env's vocabulary and allowed by the env's masks under
``masking`` (what the stage-1 trainer teacher-forces; see :mod:`agents.corpus_shard`). No task equals a task of
the bundled suites (``tasm-basic-v1``, ``tasm-idioms-v1``: same canonical TIR, or same inputs and baseline), and
no task appears twice (same identity). The build stops at the first prefix of shards that holds ``programs``
programs.

**The cache.** Under :func:`cache_root` (``$TASM_CORPUS_DIR``, else ``~/.cache/tasm-env/corpus``, or the
``cache_dir`` argument), in a folder named by :meth:`CorpusSettings.key` (a hash of every setting that makes
the corpus except the target size, the package version and :data:`FORMAT`): ``shards/NNNNN.jsonl.gz`` (one per
finished shard) and ``corpus-N.jsonl.gz`` (the merged corpus of target ``N``: a header line, then one line per
task). Every file is written atomically (:mod:`tasm_env.atomic`), so a killed build leaves finished shards and
no partial file: the next call resumes from the shards. A file that does not parse, or whose header names other
settings, is ignored with a warning and rebuilt. JSON lines, gzip; never pickle.

**Parallel.** Shards run in a ``spawn`` process pool (``jobs`` workers; safe after torch is imported), at most
``2 * jobs`` in flight, with a tqdm bar over shards.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import multiprocessing
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from tqdm.auto import tqdm

from tasm_env.asm import Program
from tasm_env.atomic import atomic_write
from tasm_env.errors import TasmError
from tasm_env.tasks.task import Task

from . import corpus_shard
from .corpus_shard import SOURCES, ShardJob, leaks, task_identity
from .pretrain import DEFAULT_MASKING

FORMAT = 2
"""Version of the corpus files' layout and of the build's method (a change makes a new cache folder). 2: the
vocabulary's free constant slots hold folded constants, so more optima are spellable and kept."""
ENV_VAR = "TASM_CORPUS_DIR"
SEED_BASE = 70_001  # generated corpus tasks: a seed stream neither the suite builder nor the pipeline uses
TIERS = ("easy", "medium", "hard")


class CorpusError(TasmError):
    """Corpus settings that cannot make a corpus (or a corpus that does not fit what it is asked for)."""


@dataclass(frozen=True)
class CorpusSettings:
    """What makes a corpus. ``programs``: the target size (the build stops at the first prefix of shards with
    at least this many); shards of ``shard_tasks`` generated tasks, their tiers cycling through ``tiers`` with
    ``tier_weights`` shards each; ``search_seconds`` / ``node_limit`` of exact search and ``variants`` variants
    in ``variant_seconds`` per task (the defaults make the deterministic limits, ``node_limit`` and the variant
    search's work limits, what stops the work; the seconds are safety nets, wide enough that a loaded machine
    does not make a poorer corpus); programs checked under ``masking``; ``seed`` picks the generated tasks;
    none equal to a task of ``suites``."""

    programs: int = 100_000
    shard_tasks: int = 32
    tiers: tuple[str, ...] = TIERS
    tier_weights: tuple[int, ...] = (2, 2, 1)
    search_seconds: float = 5.0
    node_limit: int = 100_000
    variants: int = 32
    variant_seconds: float = 8.0
    masking: str = DEFAULT_MASKING  # what stage 1 trains under, so a default build is the cache it reads
    seed: int = 0
    suites: tuple[str, ...] = ("tasm-basic-v1", "tasm-idioms-v1")

    def __post_init__(self):
        if self.programs < 1 or self.shard_tasks < 1:
            raise CorpusError(f"programs and shard_tasks must be at least 1, got {self.programs}, {self.shard_tasks}")
        unknown = [t for t in self.tiers if t not in TIERS]
        if unknown or not self.tiers:
            raise CorpusError(f"tiers: expected some of {', '.join(TIERS)}, got {self.tiers}")
        if len(self.tier_weights) != len(self.tiers) or min(self.tier_weights) < 1:
            raise CorpusError(f"tier_weights: one positive count per tier {self.tiers}, got {self.tier_weights}")
        if not self.search_seconds > 0 or not self.variant_seconds > 0 or self.variants < 0:
            raise CorpusError("search_seconds and variant_seconds must be positive and variants at least 0")

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def key(self) -> str:
        """The cache folder's name: a hash of the settings but ``programs``, the package version and
        :data:`FORMAT` (corpora of different target sizes share their shards)."""
        from tasm_env import __version__

        made_of = {**self.to_json(), "programs": None, "package": __version__, "format": FORMAT}
        return hashlib.sha256(json.dumps(made_of, sort_keys=True).encode()).hexdigest()[:16]

    def job(self, index: int) -> ShardJob:
        """Shard ``index``: its tier (cycling through the weighted tiers) and its generator seed."""
        cycle = [t for t, w in zip(self.tiers, self.tier_weights) for _ in range(w)]
        return ShardJob(index, cycle[index % len(cycle)], SEED_BASE + 1_000_003 * self.seed + index,
                        self.shard_tasks, self.search_seconds, self.node_limit, self.variants, self.variant_seconds,
                        self.masking, tuple(self.suites))


@dataclass
class Corpus:
    """Generated ``tasks`` and, for each, its (source, program) pairs; ``stats`` say what was built and how."""

    tasks: list[Task]
    programs: list[list[tuple[str, Program]]]
    stats: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    built: bool = False  # whether this call built (some of) it, rather than reading the merged file

    def __len__(self) -> int:
        return sum(len(p) for p in self.programs)

    def examples(self, offset: int = 0) -> list[tuple[int, Program]]:
        """(task index + ``offset``, program) pairs: the stage-1 trainer's input, for an env whose tasks at
        ``offset``, ``offset + 1``, ... are this corpus's ``tasks``."""
        return [(offset + i, program) for i, pairs in enumerate(self.programs) for _, program in pairs]

    def restricted(self, tiers: Sequence[str], exclude: Iterable[Task] = ()) -> "Corpus":
        """The corpus's tasks of ``tiers`` that equal none of ``exclude`` (by :func:`task_identity`), with their
        programs (say, without the tasks a run already trains on, and never one of its suite's val or test
        tasks, whatever suite that is)."""
        taken = {key for task in exclude for key in task_identity(task)}
        keep = [i for i, task in enumerate(self.tasks) if task.tier in tiers and not leaks(task, taken)]
        return Corpus([self.tasks[i] for i in keep], [self.programs[i] for i in keep], self.stats, self.path,
                      self.built)

    def summary(self) -> dict[str, Any]:
        """Programs and tasks, in all and by tier, and programs by source."""
        by_tier: dict[str, dict[str, int]] = {}
        by_source = dict.fromkeys(SOURCES, 0)
        for task, pairs in zip(self.tasks, self.programs):
            row = by_tier.setdefault(task.tier, {"tasks": 0, "programs": 0})
            row["tasks"] += 1
            row["programs"] += len(pairs)
            for source, _ in pairs:
                by_source[source] += 1
        return {"programs": len(self), "tasks": len(self.tasks), "by_tier": by_tier, "by_source": by_source}

    def report(self) -> str:
        """Size, by tier and by source, what was dropped, and the build time: printed by the build command."""
        s, st = self.summary(), self.stats
        tiers = ", ".join(f"{t} {r['programs']} programs / {r['tasks']} tasks" for t, r in s["by_tier"].items())
        dropped = st.get("dropped", {})
        return "\n".join([
            f"corpus: {s['programs']} programs for {s['tasks']} tasks ({tiers})",
            "by source: " + ", ".join(f"{k} {v}" for k, v in s["by_source"].items()),
            "dropped: " + ", ".join(f"{k} {v}" for k, v in dropped.items()),
            f"build: {st.get('shards', 0)} shards, {st.get('worker_seconds', 0.0):.0f} worker-seconds wall, "
            f"{st.get('cpu_seconds', 0.0):.0f} CPU-seconds ({st.get('cpu_seconds', 0.0) / max(s['programs'], 1) * 1000:.0f}"
            f" CPU-ms per program); this call {st.get('wall_seconds', 0.0):.0f} s wall, "
            f"{st.get('built_shards', 0)} shards built here",
            f"file: {self.path}"])


# ------------------------------------------------------------------------------------------- files


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where corpora live: ``cache_dir``, else ``$TASM_CORPUS_DIR``, else ``~/.cache/tasm-env/corpus``."""
    chosen = cache_dir or os.environ.get(ENV_VAR)
    return Path(chosen).expanduser() if chosen else Path.home() / ".cache" / "tasm-env" / "corpus"


def _write_jsonl_gz(path: Path, rows: list[dict]) -> None:
    def write(handle) -> None:
        with gzip.GzipFile(fileobj=handle, mode="wb", mtime=0) as gz:
            with io.TextIOWrapper(gz, encoding="utf-8") as text:
                for row in rows:
                    text.write(json.dumps(row, separators=(",", ":")) + "\n")
    atomic_write(path, write, binary=True)


def _read_jsonl_gz(path: Path) -> Iterator[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as text:
        for line in text:
            yield json.loads(line)


def _read_shard(path: Path, job: ShardJob) -> dict | None:
    """A finished shard's record, or None (with a warning if the file exists but does not check out)."""
    if not path.is_file():
        return None
    try:
        header, *tasks = list(_read_jsonl_gz(path))
        if header.get("job") != job.to_json():
            raise ValueError("it was built for another shard")
        return {**header, "tasks": tasks}
    except (OSError, EOFError, ValueError, KeyError, AttributeError, TypeError) as err:
        warnings.warn(f"corpus shard {path} is unusable ({type(err).__name__}: {err}); rebuilding it", stacklevel=3)
        return None


def _write_shard(path: Path, record: dict) -> None:
    _write_jsonl_gz(path, [{k: v for k, v in record.items() if k != "tasks"}] + record["tasks"])


# ------------------------------------------------------------------------------------------- the build


ShardBuilder = Callable[[ShardJob], dict]


class ShardMerge:
    """Shards merged in index order: global dedup of tasks by identity; stops counting at the target.
    ``add`` takes a shard record as ``corpus_shard.build_shard`` returns it."""

    def __init__(self, target: int):
        self.target, self.seen, self.rows, self.programs = target, set(), [], 0
        self.duplicates, self.shards, self.seconds, self.cpu_seconds = 0, 0, 0.0, 0.0
        self.dropped = dict.fromkeys(("leaked", "unverified", "unspellable", "mask_rejected"), 0)

    @property
    def done(self) -> bool:
        return self.programs >= self.target

    def add(self, record: dict) -> None:
        self.shards += 1
        self.seconds += float(record["seconds"])
        self.cpu_seconds += float(record.get("cpu_seconds", record["seconds"]))
        for k in self.dropped:
            self.dropped[k] += int(record["counts"][k])
        for row in record["tasks"]:
            identity = task_identity(Task.from_json(row["task"]))
            if any(key in self.seen for key in identity):
                self.duplicates += 1
                continue
            self.seen.update(identity)
            self.rows.append(row)
            self.programs += len(row["programs"])


def _build(settings: CorpusSettings, folder: Path, jobs: int, progress: bool,
           build_shard: ShardBuilder) -> tuple[ShardMerge, int]:
    """Merge finished shards in order, building the missing ones in a spawn pool, until the target is met.
    Returns the merge and how many shards this call built."""
    merge, finished, built = ShardMerge(settings.programs), {}, 0
    shard = lambda i: folder / "shards" / f"{i:05d}.jsonl.gz"  # noqa: E731

    def advance() -> None:
        while not merge.done and merge.shards in finished:
            merge.add(finished.pop(merge.shards))

    bar = tqdm(total=settings.programs, desc="stage-1 corpus", unit="prog", disable=not progress)
    pool = None  # started at the first shard to build (a corpus read from its shards needs none)
    try:
        pending: dict[int, Any] = {}
        next_index = 0
        while not merge.done:
            while not merge.done and len(pending) < (2 * jobs if jobs > 1 else 1):  # keep the workers busy
                i, next_index = next_index, next_index + 1
                record = _read_shard(shard(i), settings.job(i))
                if record is not None:
                    finished[i] = record
                    advance()
                elif jobs <= 1:
                    finished[i] = build_shard(settings.job(i))
                    _write_shard(shard(i), finished[i])
                    built += 1
                    advance()
                else:
                    pool = pool or multiprocessing.get_context("spawn").Pool(jobs)
                    pending[i] = pool.apply_async(build_shard, (settings.job(i),))
                bar.n = min(merge.programs, settings.programs)
                bar.refresh()
            for i in [i for i, result in pending.items() if result.ready()] or ([min(pending)] if pending else []):
                finished[i] = pending.pop(i).get()
                _write_shard(shard(i), finished[i])
                built += 1
                advance()
                bar.n = min(merge.programs, settings.programs)
                bar.set_postfix(shards=merge.shards, tasks=len(merge.rows))
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        bar.close()
    return merge, built


def _from_rows(rows: list[dict]) -> tuple[list[Task], list[list[tuple[str, Program]]]]:
    tasks = [Task.from_json(row["task"]) for row in rows]
    programs = [[(p["source"], Program.parse(p["program"])) for p in row["programs"]] for row in rows]
    return tasks, programs


def load_corpus(settings: CorpusSettings = CorpusSettings(), *, cache_dir: str | os.PathLike | None = None,
                jobs: int | None = None, progress: bool = True,
                build_shard: ShardBuilder | None = None) -> Corpus:
    """The corpus of ``settings``: read from the cache when it was built before, else built (resuming from the
    finished shards of an earlier, interrupted build) and cached. ``jobs``: worker processes (default: the
    machine's cores). ``build_shard`` builds one missing shard (default ``corpus_shard.build_shard``; with
    ``jobs > 1`` it must be picklable, i.e. a module-level function)."""
    folder = cache_root(cache_dir) / settings.key()
    path = folder / f"corpus-{settings.programs}.jsonl.gz"
    if path.is_file():
        try:
            header, *rows = list(_read_jsonl_gz(path))
            if header.get("settings") != settings.to_json():
                raise ValueError("its header names other settings")
            tasks, programs = _from_rows(rows)
            return Corpus(tasks, programs, header["stats"], path)
        except (OSError, EOFError, ValueError, KeyError, AttributeError, TypeError, TasmError) as err:
            warnings.warn(f"corpus {path} is unusable ({type(err).__name__}: {err}); rebuilding it from its shards",
                          stacklevel=2)
    started = time.perf_counter()
    merge, built = _build(settings, folder, jobs or os.cpu_count() or 1, progress,
                          build_shard or corpus_shard.build_shard)
    stats = {"shards": merge.shards, "built_shards": built, "worker_seconds": merge.seconds,
             "cpu_seconds": merge.cpu_seconds,
             "wall_seconds": time.perf_counter() - started, "duplicate_tasks": merge.duplicates,
             "dropped": {**merge.dropped, "duplicate_tasks": merge.duplicates}}
    tasks, programs = _from_rows(merge.rows)
    corpus = Corpus(tasks, programs, stats, path, built=True)
    stats.update(corpus.summary())
    _write_jsonl_gz(path, [{"format": FORMAT, "key": settings.key(), "settings": settings.to_json(),
                            "stats": stats}] + merge.rows)
    return corpus


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m agents.corpus --programs N [--jobs J] [--cache-dir D]``: build (or read) the corpus, print
    its size and build time."""
    import argparse

    defaults = CorpusSettings()
    parser = argparse.ArgumentParser(prog="python -m agents.corpus", description=__doc__.split("\n\n")[0])
    parser.add_argument("--programs", type=int, default=defaults.programs)
    parser.add_argument("--shard-tasks", type=int, default=defaults.shard_tasks)
    parser.add_argument("--search-seconds", type=float, default=defaults.search_seconds)
    parser.add_argument("--variants", type=int, default=defaults.variants)
    parser.add_argument("--variant-seconds", type=float, default=defaults.variant_seconds)
    parser.add_argument("--masking", default=defaults.masking)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: the cores)")
    parser.add_argument("--cache-dir", default=None, help=f"default ${ENV_VAR} or ~/.cache/tasm-env/corpus")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    settings = CorpusSettings(programs=args.programs, shard_tasks=args.shard_tasks, masking=args.masking,
                              search_seconds=args.search_seconds, variants=args.variants,
                              variant_seconds=args.variant_seconds, seed=args.seed)
    corpus = load_corpus(settings, cache_dir=args.cache_dir, jobs=args.jobs, progress=not args.no_progress)
    print(corpus.report())
    return 0


__all__ = ["ENV_VAR", "FORMAT", "Corpus", "CorpusError", "CorpusSettings", "cache_root", "load_corpus", "main"]


if __name__ == "__main__":
    raise SystemExit(main())
