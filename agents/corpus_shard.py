"""One shard of the stage-1 corpus (:mod:`agents.corpus`): freshly generated tasks of one tier and, for each,
the programs a teacher can force: the baseline, the exact search's best program and verified variants.

A shard is the unit of work of the parallel build and of its cache: :func:`build_shard` is a pure function of
its :class:`ShardJob` (up to time budgets on a loaded machine), runs in a ``spawn`` worker process, and returns
plain JSON-able data that the parent writes atomically. Per task:

1. generate (``tasm_env.tasks.generate.generate(tier, n, seed)``) and drop any task equal to a task of the
   bundled suites (same canonical TIR, or same inputs and baseline text): :func:`suite_identities`;
2. :func:`agents.variants.variants` of the baseline (peephole chain and reorderings, each verified);
3. the exact search (:func:`tasm_env.tasks.search.search`) within ``search_seconds``, seeded with the cheapest
   variant as its incumbent, so the recorded optimum is never worse than the peephole result;
4. every distinct program re-verified against the baseline in one batched :class:`~tasm_env.verify.Verifier`
   call (tests of a seed neither search used), then kept only if the env's vocabulary spells it within the
   budget and the env's masks allow it token by token (:func:`agents.pretrain.legal_under_masks`): a program
   the masks reject has probability 0 under the policy and cannot be teacher-forced. Both drops are counted.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any, Sequence

from tasm_env.asm import Program
from tasm_env.tasks.generate import canonical_key, generate
from tasm_env.tasks.task import Task

VERIFY_TESTS = 64
"""Tests of the final re-verification of every corpus program."""
_VERIFY_SEED = 104_729  # offset of the final verifier's seed: tests neither the variant search nor the search saw
SOURCES = ("baseline", "optimum", "variant")
"""Where a corpus program comes from (a program found twice keeps the first of these)."""


@dataclass(frozen=True)
class ShardJob:
    """Everything one shard depends on: ``tasks`` generated tasks of ``tier`` from ``seed``, searched for
    ``search_seconds`` (at most ``node_limit`` states) each, with up to ``variants`` variants found in
    ``variant_seconds``, checked under ``masking``, none equal to a task of ``suites``."""

    index: int
    tier: str
    seed: int
    tasks: int
    search_seconds: float
    node_limit: int
    variants: int
    variant_seconds: float
    masking: str
    suites: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "suites": list(self.suites)}


def task_identity(task: Task) -> tuple[str, str]:
    """What makes two tasks the same task: the canonical TIR, and the input types with the baseline text."""
    return canonical_key(task.tir), f"{','.join(task.inputs)}|{task.baseline}"


@lru_cache(maxsize=4)
def suite_identities(suites: tuple[str, ...]) -> frozenset[str]:
    """Both identity strings of every task of the named suites (loaded once per process)."""
    from tasm_env.tasks.suite import load_suite

    return frozenset(key for name in suites for task in load_suite(name) for key in task_identity(task))


def leaks(task: Task, taken: frozenset[str] | set[str]) -> bool:
    """Is ``task`` one of the tasks whose identities are ``taken``?"""
    return any(key in taken for key in task_identity(task))


def fresh_tasks(job: ShardJob) -> tuple[list[Task], int]:
    """The shard's generated tasks that are no suite task, and how many were dropped as suite tasks."""
    taken = suite_identities(job.suites)
    tasks = [Task.from_tir(tir, name=f"corpus-{job.tier}-{job.index:05d}-{i:03d}", tier=job.tier)
             for i, tir in enumerate(generate(job.tier, job.tasks, seed=job.seed))]
    kept = [t for t in tasks if not leaks(t, taken)]
    return kept, len(tasks) - len(kept)


def _candidates(task: Task, job: ShardJob) -> tuple[Task, list[tuple[str, Program]]]:
    """The task with its search result recorded, and its (source, program) candidates, distinct, in order."""
    from tasm_env.errors import TasmError
    from tasm_env.tasks.search import search, to_optimum

    from .variants import variants

    try:
        found = variants(task, max_variants=job.variants, seconds=job.variant_seconds,
                         seed=job.seed) if job.variants > 0 else []
    except TasmError:  # no spelling of the baseline in the vocabulary: the search alone
        found = []
    cheapest = min(found, key=len, default=None)
    incumbent = cheapest if cheapest is not None and len(cheapest) < len(task.baseline) else None
    result = search(task, time_limit=job.search_seconds, node_limit=job.node_limit, incumbent=incumbent)
    task = task.with_optimum(to_optimum(result))
    programs: dict[str, tuple[str, Program]] = {}
    for source, program in [("baseline", task.baseline), ("optimum", result.program)] + [("variant", v) for v in found]:
        programs.setdefault(str(program), (source, program))
    return task, list(programs.values())


def verified(task: Task, candidates: Sequence[tuple[str, Program]], seed: int) -> list[tuple[str, Program]]:
    """The candidates a fresh verifier (``VERIFY_TESTS`` tests, its own seed) finds equivalent to the baseline,
    in one batched check."""
    from tasm_env.verify import Verifier

    verifier = Verifier(task.baseline, task.inputs, n_tests=VERIFY_TESTS, seed=seed + _VERIFY_SEED)
    verdicts = verifier.check([p for _, p in candidates])
    return [c for c, v in zip(candidates, verdicts) if v.ok]


def build_shard(job: ShardJob) -> dict[str, Any]:
    """The shard's record: ``job``, ``tasks`` (one per kept task: ``task`` JSON and ``programs``, a list of
    ``{"source", "program", "tokens"}``) and ``counts`` (``generated``, ``leaked``, ``unverified``,
    ``unspellable``, ``mask_rejected``, ``kept`` programs), the wall ``seconds`` it took and its ``cpu_seconds``
    (the honest measure on a shared machine)."""
    from tasm_env.envs.gfn import TasmGFNEnv

    from .pretrain import legal_under_masks, spellable

    started, cpu = time.perf_counter(), time.process_time()
    tasks, leaked = fresh_tasks(job)
    counts = {"generated": job.tasks, "leaked": leaked, "unverified": 0, "unspellable": 0, "mask_rejected": 0}
    searched, kept_lists = [], []
    for task in tasks:
        task, candidates = _candidates(task, job)
        good = verified(task, candidates, job.seed)
        counts["unverified"] += len(candidates) - len(good)
        searched.append(task)
        kept_lists.append(good)
    records = []
    if searched:
        env = TasmGFNEnv(tasks=searched, suite=None, masking=job.masking)
        examples, sources = [], {}
        for i, good in enumerate(kept_lists):
            for source, program in good:
                if spellable(env, i, program):
                    examples.append((i, program))
                    sources[(i, str(program))] = source
                else:
                    counts["unspellable"] += 1
        legal = legal_under_masks(env, examples)
        counts["mask_rejected"] = len(examples) - len(legal)
        per_task: dict[int, list[dict]] = {}
        for i, program in legal:
            per_task.setdefault(i, []).append({"source": sources[(i, str(program))], "program": str(program),
                                               "tokens": [int(t) for t in env.specs[i].bound.encode(program)]})
        records = [{"task": searched[i].to_json(), "programs": per_task[i]} for i in sorted(per_task)]
    counts["kept"] = sum(len(r["programs"]) for r in records)
    return {"job": job.to_json(), "tasks": records, "counts": counts, "seconds": time.perf_counter() - started,
            "cpu_seconds": time.process_time() - cpu}


__all__ = ["SOURCES", "VERIFY_TESTS", "ShardJob", "build_shard", "fresh_tasks", "leaks", "suite_identities",
           "task_identity", "verified"]
