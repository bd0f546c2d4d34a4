"""The verifier's escalation round: a candidate that passed every test and whose dataflow is not the baseline's
(such candidates are rare, and a reward or a published result rests on them) runs once more, on the tests of
:data:`ESCALATIONS` more verifiers built like the first one with seeds derived from its own: more random
tests, other edge shuffles, probe bases and solved tests. The extra verifiers are built when first needed,
then kept; the derived seeds make the round the same for every run of one verifier."""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

import numpy as np

from .asm import Program
from .errors import TaskError
from .verdict import Verdict

ESCALATIONS = 2  # test sets of the escalation round, each built as the verifier's own with a derived seed
ESCALATION_TESTS = 256  # random tests in each of them


def derived_seed(seed, k: int) -> int:
    """The seed of the ``k``-th escalation verifier of a verifier seeded with ``seed`` (a Generator seed: 0)."""
    base = int(seed) if isinstance(seed, (int, np.integer)) else 0
    return (base * 7919 + k) % (1 << 62)


class Escalation:
    """The escalation round of one verifier. ``build(n_tests, seed)`` makes a verifier of the same baseline
    (without an escalation round of its own)."""

    def __init__(self, build: Callable[[int, int], object], seed):
        self._build, self._seed = build, seed
        self._verifiers: list | None = None

    def verifiers(self) -> list:
        if self._verifiers is None:
            self._verifiers = []
            for k in range(1, ESCALATIONS + 1):
                try:
                    self._verifiers.append(self._build(ESCALATION_TESTS, derived_seed(self._seed, k)))
                except TaskError:  # no passing tests found with this seed: the round has one set fewer
                    continue
        return self._verifiers

    def check(self, programs: Sequence[Program]) -> tuple[dict[int, Verdict], int]:
        """The failures of ``programs`` (by index) and how many tests a program that passes ran."""
        failures: dict[int, Verdict] = {}
        left = list(range(len(programs)))
        lanes = 0
        for verifier in self.verifiers():
            if not left:
                break
            verdicts = verifier.check([programs[p] for p in left])
            for p, v in zip(left, verdicts):
                if not v.ok:
                    failures[p] = replace(v, reason=f"escalation round: {v.reason}")
            left = [p for p, v in zip(left, verdicts) if v.ok]
            lanes += verifier.tests.lanes_count
        return failures, lanes
