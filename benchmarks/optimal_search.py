"""Reach and speed of the exact optimum search (tasm_env.tasks.search). Prints; asserts nothing.

    python benchmarks/optimal_search.py              # the whole ladder, up to 60 s per task
    python benchmarks/optimal_search.py --limit 20   # another time limit per task
    python benchmarks/optimal_search.py --only dot2  # one rung
    python benchmarks/optimal_search.py --changed 40 --limit 10   # old proven optima under the widened search

For each rung of a ladder of field-arithmetic blocks written the way a stack compiler writes them (fetch
operands with `dup`, compute, clean up with `swap`/`pop`), it prints the baseline length, the best program
found, whether it is proved optimal, the proven lower bound, states expanded, seconds and states per second.
The summary line names the largest baseline and the largest optimum proved within the time limit.
Timings are noisy on a shared machine: compare runs made side by side.

``--changed N`` takes N proven optima of the shipped v0 suites (evenly spread; recorded by the v0 search over
its narrow constant set) and reruns the current search on each task (first visits: a fresh search per task),
seeded with the v0 program as the builder does (``--no-incumbent``: unseeded), counting how many optima got
shorter, stayed, or are no longer proved within the limit.

``--partial`` counts the tasks of the shipped v1 suites whose baseline crashes on some valid inputs (on the
verifier's tests) and searches each (proved / cycles / seconds), then runs a ladder of partial blocks
(assertions, ``invert`` of 0, ``log_2_floor`` of 0, a zero divisor, u32 ranges).
"""

from __future__ import annotations

import argparse
import time

from tasm_env.asm import Program
from tasm_env.tasks.search import search

F = "field"

LADDER: list[tuple[str, tuple[str, ...], str]] = [
    # name, input types (deepest first), baseline
    ("add-keep", (F, F), "dup 1 dup 1 add"),
    ("x^2+x", (F,), "dup 0 dup 0 mul add"),
    ("x^4", (F,), "dup 0 mul dup 0 mul"),
    ("a*b+c", (F, F, F), "dup 2 dup 2 mul dup 1 add swap 3 pop 3"),
    ("(a+b)*c", (F, F, F), "dup 2 dup 2 add dup 1 mul swap 3 pop 3"),
    ("a*b+c keep", (F, F, F), "dup 2 dup 2 mul dup 1 add"),
    ("dot2", (F,) * 4, "dup 3 dup 2 mul dup 3 dup 2 mul add swap 4 pop 4"),
    ("(a+b)(a-b)", (F, F), "dup 1 dup 1 add dup 2 dup 2 push -1 mul add mul swap 2 pop 2"),
    ("a^2+b^2", (F, F), "dup 1 dup 2 mul dup 1 dup 2 mul add swap 2 pop 2"),
    ("dot3", (F,) * 6, "dup 5 dup 3 mul dup 5 dup 3 mul add dup 4 dup 2 mul add swap 6 pop 5 pop 1"),
]


def run_rung(name: str, types: tuple[str, ...], baseline: str, limit: float) -> dict:
    started = time.perf_counter()
    result = search(baseline, types, time_limit=limit, node_limit=10**9)
    seconds = time.perf_counter() - started
    rate = result.nodes / max(result.seconds, 1e-9)
    status = "proved" if result.proved else f"lb {result.lower_bound}"
    print(f"{name:12s} baseline {len(Program.parse(baseline)):2d}  found {result.cycles:2d} ({status:7s}, "
          f"{result.stopped:6s})  {result.nodes:>10,d} states  {seconds:6.1f} s  {rate:>9,.0f} states/s  "
          f"| {' '.join(str(i) for i in result.program)}", flush=True)
    return {"name": name, "baseline": len(Program.parse(baseline)), "cycles": result.cycles,
            "proved": result.proved, "lower": result.lower_bound, "nodes": result.nodes, "seconds": seconds}


