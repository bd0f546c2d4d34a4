"""Rejecting degenerate random programs (:mod:`tasm_env.tasks.generate`): :func:`degeneracy` says why a
program is not worth a task; :func:`canonical_key` identifies duplicates."""

from __future__ import annotations

import json
import zlib
from collections import Counter

from ..field import P
from ..verify import make_tests
from .interpret import TirCrash, evaluate
from .tir import TIR

N_TESTS = 32  # test inputs the degeneracy check evaluates a program on
NEARLY_CONSTANT = 7 / 8  # an output taking one value on more than this share of the tests is degenerate


def canonical_key(tir: TIR) -> str:
    """The TIR's canonical JSON (sorted keys, no spaces): equal keys, equal programs."""
    return json.dumps(tir.to_json(), sort_keys=True, separators=(",", ":"))


def _tokens_read(tir: TIR, op: str) -> int:
    return sum(n.attr for n in tir.nodes if n.op == op)


def _live_inputs(tir: TIR) -> set[int]:
    """Inputs some output or effect depends on (structurally)."""
    roots = [r.node for r in tir.outputs] + [i for i, n in enumerate(tir.nodes) if n.spec.effect]
    seen: set[int] = set()
    while roots:
        i = roots.pop()
        if i not in seen:
            seen.add(i)
            roots.extend(r.node for r in tir.nodes[i].args)
    return {i for i in seen if i < len(tir.inputs)}


def _boundary_inputs(types: tuple[str, ...]) -> list[list[int]]:
    """Every input at its type's smallest value, then at its largest: division by an input that may be 0 shows
    up here even when no random test draws a 0."""
    low = {"field": 0, "nonzero": 1, "u32": 0, "u32_nonzero": 1, "bool": 0}
    high = {"field": P - 1, "nonzero": P - 1, "u32": (1 << 32) - 1, "u32_nonzero": (1 << 32) - 1, "bool": 1}
    return [[low[t] for t in types], [high[t] for t in types]]


def degeneracy(tir: TIR, seed: int | None = None, n_tests: int = N_TESTS) -> str | None:
    """Why ``tir`` makes a degenerate task, or None if it does not. Evaluates it on the verifier's kind of
    tests (typed random inputs, edge values, equal inputs, random public/secret input and RAM) plus all inputs
    at their smallest and at their largest values. The tests are drawn from ``seed``, by default one derived
    from the program itself, so the verdict depends on nothing else."""
    if not _live_inputs(tir):
        return "no output or effect depends on any input"
    k = len(tir.inputs)
    if all(r.node < k for r in tir.outputs):
        return "every output is an input"
    if seed is None:
        seed = zlib.crc32(canonical_key(tir).encode())
    tests = make_tests(tir.inputs, n_tests, seed, public_tokens=_tokens_read(tir, "read_io"),
                       secret_tokens=_tokens_read(tir, "divine")).inputs
    runs = [([int(v) for v in tests.stack[t][len(tests.stack[t]) - k:]], [int(v) for v in tests.public_input[t]],
             [int(v) for v in tests.secret_input[t]], int(tests.ram_seed[t])) for t in range(n_tests)]
    runs += [(inputs, *runs[0][1:]) for inputs in _boundary_inputs(tir.inputs)]
    outcomes = []
    for t, (inputs, public, secret, ram_seed) in enumerate(runs):
        try:
            outcomes.append((inputs, evaluate(tir, inputs, public, secret, ram_seed=ram_seed).outputs))
        except TirCrash as crash:
            return f"crashes on test {t}: {crash}"
    for j in range(len(tir.outputs)):
        values = Counter(outputs[j] for _, outputs in outcomes)
        if len(values) == 1:
            return f"output {j} is constant"
        if max(values.values()) > NEARLY_CONSTANT * len(outcomes):
            return f"output {j} is nearly constant"
    if all(any(all(outputs[j] == inputs[i] for inputs, outputs in outcomes) for i in range(k))
           for j in range(len(tir.outputs))):
        return "every output is a copy of an input"
    return None
