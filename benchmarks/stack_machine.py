"""Speed of the batched stack state machine alone (masks and steps, no env). Prints rates; asserts nothing.

    python benchmarks/stack_machine.py [batch] [budget]      # defaults: 1024 32

Mask + step rates over the idiom tasks. Actions are drawn between the timed calls, as a policy would. "copy"
steps return new states and record violations; "in place" steps write into a row copy the caller made
(torchgfn's ``_step`` makes one anyway; not timed) and record none (agents that only take masked actions never
violate). Every round starts from fresh initial states.
"""

from __future__ import annotations

import sys
import time

import torch

import tasm_env as te
from tasm_env.emission.machine import StackMachine
from tasm_env.emission.spec import TaskSpec
from tasm_env.emission.state import LEVELS, VALUE_LEVELS, EmissionState
from tasm_env.emission.vocab import EOS, Vocabulary
from tasm_env.tasks.idioms import IDIOMS


def main(batch: int = 1024, budget: int = 32, steps: int = 24, repeats: int = 3) -> None:
    vocab = Vocabulary.default()
    tasks = [te.Task.from_tasm(i.tasm, i.inputs, name=i.name) for i in IDIOMS]
    specs = [TaskSpec.from_task(t, vocab, budget=budget) for t in tasks]
    machines = {"copy": StackMachine(specs), "in place": StackMachine(specs, violation_level=None)}
    gen = torch.Generator().manual_seed(0)
    print(f"{len(tasks)} tasks, {len(vocab)} tokens, batch {batch}, budget {budget}, "
          f"torch threads {torch.get_num_threads()}")
    for level in [level for level in LEVELS if level not in VALUE_LEVELS]:  # dataflow: benchmarks/dataflow_speed.py
        for mode, machine in machines.items():
            best = (0.0, 0.0, 0.0)
            for _ in range(repeats):
                state = machine.initial(torch.randint(len(tasks), (batch,), generator=gen))
                mask_s = step_s = 0.0
                for _ in range(steps):
                    t0 = time.perf_counter()
                    mask = machine.forward_masks(state, level)
                    t1 = time.perf_counter()
                    mask[:, EOS] &= ~mask[:, 1:].any(1)  # keep emitting while anything else is legal
                    actions = (torch.rand(mask.shape, generator=gen) * mask).argmax(1)
                    if mode == "in place":
                        state = EmissionState(state.data.clone(), state.task, state.layout)
                    t2 = time.perf_counter()
                    state = machine.step(state, actions, inplace=mode == "in place")
                    step_s += time.perf_counter() - t2
                    mask_s += t1 - t0
                rate = steps * batch / (mask_s + step_s)
                if rate > best[0]:
                    best = (rate, mask_s / steps, step_s / steps)
            print(f"{level:>5} {mode:>8}: {best[0]:>11,.0f} state-steps/s  (mask {best[1] * 1e6:5.0f} us + step "
                  f"{best[2] * 1e6:5.0f} us per batch)")


if __name__ == "__main__":
    main(*(int(x) for x in sys.argv[1:3]))
