"""Speed of the reference VM (tasm_env.vm.run), fresh and cached, tier by tier. Prints rates; asserts nothing.

    python benchmarks/vm_speed.py [--rounds 5]

Fresh figures (what a new program costs, each run on a Program object never run before):

* fresh, default stack: Triton's initial stack, whose program-digest slots are filled only if reached;
* fresh, ``floor=`` given: a random context instead (what the verifier does), so no digest at all;
* fresh, text: the program given as TASM text, parsed by ``run``.

Cached figures (the same Program object again and again, so decoding is reused), labelled "cached":

* cached interpreted: a block runs as one handler call per instruction;
* cached compiled: a block that has run ``vm.COMPILE_AFTER`` times runs as one generated Python function.

Every check (stack depth, cycle budget, u32 operands, ...) and the table bookkeeping are on in all of them.
Wall-clock rates, the best of several rounds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from core import STACK, block_over_inputs  # noqa: E402  (the shared workload: a block over its inputs)

from tasm_env import vm  # noqa: E402
from tasm_env.asm import Program  # noqa: E402

LOOP = """
    push 20000 call loop halt
    loop:
      dup 0 push 0 eq skiz return   // counter == 0: done
      addi -1 dup 0 dup 0 mul dup 1 add pop 1 swap 1 swap 1 recurse
"""
FLOOR = tuple(range(1, 17))


def best(rounds: int, make) -> float:
    """Best instructions/s over ``rounds``: ``make()`` prepares the round's targets, run arguments and total
    cycles (untimed); then every target is run."""
    rate = 0.0
    for _ in range(rounds):
        targets, kwargs, cycles = make()
        start = time.perf_counter()
        for target in targets:
            vm.run(target, **kwargs)
        rate = max(rate, cycles / (time.perf_counter() - start))
    return rate


def with_cycles(programs: list[Program], kwargs: dict) -> int:
    """Total cycles of running ``programs``, measured on copies (the timed runs still meet fresh objects)."""
    return sum(vm.run(Program(p.instructions, p.labels), **kwargs).cycles for p in programs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    workloads = {
        "20-instruction blocks": (lambda: [block_over_inputs(20, rng) for _ in range(200)], STACK),
        "1,000-instruction blocks": (lambda: [block_over_inputs(1000, rng) for _ in range(10)], STACK),
        "looping program (280,008 cycles a run)": (lambda: [Program.parse(LOOP)], ()),
    }
    compile_after = vm.COMPILE_AFTER
    for name, (make_programs, stack) in workloads.items():
        def fresh(**extra):
            def make():
                programs = make_programs()
                kwargs = {"stack": stack, **extra}
                return programs, kwargs, with_cycles(programs, kwargs)
            return best(args.rounds, make)

        def fresh_text():
            programs = make_programs()
            kwargs = {"stack": stack}
            return [str(p) for p in programs], kwargs, with_cycles(programs, kwargs)

        def cached(programs):
            kwargs = {"stack": stack}
            cycles = with_cycles(programs, kwargs)
            return best(args.rounds, lambda: (programs * 3, kwargs, 3 * cycles))

        vm.COMPILE_AFTER = 1 << 62
        programs = make_programs()
        for p in programs:
            vm.run(p, stack=stack)  # decoded now, never compiled
        interpreted = cached(programs)
        vm.COMPILE_AFTER = 1
        programs = make_programs()
        for p in programs:
            vm.run(p, stack=stack)  # compiled from now on
        compiled = cached(programs)
        vm.COMPILE_AFTER = compile_after
        # the looping program's text is the same every round, and run() keeps parsed texts: not fresh
        text = "  -  " if name.startswith("looping") else f"{best(args.rounds, fresh_text) / 1e6:5.2f}"
        print(f"{name}: fresh {fresh() / 1e6:5.2f}, fresh with floor= {fresh(floor=FLOOR) / 1e6:5.2f}, fresh from "
              f"text {text} | cached interpreted {interpreted / 1e6:5.2f}, cached compiled {compiled / 1e6:5.2f} "
              "M instructions/s")


if __name__ == "__main__":
    main()
