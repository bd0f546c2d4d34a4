"""What the emission machines need to know about one task: :class:`TaskSpec`, and the default length budget."""

from __future__ import annotations

from dataclasses import dataclass

from ..asm import Program
from ..errors import TaskError
from ..plan import NO_CRASH, Shape, summarize
from .vocab import BoundVocabulary, Vocabulary

CONTEXT_DEPTH = 16
"""Triton's initial stack below a block's inputs (the live depth counts from above it)."""
UNLIMITED_INPUT = 1 << 12
"""Input words offered when summarising a baseline: enough that no baseline runs out."""


def default_budget(baseline_length: int) -> int:
    """Default length budget for a baseline of ``n`` instructions: ``max(2n, n + 8)``."""
    return max(2 * baseline_length, baseline_length + 8)


@dataclass(frozen=True)
class TaskSpec:
    """What the state machine needs to know about one task.

    ``output_arity`` is the baseline's final live depth (its outputs above the context); ``public_reads``,
    ``secret_reads``, ``digests`` and ``outputs`` its I/O totals; ``peak_depth`` its highest live depth;
    ``budget`` the most tokens (EOS excluded) an episode may emit; ``bound`` the vocabulary bound to the task.
    """

    name: str
    input_types: tuple[str, ...]
    output_arity: int
    budget: int
    public_reads: int
    secret_reads: int
    digests: int
    outputs: int
    peak_depth: int
    bound: BoundVocabulary

    @property
    def n_inputs(self) -> int:
        return len(self.input_types)

    @property
    def io_totals(self) -> tuple[int, int, int, int]:
        return self.public_reads, self.secret_reads, self.digests, self.outputs

    @classmethod
    def from_task(cls, task, vocab: Vocabulary, budget: int | None = None) -> "TaskSpec":
        """The spec of a :class:`~tasm_env.tasks.task.Task` (anything with ``name``, ``inputs``, ``baseline``).
        ``budget`` defaults to :func:`default_budget` of the baseline's length."""
        program: Program = Program.coerce(task.baseline)
        inputs = tuple(task.inputs)
        name = getattr(task, "name", "task")
        k = len(inputs)
        summary = summarize(program, Shape(CONTEXT_DEPTH + k, UNLIMITED_INPUT, UNLIMITED_INPUT, UNLIMITED_INPUT))
        if summary.static_crash != NO_CRASH:
            raise TaskError(f"task {name!r}: the baseline crashes regardless of its inputs")
        depth = peak = k
        for position, instruction in enumerate(program):
            if instruction.spec.reads(instruction.arg) > depth:
                raise TaskError(f"task {name!r}: baseline instruction {position} `{instruction}` reads below the "
                                f"block's {k} inputs (live depth {depth})")
            depth += instruction.spec.delta(instruction.arg)
            peak = max(peak, depth)
        budget = default_budget(len(program)) if budget is None else int(budget)
        if budget < 1:
            raise TaskError(f"task {name!r}: the budget must be at least 1 token, got {budget}")
        return cls(name, inputs, summary.final_depth - CONTEXT_DEPTH, budget, summary.public_consumed,
                   summary.secret_consumed, summary.digests_consumed, summary.outputs, peak,
                   vocab.bind(task, name=name))
