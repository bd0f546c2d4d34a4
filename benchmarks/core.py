"""Speed of the TASM core on FRESH inputs: parser, reference VM, batched executor, verifier. Prints rates;
asserts nothing.

    python benchmarks/core.py            # all figures (a couple of minutes)
    python benchmarks/core.py --quick    # fewer and shorter rounds
    python benchmarks/core.py --cpu-time # per CPU second of this process (for a busy shared machine)
    python benchmarks/core.py --only vm stages   # some groups only (parser, vm, batch, verifier, stages)

Every rate is measured on inputs the code has not seen: new Program objects (never decoded), new texts (never
parsed), new candidates. Where a cached figure is useful (the same object run again, so its decoded and
compiled forms and its digest are reused), it is printed beside the fresh one and labelled "cached". Rates are
wall-clock (``--cpu-time``: per CPU second of this process), the best of several rounds (the least disturbed by
other work on a shared machine).

Aims from issue 14 in brackets.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import importlib
import time
from typing import Callable, Sequence

import numpy as np

import tasm_env as te
from tasm_env import batch
from tasm_env.asm import Instruction, Program
from tasm_env.verify import Verifier

# instructions that never crash on a deep enough stack: the workload measures speed, not crashes
_SAFE = ["add", "mul", "dup", "swap", "pick", "place", "push", "pop", "addi", "eq", "split", "xx_add", "xb_mul"]
# a mix like compiled code: mostly fetching and cleaning up operands, some arithmetic
_TYPICAL = ["dup"] * 6 + ["swap"] * 3 + ["pick", "place", "push", "push"] + ["pop"] * 2 + ["add"] * 3 + [
    "mul"] * 2 + ["addi", "eq", "split"]
STACK = (3, 5, 7, 11)  # a block's four inputs, on top of Triton's initial 16-element stack


def safe_program(length: int, rng: np.random.Generator, depth: int = 20, mix=_SAFE,
                 over_inputs: bool = False) -> Program:
    """A straight-line program of ``length`` instructions that keeps the stack between 18 and 40 deep. Its
    ``dup``/``swap``/``pick``/``place`` indices go anywhere (0..15), so it often reads the program digest,
    unless ``over_inputs``: then they stay below depth - 5, above the digest, as in compiled blocks."""
    out: list[Instruction] = []
    while len(out) < length:
        name = mix[rng.integers(len(mix))]
        arg = None
        if name in ("dup", "swap", "pick", "place"):
            arg = int(rng.integers(0, min(16, depth - 5) if over_inputs else 16))
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


def block_over_inputs(length: int, rng: np.random.Generator) -> Program:
    """A block of the compiled-code mix that works on its four inputs (:data:`STACK`) and what it computes:
    it never reaches below the 11 zeros of Triton's initial stack into the program digest."""
    return safe_program(length, rng, depth=16 + len(STACK), mix=_TYPICAL, over_inputs=True)


def best_rate(make_round: Callable[[], tuple[Callable[[], object], float]], rounds: int) -> float:
    """The best of ``rounds`` rates. ``make_round()`` prepares fresh inputs (not timed) and returns the work
    and how many units it does; only the work is timed."""
    best = 0.0
    for _ in range(rounds):
        work, units = make_round()
        start = CLOCK()
        work()
        best = max(best, units / (CLOCK() - start))
    return best


CLOCK = time.perf_counter
"""Wall clock; ``--cpu-time`` switches to this process's CPU time (less disturbed by other jobs)."""


def _fresh_copies(programs: Sequence[Program]) -> list[Program]:
    return [Program(p.instructions, p.labels) for p in programs]


def bench_parser(rounds: int, rng: np.random.Generator) -> None:
    def make():
        text = "\n".join(str(block_over_inputs(1000, rng)) for _ in range(20))  # new literals: nothing cached
        return (lambda: Program.parse(text)), 20 * 1000
    print(f"parser, canonical text of fresh 1,000-instruction blocks: {best_rate(make, rounds) / 1e6:8.2f} M "
          "instructions/s  [>= 1 M/s]")


