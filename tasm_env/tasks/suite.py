"""Named, versioned task suites with fixed train / val / test splits, shipped as JSON package data.

    import tasm_env as te
    suite = te.load_suite("tasm-basic-v0")
    suite.train, suite.val, suite.test      # lists of Task
    suite["basic-easy-007"]                 # one task by name

A suite file is JSON: ``{"name", "version", "format", "description", "splits": {"train": [...], "val": [...],
"test": [...]}, "tasks": [task, ...]}`` with each task as :meth:`Task.to_json` writes it. ``load_suite`` also
accepts a path to such a file, so users can ship their own.

Loading re-verifies every recorded optimum against its task (:func:`check_optima`: the program must be
equivalent to the baseline and as long as it says) and refuses a file where one does not, or where an optimum
is marked proved without the search's record of what the proof is relative to (``relative_to``). Files of
format 1 (the v0 suites) predate that record: their proved optima load as relative to the v0 search's narrower
set. A shipped suite with a newer version is marked on the old one (:attr:`Suite.superseded_by`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

from ..atomic import atomic_write_text
from ..errors import TaskError, TasmError
from .task import Task

SPLITS = ("train", "val", "test")
_PACKAGE_DIR = "data/suites"
FORMAT = 2
"""Suite file format: 2 records ``relative_to`` with every optimum; 1 (no ``format`` key) did not."""
OPTIMUM_TESTS = 64
"""Tests of the re-verification of recorded optima at load time."""


@dataclass(frozen=True)
class Suite:
    """A versioned set of tasks with disjoint train / val / test splits."""

    name: str
    version: int
    description: str
    tasks: dict[str, Task]
    splits: dict[str, tuple[str, ...]]
    superseded_by: str | None = None  # the shipped suite that replaces this one, if any

    @property
    def train(self) -> list[Task]:
        return self.split("train")

    @property
    def val(self) -> list[Task]:
        return self.split("val")

    @property
    def test(self) -> list[Task]:
        return self.split("test")

    @property
    def has_legacy_optima(self) -> bool:
        """Some optimum comes from a v0 file (no record of its searched set): the suite saves as format 1."""
        return any(t.optimum is not None and t.optimum.relative_to is not None and t.optimum.relative_to.legacy
                   for t in self.tasks.values())

    def split(self, name: str) -> list[Task]:
        if name not in self.splits:
            raise TaskError(f"suite {self.name!r} has no split {name!r}: expected one of {', '.join(self.splits)}")
        return [self.tasks[t] for t in self.splits[name]]

    def __getitem__(self, task_name: str) -> Task:
        try:
            return self.tasks[task_name]
        except KeyError:
            raise TaskError(f"suite {self.name!r} has no task {task_name!r}") from None

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks.values())

    def __len__(self) -> int:
        return len(self.tasks)

    def split_of(self, task_name: str) -> str:
        for split, names in self.splits.items():
            if task_name in names:
                return split
        raise TaskError(f"suite {self.name!r} has no task {task_name!r}")

    # ---- JSON
    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "format": 1 if self.has_legacy_optima else FORMAT,
            "description": self.description,
            "splits": {k: list(v) for k, v in self.splits.items()},
            "tasks": [t.to_json() for t in self.tasks.values()],
        }

    @classmethod
    def from_json(cls, data: Any, origin: str = "suite") -> "Suite":
        if not isinstance(data, dict):
            raise TaskError(f"{origin}: expected a JSON object with name, version, splits and tasks")
        name = data.get("name", origin)
        try:
            raw_tasks, raw_splits = data["tasks"], data["splits"]
            version = int(data.get("version", 0))
            file_format = int(data.get("format", 1))
        except (KeyError, TypeError, ValueError):
            raise TaskError(f"suite {name!r}: expected the keys name, version, splits and tasks") from None
        if file_format not in (1, FORMAT):
            raise TaskError(f"suite {name!r}: unknown format {file_format}; expected 1 or {FORMAT}")
        tasks: dict[str, Task] = {}
        for entry in raw_tasks:
            task = Task.from_json(entry, legacy=file_format == 1)
            if task.name in tasks:
                raise TaskError(f"suite {name!r}: duplicate task name {task.name!r}")
            tasks[task.name] = task
        splits = {}
        seen: dict[str, str] = {}
        for split, names in raw_splits.items():
            if split not in SPLITS:
                raise TaskError(f"suite {name!r}: unknown split {split!r}, expected {', '.join(SPLITS)}")
            for task_name in names:
                if task_name not in tasks:
                    raise TaskError(f"suite {name!r}: split {split!r} names unknown task {task_name!r}")
                if task_name in seen:
                    raise TaskError(f"suite {name!r}: task {task_name!r} is in both {seen[task_name]!r} and "
                                    f"{split!r}: splits must be disjoint")
                seen[task_name] = split
            splits[split] = tuple(names)
        return cls(str(name), version, str(data.get("description", "")), tasks, splits)


def available_suites() -> list[str]:
    """Names of the suites shipped with the package."""
    folder = resources.files("tasm_env").joinpath(_PACKAGE_DIR)
    return sorted(p.name[: -len(".json")] for p in folder.iterdir() if p.name.endswith(".json"))


def check_optima(suite: Suite) -> None:
    """Refuse (TaskError naming the task and why) a suite whose recorded optimum is not a program equivalent to
    the task's baseline of the recorded length, or is marked proved without the search's record."""
    from ..verify import Verifier

    for task in suite:
        optimum = task.optimum
        if optimum is None:
            continue
        where = f"suite {suite.name!r}, task {task.name!r}"
        if optimum.proved and optimum.relative_to is None:
            raise TaskError(f"{where}: the optimum is marked proved but has no record of the searched instruction "
                            "and constant set (relative_to); rebuild the suite with tasm_env.tasks.build")
        if optimum.cycles != len(optimum.program):
            raise TaskError(f"{where}: the optimum claims {optimum.cycles} cycles but its program has "
                            f"{len(optimum.program)} instructions")
        if optimum.program == task.baseline:
            continue  # the baseline itself (no shorter program found): equivalent by definition
        try:
            verdict = Verifier(task, n_tests=OPTIMUM_TESTS).check([optimum.program])[0]
        except TasmError as err:
            raise TaskError(f"{where}: its recorded optimum cannot be checked: {err}") from None
        if not verdict.ok:
            raise TaskError(f"{where}: the recorded optimum `{optimum.program}` is not equivalent to the baseline "
                            f"({verdict})")


def load_suite(name: str | os.PathLike) -> Suite:
    """A shipped suite by name (e.g. ``"tasm-basic-v0"``), or a suite JSON file by path. Every recorded optimum
    is re-verified (:func:`check_optima`)."""
    if not isinstance(name, (str, os.PathLike)):
        raise TaskError(f"load_suite needs a suite name or a path to a suite JSON file, got {type(name).__name__}; "
                        f"shipped suites: {', '.join(available_suites())}")
    path = Path(name)
    if path.suffix == ".json" or path.exists():
        origin, text = str(path), _read(path)
    else:
        resource = resources.files("tasm_env").joinpath(f"{_PACKAGE_DIR}/{name}.json")
        if not resource.is_file():
            raise TaskError(f"no suite named {str(name)!r}: expected one of {', '.join(available_suites())} or a "
                            "path to a suite JSON file")
        origin, text = str(name), resource.read_text()
    return _parsed(origin, text)


@lru_cache(maxsize=16)
def _parsed(origin: str, text: str) -> Suite:
    """Parsed and checked once per file content (suites and tasks are immutable)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise TaskError(f"suite {origin!r} is not valid JSON: {err}") from None
    suite = Suite.from_json(data, origin)
    check_optima(suite)
    return replace(suite, superseded_by=successor(suite.name))


def successor(name: str) -> str | None:
    """The shipped suite replacing ``name`` (same stem, the highest higher version), or None."""
    stem, _, version = name.rpartition("-v")
    if not stem or not version.isdigit():
        return None
    later = [s for s in available_suites() if s.startswith(stem + "-v") and s[len(stem) + 2:].isdigit()
             and int(s[len(stem) + 2:]) > int(version)]
    return max(later, key=lambda s: int(s[len(stem) + 2:]), default=None)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as err:
        raise TaskError(f"cannot read suite file {path}: {err.strerror}") from None


def save_suite(suite: Suite, path: str | os.PathLike) -> None:
    """Write atomically (temporary file, fsync, rename): a crash never leaves a half-written suite."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(suite.to_json(), indent=1) + "\n"
    atomic_write_text(path, text)
