"""Evaluation: the programs any agent drew for some tasks -> the metrics of the results table.

    from agents.evaluate import evaluate_samples, plot_improvement
    report = evaluate_samples(tasks, samples)        # samples[i]: the K programs drawn for tasks[i], in order
    print(report.to_text())                          # the summary by tier
    report.to_json("results/gfn-tb.json")            # atomic, plain JSON; Report.from_json reads it back
    plot_improvement({"TB": report, "random": other}, "improvement.png")

Nothing here depends on how the samples were drawn: a sample is a :class:`~tasm_env.Program`, TASM text or
None (the agent produced nothing usable). Every sample is checked against its task's baseline by the
project's verifier (one batched call per task, on ``n_tests`` tests drawn with ``seed``: by default not the
training env's verifier seed, so a policy is judged on tests it never saw). A verified program's cycles come
from :func:`tasm_env.tasks.measure.program_cost`, computed once per distinct program.

The baseline is always available as the fallback, so "what the agent found" is the cheaper of its best
verified program and the baseline: improvement and capture are never negative, and ``best_after`` (the
cheapest found among the first k samples) never rises.

:func:`distribution_distance` is the other half of the table for GFlowNets on tiny tasks: L1 / JSD / logZ
error of the sampler against the exact target distribution, through ``TasmGFNEnv.validate``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import IO, Any, Callable, Sequence

from tasm_env.asm import Program
from tasm_env.atomic import atomic_write
from tasm_env.errors import TasmError
from tasm_env.tasks.measure import program_cost
from tasm_env.tasks.task import Task
from tasm_env.verify import Verifier

TIERS = ("easy", "medium", "hard")
"""The suite's tiers: the summary always has a row for each (and one per other tier present)."""

METRICS = ("relative", "capture")
_FORMAT = "tasm-env-report"
_VERSION = 2
OVERALL_KEYS = ("tasks", "sample_validity", "tasks_verified", "tasks_improved", "headroom_tasks",
                "headroom_improved", "capture", "mean_improvement")
"""The keys of a report file's ``overall`` object (:meth:`Report.to_dict`)."""
TASK_KEYS = ("name", "tier", "verified", "baseline_cycles", "best_cycles", "best_program", "optimum_cycles",
             "proved")
"""The keys of every record in a report file's ``tasks`` list."""


class EvaluationError(TasmError):
    """Evaluation was given something it cannot use (mismatched lengths, an unknown metric, a bad file)."""


class PlotsUnavailable(EvaluationError):
    """matplotlib is not installed: ``pip install tasm-env[plots]``."""


# ------------------------------------------------------------------------------------------ one task


