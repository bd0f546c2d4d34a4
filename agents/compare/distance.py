"""STOKE's correctness term for candidates the verifier refused: how far from the baseline they are.

First cut: 1.0 for every refused program (the harness owner refines it to the share of disagreeing test
lanes x output slots)."""

from __future__ import annotations

from typing import Sequence


def distances(task, texts: Sequence[str], verdicts: Sequence) -> list[float]:
    return [0.0 if v.ok else 1.0 for v in verdicts]
