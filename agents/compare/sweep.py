"""A comparison sweep: the units of (agent, seed, task), ``DIR/results.json`` kept current after every finished
unit (atomically), resuming from it, and re-verifying it from scratch (``--check``).

``results.json``::

    {"format": "tasm-env-compare/1",
     "settings": {"suite", "split", "tiers", "tasks", "agents", "budget", "batch", "checkpoint", "device",
                  "options"},
     "seeds": [0, 1, 2],
     "versions": {"tasm_env", "torch", "torchgfn", "numpy", "rliable", "python"},
     "runs": [RunRecord.to_json(), ...]}        # agent, seed, task, tier, best_program, best_cycles, ...

A sweep restarted on the same folder with the same settings skips every unit already in ``runs``; other
settings are refused (a results file holds one sweep)."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tasm_env.atomic import atomic_write_text

from .report import TIERS
from .interface import CONFIRM_SEED_OFFSET, SCREEN_TESTS, CompareError, RunRecord, RunUnit, agent_names

FORMAT = "tasm-env-compare/1"
RESULTS = "results.json"


@dataclass(frozen=True)
class SweepSettings:
    """What a sweep runs: every listed agent on every selected task for every seed, ``budget`` programs each.
    ``tasks``: at most that many tasks per tier (in suite order; None: all)."""

    agents: tuple[str, ...]
    suite: str = "tasm-basic-v1"
    split: str = "test"
    tiers: tuple[str, ...] | None = None
    tasks: int | None = None
    budget: int = 256
    batch: int = 16
    seeds: int = 3
    checkpoint: str | None = None
    device: str = "cpu"
    options: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        data = asdict(self)
        data["agents"] = list(self.agents)
        data["tiers"] = None if self.tiers is None else list(self.tiers)
        data.pop("seeds")
        return data


def select_tasks(settings: SweepSettings) -> list:
    from tasm_env.tasks.suite import load_suite

    tasks = [t for t in load_suite(settings.suite).split(settings.split)
             if settings.tiers is None or t.tier in settings.tiers]
    if settings.tasks is not None:
        kept, per_tier = [], {}
        for task in tasks:
            per_tier[task.tier] = per_tier.get(task.tier, 0) + 1
            if per_tier[task.tier] <= settings.tasks:
                kept.append(task)
        tasks = kept
    if not tasks:
        raise CompareError(f"suite {settings.suite!r} split {settings.split!r} has no tasks of tiers {settings.tiers}")
    return tasks


def make_units(settings: SweepSettings) -> list[RunUnit]:
    known = agent_names()
    unknown = [a for a in settings.agents if a not in known]
    if unknown:
        raise CompareError(f"unknown agents {unknown}; expected some of {', '.join(known)}")
    if settings.seeds < 1 or settings.budget < 1 or settings.batch < 1:
        raise CompareError(f"need seeds, budget and batch of at least 1, got {settings.seeds}, {settings.budget}, "
                           f"{settings.batch}")
    # task-major, easier tiers first: a sweep stopped early (or still running) holds whole tasks, every agent
    # and seed, so its partial report compares agents on the same tasks
    rank = {tier: i for i, tier in enumerate(TIERS)}
    tasks = sorted(select_tasks(settings), key=lambda t: rank.get(t.tier, len(rank)))
    return [RunUnit(agent=agent, seed=seed, task=task.name, suite=settings.suite, split=settings.split,
                    budget=settings.budget, batch=settings.batch, device=settings.device,
                    checkpoint=settings.checkpoint, options=dict(settings.options))
            for task in tasks for seed in range(settings.seeds) for agent in settings.agents]


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    import tasm_env

    out = {"tasm_env": tasm_env.__version__, "python": platform.python_version()}
    for package in ("torch", "torchgfn", "numpy", "rliable"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out


def read_results(folder: Path) -> dict:
    path = Path(folder) / RESULTS
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise CompareError(f"no {RESULTS} in {folder}: expected the --out folder of a tasm-env compare run") from None
    except json.JSONDecodeError as err:
        raise CompareError(f"{path} is not JSON: {err}") from None
    if data.get("format") != FORMAT or not isinstance(data.get("runs"), list):
        raise CompareError(f"{path} is not a tasm-env compare results file (expected format {FORMAT!r} and runs)")
    return data


class Results:
    """The results file of one sweep, rewritten atomically after every record."""

    def __init__(self, folder: Path, settings: SweepSettings):
        self.path = Path(folder) / RESULTS
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.data = {"format": FORMAT, "settings": settings.to_json(), "seeds": list(range(settings.seeds)),
                     "versions": versions(), "runs": []}
        if self.path.exists():
            old = read_results(folder)
            if old["settings"] != self.data["settings"]:
                raise CompareError(f"{self.path} holds another sweep (settings {old['settings']}); use another "
                                   "--out, or the same settings to resume")
            self.data["runs"] = old["runs"]
            self.data["seeds"] = sorted(set(old.get("seeds", [])) | set(self.data["seeds"]))
        self.save()

    def done(self) -> set[tuple[str, int, str]]:
        return {(r["agent"], r["seed"], r["task"]) for r in self.data["runs"]}

    def add(self, record: RunRecord) -> None:
        self.data["runs"].append(record.to_json())
        self.save()

    def save(self) -> None:
        atomic_write_text(self.path, json.dumps(self.data, indent=1))

    def records(self) -> list[RunRecord]:
        return [RunRecord(**r) for r in self.data["runs"]]


def check_results(folder: Path) -> list[str]:
    """Re-verify every run of ``folder/results.json`` from scratch: a fresh verifier on the run's screening seed
    and on its confirmation seed, the cycles measured again, the baseline where nothing was found. Returns the
    mismatches (empty: everything holds)."""
    from tasm_env.asm import Program
    from tasm_env.tasks.measure import program_cost
    from tasm_env.tasks.suite import load_suite
    from tasm_env.verify import Verifier

    data = read_results(folder)
    suite = load_suite(data["settings"]["suite"])
    problems = []
    for run in data["runs"]:
        where = f"run {run.get('agent')} seed {run.get('seed')} task {run.get('task')}"
        try:
            task = suite[run["task"]]
            program = Program.parse(run["best_program"])
        except Exception as err:  # a tampered name or program text
            problems.append(f"{where}: {err}")
            continue
        baseline = Program.coerce(task.baseline)
        for seed in (run["seed"], run["seed"] + CONFIRM_SEED_OFFSET):
            verdict = Verifier(task, n_tests=SCREEN_TESTS, seed=seed).check([program])[0]
            if not verdict.ok:
                problems.append(f"{where}: best_program is not equivalent to the baseline (verifier seed {seed}): "
                                f"{verdict.reason}")
        cycles = program_cost(program, task.inputs, reference=baseline)[0]
        if cycles != run["best_cycles"]:
            problems.append(f"{where}: best_cycles says {run['best_cycles']}, the program takes {cycles}")
        if run["baseline_cycles"] != task.baseline_cycles:
            problems.append(f"{where}: baseline_cycles says {run['baseline_cycles']}, the task's is "
                            f"{task.baseline_cycles}")
        if not run["found"] and program != baseline:
            problems.append(f"{where}: found is false but best_program is not the baseline")
        if run["programs_scored"] > data["settings"]["budget"]:
            problems.append(f"{where}: {run['programs_scored']} programs scored, over the budget of "
                            f"{data['settings']['budget']}")
    return problems


def settings_of(data: dict) -> SweepSettings:
    """The :class:`SweepSettings` a results file was written under."""
    raw = dict(data["settings"])
    raw["agents"] = tuple(raw["agents"])
    raw["tiers"] = None if raw.get("tiers") is None else tuple(raw["tiers"])
    return SweepSettings(**raw, seeds=len(data["seeds"]))


def render_results(folder: Path) -> tuple[str, list[Path], dict[str, str]]:
    """Re-render ``folder/compare.md`` and the plots from ``folder/results.json`` alone (no unit runs): after a
    report-only change, or on a sweep stopped early. The tables hold the tasks every agent finished for every
    seed (units run task by task, so a stopped sweep holds whole tasks); an unfinished sweep is said so under
    the title. Returns (markdown, plots, {agent: "k/n runs"} for every unfinished agent)."""
    from .report import complete_tasks, write_report

    data = read_results(folder)
    settings = settings_of(data)
    expected: dict[str, set] = {}
    for unit in make_units(settings):
        expected.setdefault(unit.agent, set()).add(unit.key())
    records = [RunRecord(**r) for r in data["runs"]]
    have = {(r.agent, r.seed, r.task) for r in records}
    unfinished = {a: f"{len(have & keys)}/{len(keys)} runs" for a, keys in expected.items() if not keys <= have}
    if not complete_tasks(records)[1]:
        raise CompareError(f"{folder / RESULTS}: no task was finished by every agent for every seed yet")
    text, plots = write_report(records, data["settings"], Path(folder), unfinished=unfinished,
                               tasks_total=len(select_tasks(settings)))
    return text, plots, unfinished


def run_sweep(out: Path, settings: SweepSettings, *, backend: str = "local", workers: int | None = None,
              progress: bool = True, **backend_options) -> list[RunRecord]:
    """Run (or resume) the sweep into ``out``; returns every record of the results file."""
    from .backends import run_units

    units = make_units(settings)  # checks the settings before anything is written
    results = Results(out, settings)
    done = results.done()
    todo = [u for u in units if u.key() not in done]
    if progress and done:
        print(f"resuming {out}: {len(done)} runs already done, {len(todo)} to go")
    if todo:
        run_units(todo, backend=backend, workers=workers, on_record=results.add, progress=progress,
                  **backend_options)
    return results.records()


__all__ = ["FORMAT", "RESULTS", "Results", "SweepSettings", "check_results", "make_units", "read_results",
           "render_results", "run_sweep", "select_tasks", "settings_of", "versions"]