def changed_optima(count: int, limit: float, seeded: bool = True) -> None:
    """How many of ``count`` v0 proven optima change under the widened constant set."""
    import tasm_env as te

    proved = [t for name in ("tasm-basic-v0", "tasm-idioms-v0") for t in te.load_suite(name)
              if t.optimal_cycles is not None]
    step = max(1, len(proved) // max(count, 1))
    sample = proved[::step][:count]
    shorter = same = lost = 0
    nodes = seconds = 0.0
    for task in sample:
        result = search(task, time_limit=limit, incumbent=task.optimum.program if seeded else None)
        nodes, seconds = nodes + result.nodes, seconds + result.seconds
        old = task.optimal_cycles
        if result.cycles < old:
            shorter += 1
            kind = "SHORTER" + ("" if result.proved else " (unproved)")
        elif result.proved:
            same += 1
            kind = "same"
        else:
            lost += 1
            kind = f"not proved (lb {result.lower_bound})"
        print(f"{task.name:24s} v0 {old:2d} -> {result.cycles:2d} {kind:22s} {result.nodes:>9,d} states "
              f"{result.seconds:5.1f} s | {' '.join(str(i) for i in result.program)}", flush=True)
    print(f"\n{len(sample)} of {len(proved)} v0 proven optima: {shorter} shorter, {same} the same and proved, "
          f"{lost} no longer proved within {limit:g} s ({'seeded with' if seeded else 'without'} the v0 program); "
          f"{nodes:,.0f} states in {seconds:.1f} s")


PARTIAL_LADDER: list[tuple[str, tuple[str, ...], str]] = [
    ("assert-7", (F,), "push 7 eq assert"),
    ("inv-mul", (F,), "dup 0 invert mul"),
    ("keep-assert", (F,), "dup 0 assert swap 1 swap 1"),
    ("redundant", (F,), "push 0 pop 1 assert"),
    ("log-3x", ("u32",), "dup 0 log_2_floor pop 1 push 3 mul"),
    ("divmod-add", ("u32", "u32"), "dup 1 dup 1 div_mod pop 2 add"),
    ("lt-assert-2x", ("u32",), "dup 0 push 5 lt assert push 2 mul"),
    ("assert-vector", (F,) * 5, "push 0 push 0 push 0 push 0 push 0 assert_vector pop 5"),
]


def partial_tasks(limit: float) -> None:
    """The shipped v1 suites' partial tasks (searched), then the partial ladder."""
    import tasm_env as te
    from tasm_env.verify import Verifier

    for name in ("tasm-basic-v1", "tasm-idioms-v1"):
        tasks = list(te.load_suite(name))
        partial = [t for t in tasks if Verifier(t.baseline, t.inputs, n_tests=64, seed=7919).baseline_crashes.any()]
        missing = sum(t.optimal_cycles is None for t in partial)
        print(f"{name}: {len(tasks)} tasks, {len(partial)} partial ({missing} without an optimum)", flush=True)
        for task in partial:
            run_rung(task.name, tuple(task.inputs), str(task.baseline), limit)
    rows = [run_rung(name, types, text, limit) for name, types, text in PARTIAL_LADDER]
    print(f"partial ladder: proved {sum(r['proved'] for r in rows)} of {len(rows)} within {limit:g} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=float, default=60.0, help="seconds per task (default 60)")
    parser.add_argument("--only", default=None, help="run only the rung with this name")
    parser.add_argument("--changed", type=int, default=None, metavar="N",
                        help="instead: rerun N proven optima of the v0 suites under the current search")
    parser.add_argument("--partial", action="store_true",
                        help="instead: the v1 suites' partial tasks and a ladder of partial blocks")
    parser.add_argument("--no-incumbent", action="store_true", help="with --changed: do not seed with v0's program")
    args = parser.parse_args()
    if args.partial:
        partial_tasks(args.limit)
        return
    if args.changed is not None:
        changed_optima(args.changed, args.limit, seeded=not args.no_incumbent)
        return
    rows = [run_rung(name, types, text, args.limit) for name, types, text in LADDER
            if args.only is None or name == args.only]
    proved = [r for r in rows if r["proved"]]
    nodes = sum(r["nodes"] for r in rows)
    seconds = sum(r["seconds"] for r in rows)
    print(f"\noverall: {nodes:,} states in {seconds:.1f} s = {nodes / max(seconds, 1e-9):,.0f} states/s")
    if proved:
        biggest = max(proved, key=lambda r: (r["baseline"], r["cycles"]))
        deepest = max(proved, key=lambda r: (r["cycles"], r["baseline"]))
        print(f"largest baseline proved within {args.limit:.0f} s: {biggest['name']} ({biggest['baseline']} "
              f"instructions, optimum {biggest['cycles']}); largest optimum proved: {deepest['name']} "
              f"({deepest['cycles']} cycles)")
    print(f"proved {len(proved)} of {len(rows)} rungs")


if __name__ == "__main__":
    main()