@dataclass(frozen=True)
class TaskResult:
    """What the samples drawn for one task achieved.

    Stored fields are the raw counts; the rates and the capture are derived from them (properties), so a
    result read back from JSON can never disagree with itself.

    * ``n_valid``: samples verified equivalent to the baseline (duplicates count each time drawn);
      ``n_distinct_valid``: distinct verified programs.
    * ``best_cycles``: the cheapest verified program's cycles (None if no sample verified; may exceed the
      baseline when every verified sample is dearer).
    * ``optimum_cycles`` / ``optimum_proved``: the exact search's result (None / False when none was run).
    * ``best_after[k - 1]``: the cycles the build would use after k samples: the cheapest verified among the
      first k, or the baseline if it is cheaper or nothing verified yet.
    * ``best_program``: the TASM text of the cheapest verified sample (None if none verified), so a report's
      wins can be re-verified by anyone.
    """

    name: str
    tier: str
    n_samples: int
    n_valid: int
    n_distinct_valid: int
    best_cycles: int | None
    baseline_cycles: int
    optimum_cycles: int | None
    optimum_proved: bool
    best_after: tuple[int, ...] = field(default_factory=tuple)
    best_program: str | None = None

    @property
    def validity(self) -> float:
        """Share of samples that verified (0.0 when nothing was drawn)."""
        return self.n_valid / self.n_samples if self.n_samples else 0.0

    @property
    def verified(self) -> bool:
        return self.n_valid > 0

    @property
    def fallback(self) -> bool:
        """No sample verified: the build falls back to the baseline."""
        return not self.verified

    @property
    def found_cycles(self) -> int:
        """What the build uses: the best verified program, or the baseline when that is cheaper or absent."""
        return self.baseline_cycles if self.best_cycles is None else min(self.best_cycles, self.baseline_cycles)

    @property
    def improved(self) -> bool:
        return self.best_cycles is not None and self.best_cycles < self.baseline_cycles

    @property
    def has_headroom(self) -> bool:
        """The optimum is proven and cheaper than the baseline, so capture is defined."""
        return (self.optimum_proved and self.optimum_cycles is not None
                and self.optimum_cycles < self.baseline_cycles)

    @property
    def relative_improvement(self) -> float:
        """(baseline - found) / baseline, in [0, 1)."""
        return _relative(self.baseline_cycles, self.found_cycles)

    @property
    def capture(self) -> float | None:
        """Share of the provable headroom taken: (baseline - found) / (baseline - optimum); None without
        headroom. Clipped to [0, 1]: beating a proven optimum means a verifier false positive or a wrong proof
        (:func:`evaluate_samples` warns when it sees one)."""
        return _capture(self, self.found_cycles) if self.has_headroom else None

    def cycles_after(self, k: int) -> int:
        """``best_after`` at k samples drawn; a task with fewer samples keeps its last value (it stopped)."""
        if k < 1:
            raise EvaluationError(f"k counts samples drawn and starts at 1, got {k}")
        if not self.best_after:
            return self.baseline_cycles
        return self.best_after[min(k, len(self.best_after)) - 1]

    def to_json(self) -> dict[str, Any]:
        """The stored fields plus the derived ones (for readers of the file; :meth:`from_json` recomputes)."""
        data = asdict(self)
        data["best_after"] = list(self.best_after)
        data.update({name: getattr(self, name) for name in _DERIVED})
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TaskResult":
        stored = {f.name for f in fields(cls)}
        missing = stored - set(data) - {"best_program"}  # reports of version 1 did not keep the program
        if missing:
            raise EvaluationError(f"task result lacks {', '.join(sorted(missing))}")
        values = {name: data.get(name) for name in stored}
        values["best_after"] = tuple(int(c) for c in values["best_after"])
        return cls(**values)


_DERIVED = ("validity", "verified", "fallback", "found_cycles", "improved", "has_headroom",
            "relative_improvement", "capture")


def _relative(baseline: int, found: int) -> float:
    return (baseline - found) / baseline if baseline else 0.0


def _capture(result: TaskResult, found: int) -> float:
    """Capture of a result with headroom when the build uses ``found`` cycles, clipped to [0, 1]."""
    headroom = result.baseline_cycles - result.optimum_cycles
    return min(1.0, max(0.0, (result.baseline_cycles - found) / headroom))


# ------------------------------------------------------------------------------------------- scoring


def _coerce(sample) -> Program | None:
    """A sample as a Program, or None when it is missing or not a program at all."""
    if sample is None:
        return None
    try:
        return Program.coerce(sample)
    except (TasmError, TypeError, ValueError):  # garbage text, or not text at all
        return None


def _verified_mask(task: Task, programs: Sequence[Program | None], n_tests: int, seed: int) -> list[bool]:
    """Which samples are equivalent to the task's baseline: one batched verifier call for the task."""
    present = [i for i, p in enumerate(programs) if p is not None]
    ok = [False] * len(programs)
    if present:
        verdicts = Verifier(task, n_tests=n_tests, seed=seed).check([programs[i] for i in present])
        for i, verdict in zip(present, verdicts):
            ok[i] = verdict.ok
    return ok


def score_task(task: Task, samples: Sequence[Program | str | None], *, n_tests: int = 40,
               seed: int = 1234) -> TaskResult:
    """The :class:`TaskResult` of the samples drawn for one task (in the order they were drawn)."""
    programs = [_coerce(s) for s in samples]
    ok = _verified_mask(task, programs, n_tests, seed)
    cost: dict[Program, int] = {}  # distinct verified program -> cycles, computed once each
    best_after, found, best = [], task.baseline_cycles, None
    for program, valid in zip(programs, ok):
        if valid and program not in cost:
            cost[program] = program_cost(program, task.inputs, reference=task.baseline)[0]
            found = min(found, cost[program])
            if best is None or (cost[program], len(program)) < (cost[best], len(best)):
                best = program
        best_after.append(found)
    optimum = task.optimum
    result = TaskResult(
        name=task.name, tier=task.tier, n_samples=len(programs), n_valid=sum(ok), n_distinct_valid=len(cost),
        best_cycles=min(cost.values()) if cost else None, baseline_cycles=task.baseline_cycles,
        optimum_cycles=optimum.cycles if optimum is not None else None,
        optimum_proved=bool(optimum is not None and optimum.proved), best_after=tuple(best_after),
        best_program=None if best is None else str(best))
    _warn_if_beyond_proof(result)
    return result