def bench_vm(rounds: int, rng: np.random.Generator, n: int) -> None:
    def runs(programs, **kwargs):
        return lambda: [te.run(p, stack=STACK, **kwargs) for p in programs]

    def fresh_blocks():
        programs = [block_over_inputs(20, rng) for _ in range(n)]
        return runs(programs), n
    print(f"te.run, fresh 20-instruction Programs:             {best_rate(fresh_blocks, rounds):10,.0f} "
          "programs/s  [>= 50,000/s]")

    def fresh_texts():
        texts = [str(block_over_inputs(20, rng)) for _ in range(n)]
        return runs(texts), n
    print(f"te.run, fresh 20-instruction blocks given as text:  {best_rate(fresh_texts, rounds):10,.0f} "
          "programs/s  [>= 20,000/s]")

    def reading_the_digest():  # indices anywhere: most of these blocks read st11..st15, so each hashes itself
        programs = [safe_program(20, rng) for _ in range(max(20, n // 20))]
        return runs(programs), len(programs)
    print(f"te.run, fresh 20-instruction Programs that read the program digest (Tip5 hash each): "
          f"{best_rate(reading_the_digest, rounds):8,.0f} programs/s")

    def with_heights():  # the table heights need the program's attestation hash too
        programs = [block_over_inputs(20, rng) for _ in range(max(20, n // 20))]
        return (lambda: [te.run(p, stack=STACK).padded_height for p in programs]), len(programs)
    print(f"te.run + padded_height, fresh 20-instruction Programs (Tip5 hash each): "
          f"{best_rate(with_heights, rounds):8,.0f} programs/s")

    cached = [block_over_inputs(20, rng) for _ in range(100)]
    runs(cached)(), runs(cached)()  # a first use runs undecoded, the second decodes and keeps: now cached
    print(f"te.run, the same 100 Programs again (cached):       "
          f"{best_rate(lambda: (runs(cached), len(cached)), rounds):10,.0f} programs/s")

    def fresh_long():
        programs = [block_over_inputs(1000, rng) for _ in range(10)]
        return runs(programs), 10 * 1000
    print(f"te.run, fresh 1,000-instruction Programs:          {best_rate(fresh_long, rounds) / 1e6:10.2f} M "
          "instructions/s  [>= 3 M/s]")
    long = [block_over_inputs(1000, rng)]
    runs(long * 2)()  # decoded and kept
    print(f"te.run, the same 1,000-instruction Program (cached, compiled once hot): "
          f"{best_rate(lambda: (runs(long * 20), 20 * 1000), rounds) / 1e6:6.2f} M instructions/s")

    loop_text = """
        push 20000 call loop halt
        loop:
          dup 0 push 0 eq skiz return   // counter == 0: done
          addi -1 dup 0 dup 0 mul dup 1 add pop 1 swap 1 swap 1 recurse
    """
    loop = Program.parse(loop_text)
    cycles = te.run(loop).cycles
    print(f"te.run, looping program ({cycles:,} cycles), fresh Program object: "
          f"{best_rate(lambda: (runs(_fresh_copies([loop])), cycles), rounds) / 1e6:6.2f} M instructions/s; "
          f"cached: {best_rate(lambda: (runs([loop]), cycles), rounds) / 1e6:6.2f} M/s")


def bench_batch(rounds: int, rng: np.random.Generator) -> None:
    for label, mix in (("arithmetic-heavy", _SAFE), ("compiled-code mix", _TYPICAL)):
        for lanes in (64, 1024, 16384):
            stacks = rng.integers(0, 1 << 63, size=(lanes, 20), dtype=np.uint64)

            def make():
                program = safe_program(200, rng, mix=mix)  # a new block: compiling it is part of the work
                return (lambda: batch.run_batch(program, stacks)), lanes * len(program)
            cached_program = safe_program(200, rng, mix=mix)
            fresh = best_rate(make, rounds)
            cached = best_rate(lambda: ((lambda: batch.run_batch(cached_program, stacks)), lanes * 200), rounds)
            print(f"batched executor, 200-instruction {label} block, {lanes:>6} lanes: fresh {fresh / 1e6:7.1f}, "
                  f"cached {cached / 1e6:7.1f} M lane-instructions/s" + ("  [>= 50 M/s at 1,024]" * (lanes == 1024)))


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


def bench_verifier(rounds: int, rng: np.random.Generator) -> None:
    baseline = Program.parse(
        "dup 2 dup 2 mul dup 3 dup 3 add mul push 7 add dup 1 swap 1 pop 1 swap 3 pop 1 swap 3 add swap 1 pop 1 "
        "dup 0 mul"
    )
    inputs = ("field", "field", "field")
    verifier = Verifier(baseline, inputs=inputs, n_tests=40)
    verifier.check([mutate(baseline, rng) for _ in range(256)])  # warm-up: the baseline's own work

    def programs():
        candidates = [mutate(baseline, rng) for _ in range(256)]
        return (lambda: verifier.check(candidates)), 256

    def texts():
        candidates = [str(mutate(baseline, rng)) for _ in range(256)]
        return (lambda: verifier.check(candidates)), 256

    def verify_many_texts():
        candidates = [str(mutate(baseline, rng)) for _ in range(256)]
        return (lambda: te.verify_many(str(baseline), candidates, inputs=inputs, n_tests=40)), 256

    def verify_many_new_baseline():  # a baseline never seen: its Verifier (tests, baseline runs) is built in the call
        new_baseline = Program.parse(str(baseline).replace("push 7", f"push {int(rng.integers(8, 1 << 62))}"))
        candidates = [str(mutate(new_baseline, rng)) for _ in range(256)]
        return (lambda: te.verify_many(str(new_baseline), candidates, inputs=inputs, n_tests=40)), 256

    print(f"verifier, fresh 20-instruction candidates x 40 tests, batches of 256, as Programs: "
          f"{best_rate(programs, rounds):8,.0f} verdicts/s")
    print(f"verifier, the same, candidates given as text:                               "
          f"{best_rate(texts, rounds):8,.0f} verdicts/s")
    print(f"te.verify_many(baseline text, 256 fresh candidate texts), the baseline's Verifier reused from an "
          f"earlier call: {best_rate(verify_many_texts, rounds):8,.0f} verdicts/s  [>= 50,000/s]")
    print(f"te.verify_many(a new baseline's text, 256 fresh candidate texts), its Verifier built in the call: "
          f"{best_rate(verify_many_new_baseline, rounds):8,.0f} verdicts/s")


def timed(function: Callable, totals: dict, label: str, clock: Callable[[], float] = time.process_time) -> Callable:
    """``function`` with its ``clock`` time added to ``totals[label]`` on every call; a call nested in another of
    the same wrapper is not counted twice (the benchmarks' one timing wrapper)."""
    depth = [0]

    def wrapper(*args, **kwargs):
        depth[0] += 1
        started = clock()
        try:
            return function(*args, **kwargs)
        finally:
            depth[0] -= 1
            if not depth[0]:
                totals[label] += clock() - started
    return wrapper


class Phases:
    """Exclusive CPU time per phase: a wrapped call's time goes to its label, minus that of wrapped calls
    inside it (which go to theirs); :func:`timed` is the inclusive wrapper."""

    def __init__(self):
        self.totals: collections.Counter = collections.Counter()
        self.stack: list[str] = []
        self.mark = time.process_time()

    def _switch(self) -> None:
        now = time.process_time()
        if self.stack:
            self.totals[self.stack[-1]] += now - self.mark
        self.mark = now

    def wrap(self, function, label: str):
        def wrapper(*args, **kwargs):
            self._switch()
            self.stack.append(label)
            try:
                return function(*args, **kwargs)
            finally:
                self._switch()
                self.stack.pop()
        return wrapper

    def patch(self, owner, name: str, label: str) -> None:
        if hasattr(owner, name):
            setattr(owner, name, self.wrap(getattr(owner, name), label))


@contextlib.contextmanager
def _timed_stages(totals: collections.Counter):
    """Wrap the verifier's stages (module attributes it calls) so that each adds its time to ``totals``."""
    verify_module = importlib.import_module("tasm_env.verify")
    stages = [(verify_module, "_program", "parse the candidate texts"), (verify_module, "parse_text", "parse the candidate texts"),
              (verify_module, "distinct_blocks", "parse the candidate texts"),  # the batch intake (intake.py)
              (verify_module, "static_rows", "static pass (plan.static_rows)"),
              (batch, "compile_block", "compile candidates to plans"),
              (verify_module, "dataflow_key", "dataflow keys (first round's survivors)"),
              (batch, "GroupRun", "batched runs (all rounds)"),
              (verify_module.Verifier, "differences", "compare with the baseline"),
              (verify_module.solve, "solved_rows", "survivors' own tests: solved_rows"),
              (verify_module, "stepped_rows", "survivors' own tests: stepped_rows"),
              (verify_module, "back_rows", "survivors' own tests: back_rows"),
              (verify_module, "ram_rows", "survivors' own tests: ram_rows")]
    stages = [stage for stage in stages if hasattr(stage[0], stage[1])]  # an older checkout may lack one
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in stages]

    for (owner, name, label), (_, _, function) in zip(stages, saved):
        setattr(owner, name, timed(function, totals, label, CLOCK))
    try:
        yield
    finally:
        for owner, name, function in saved:
            setattr(owner, name, function)


def bench_verifier_stages(rounds: int, rng: np.random.Generator) -> None:
    """Where `te.verify_many`'s time goes on fresh candidate texts (the reused baseline's Verifier)."""
    baseline = Program.parse(
        "dup 2 dup 2 mul dup 3 dup 3 add mul push 7 add dup 1 swap 1 pop 1 swap 3 pop 1 swap 3 add swap 1 pop 1 "
        "dup 0 mul"
    )
    inputs = ("field", "field", "field")
    te.verify_many(str(baseline), [str(mutate(baseline, rng)) for _ in range(256)], inputs=inputs, n_tests=40)
    totals: collections.Counter = collections.Counter()
    total = accepted = 0.0
    with _timed_stages(totals):
        for _ in range(rounds):
            candidates = [str(mutate(baseline, rng)) for _ in range(256)]
            start = CLOCK()
            verdicts = te.verify_many(str(baseline), candidates, inputs=inputs, n_tests=40)
            total += CLOCK() - start
            accepted += sum(v.ok for v in verdicts)
    print(f"te.verify_many stages, 256 fresh candidate texts x {rounds} batches ({accepted / rounds:.0f} accepted "
          f"per batch), {total / rounds * 1e3:.1f} ms per batch:")
    for label, seconds in totals.most_common():
        print(f"    {label:40s} {seconds / total * 100:5.1f} %")
    print(f"    {'the rest (intake, bookkeeping)':40s} {(1 - sum(totals.values()) / total) * 100:5.1f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=("parser", "vm", "batch", "verifier", "stages"), nargs="*",
                        help="run only these groups of figures (default: all)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="rates per second of this process's CPU time instead of wall-clock time")
    args = parser.parse_args()
    global CLOCK
    if args.cpu_time:
        CLOCK = time.process_time
    rounds = 3 if args.quick else 7
    rng = np.random.default_rng(0)
    only = set(args.only or ("parser", "vm", "batch", "verifier", "stages"))
    if "parser" in only:
        bench_parser(rounds, rng)
    if "vm" in only:
        bench_vm(rounds, rng, n=500 if args.quick else 2000)
    if "batch" in only:
        bench_batch(rounds, rng)
    if "verifier" in only:
        bench_verifier(rounds, rng)
    if "stages" in only:
        bench_verifier_stages(rounds * 3, rng)


if __name__ == "__main__":
    main()
