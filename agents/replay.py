"""Stage 3 of the seed's training loop, done properly: a replay buffer of build results and a regression guard.

The seed (``online.rs`` / ``replay.rs``, see ``docs/prior-art.md`` section 4(g)) records every build the model
takes part in as a ``BuildResult``, keeps them in a priority buffer (invalid 0.001, compiler fallback 0.01,
otherwise 1 + improvement ratio), evicts the lowest priority, and mixes old results into short fine-tuning runs
that a regression guard may reject. Its ``sample`` returned the top entries, and the buffer was saved with rkyv.
Here:

* :class:`BuildResult` is one build: which task (by a stable content hash, :func:`task_hash`), the program, and
  whether it verified and what it cost against the compiler's baseline.
* :class:`BuildResultBuffer` keeps at most ``capacity`` results, one per (task, program), evicting the lowest
  priority (the oldest among equals). :meth:`BuildResultBuffer.sample` draws *proportionally* to priority, so old
  good programs come back often but invalid ones are not starved entirely; :meth:`BuildResultBuffer.top` gives the
  seed's "best entries" view. It is saved as JSON lines, atomically, and loading runs no code.
* :class:`RegressionGuard` accepts a new model only if its validation score has not dropped more than a
  tolerance (2 points by default, as the seed) below the best score it ever accepted.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import numbers
import os
import time as _time
import warnings
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from tasm_env.asm import Program
from tasm_env.atomic import atomic_write_text
from tasm_env.errors import TasmError
from tasm_env.tasks.task import Task

INVALID_PRIORITY = 1e-3
"""Priority of a result whose program did not verify (the seed's value; also the GFlowNet reward's epsilon)."""
FALLBACK_PRIORITY = 1e-2
"""Priority of a result where the compiler's output was used instead of the model's (the seed's value)."""

FORMAT = "tasm-env/replay"
"""The ``format`` field of a saved buffer's header line."""
FORMAT_VERSION = 1
"""The only file version :meth:`BuildResultBuffer.load` reads; bump it when the line layout changes."""


class ReplayError(TasmError):
    """A build result, replay buffer, replay file or regression guard is malformed or misused."""


def task_hash(task: Task) -> str:
    """A stable hash of what a task asks for: its input types, its TIR and its baseline TASM.

    The name, tier and recorded costs are left out on purpose: the same block under another name is the same
    problem, and re-costing a baseline (or finding its optimum) must not orphan the results already recorded.
    It is 32 hex digits of BLAKE2b over canonical JSON, so it is the same across processes and machines
    (unlike Python's ``hash``)."""
    if not isinstance(task, Task):
        raise ReplayError(f"task_hash expects a tasm_env Task, got {type(task).__name__}")
    canonical = json.dumps({"inputs": list(task.inputs), "tir": task.tir.to_json(), "baseline": str(task.baseline)},
                           sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(canonical.encode(), digest_size=16, person=b"tasm-env/task").hexdigest()


# ---- validation helpers (strict: JSON has no int/bool/float distinction we would want to blur)
def _integer(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ReplayError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ReplayError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ReplayError(f"{name} must be true or false, got {value!r}")
    return bool(value)


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ReplayError(f"{name} must be a string, got {type(value).__name__} {value!r}")
    return value


@dataclass(frozen=True)
class BuildResult:
    """One build: a program emitted for a task, whether it verified, and what it cost.

    * ``task_hash``: :func:`task_hash` of the task; ``task`` is its name, for people reading the buffer.
    * ``program``: the TASM text (a :class:`~tasm_env.asm.Program` is turned into its canonical text). Two
      results are the same build when task hash and text are equal, so pass canonical text (``str(program)``).
    * ``valid``: the program verified against the task. ``cycles`` is its cost, and is None exactly when
      ``valid`` is false.
    * ``baseline_cycles``: the compiler baseline's cost (0 means no improvement is possible).
    * ``fallback_used``: the compiler's output was shipped instead of the model's.
    * ``time``: unix seconds; ``model_version``: which model produced it.

    Fields are checked and coerced (numpy integers to ``int``, ``time`` to ``float``) on construction; a wrong
    one raises :class:`ReplayError`.
    """

    task_hash: str
    task: str
    program: str
    valid: bool
    cycles: int | None
    baseline_cycles: int
    fallback_used: bool
    time: float
    model_version: int

    def __post_init__(self) -> None:
        program = str(self.program) if isinstance(self.program, Program) else self.program
        coerced = {
            "task_hash": _text("task_hash", self.task_hash),
            "task": _text("task", self.task),
            "program": _text("program", program),
            "valid": _flag("valid", self.valid),
            "baseline_cycles": _integer("baseline_cycles", self.baseline_cycles, 0),
            "fallback_used": _flag("fallback_used", self.fallback_used),
            "time": _finite("time", self.time),
            "model_version": _integer("model_version", self.model_version, 0),
        }
        if not coerced["task_hash"]:
            raise ReplayError("task_hash must be a non-empty string (see agents.replay.task_hash)")
        if coerced["valid"]:
            coerced["cycles"] = _integer("cycles of a valid result", self.cycles, 0)
        elif self.cycles is not None:
            raise ReplayError(f"cycles must be None for an invalid result, got {self.cycles!r}")
        for name, value in coerced.items():
            object.__setattr__(self, name, value)  # frozen: coercion is the one write allowed

    @classmethod
    def for_task(cls, task: Task, program: str | Program, cycles: int | None, *, fallback_used: bool = False,
                 model_version: int = 0, time: float | None = None) -> "BuildResult":
        """A result for ``task``: valid exactly when ``cycles`` is given; ``time`` defaults to now."""
        return cls(task_hash(task), task.name, program, cycles is not None, cycles, task.baseline_cycles,
                   fallback_used, _time.time() if time is None else time, model_version)

    @property
    def improvement(self) -> float:
        """``max(0, (baseline - cycles) / baseline)`` for a valid model-written program, else 0."""
        if not self.valid or self.fallback_used or self.baseline_cycles == 0:
            return 0.0
        return max(0.0, (self.baseline_cycles - self.cycles) / self.baseline_cycles)

    @property
    def priority(self) -> float:
        """The seed's priority: 0.001 if invalid, 0.01 if the fallback was used, else ``1 + improvement``
        (so in [1, 2]: any valid model program outranks every failure)."""
        if not self.valid:
            return INVALID_PRIORITY
        if self.fallback_used:
            return FALLBACK_PRIORITY
        return 1.0 + self.improvement

    @property
    def key(self) -> tuple[str, str]:
        """What makes two results the same build: (task hash, program text)."""
        return self.task_hash, self.program

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> "BuildResult":
        """The inverse of :meth:`to_json`; exactly the fields of :class:`BuildResult`, strictly typed."""
        names = [f.name for f in fields(cls)]
        if not isinstance(data, dict):
            raise ReplayError(f"expected a JSON object with keys {', '.join(names)}; got {type(data).__name__}")
        missing, extra = [n for n in names if n not in data], sorted(set(data) - set(names))
        if missing or extra:
            problems = [f"{what} {', '.join(keys)}" for what, keys in (("missing", missing), ("unknown", extra)) if keys]
            raise ReplayError(f"expected a build result with keys {', '.join(names)}; {'; '.join(problems)}")
        return cls(**data)


class BuildResultBuffer:
    """At most ``capacity`` build results, one per (task hash, program), evicting by priority.

    Rules:

    * Adding a build already present refreshes it: the entry becomes the newest, takes the new ``time`` and
      ``model_version``, and keeps the outcome (valid, cycles, fallback) of whichever of the two results has the
      higher priority (the new one on a tie). The buffer does not grow.
    * Adding a new build to a full buffer removes the lowest-priority entry, the oldest among equal priorities,
      where the new result counts as the newest. So a result that ranks below everything is itself dropped
      (``add`` returns False) rather than evicting a better one, and one that ties with the lowest replaces the
      oldest of them.

    Iteration is oldest first ("oldest" means least recently added or refreshed; the ``time`` field is data and
    plays no part). The lowest entry is found with a lazily cleaned heap, so adding costs amortised O(log n).
    """

    def __init__(self, capacity: int):
        self._capacity = _integer("capacity", capacity, 1)
        self._entries: dict[tuple[str, str], BuildResult] = {}  # insertion order == age, oldest first
        self._seq: dict[tuple[str, str], int] = {}  # each live entry's age stamp
        self._heap: list[tuple[float, int, tuple[str, str]]] = []  # (priority, stamp, key); stale when stamp moved
        self._next = 0

    @property
    def capacity(self) -> int:
        return self._capacity

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[BuildResult]:
        return iter(self._entries.values())

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, BuildResultBuffer) and self._capacity == other._capacity
                and list(self._entries.values()) == list(other._entries.values()))

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        return f"BuildResultBuffer(capacity={self._capacity}, len={len(self)})"

    # ---- adding
    def add(self, result: BuildResult) -> bool:
        """Add one result under the rules above; True if it is in the buffer afterwards."""
        if not isinstance(result, BuildResult):
            raise ReplayError(f"expected a BuildResult, got {type(result).__name__}")
        key = result.key
        old = self._entries.pop(key, None)
        if old is not None:
            if old.priority > result.priority:
                result = replace(old, time=result.time, model_version=result.model_version)
        elif len(self._entries) >= self._capacity:
            lowest, _, lowest_key = self._lowest()
            if result.priority < lowest:
                return False
            del self._entries[lowest_key], self._seq[lowest_key]  # its heap item goes stale
        self._put(key, result)
        return True

    def extend(self, results: Iterable[BuildResult]) -> int:
        """Add each result in order; returns how many :meth:`add` stored (a later one may evict an earlier one)."""
        return sum(self.add(r) for r in results)

    def _put(self, key: tuple[str, str], result: BuildResult) -> None:
        self._entries[key] = result
        self._seq[key] = self._next
        heapq.heappush(self._heap, (result.priority, self._next, key))
        self._next += 1
        if len(self._heap) > 2 * len(self._entries) + 64:  # refreshes leave stale items; keep the heap O(n)
            self._heap = [(r.priority, self._seq[k], k) for k, r in self._entries.items()]
            heapq.heapify(self._heap)

    def _lowest(self) -> tuple[float, int, tuple[str, str]]:
        while self._seq.get(self._heap[0][2]) != self._heap[0][1]:
            heapq.heappop(self._heap)
        return self._heap[0]

    # ---- reading
    def sample(self, n: int, generator: np.random.Generator | int) -> list[BuildResult]:
        """``n`` results drawn with probability proportional to priority.

        For ``n <= len(self)`` the draws are without replacement (successive sampling: each draw is proportional
        to the priorities of the entries not yet drawn), so the result has no repeats; for larger ``n`` they
        are with replacement. ``generator`` is a ``numpy.random.Generator`` or an integer seed."""
        n = _integer("n", n, 0)
        if isinstance(generator, bool) or not isinstance(generator, (numbers.Integral, np.random.Generator)):
            raise ReplayError(f"generator must be a numpy Generator or an integer seed, got {generator!r}")
        if n == 0:
            return []
        if not self._entries:
            raise ReplayError(f"cannot sample {n} results from an empty replay buffer")
        items = list(self._entries.values())
        weights = np.array([r.priority for r in items], dtype=np.float64)
        picks = np.random.default_rng(generator).choice(len(items), size=n, replace=n > len(items),
                                                        p=weights / weights.sum())
        return [items[i] for i in picks]

    def top(self, n: int) -> list[BuildResult]:
        """The ``n`` highest-priority results, best first (newest first among equals): the entries that would
        be evicted last. Fewer if the buffer holds fewer."""
        n = _integer("n", n, 0)
        best = heapq.nlargest(n, self._entries.items(), key=lambda kv: (kv[1].priority, self._seq[kv[0]]))
        return [r for _, r in best]

    def best_by_task(self) -> dict[str, BuildResult]:
        """For each task hash, its cheapest valid model-written (non-fallback) result; the newest among equally
        cheap ones. Tasks with none are absent."""
        best: dict[str, BuildResult] = {}
        for r in self._entries.values():  # oldest first, so `<=` keeps the newest of a tie
            if r.valid and not r.fallback_used and (r.task_hash not in best or r.cycles <= best[r.task_hash].cycles):
                best[r.task_hash] = r
        return best

    def stats(self) -> dict[str, int | float | None]:
        """Counts for logging. ``valid``, ``fallback`` and ``invalid`` partition the entries by priority class
        (a fallback that did not verify counts as invalid); ``improved`` counts valid results that beat the
        baseline; ``mean_improvement`` is over the valid ones (None when there are none)."""
        good = [r for r in self._entries.values() if r.valid and not r.fallback_used]
        return {
            "size": len(self),
            "capacity": self._capacity,
            "tasks": len({r.task_hash for r in self._entries.values()}),
            "valid": len(good),
            "fallback": sum(r.valid and r.fallback_used for r in self._entries.values()),
            "invalid": sum(not r.valid for r in self._entries.values()),
            "improved": sum(r.improvement > 0 for r in good),
            "mean_improvement": float(np.mean([r.improvement for r in good])) if good else None,
        }

    # ---- persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write the buffer as JSON lines: a header ``{"format", "version", "capacity", "size"}``, then one
        result per line, oldest first. Atomic: a crash leaves the previous file as it was."""
        header = {"format": FORMAT, "version": FORMAT_VERSION, "capacity": self._capacity, "size": len(self)}
        lines = [header] + [r.to_json() for r in self._entries.values()]
        _atomic_write(Path(path), "".join(json.dumps(x, separators=(",", ":"), allow_nan=False) + "\n"
                                          for x in lines))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "BuildResultBuffer":
        """Read a file written by :meth:`save`, giving an equal buffer (same capacity, entries and order).

        Only JSON is parsed. Anything unexpected (a wrong header or version, a truncated or malformed line, a
        wrong type, a duplicate, more entries than the capacity or another count than the header's) raises
        :class:`ReplayError` naming the line."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ReplayError(f"cannot read replay file {path}: {err}") from None
        lines = text.split("\n")
        if lines[-1] == "":  # the final newline
            lines.pop()

        def fail(number: int, message: str) -> ReplayError:
            return ReplayError(f"replay file {path}, line {number}: {message}")

        def parse(number: int, what: str) -> Any:
            line = lines[number - 1] if number <= len(lines) else ""
            if not line.strip():
                raise fail(number, f"{'missing' if number > len(lines) else 'empty'} line; expected {what}")
            try:
                return json.loads(line)
            except json.JSONDecodeError as err:
                raise fail(number, f"not valid JSON ({err.msg} at column {err.colno}), maybe truncated; "
                                   f"expected {what}") from None

        expected = (f'the header {{"format": "{FORMAT}", "version": {FORMAT_VERSION}, "capacity": <int>, '
                    '"size": <int>}')
        header = parse(1, expected)
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise fail(1, f"not a replay buffer file; expected {expected}")
        if header.get("version") != FORMAT_VERSION:
            raise fail(1, f"unsupported version {header.get('version')!r}; expected version {FORMAT_VERSION}")
        if set(header) != {"format", "version", "capacity", "size"}:
            raise fail(1, f"header keys {sorted(header)}; expected {expected}")
        try:
            buffer = cls(header["capacity"])
            size = _integer("size", header["size"], 0)
        except ReplayError as err:
            raise fail(1, str(err)) from None
        if size > buffer.capacity:
            raise fail(1, f"size {size} exceeds capacity {buffer.capacity}; expected size <= capacity")

        for number in range(2, len(lines) + 1):
            data = parse(number, "a build result as a JSON object")
            try:
                result = BuildResult.from_json(data)
            except ReplayError as err:
                raise fail(number, str(err)) from None
            if result.key in buffer._entries:
                raise fail(number, f"duplicate of an earlier entry (task {result.task!r}, same program); "
                                   "expected one entry per task and program")
            if len(buffer) == size:
                raise fail(number, f"result beyond the {size} the header announces; expected the end of the file")
            buffer._put(result.key, result)
        if len(buffer) < size:
            raise fail(len(lines) + 1, f"the file ends after {len(buffer)} results; expected {size} as the header "
                                       "says (the file is truncated)")
        return buffer


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a crash at any moment leaves either the old file or the new one: write
    a temporary file in the same directory (same file system, so the rename is atomic), fsync it, rename it over
    ``path``, then fsync the directory so the rename itself survives a power cut (best-effort: not every
    platform can open a directory). The temporary file is removed if anything fails before the rename; one
    left by a killed process is named ``.<name>.*.tmp`` and nothing reads it."""
    try:
        atomic_write_text(path, text)
    except OSError as err:
        raise ReplayError(f"cannot write replay file {path}: {err}") from err


@dataclass
class RegressionGuard:
    """Reject a model whose validation score (higher is better) dropped too far.

    Rule: ``accept(score)`` is True when ``score >= best - tolerance`` (always, for the first score), and then
    ``best`` becomes ``max(best, score)``; a rejected score changes nothing. ``best`` is the best score *ever
    accepted*, not the last one, so a run of small accepted drops cannot walk the score down: the floor only
    rises. ``tolerance`` is in absolute score points; the default 0.02 is the seed's "2 percentage points" on a
    score in [0, 1] (e.g. validity or mean improvement on the validation split).
    """

    tolerance: float = 0.02
    best: float | None = None

    # scores are computed in floating point: without this slack a drop of exactly `tolerance` (0.20 -> 0.18)
    # would be rejected because 0.20 - 0.02 > 0.18 in binary floating point
    _SLACK = 1e-12

    def __post_init__(self) -> None:
        self.tolerance = _finite("tolerance", self.tolerance)
        if self.tolerance < 0:
            raise ReplayError(f"tolerance must be >= 0 score points, got {self.tolerance}")
        if self.best is not None:
            self.best = _finite("best", self.best)

    def accept(self, score: float) -> bool:
        """Decide on ``score`` under the rule above and remember it if accepted."""
        score = _finite("score", score)
        if self.best is not None and score < self.best - self.tolerance - self._SLACK:
            return False
        self.best = score if self.best is None else max(self.best, score)
        return True

    def to_dict(self) -> dict[str, float | None]:
        return {"tolerance": self.tolerance, "best": self.best}

    @classmethod
    def from_dict(cls, data: Any) -> "RegressionGuard":
        """The inverse of :meth:`to_dict`; exactly the keys ``tolerance`` and ``best``."""
        if not isinstance(data, dict) or set(data) != {"tolerance", "best"}:
            raise ReplayError(f"expected a regression guard as {{\"tolerance\": <number>, \"best\": <number or "
                              f"null>}}, got {data!r}")
        return cls(data["tolerance"], data["best"])


def __getattr__(name: str) -> Any:
    # the old name, deprecated: torchgfn's own ReplayBuffer (used by agents.gflownet) is a different thing
    if name == "ReplayBuffer":
        warnings.warn("agents.replay.ReplayBuffer is now BuildResultBuffer; the old name will be removed in the "
                      "next version", DeprecationWarning, stacklevel=2)
        return BuildResultBuffer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