def _warn_if_beyond_proof(result: TaskResult) -> None:
    if result.has_headroom and result.best_cycles is not None and result.best_cycles < result.optimum_cycles:
        warnings.warn(f"{result.name}: a verified sample costs {result.best_cycles} cycles, below the proven "
                      f"optimum {result.optimum_cycles}: a verifier false positive (raise n_tests) or a wrong "
                      "proof; capture is clipped to 1", stacklevel=3)


def evaluate_samples(tasks: Sequence[Task], samples: Sequence[Sequence[Program | str | None]], *,
                     n_tests: int = 40, seed: int = 1234) -> "Report":
    """Score ``samples[i]`` (the programs drawn for ``tasks[i]``, in draw order; None or unparsable text
    counts as invalid) against each task's baseline, on ``n_tests`` verifier tests drawn with ``seed``."""
    if len(tasks) != len(samples):
        raise EvaluationError(f"got {len(tasks)} tasks but {len(samples)} sample lists: samples[i] must hold "
                              "the programs drawn for tasks[i]")
    for task, drawn in zip(tasks, samples):
        if isinstance(drawn, (str, Program)):  # a single program where a list was meant: its chars/instructions
            raise EvaluationError(f"samples for {task.name!r} must be a list of programs, got one "
                                  f"{type(drawn).__name__}")
    results = [score_task(t, s, n_tests=n_tests, seed=seed) for t, s in zip(tasks, samples)]
    return Report(results, n_tests=n_tests, seed=seed)


# -------------------------------------------------------------------------------------------- report


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _summary_row(group: str, results: Sequence[TaskResult]) -> dict[str, Any]:
    """One row of the results table (None where a mean is over no task)."""
    headroom = [r for r in results if r.has_headroom]
    return {
        "group": group,
        "tasks": len(results),
        "validity": _mean([r.validity for r in results]),
        "verified_share": _mean([float(r.verified) for r in results]),
        "fallback_share": _mean([float(r.fallback) for r in results]),
        "improved_share": _mean([float(r.improved) for r in results]),
        "headroom_tasks": len(headroom),
        "headroom_improved_share": _mean([float(r.improved) for r in headroom]),
        "mean_capture": _mean([r.capture for r in headroom]),
        "mean_relative_improvement": _mean([r.relative_improvement for r in results]),
        "mean_distinct_valid": _mean([float(r.n_distinct_valid) for r in results]),
    }


# column key -> (header, format) for the text and markdown tables
_COLUMNS = {
    "group": ("group", "{}"),
    "tasks": ("tasks", "{}"),
    "validity": ("validity", "{:.1%}"),
    "verified_share": ("verified", "{:.1%}"),
    "fallback_share": ("fallback", "{:.1%}"),
    "improved_share": ("improved", "{:.1%}"),
    "headroom_tasks": ("headroom tasks", "{}"),
    "headroom_improved_share": ("improved (headroom)", "{:.1%}"),
    "mean_capture": ("capture", "{:.3f}"),
    "mean_relative_improvement": ("rel. improvement", "{:.1%}"),
    "mean_distinct_valid": ("distinct valid", "{:.1f}"),
}


