"""A :class:`Task`: something to compile (a TIR dataflow program), the compiler's baseline TASM to beat, what the
baseline costs, and, where the exact search found it, the optimum."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from ..asm import Program
from ..errors import ParseError, TaskError, TasmError
from ..field import P
from ..value_types import INPUT_TYPES
from .tir import TIR


def _signed(c: int) -> int:
    c %= P
    return c - P if c > P // 2 else c


@dataclass(frozen=True)
class SearchedSet:
    """What an optimality proof is relative to: the searched instructions other than ``push``/``addi``
    (``instructions``, as text), the ``push`` and ``addi`` constants (written in (-p/2, p/2]), and whether
    reads below the block's live values were allowed (``touch_context``). ``legacy`` marks a record from a
    suite file written before the search recorded its set (v0: constants 0, 1, -1, 2, the baseline's literals,
    their negations and its constant values, at most 16; then nothing else is known)."""

    instructions: tuple[str, ...] = ()
    push: tuple[int, ...] = ()
    addi: tuple[int, ...] = ()
    touch_context: bool = False
    legacy: bool = False
    fingerprints: str = ""  # where the search's fingerprint tests came from ("": not recorded)

    @classmethod
    def of(cls, instructions: Sequence[str], touch_context: bool, fingerprints: str = "") -> "SearchedSet":
        """From the searched instructions' text (``push c`` and ``addi c`` become the constant sets)."""
        push, addi, rest = [], [], []
        for text in instructions:
            name, _, arg = str(text).partition(" ")
            if name in ("push", "addi"):
                (push if name == "push" else addi).append(_signed(int(arg)))
            else:
                rest.append(str(text))
        return cls(tuple(rest), tuple(push), tuple(addi), bool(touch_context), fingerprints=fingerprints)

    @property
    def constants(self) -> tuple[int, ...]:
        """Every constant searched (``push`` or ``addi``), each once."""
        return tuple(dict.fromkeys(self.push + self.addi))

    def describe(self) -> str:
        if self.legacy:
            return "the v0 search's set (narrow constants: 0, 1, -1, 2, the baseline's literals and folded values)"
        scope = "any stack slot" if self.touch_context else "the block's live values"
        return (f"{len(self.instructions)} instructions besides push/addi, {len(self.push)} push and "
                f"{len(self.addi)} addi constants, reads limited to {scope}" +
                (f"; fingerprints: {self.fingerprints}" if self.fingerprints else ""))

    def to_json(self) -> dict[str, Any]:
        if self.legacy:
            return {"legacy": True}
        out = {"instructions": list(self.instructions), "push": list(self.push), "addi": list(self.addi),
               "touch_context": self.touch_context}
        if self.fingerprints:
            out["fingerprints"] = self.fingerprints
        return out

    @classmethod
    def from_json(cls, data: Any) -> "SearchedSet":
        if not isinstance(data, dict):
            raise TaskError(f"relative_to: expected an object with instructions, push, addi, touch_context; got "
                            f"{type(data).__name__}")
        if data.get("legacy"):
            return cls(legacy=True)
        return cls(tuple(str(i) for i in data["instructions"]), tuple(int(c) for c in data["push"]),
                   tuple(int(c) for c in data["addi"]), bool(data.get("touch_context", False)),
                   fingerprints=str(data.get("fingerprints", "")))


@dataclass(frozen=True)
class Optimum:
    """What the exact search established. ``cycles`` is the cheapest cycle count found (an upper bound, with
    ``program`` the verified program achieving it); ``proved`` says whether the search also proved that no
    shorter program exists (then ``cycles`` is the optimum) over ``relative_to``, the exact instruction and
    constant set searched (None: no record)."""

    cycles: int
    program: Program
    proved: bool
    nodes: int = 0  # search states expanded
    seconds: float = 0.0
    relative_to: SearchedSet | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"cycles": self.cycles, "program": str(self.program), "proved": self.proved, "nodes": self.nodes,
               "seconds": round(self.seconds, 3)}
        if self.relative_to is not None and not self.relative_to.legacy:  # legacy: the v0 file had no record
            out["relative_to"] = self.relative_to.to_json()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any], legacy: bool = False) -> "Optimum":
        """``legacy``: the file predates the record (a missing ``relative_to`` is then the v0 search's set)."""
        relative_to = SearchedSet.from_json(data["relative_to"]) if "relative_to" in data else None
        if legacy and relative_to is None:
            relative_to = SearchedSet(legacy=True)
        elif not legacy and relative_to is not None and relative_to.legacy:
            relative_to = None  # only a file written before the record may claim the v0 search's set
        return cls(int(data["cycles"]), Program.parse(data["program"]), bool(data["proved"]),
                   int(data.get("nodes", 0)), float(data.get("seconds", 0.0)), relative_to)


