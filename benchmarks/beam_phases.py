"""Where the policy-guided beam's CPU time goes, by phase (the rows of ``decode_speed.py``'s ``beam (default)``).

    python benchmarks/beam_phases.py                 # 3 test tasks per tier
    python benchmarks/beam_phases.py --per-tier 0    # every test task

Each phase is a function wrapped with a CPU clock (inclusive: ``compile`` is also inside ``value facts`` and
``completions``; ``value facts`` counts the beam's children and the completions' prefixes, also inside
``masks`` where a state's masks need them first; ``value keys``: the merge keys of the children the search
examines). Prints CPU ms per
task for the whole beam and each phase, and each phase's share of the whole.
"""

from __future__ import annotations

import time
from collections import defaultdict

import agents.beam
import tasm_env.batch
from agents.best import candidates
from core import timed  # the sibling scripts' timing wrapper
from decode_speed import policy_and_tasks, task_arguments  # the sibling script: the same options and tasks
from tasm_env.emission.machine import StackMachine

spent: dict[str, float] = defaultdict(float)


def main() -> None:
    args = task_arguments(__doc__.splitlines()[0]).parse_args()
    policy, tasks = policy_and_tasks(args)
    tasm_env.batch.compile_block = timed(tasm_env.batch.compile_block, spent, "compile")
    # value_arrays: what value_facts builds its list from, and what the search reads (once per state: memoised)
    StackMachine.value_arrays = timed(StackMachine.value_arrays, spent, "value facts")
    StackMachine.stored_value_keys = timed(StackMachine.stored_value_keys, spent, "value keys")
    StackMachine.forward_masks = timed(StackMachine.forward_masks, spent, "masks")
    StackMachine.step = timed(StackMachine.step, spent, "step")
    StackMachine.decode = timed(StackMachine.decode, spent, "decode")
    agents.beam.CachedPrior.__call__ = timed(agents.beam.CachedPrior.__call__, spent, "policy")
    agents.beam.complete_programs = timed(agents.beam.complete_programs, spent, "completions")
    total = 0.0
    for n, task in enumerate(tasks):
        started = time.process_time()
        candidates([task], policy, args.samples, decode="beam", seed=n)
        total += time.process_time() - started
    print(f"{args.suite} {args.split}: {len(tasks)} tasks, beam (default); CPU ms per task (share of the whole)")
    print(f"whole | {1000 * total / len(tasks):.0f}")
    for label, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"{label} | {1000 * seconds / len(tasks):.0f} ({100 * seconds / total:.0f}%)")


if __name__ == "__main__":
    main()