def _cells(rows: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Header then one list of formatted cells per row ("-" for a mean over no task)."""
    table = [[header for header, _ in _COLUMNS.values()]]
    for row in rows:
        table.append(["-" if row[key] is None else fmt.format(row[key]) for key, (_, fmt) in _COLUMNS.items()])
    return table


@dataclass
class Report:
    """Per-task results of one agent's samples, and the tables and curves made from them."""

    tasks: list[TaskResult]
    n_tests: int = 40
    seed: int = 1234
    settings: dict[str, Any] = field(default_factory=dict, compare=False)
    """How the samples were drawn (decoder, samples, width, time per task), written to the file as they are."""

    # ---- aggregates
    def groups(self, by: str | None = "tier") -> dict[str, list[TaskResult]]:
        """``all`` then, with ``by="tier"``, easy / medium / hard (always) and any other tier present."""
        if by not in ("tier", None):
            raise EvaluationError(f"summary groups by 'tier' or None, got {by!r}")
        groups = {"all": list(self.tasks)}
        if by == "tier":
            extra = sorted({r.tier for r in self.tasks} - set(TIERS))
            for tier in (*TIERS, *extra):
                groups[tier] = [r for r in self.tasks if r.tier == tier]
        return groups

    def summary(self, by: str | None = "tier") -> list[dict[str, Any]]:
        """Rows for all / easy / medium / hard: task count; mean validity over tasks; shares of tasks with a
        verified sample, needing the fallback and improved; among tasks whose proven optimum is cheaper than
        the baseline, their number, the share improved and the mean capture; mean relative improvement and
        mean distinct valid programs. Means over no task are None."""
        return [_summary_row(group, results) for group, results in self.groups(by).items()]

    @property
    def max_samples(self) -> int:
        return max((r.n_samples for r in self.tasks), default=0)

    def curve(self, metric: str = "relative", tier: str | None = None) -> tuple[list[int], list[float]]:
        """(ks, mean at k) for k = 1..K samples drawn: the mean relative improvement over the baseline
        (``metric="relative"``, over all tasks) or the mean capture (``"capture"``, over tasks with provable
        headroom). Tasks that drew fewer than k samples count with what they had."""
        if metric not in METRICS:
            raise EvaluationError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
        results = [r for r in self.tasks if tier is None or r.tier == tier]
        if metric == "capture":
            results = [r for r in results if r.has_headroom]
        if not results:
            raise EvaluationError(f"no task to average for the {metric!r} curve"
                                  + (f" in tier {tier!r}" if tier else "")
                                  + (" (capture needs a proven optimum below the baseline)" if metric == "capture"
                                     else ""))
        ks = list(range(1, self.max_samples + 1))
        value = (lambda r, c: _relative(r.baseline_cycles, c)) if metric == "relative" else _capture
        return ks, [sum(value(r, r.cycles_after(k)) for r in results) / len(results) for k in ks]

    # ---- tables
    def to_markdown(self, by: str | None = "tier") -> str:
        header, *rows = _cells(self.summary(by))
        lines = [header, ["---"] * len(header), *rows]
        return "\n".join("| " + " | ".join(line) + " |" for line in lines) + "\n"

    def to_text(self, by: str | None = "tier") -> str:
        """The summary as an aligned table for a terminal (numbers right-aligned)."""
        table = _cells(self.summary(by))
        widths = [max(len(row[c]) for row in table) for c in range(len(table[0]))]
        lines = ["  ".join(cell.ljust(w) if c == 0 else cell.rjust(w) for c, (cell, w) in
                           enumerate(zip(row, widths))).rstrip() for row in table]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines) + "\n"

    # ---- files
    def overall(self) -> dict[str, Any]:
        """The headline numbers over every task: ``tasks`` and ``headroom_tasks`` (tasks whose proven optimum
        is cheaper than the baseline) are counts; the rest are fractions in [0, 1]: mean per-task sample
        validity, shares of tasks with a verified sample and strictly improved, share of the headroom tasks
        improved, their mean capture and the mean relative improvement (None where a mean is over no task)."""
        row = self.summary(by=None)[0]
        return {"tasks": row["tasks"], "sample_validity": row["validity"], "tasks_verified": row["verified_share"],
                "tasks_improved": row["improved_share"], "headroom_tasks": row["headroom_tasks"],
                "headroom_improved": row["headroom_improved_share"], "capture": row["mean_capture"],
                "mean_improvement": row["mean_relative_improvement"]}

    def records(self) -> list[dict[str, Any]]:
        """One re-checkable record per task (:data:`TASK_KEYS`): ``best_program`` is the cheapest verified
        sample's TASM text and ``best_cycles`` its cycles (both None when no sample verified)."""
        return [{"name": r.name, "tier": r.tier, "verified": r.verified, "baseline_cycles": r.baseline_cycles,
                 "best_cycles": r.best_cycles, "best_program": r.best_program, "optimum_cycles": r.optimum_cycles,
                 "proved": r.optimum_proved} for r in self.tasks]

    def to_dict(self) -> dict[str, Any]:
        """The file's object: ``overall`` and ``tasks`` (the re-checkable summary), ``settings``, and
        ``results`` (every stored count, which :meth:`from_json` reads back) and the ``summary`` by tier."""
        return {"format": _FORMAT, "version": _VERSION, "n_tests": self.n_tests, "seed": self.seed,
                "settings": self.settings, "overall": self.overall(), "tasks": self.records(),
                "results": [r.to_json() for r in self.tasks], "summary": self.summary()}

    def to_json(self, path: str | os.PathLike) -> None:
        """Write atomically as plain JSON (:meth:`to_dict`)."""
        _atomic_write(path, lambda f: f.write(json.dumps(self.to_dict(), indent=1) + "\n"))

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "Report":
        try:
            data = json.loads(Path(path).read_text())
        except OSError as err:
            raise EvaluationError(f"cannot read report {path}: {err.strerror}") from None
        except json.JSONDecodeError as err:
            raise EvaluationError(f"report {path} is not valid JSON: {err}") from None
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise EvaluationError(f"{path} is not a tasm-env report (expected \"format\": \"{_FORMAT}\")")
        try:
            results = data["results"] if data.get("version", 1) >= 2 else data["tasks"]
            return cls([TaskResult.from_json(r) for r in results], int(data["n_tests"]), int(data["seed"]),
                       dict(data.get("settings", {})))
        except (KeyError, TypeError, ValueError) as err:
            raise EvaluationError(f"report {path} is malformed ({type(err).__name__}: {err})") from None

    def to_csv(self, path: str | os.PathLike) -> None:
        """One row per task: the stored fields and the derived ones; ``best_after`` as space-separated cycles."""
        rows = [r.to_json() for r in self.tasks]
        for row in rows:
            row["best_after"] = " ".join(str(c) for c in row["best_after"])
        columns = [f.name for f in fields(TaskResult)] + list(_DERIVED)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        _atomic_write(path, lambda f: f.write(buffer.getvalue()))


