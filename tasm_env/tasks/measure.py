"""What a task's baseline costs: cycles and the nine table heights, from the reference VM on a fixed input."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..asm import Program
from ..verify import Verifier
from ..vm import run

if TYPE_CHECKING:
    from .task import Task


def program_cost(program: Program, inputs: tuple[str, ...], reference: Program | None = None) -> tuple[int, dict[str, int]]:
    """(cycles, table heights) of ``program`` on test 0 of the verifier's tests for these input types (seed 0).
    ``reference`` (default: the program itself) decides how much public and secret input the test offers."""
    tests = Verifier(reference or program, inputs, n_tests=1, seed=0).tests.inputs
    stack = [int(v) for v in tests.stack[0]]
    ex = run(program, stack=stack[16:], floor=stack[:16],
             public_input=[int(v) for v in tests.public_input[0]],
             secret_input=[int(v) for v in tests.secret_input[0]],
             secret_digests=[tuple(int(v) for v in d) for d in tests.secret_digests[0]],
             ram_seed=int(tests.ram_seed[0]))
    return ex.cycles, ex.heights.as_dict()


def baseline_cost(task: "Task") -> tuple[int, dict[str, int]]:
    return program_cost(task.baseline, task.inputs)
