"""Inference: the cheapest verified program a policy can find for a task, never a wrong one.

    outcome = best_program(task, policy, samples=64)
    outcome.program          # verified equivalent to task.baseline (or the baseline itself)
    outcome.fallback_used    # True when no sample verified: the baseline is returned, and `note` says so

Samples are drawn under the masks, verified in one batch against the baseline, and the cheapest valid one (by
cycles, then fewer instructions) is checked once more with independent tests before it is returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from tasm_env.asm import Program
from tasm_env.envs.gfn import TasmGFNEnv
from tasm_env.tasks.measure import program_cost
from tasm_env.tasks.task import Task
from tasm_env.verify import Verifier

from .policy import TasmPolicy, bound_to
from .sampling import sample_programs

CONFIRM_SEED_OFFSET = 7919  # the confirming verifier's seed differs from the screening one


@dataclass(frozen=True)
class BuildOutcome:
    """The result of :func:`best_program` for one task."""

    task: str
    program: Program
    cycles: int
    baseline_cycles: int
    fallback_used: bool
    samples: int
    valid_samples: int
    distinct_valid: int
    note: str

    @property
    def improvement(self) -> float:
        return max(0.0, (self.baseline_cycles - self.cycles) / self.baseline_cycles) if self.baseline_cycles else 0.0


def _cheapest(task: Task, programs: Sequence[Program], n_tests: int, seed: int) -> tuple[list, int]:
    """Verified programs sorted cheapest first, and how many samples verified."""
    verdicts = Verifier(task, n_tests=n_tests, seed=seed).check(list(programs))
    valid = [p for p, v in zip(programs, verdicts) if v.ok]
    distinct = list(dict.fromkeys(valid))
    costed = sorted((program_cost(p, task.inputs, reference=task.baseline)[0], len(p), i, p)
                    for i, p in enumerate(distinct))
    return costed, len(valid)


def choose(task: Task, programs: Sequence[Program], *, n_tests: int = 64, seed: int = 0) -> BuildOutcome:
    """The cheapest of ``programs`` that passes both the screening and the confirming verifier, else the
    baseline (``fallback_used``)."""
    costed, n_valid = _cheapest(task, programs, n_tests, seed)
    confirm = Verifier(task, n_tests=n_tests, seed=seed + CONFIRM_SEED_OFFSET)
    for cycles, _, _, program in costed:
        if confirm.check([program])[0].ok:
            note = "verified" if cycles < task.baseline_cycles else "verified, no cheaper than the baseline"
            return BuildOutcome(task.name, program, cycles, task.baseline_cycles, False, len(programs), n_valid,
                                len(costed), note)
    why = "no sample verified" if not costed else "no sample passed the confirming tests"
    return BuildOutcome(task.name, Program.coerce(task.baseline), task.baseline_cycles, task.baseline_cycles, True,
                        len(programs), n_valid, len(costed), f"{why}: returning the baseline")


def best_programs(tasks: Sequence[Task], policy: TasmPolicy, samples: int = 64, *, temperature: float = 1.0,
                  n_tests: int = 64, seed: int = 0) -> list[BuildOutcome]:
    """:func:`best_program` for many tasks, sampled together."""
    env = TasmGFNEnv(tasks=list(tasks), suite=None, masking=policy.env.masking, vocab=policy.env.vocab)
    generator = torch.Generator().manual_seed(seed)
    with bound_to(env, policy):
        drawn = sample_programs(policy, range(len(env.tasks)), samples, temperature=temperature, generator=generator)
    return [choose(task, programs, n_tests=n_tests, seed=seed) for task, programs in zip(env.tasks, drawn)]


def best_program(task: Task, policy: TasmPolicy, samples: int = 64, **kwargs) -> BuildOutcome:
    """Draw ``samples`` blocks for ``task`` and return the cheapest verified one, or the baseline with
    ``fallback_used=True`` when none verifies. Keyword arguments as :func:`best_programs`."""
    return best_programs([task], policy, samples, **kwargs)[0]


__all__ = ["BuildOutcome", "best_program", "best_programs", "choose"]
