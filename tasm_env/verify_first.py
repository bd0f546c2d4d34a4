"""What a :class:`~tasm_env.verify.Verifier` builds before its coverage tests, available without the rest.

* :func:`random_tests`: a task's random tests exactly as the verifier builds them (the first lanes of its tests
  before reordering; the verifier adds edge, pair, all-equal, probe and solved tests to them and runs every one
  of them on every candidate that gets that far);
* :func:`static_difference`: the verifier's static comparison of two :class:`~tasm_env.plan.Summary`\\ s (final
  stack depth, outputs, input consumed, sponge use, ``halt``, a crash on every input), and the reason it gives;
* :func:`describe_crash`: a crash code in words.

Building a whole verifier costs tens of milliseconds (its solved tests); these cost well under one, so a screen
(:mod:`tasm_env.emission.screen`) can refute most wrong blocks of a task never seen before on the very tests
and with the very comparison the verifier would use, and build the verifier only for the rest.
"""

from __future__ import annotations

from typing import Sequence

from . import batch
from .asm import Program
from .coverage import CONTEXT_DEPTH, TestSet, check_n_tests, make_tests
from .errors import VM_ERROR_KINDS, BatchError, TaskError
from .plan import NO_CRASH, Summary

__all__ = ["EXTRA_TOKENS", "MAX_PROBE_TOKENS", "describe_crash", "random_tests", "static_difference"]

EXTRA_TOKENS = 4
"""Public/secret tokens offered beyond what the baseline consumes."""
MAX_PROBE_TOKENS = 256
"""Tokens offered to the baseline's first compilation, which finds how many it consumes."""


def random_tests(baseline: Program, input_types: Sequence[str], n_tests: int, seed, name: str = "baseline") -> TestSet:
    """The verifier's ``n_tests`` random tests for ``baseline`` (a :class:`Program`) with these input types and
    ``seed``: the tests :class:`~tasm_env.verify.Verifier` starts from (``tests.shape`` is its shape). Raises
    :class:`~tasm_env.errors.TaskError` (naming ``name``) for a baseline that is not a straight-line block."""
    n_tests = check_n_tests(n_tests)
    depth = CONTEXT_DEPTH + len(input_types)
    try:
        probe = batch.compile_block(baseline, batch.Shape(depth, MAX_PROBE_TOKENS, MAX_PROBE_TOKENS, 16))
    except BatchError as err:
        raise TaskError(f"{name}: the baseline is not a straight-line block: {err}") from None
    return make_tests(input_types, n_tests, seed, public_tokens=probe.public_consumed + EXTRA_TOKENS,
                      secret_tokens=probe.secret_consumed + EXTRA_TOKENS, secret_digests=probe.digests_consumed + 1)


def describe_crash(code: int) -> str:
    """A crash code (cycle * 16 + kind) in words: ``crash <kind> at cycle <n>``."""
    cycle, kind = divmod(code, 16)
    return f"crash {VM_ERROR_KINDS[kind]} at cycle {cycle}"


def static_difference(base: Summary, summary: Summary) -> tuple[str, str] | None:
    """(part, reason) of the first difference visible without running anything between the baseline's
    summary ``base`` and a candidate's, or None when they agree (the cycles may differ)."""
    if summary.static_crash != NO_CRASH:
        return "crash", f"candidate always crashes ({describe_crash(summary.static_crash)}), the baseline does not"
    if summary.final_depth != base.final_depth:
        return "op stack", (f"final stack depth differs: baseline leaves {base.final_depth} elements, candidate "
                            f"{summary.final_depth}")
    if summary.outputs != base.outputs:
        return "public output", (f"public output length differs: baseline writes {base.outputs}, candidate "
                                 f"{summary.outputs}")
    for what, b, c in (("public input", base.public_consumed, summary.public_consumed),
                       ("secret input", base.secret_consumed, summary.secret_consumed),
                       ("secret digests", base.digests_consumed, summary.digests_consumed)):
        if b != c:
            return what, f"{what} consumed differs: baseline reads {b}, candidate {c}"
    if summary.sponge_initialised != base.sponge_initialised:
        said = ("initialises the sponge", "leaves it uninitialised")
        b, c = (said if base.sponge_initialised else said[::-1])
        return "sponge", f"sponge differs: baseline {b}, candidate {c}"
    if summary.halts != base.halts:
        return "halt", f"halting differs: baseline {'halts' if base.halts else 'falls through'}, candidate " \
                       f"{'halts' if summary.halts else 'falls through'}"
    return None

