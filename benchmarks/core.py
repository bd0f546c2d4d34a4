"""Speed of the TASM core: reference VM, batched executor, verifier. Prints rates; asserts nothing.

    python benchmarks/core.py            # all figures (about a minute)
    python benchmarks/core.py --quick    # fewer repetitions

Figures (aims from the issue in brackets):
  * reference VM, every check and the table bookkeeping on: instructions/s on a 1,000-instruction
    straight-line program and on a looping program [>= 3 million/s];
  * batched executor: lane-instructions/s at 64, 1,024 and 16,384 lanes [>= 50 million/s at 1,024];
  * verifier: verdicts/s for 20-instruction candidates against a baseline, 40 tests each, batches of 256
    candidates, most of them wrong [>= 50,000/s].
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tasm_env import batch
from tasm_env.asm import Instruction, Program
from tasm_env.verify import Verifier
from tasm_env.vm import run

# instructions that never crash on a deep enough stack: the workload measures speed, not crashes
_SAFE = ["add", "mul", "dup", "swap", "pick", "place", "push", "pop", "addi", "eq", "split", "xx_add", "xb_mul"]
# a mix like compiled code: mostly fetching and cleaning up operands, some arithmetic
_TYPICAL = ["dup"] * 6 + ["swap"] * 3 + ["pick", "place", "push", "push"] + ["pop"] * 2 + ["add"] * 3 + [
    "mul"] * 2 + ["addi", "eq", "split"]


def safe_program(length: int, rng: np.random.Generator, depth: int = 20, mix=_SAFE) -> Program:
    """A straight-line program of ``length`` instructions that keeps the stack between 18 and 40 deep."""
    out: list[Instruction] = []
    while len(out) < length:
        name = mix[rng.integers(len(mix))]
        arg = None
        if name in ("dup", "swap", "pick", "place"):
            arg = int(rng.integers(0, 16))
        elif name in ("push", "addi"):
            arg = int(rng.integers(0, 1 << 62))
        elif name == "pop":
            arg = int(rng.integers(1, 4))
        instruction = Instruction(name, arg)
        new_depth = depth + instruction.spec.delta(arg)
        if 18 <= new_depth <= 40:
            out.append(instruction)
            depth = new_depth
    return Program(out)


def timed(fn, min_seconds: float, repeats: int = 5) -> float:
    """Seconds per call: the best of ``repeats`` rounds of at least min_seconds / repeats each (the best round
    is the least disturbed by other work on a shared machine)."""
    fn()  # warm caches
    best = float("inf")
    for _ in range(repeats):
        calls, start = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds / repeats:
                break
        best = min(best, elapsed / calls)
    return best


def bench_vm(min_seconds: float) -> None:
    rng = np.random.default_rng(0)
    straight = safe_program(1000, rng)
    stack = tuple(int(v) for v in rng.integers(0, 1 << 32, size=4))
    per = timed(lambda: run(straight, stack=stack), min_seconds)
    cycles = run(straight, stack=stack).cycles
    print(f"reference VM, 1,000-instruction straight-line program: {cycles / per / 1e6:6.2f} M instructions/s")

    loop = Program.parse("""
        push 20000 call loop halt
        loop:
          dup 0 push 0 eq skiz return   // counter == 0: done
          addi -1 dup 0 dup 0 mul dup 1 add pop 1 swap 1 swap 1 recurse
    """)
    per = timed(lambda: run(loop), min_seconds)
    cycles = run(loop).cycles
    print(f"reference VM, looping program ({cycles} cycles):        {cycles / per / 1e6:6.2f} M instructions/s")


def bench_batch(min_seconds: float) -> None:
    rng = np.random.default_rng(1)
    for label, mix in (("arithmetic-heavy", _SAFE), ("compiled-code mix", _TYPICAL)):
        program = safe_program(200, rng, mix=mix)
        for lanes in (64, 1024, 16384):
            stacks = rng.integers(0, 1 << 63, size=(lanes, 20), dtype=np.uint64)
            per = timed(lambda: batch.run_batch(program, stacks), min_seconds)
            rate = lanes * len(program) / per
            print(f"batched executor, 200-instruction {label} block, {lanes:>6} lanes: "
                  f"{rate / 1e6:8.1f} M lane-instructions/s")
    stacks = rng.integers(0, 1 << 63, size=(1024, 20), dtype=np.uint64)
    fresh = [safe_program(200, rng) for _ in range(5)]
    start = time.perf_counter()
    for p in fresh:
        batch.run_batch(p, stacks)
    per = (time.perf_counter() - start) / len(fresh)
    print(f"batched executor, same at 1024 lanes incl. compiling each new block: "
          f"{1024 * 200 / per / 1e6:8.1f} M lane-instructions/s")


def mutate(program: Program, rng: np.random.Generator) -> Program:
    """A training-like candidate: the baseline with one to three random edits (most are wrong)."""
    instructions = list(program.instructions)
    for _ in range(int(rng.integers(1, 4))):
        choice = rng.integers(3)
        i = int(rng.integers(len(instructions)))
        if choice == 0:
            instructions[i] = safe_program(1, rng)[0]
        elif choice == 1 and i + 1 < len(instructions):
            instructions[i], instructions[i + 1] = instructions[i + 1], instructions[i]
        else:
            instructions.insert(i, safe_program(1, rng)[0])
            del instructions[int(rng.integers(len(instructions)))]
    return Program(instructions)


def bench_verifier(min_seconds: float) -> None:
    rng = np.random.default_rng(2)
    baseline = Program.parse(
        "dup 2 dup 2 mul dup 3 dup 3 add mul push 7 add dup 1 swap 1 pop 1 swap 3 pop 1 swap 3 add swap 1 pop 1 "
        "dup 0 mul"
    )
    verifier = Verifier(baseline, inputs=("field", "field", "field"), n_tests=40)
    batches = [[mutate(baseline, rng) for _ in range(256)] for _ in range(12)]
    verdicts = [verifier.check(b) for b in batches[:1]]
    seconds = []
    for b in batches[1:]:  # fresh candidates every batch: nothing is cached
        start = time.perf_counter()
        verdicts.append(verifier.check(b))
        seconds.append(time.perf_counter() - start)
    per = float(np.median(seconds)) / 256
    ok = sum(v.ok for vs in verdicts for v in vs) / sum(len(vs) for vs in verdicts)
    static = sum(("differs on test" not in v.reason and not v.ok) for vs in verdicts for v in vs) / sum(
        len(vs) for vs in verdicts)
    print(f"verifier, 20-instruction candidates x 40 tests, batches of 256: {1 / per:10,.0f} verdicts/s (median) "
          f"({ok:.0%} equivalent, {static:.0%} rejected without running)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    seconds = 0.3 if args.quick else 2.0
    bench_vm(seconds)
    bench_batch(seconds)
    bench_verifier(seconds)


if __name__ == "__main__":
    main()
