"""What the exact search returns (:class:`SearchResult`) and its task-level record (:func:`to_optimum`)."""

from __future__ import annotations

from dataclasses import dataclass

from ...asm import Program
from ...errors import TasmError
from ..task import Optimum, SearchedSet


@dataclass(frozen=True)
class SearchResult:
    """What the exact search established.

    ``program`` is the best verified program (the baseline when nothing shorter was found), ``cycles`` its
    length. ``proved`` is True when no shorter equivalent program exists within ``instruction_set`` and
    ``scope``; ``lower_bound`` is proven in any case (every equivalent program over the searched set has at
    least this many cycles). ``stopped`` says why the search ended: ``"proved"``, ``"time"``, ``"nodes"`` or
    ``"depth"`` (``max_cycles`` reached)."""

    program: Program | None
    cycles: int | None
    proved: bool
    lower_bound: int
    nodes: int
    seconds: float
    instruction_set: tuple[str, ...]
    stopped: str
    scope: str = ""
    fingerprint_tests: int = 0  # tests of the fingerprint the last iteration used
    touch_context: bool = False  # the scope: True when reads below the block's live values were allowed
    fingerprints: str = ""  # where the fingerprint tests come from (a partial baseline: which region)

    @property
    def relative_to(self) -> SearchedSet:
        """Exactly what ``proved`` (and ``lower_bound``) is relative to: the instructions and constants searched
        and the scope."""
        return SearchedSet.of(self.instruction_set, self.touch_context, self.fingerprints)

    def __str__(self) -> str:
        status = "optimal" if self.proved else f"best found, lower bound {self.lower_bound}"
        return (f"{self.cycles} cycles ({status}; stopped: {self.stopped}; {self.nodes} states, "
                f"{self.seconds:.2f} s): {' '.join(str(i) for i in self.program or ())}")


def to_optimum(result: SearchResult) -> Optimum:
    """The task-level record of a search result."""
    if result.program is None or result.cycles is None:
        raise TasmError("the search found no program to record")
    return Optimum(cycles=result.cycles, program=result.program, proved=result.proved, nodes=result.nodes,
                   seconds=result.seconds, relative_to=result.relative_to)