def _atomic_write(path: str | os.PathLike, write: Callable[[IO], Any], binary: bool = False) -> None:
    atomic_write(path, write, binary=binary)


# ---------------------------------------------------------------------------------------------- plot


def plot_improvement(reports: dict[str, Report], path: str | os.PathLike, metric: str = "relative") -> None:
    """One line per agent label: mean improvement over the baseline (``metric="relative"``) or mean capture
    (``"capture"``) against samples drawn (log2 axis); saved as a PNG at ``path``."""
    if metric not in METRICS:
        raise EvaluationError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    if not reports:
        raise EvaluationError("plot_improvement needs at least one report")
    try:  # optional dependency; the object API avoids pyplot's global state and GUI backends
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotsUnavailable("plotting needs matplotlib: pip install tasm-env[plots]") from None
    figure = Figure(figsize=(6.4, 4.2))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for label, report in reports.items():
        ks, values = report.curve(metric)
        axes.plot(ks, values, marker="o" if len(ks) < 20 else None, markersize=3, label=label)
    axes.set_xscale("log", base=2)
    axes.set_xlabel("samples drawn per task")
    axes.set_ylabel("mean improvement over the baseline" if metric == "relative"
                    else "mean capture of the provable headroom")
    if metric == "relative":
        axes.yaxis.set_major_formatter(lambda y, _: f"{y:.0%}")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    _atomic_write(path, lambda f: figure.savefig(f, format="png", dpi=120), binary=True)


# ------------------------------------------------------------------------------ distribution distance


def distribution_distance(env, gflownet, task_indices: Sequence[int], n_samples: int = 2000,
                          seed: int = 0) -> list[dict[str, Any]]:
    """L1, JSD and |logZ error| of ``gflownet``'s samples against the exact target, per task of a
    :class:`~tasm_env.envs.gfn.TasmGFNEnv`, via ``env.validate`` with the task's condition pinned.

    One row per index: ``task``, ``index``, ``l1``, ``jsd``, ``logz_diff`` (None without a learned logZ) and
    ``skipped`` (None, or why). The env enumerates all its tasks at once, so when any of them is too big to
    enumerate every row is skipped with the env's reason (build an env of the tiny tasks only). Sampling is
    seeded with ``seed`` without disturbing torch's global generator."""
    import torch  # the envs need torch anyway; evaluating samples does not

    try:
        env.enumeration()
        why = None
    except TasmError as err:
        why = f"not enumerable: {err}"
    rows = []
    for index in task_indices:
        row = {"task": env.tasks[index].name, "index": int(index), "l1": None, "jsd": None, "logz_diff": None,
               "skipped": why}
        if why is None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                metrics, _ = env.validate(gflownet, n_samples, validate_condition=env.conditions_for(index)[0])
            row.update(l1=metrics["l1_dist"], jsd=metrics["jsd"], logz_diff=metrics.get("logZ_diff"))
        rows.append(row)
    return rows


__all__ = ["EvaluationError", "METRICS", "OVERALL_KEYS", "PlotsUnavailable", "Report", "TASK_KEYS", "TIERS", "TaskResult", "distribution_distance",
           "evaluate_samples", "plot_improvement", "score_task"]
