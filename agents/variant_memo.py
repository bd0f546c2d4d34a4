"""Verdicts remembered by what a candidate computes: the variant search's (:mod:`agents.variants`) fast path.

The variant search verifies tens of thousands of candidates per task, and many of them compute exactly what an
earlier candidate computed: a reordering walk swaps independent instructions, a peephole rewrite reappears
around the last change. Two straight-line blocks with the same static facts (:func:`tasm_env.plan.static_rows`
without the cycle count: stack depth, I/O consumed, outputs, sponge use, ``halt``, static crash) and the same
canonical dataflow (:func:`tasm_env.dataflow.dataflow_key`, computed with one interning table) behave the same
on every input, lane by lane; it is what lets the verifier accept a candidate with the baseline's dataflow
without running it (``SAME_DATAFLOW``) and let the first of several candidates with one dataflow stand for all
within one batch. :class:`DataflowMemo` extends that merge across batches: a candidate whose key was checked
before gets the earlier verdict without a verifier call (a pass that ran every test and the escalation round,
or a failure on a concrete test, on which the candidate behaves the same).

Only candidates whose key is new reach the verifier, once per key and in their original order; the verdicts
are exactly those of verifying every candidate, except where the verifier's tests solved for one candidate
would catch a difference that those solved for another candidate with the same behaviour did not (then both
are wrong, and the memo keeps the first verdict).
"""

from __future__ import annotations

from typing import Callable, Hashable, Sequence, TypeVar

from tasm_env.asm import Program
from tasm_env.batch import compile_block
from tasm_env.dataflow import dataflow_key
from tasm_env.errors import TasmError
from tasm_env.plan import Shape, static_rows

__all__ = ["DataflowMemo"]

C = TypeVar("C", bound=Hashable)


class DataflowMemo:
    """Verdicts by (static facts, dataflow) for programs run on inputs of ``shape`` (one memo per verifier
    setup: the verdicts are those of one checking function, say a search verifier and its confirmer)."""

    def __init__(self, shape: Shape):
        self.shape = shape
        self.table: dict = {}  # dataflow_key's interning table: keys compare only within it
        self.known: dict[tuple, bool] = {}  # key -> verdict
        self.hits = 0  # candidates answered from the memo
        self.asked = 0  # candidates passed to the checking function

    def key(self, program: Program, row: Sequence[int]) -> tuple | None:
        """What decides ``program``'s verdict (``row``: its static row): None when it does not compile."""
        try:
            plan = compile_block(program, self.shape, keep=False)
        except TasmError:
            return None
        return tuple(row[1:]), dataflow_key(plan, self.table)  # every static fact but the cycles

    def keys(self, programs: Sequence[Program]) -> list[tuple | None]:
        """The key of each program (None for one that is no straight-line block or does not compile)."""
        rows, errors = static_rows(programs, self.shape)
        return [None if i in errors else self.key(p, row) for i, (p, row) in enumerate(zip(programs, rows.tolist()))]

    def remember(self, candidates: Sequence[C], program: Callable[[C], Program], verdict: bool) -> None:
        """Record ``verdict`` for candidates checked elsewhere (a known key keeps its first verdict)."""
        for k in self.keys([program(c) for c in candidates]):
            if k is not None:
                self.known.setdefault(k, verdict)

    def check(self, candidates: Sequence[C], program: Callable[[C], Program],
              verify: Callable[[list[C]], list[bool]]) -> list[bool]:
        """One verdict per candidate: remembered for a known key, else from ``verify`` (called at most once,
        on the first candidate of each new key and on every candidate without a key, in order)."""
        keys = self.keys([program(c) for c in candidates])
        ask: list[int] = []
        first: dict[tuple, int] = {}  # new key -> the candidate that stands for it
        for i, k in enumerate(keys):
            if k is None:
                ask.append(i)
            elif k not in self.known and k not in first:
                first[k] = i
                ask.append(i)
        answers = dict(zip(ask, verify([candidates[i] for i in ask]) if ask else []))
        for k, i in first.items():
            self.known[k] = answers[i]
        self.asked += len(ask)
        self.hits += len(candidates) - len(ask)
        return [answers[i] if k is None else self.known[k] for i, k in enumerate(keys)]
