"""Speed of the reference VM (tasm_env.vm.run), tier by tier. Prints rates; asserts nothing.

    python benchmarks/vm_speed.py [--seconds 1.0]

* interpreted: a block runs as one handler call per instruction (every run of a program starts here);
* compiled: a block that has run ``vm.COMPILE_AFTER`` times runs as one generated Python function;
* one-shot: a new Program object every run, so each run also decodes the program (``floor=`` given, so no
  program digest is hashed).

Every check (stack depth, cycle budget, u32 operands, ...) and the table bookkeeping are on in all three.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from core import safe_program  # noqa: E402  (the shared workload: a random never-crashing block)

from tasm_env import vm  # noqa: E402
from tasm_env.asm import Program  # noqa: E402

LOOP = """
    push 20000 call loop halt
    loop:
      dup 0 push 0 eq skiz return   // counter == 0: done
      addi -1 dup 0 dup 0 mul dup 1 add pop 1 swap 1 swap 1 recurse
"""


def rate(program: Program, stack: tuple[int, ...], seconds: float, fresh: bool = False) -> float:
    """Instructions per second over repeated runs (``fresh``: a new Program object each run)."""
    cycles = vm.run(program, stack=stack).cycles
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        target = Program(program.instructions, program.labels) if fresh else program
        vm.run(target, stack=stack, floor=(0,) * 16) if fresh else vm.run(target, stack=stack)
        runs += 1
    return runs * cycles / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    straight = safe_program(1000, rng)
    stack = tuple(int(v) for v in rng.integers(0, 1 << 32, size=4))
    workloads = {"1,000-instruction straight-line block": (straight, stack),
                 "looping program (280,008 cycles a run)": (Program.parse(LOOP), ())}
    compile_after = vm.COMPILE_AFTER
    for name, (program, st) in workloads.items():
        vm.COMPILE_AFTER = 1 << 62
        interpreted = rate(Program(program.instructions, program.labels), st, args.seconds)
        vm.COMPILE_AFTER = 1
        compiled = rate(Program(program.instructions, program.labels), st, args.seconds)
        vm.COMPILE_AFTER = compile_after
        one_shot = rate(program, st, args.seconds, fresh=True)
        print(f"{name}: interpreted {interpreted / 1e6:5.2f}, compiled {compiled / 1e6:5.2f}, "
              f"one-shot {one_shot / 1e6:5.2f} M instructions/s")


if __name__ == "__main__":
    main()
