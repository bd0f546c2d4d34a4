"""Inference: the cheapest verified program a policy can find for a task, never a wrong one.

    outcome = best_program(task, policy, samples=64)                   # best of 64 samples
    outcome = best_program(task, policy, samples=64, decode="beam")    # the 64 best programs of a beam
    outcome = best_program(task, policy, samples=64, decode="complete")  # 64 draws, completed by stack moves
    outcome.program          # verified equivalent to task.baseline (or the baseline itself)
    outcome.fallback_used    # True when no candidate verified: the baseline is returned, and `note` says so

Three decoders propose candidates: ``"sample"`` draws ``samples`` blocks under the masks; ``"beam"``
(:func:`agents.beam.policy_beam`) searches the emission tree with the policy's log-probabilities plus
``progress_weight`` times the prefixes' value-state progress, merging prefixes with equal value states, and keeps
the ``samples`` best-scored programs it finishes (then, with ``beam_completion``, the prefixes it held finished
by stack moves); ``"complete"``
(:mod:`agents.complete`) draws ``samples`` blocks and finishes their prefixes whose live stack holds every
value the baseline leaves (stack moves, or one computing instruction and stack moves), keeping up to
``samples`` distinct legal completions, fewest instructions first. Whatever the decoder, the
candidates go through :func:`choose` under a **budget of verifier calls** (``verifier_budget``, default
``samples``; one call = one program handed to a verifier): distinct candidates, in the decoder's order, are
screened in one batch, leaving one call for confirming; the cheapest valid one (by cycles, then fewer
instructions) is checked once more with independent tests before it is returned, the next one if that fails,
while the budget lasts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from tasm_env.asm import Program
from tasm_env.collector import collector_paused
from tasm_env.envs.gfn import TasmGFNEnv
from tasm_env.errors import TasmError, VMError
from tasm_env.tasks.measure import program_cost
from tasm_env.tasks.task import Task
from tasm_env.verify import Verifier

from .beam import BASELINE_COMPLETION, COMPLETE, PROGRESS_WEIGHT, policy_beam
from .complete import complete_candidates
from .policy import TasmPolicy, bound_to
from .sampling import sample_programs

CONFIRM_SEED_OFFSET = 7919  # the confirming verifier's seed differs from the screening one
DECODERS = ("sample", "beam", "complete")
DEFAULT_WIDTH = 16


class DecodeError(TasmError):
    """Decoding was configured wrongly (unknown decoder, a verifier budget too small to confirm anything)."""


@dataclass(frozen=True)
class BuildOutcome:
    """The result of :func:`best_program` for one task. ``samples``: candidates the decoder proposed;
    ``valid_samples``: those whose program passed the screening verifier (repeats counted);
    ``verifier_calls``: programs handed to a verifier (screening and confirming), never above the budget."""

    task: str
    program: Program
    cycles: int
    baseline_cycles: int
    fallback_used: bool
    samples: int
    valid_samples: int
    distinct_valid: int
    note: str
    verifier_calls: int = 0
    decode: str = "sample"

    @property
    def improvement(self) -> float:
        return max(0.0, (self.baseline_cycles - self.cycles) / self.baseline_cycles) if self.baseline_cycles else 0.0


def _cycles_unless_crashing(task: Task, program: Program) -> list[int]:
    """[cycles] of ``program`` on the cost test, or [] where it crashes there: the baseline does not, so that
    refutes it whatever a screening verifier said (the confirming verifier is never asked about it)."""
    try:
        return [program_cost(program, task.inputs, reference=task.baseline)[0]]
    except VMError:
        return []


def choose(task: Task, programs: Sequence[Program | None], *, n_tests: int = 64, seed: int = 0,
           budget: int | None = None, decode: str = "sample") -> BuildOutcome:
    """The cheapest of ``programs`` that passes both the screening and the confirming verifier, else the
    baseline (``fallback_used``). ``budget``: most programs handed to the verifiers in all (None: every
    distinct candidate is screened); the distinct candidates beyond ``budget - 1`` are not screened."""
    if budget is not None and budget < 2:
        raise DecodeError(f"the verifier budget must be at least 2 (one program screened, one confirmed), got "
                          f"{budget}")
    distinct = list(dict.fromkeys(p for p in programs if p is not None))
    screened = distinct if budget is None else distinct[:budget - 1]
    verdicts = Verifier(task, n_tests=n_tests, seed=seed).check(screened) if screened else []
    calls = len(screened)
    valid = {p for p, v in zip(screened, verdicts) if v.ok}
    n_valid = sum(p in valid for p in programs)
    costed = sorted((cycles, len(p), i, p) for i, p in enumerate(screened) if p in valid
                    for cycles in _cycles_unless_crashing(task, p))
    confirm = Verifier(task, n_tests=n_tests, seed=seed + CONFIRM_SEED_OFFSET)
    for cycles, _, _, program in costed:
        if budget is not None and calls >= budget:
            break
        calls += 1
        if confirm.check([program])[0].ok:
            note = "verified" if cycles < task.baseline_cycles else "verified, no cheaper than the baseline"
            return BuildOutcome(task.name, program, cycles, task.baseline_cycles, False, len(programs), n_valid,
                                len(costed), note, calls, decode)
    why = ("no candidate verified" if not costed else "no candidate passed the confirming tests"
           if budget is None or calls < budget else "the verifier budget ran out before a candidate was confirmed")
    return BuildOutcome(task.name, Program.coerce(task.baseline), task.baseline_cycles, task.baseline_cycles, True,
                        len(programs), n_valid, len(costed), f"{why}: returning the baseline", calls, decode)


def candidates(tasks: Sequence[Task], policy: TasmPolicy, samples: int = 64, *, decode: str = "sample",
               width: int = DEFAULT_WIDTH, progress_weight: float = PROGRESS_WEIGHT,
               beam_completion: bool = COMPLETE, baseline_completion: bool = BASELINE_COMPLETION,
               masking: str | None = None, temperature: float = 1.0, seed: int = 0) -> list[list[Program]]:
    """What a decoder proposes for each task, in its order: ``samples`` draws (``"sample"``), the ``samples``
    best-scored programs a beam of ``width`` finishes (``"beam"``, best first; fewer when it finishes fewer; the beam
    is chosen by log-probability plus ``progress_weight`` times value-state progress, and with
    ``beam_completion`` the prefixes it held are finished by stack moves after its own programs,
    :func:`agents.beam.policy_beam`; with ``baseline_completion`` the baseline's own prefixes are completed
    too, after those, the baseline itself never proposed), or
    up to ``samples`` distinct completions of ``samples`` draws (``"complete"``, :mod:`agents.complete`:
    fewest instructions first). ``masking``: the masks to decode under (default: the policy's env's)."""
    if decode not in DECODERS:
        raise DecodeError(f"decode must be one of {', '.join(DECODERS)}, got {decode!r}")
    masking = masking or policy.env.masking
    env = TasmGFNEnv(tasks=list(tasks), suite=None, masking=masking, vocab=policy.env.vocab,
                     value_state=True if decode in ("beam", "complete") else None)
    # the collector paused while decoding: rows, plans, runs and facts by the million, freed by reference
    # counting; collections along the way would walk the process's caches again and again
    with bound_to(env, policy), collector_paused(True):
        if decode in ("sample", "complete"):
            draw = sample_programs if decode == "sample" else complete_candidates
            return draw(policy, range(len(env.tasks)), samples, temperature=temperature,
                        generator=torch.Generator().manual_seed(seed))
        return [[f.program for f in policy_beam(policy, i, width, samples, progress_weight=progress_weight,
                                                   complete=beam_completion, baseline=baseline_completion)]
                for i in range(len(env.tasks))]


def best_programs(tasks: Sequence[Task], policy: TasmPolicy, samples: int = 64, *, decode: str = "sample",
                  width: int = DEFAULT_WIDTH, progress_weight: float = PROGRESS_WEIGHT,
                  beam_completion: bool = COMPLETE, baseline_completion: bool = BASELINE_COMPLETION,
                  verifier_budget: int | None = None,
                  masking: str | None = None, temperature: float = 1.0,
                  n_tests: int = 64, seed: int = 0) -> list[BuildOutcome]:
    """:func:`best_program` for many tasks (sampled together)."""
    budget = samples if verifier_budget is None else verifier_budget
    drawn = candidates(tasks, policy, samples, decode=decode, width=width, progress_weight=progress_weight,
                       beam_completion=beam_completion, baseline_completion=baseline_completion, masking=masking,
                       temperature=temperature, seed=seed)
    return [choose(task, programs, n_tests=n_tests, seed=seed, budget=budget, decode=decode)
            for task, programs in zip(tasks, drawn)]


def best_program(task: Task, policy: TasmPolicy, samples: int = 64, **kwargs) -> BuildOutcome:
    """Propose ``samples`` blocks for ``task`` (``decode="sample"``, ``"beam"`` or ``"complete"``) and return the cheapest
    verified one, or the baseline with ``fallback_used=True`` when none verifies, never handing more than
    ``verifier_budget`` (default ``samples``) programs to the verifiers. Keyword arguments as
    :func:`best_programs`."""
    return best_programs([task], policy, samples, **kwargs)[0]


__all__ = ["BuildOutcome", "DECODERS", "DecodeError", "best_program", "best_programs", "candidates", "choose"]