@dataclass(frozen=True)
class Task:
    """A block to compile.

    * ``inputs``: the types of the block's inputs as they lie on the stack, deepest first (``field``,
      ``nonzero``, ``u32``, ``u32_nonzero``, ``bool``); the block replaces them with its outputs.
    * ``tir``: the block as a typed dataflow program (for generated tasks, the source; for tasks made from TASM,
      lifted from the block).
    * ``baseline``: the TASM to beat (the classical compiler's output, or the block a user brought).
    * ``baseline_cycles`` and ``baseline_heights``: its cost (heights from the reference VM on a fixed input).
    * ``optimum``: the exact search's result, when one was run.
    """

    name: str
    inputs: tuple[str, ...]
    tir: TIR
    baseline: Program
    tier: str = "custom"
    source: str = "tasm"
    baseline_cycles: int = 0
    baseline_heights: dict[str, int] = field(default_factory=dict, compare=False, hash=False)
    optimum: Optimum | None = None

    def __post_init__(self):
        for kind in self.inputs:
            if kind not in INPUT_TYPES:
                raise TaskError(f"task {self.name!r}: unknown input type {kind!r}; expected one of "
                                f"{', '.join(INPUT_TYPES)}")
        if tuple(self.inputs) != tuple(self.tir.inputs):
            raise TaskError(f"task {self.name!r}: inputs {self.inputs} differ from its TIR's {self.tir.inputs}")

    def __hash__(self) -> int:
        return hash((self.name, self.baseline))

    # ---- construction
    @classmethod
    def from_tir(cls, tir: TIR, name: str, tier: str = "custom", source: str = "generated") -> "Task":
        """A task whose baseline is the classical compiler's output for ``tir``."""
        from .compiler import compile_tir

        return cls._costed(cls(name, tir.inputs, tir, compile_tir(tir), tier=tier, source=source))

    @classmethod
    def from_tasm(cls, text: str | Program, inputs: Sequence[str], name: str = "block", tier: str = "custom") -> "Task":
        """A task from any straight-line TASM block: its dataflow graph is extracted from the block itself by
        symbolic stack simulation, and the block is the baseline. The block may crash on some inputs (an
        ``assert``, an ``invert`` of 0...): candidates must then crash on exactly the same inputs. A block that
        crashes on every test the verifier generates is a TaskError."""
        from ..coverage import check_input_types
        from .lift import lift

        try:
            inputs = check_input_types(inputs)
            program = Program.coerce(text)
        except ParseError as err:
            raise TaskError(f"task {name!r}: the block does not parse: {err}") from None
        except TasmError as err:
            raise TaskError(f"task {name!r}: {err}") from None
        try:
            tir = lift(program, inputs)
        except TaskError as err:
            raise TaskError(f"task {name!r}: {err}") from None
        except TasmError as err:
            raise TaskError(f"task {name!r}: cannot extract a dataflow graph: {err}") from None
        try:  # a baseline that crashes on some inputs is a task; one that crashes on every test is not
            return cls._costed(cls(name, inputs, tir, program, tier=tier, source="tasm"))
        except TaskError as err:
            raise TaskError(f"task {name!r}: {err}") from None

    @classmethod
    def _costed(cls, task: "Task") -> "Task":
        from .measure import baseline_cost

        cycles, heights = baseline_cost(task)
        return replace(task, baseline_cycles=cycles, baseline_heights=heights)

    def with_optimum(self, optimum: Optimum | None) -> "Task":
        return replace(self, optimum=optimum)

    # ---- views
    @property
    def optimal_cycles(self) -> int | None:
        """The proven optimum in cycles, or None when the search did not prove one."""
        return self.optimum.cycles if self.optimum is not None and self.optimum.proved else None

    @property
    def best_known_cycles(self) -> int:
        """The cheapest verified cycle count known: the search's best, else the baseline's."""
        return min(self.baseline_cycles, self.optimum.cycles) if self.optimum is not None else self.baseline_cycles

    @property
    def headroom(self) -> float | None:
        """(baseline - optimum) / baseline where the optimum is proven, else None."""
        opt = self.optimal_cycles
        return None if opt is None or not self.baseline_cycles else (self.baseline_cycles - opt) / self.baseline_cycles

    @property
    def graph(self):
        """The TIR graph as a ``torch_geometric.data.Data`` (see :mod:`tasm_env.tasks.graph`)."""
        from .graph import task_graph

        return task_graph(self)

    # ---- JSON
    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tier": self.tier,
            "source": self.source,
            "inputs": list(self.inputs),
            "tir": self.tir.to_json(),
            "baseline": str(self.baseline),
            "baseline_cycles": self.baseline_cycles,
            "baseline_heights": dict(self.baseline_heights),
            "optimum": self.optimum.to_json() if self.optimum else None,
        }

    @classmethod
    def from_json(cls, data: Any, legacy: bool = False) -> "Task":
        """``legacy``: the entry comes from a suite file written before optima recorded their searched set."""
        name = data.get("name", "?") if isinstance(data, dict) else "?"
        try:
            return cls(
                name=str(data["name"]),
                inputs=tuple(data["inputs"]),
                tir=TIR.from_json(data["tir"]),
                baseline=Program.parse(data["baseline"]),
                tier=str(data.get("tier", "custom")),
                source=str(data.get("source", "tasm")),
                baseline_cycles=int(data["baseline_cycles"]),
                baseline_heights={str(k): int(v) for k, v in data.get("baseline_heights", {}).items()},
                optimum=Optimum.from_json(data["optimum"], legacy) if data.get("optimum") else None,
            )
        except TaskError as err:
            raise TaskError(f"task {name!r}: {err}") from None
        except ParseError as err:
            raise TaskError(f"task {name!r}: a program does not parse: {err}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise TaskError(f"task {name!r}: malformed task entry ({type(err).__name__}: {err}); expected name, "
                            "inputs, tir, baseline, baseline_cycles") from None
