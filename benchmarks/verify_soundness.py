"""How often the default verdict is wrong, and how fast it is. Prints rates; asserts nothing.

    python benchmarks/verify_soundness.py                     # 10,000 adversarial + 2,000 plain mutants
    python benchmarks/verify_soundness.py --quick             # 1,000 + 500
    python benchmarks/verify_soundness.py --main /work/main   # also today's verifier (a checkout of main)
    python benchmarks/verify_soundness.py --seed 11           # other mutants (default seed 7)
    python benchmarks/verify_soundness.py --policy 3000       # only the figure on the shipped policy's samples

Figures:
  * false-accept rate on adversarial mutants: every task of tasm-basic-v0 and tasm-idioms-v0 with a
    rare-difference snippet inserted at a random point (st0 += [st0 == 0], st0 += [st0 == c] for a literal c of
    the block, an ``invert`` or an ``assert`` that crash at 0, st0 += [st0 == st1], st0 += [st0 + st1 == 0],
    st0 += [st0 < 3], a ``log_2_floor`` off by one, st0 += [st0^2 == 0]); a mutant the default verdict
    (``Verifier(task)``: 40 random tests and the coverage tests, seed 42) accepts is re-checked on 5,000 random
    tests (another seed) and, where z3 is installed, by the SMT solver (500 ms per mutant): a refuted one is a
    false accept;
  * the same on plain mutants (one to three random instruction edits);
  * with ``--policy N``: the same on N programs sampled from the policy shipped for tasm-basic-v1 (its test
    split, temperature 1), the real candidates a reward is paid for;
  * verdicts/s on fresh 20-instruction candidates given as parsed programs (batches of 256, most wrong), this
    branch against ``--main`` in alternating subprocesses, as a ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

SNIPPETS = [
    "dup 0 push 0 eq add",
    "dup 0 push {c} eq add",
    "dup 0 invert pop 1",
    "dup 0 push 0 eq push 0 eq assert",
    "dup 1 dup 1 eq add",
    "dup 1 dup 1 add push 0 eq add",
    "push 3 dup 1 lt add",
    "dup 0 push 1 add log_2_floor dup 1 log_2_floor eq push -1 mul push 1 add add",
    "dup 0 dup 0 mul push 0 eq add",
    "dup 0 push {c} add push 0 eq add",
]
"""Each changes the state only on rare inputs (st0 or st1 at one value, or at a power of two)."""


def tasks():
    import tasm_env as te

    found = []
    for name in ("tasm-basic-v0", "tasm-idioms-v0"):
        try:
            found += list(te.load_suite(name))
        except te.TasmError:
            continue
    return found


def adversarial(task, rng) -> str:
    words = str(task.baseline).split("\n")
    literals = [int(i.arg) for i in task.baseline if i.name in ("push", "addi")] or [1]
    c = literals[int(rng.integers(len(literals)))]
    if rng.random() < 0.5:
        c = -c
    snippet = SNIPPETS[int(rng.integers(len(SNIPPETS)))].format(c=c)
    at = int(rng.integers(len(words) + 1))
    return "\n".join(words[:at] + [snippet] + words[at:])


def plain(task, rng) -> str:
    sys.path.insert(0, HERE)
    from core import mutate

    return str(mutate(task.baseline, rng))


def mutants(n: int, kind: str, seed: int) -> list[tuple[int, str]]:
    rng = np.random.default_rng(seed)
    all_tasks = tasks()
    make = adversarial if kind == "adversarial" else plain
    out = []
    for _ in range(n):
        t = int(rng.integers(len(all_tasks)))
        out.append((t, make(all_tasks[t], rng)))
    return out


def default_accepts(pairs: list[tuple[int, str]], all_tasks: list | None = None) -> list[int]:
    """Indices of the mutants the default verdict accepts (works with any version of tasm_env)."""
    from tasm_env.verify import Verifier

    all_tasks = tasks() if all_tasks is None else all_tasks
    by_task: dict[int, list[int]] = {}
    for i, (t, _) in enumerate(pairs):
        by_task.setdefault(t, []).append(i)
    accepted = []
    for t, idx in by_task.items():
        verdicts = Verifier(all_tasks[t]).check([pairs[i][1] for i in idx])
        accepted += [i for i, v in zip(idx, verdicts) if v.ok]
    return sorted(accepted)


def refuted(pairs: list[tuple[int, str]], accepted: list[int], reasons: dict | None = None,
            all_tasks: list | None = None) -> tuple[list[int], list[int]]:
    """Of the accepted mutants: those 5,000 tests refute, and those only the SMT solver refutes (500 ms each).
    ``reasons`` (if given) receives the refuting verdict of each; ``all_tasks`` (default: :func:`tasks`) are
    the tasks the pairs' indices name."""
    from tasm_env import prove
    from tasm_env.verify import Verifier

    prove.SMT_TIMEOUT_MS = 500
    all_tasks = tasks() if all_tasks is None else all_tasks
    by_task: dict[int, list[int]] = {}
    for i in accepted:
        by_task.setdefault(pairs[i][0], []).append(i)
    by_tests, by_smt = [], []
    for t, idx in by_task.items():
        verifier = Verifier(all_tasks[t], n_tests=5000, seed=20261201)
        verdicts = verifier.check([pairs[i][1] for i in idx])
        by_tests += [i for i, v in zip(idx, verdicts) if not v.ok]
        rest = [i for i, v in zip(idx, verdicts) if v.ok]
        proved = verifier.check([pairs[i][1] for i in rest], prove=True) if rest else []
        by_smt += [i for i, v in zip(rest, proved) if not v.ok]
        if reasons is not None:
            reasons.update({i: v for i, v in zip(idx, verdicts) if not v.ok})
            reasons.update({i: v for i, v in zip(rest, proved) if not v.ok})
    return sorted(by_tests), sorted(by_smt)


def soundness(kind: str, n: int, main: str | None, show: bool = False, seed: int = 7) -> None:
    pairs = mutants(n, kind, seed=seed if kind == "adversarial" else seed + 1)
    start = time.perf_counter()
    accepted = default_accepts(pairs)
    seconds = time.perf_counter() - start
    reasons: dict = {}
    by_tests, by_smt = refuted(pairs, accepted, reasons)
    wrong = len(by_tests) + len(by_smt)
    print(f"{kind} mutants: {n:,}; accepted by the default verdict: {len(accepted):,} ({seconds:.1f} s); "
          f"false accepts: {wrong} = {wrong / n:.2e} of all mutants, {wrong / max(len(accepted), 1):.1%} of the "
          f"accepted ({len(by_tests)} refuted by 5,000 tests, {len(by_smt)} only by the SMT solver)")
    names = [t.name for t in tasks()]
    for i in (by_tests + by_smt)[:None if show else 3]:
        print(f"    e.g. mutant {i}, task {names[pairs[i][0]]}: {pairs[i][1].replace(chr(10), ' ')}")
        if show:
            example = reasons[i].counterexample
            where = f"; stack top {list(example.stack[-8:])}" if example is not None else ""
            print(f"      refuted: {reasons[i].reason}{where}")
    if main:
        out = _subprocess(main, ["--accepts", kind, str(n), str(seed)])
        accepted_main = json.loads(out)
        by_tests, by_smt = refuted(pairs, accepted_main)
        wrong = len(by_tests) + len(by_smt)
        print(f"  main's verifier: accepted {len(accepted_main):,}; false accepts {wrong} = {wrong / n:.2e} of all "
              f"mutants, {wrong / max(len(accepted_main), 1):.1%} of the accepted")


def policy_samples(n: int, seed: int, suite: str = "tasm-basic-v1") -> tuple[list, list[tuple[int, str]]]:
    """About ``n`` programs sampled (temperature 1) from the policy shipped for ``suite``, spread evenly over
    its test split's tasks: (tasks, [(task index, program text)]), duplicates within a task dropped."""
    import torch

    import agents
    from agents.pipeline import split_tasks
    from agents.sampling import sample_programs
    from tasm_env.tasks.suite import load_suite

    all_tasks = split_tasks(load_suite(suite), "test", None)
    policy = agents.pretrained(suite)
    per_task = max(1, n // len(all_tasks))
    drawn = sample_programs(policy, list(range(len(all_tasks))), per_task,
                            generator=torch.Generator().manual_seed(seed))
    pairs = [(t, text) for t, programs in enumerate(drawn)
             for text in dict.fromkeys(str(p) for p in programs if p is not None)]
    return all_tasks, pairs


def policy_soundness(n: int, seed: int, show: bool = False) -> None:
    start = time.perf_counter()
    all_tasks, pairs = policy_samples(n, seed)
    sampled = time.perf_counter() - start
    accepted = default_accepts(pairs, all_tasks)
    reasons: dict = {}
    by_tests, by_smt = refuted(pairs, accepted, reasons, all_tasks)
    wrong = len(by_tests) + len(by_smt)
    print(f"policy samples (tasm-basic-v1's shipped policy, test split, {n:,} drawn, {len(pairs):,} distinct, "
          f"{sampled:.0f} s to sample): accepted by the default verdict: {len(accepted):,}; false accepts: "
          f"{wrong} ({len(by_tests)} refuted by 5,000 tests, {len(by_smt)} only by the SMT solver)")
    for i in (by_tests + by_smt)[:None if show else 3]:
        print(f"    e.g. task {all_tasks[pairs[i][0]].name}: {pairs[i][1].replace(chr(10), ' ')}")
        if show:
            print(f"      refuted: {reasons[i].reason}")


def verdict_rate() -> float:
    """Verdicts/s of Verifier.check on fresh 20-instruction candidates (the figure of benchmarks/core.py)."""
    sys.path.insert(0, HERE)
    from core import mutate

    from tasm_env.asm import Program
    from tasm_env.verify import Verifier

    rng = np.random.default_rng(2)
    baseline = Program.parse(
        "dup 2 dup 2 mul dup 3 dup 3 add mul push 7 add dup 1 swap 1 pop 1 swap 3 pop 1 swap 3 add swap 1 pop 1 "
        "dup 0 mul")
    verifier = Verifier(baseline, inputs=("field", "field", "field"), n_tests=40)
    batches = [[mutate(baseline, rng) for _ in range(256)] for _ in range(16)]
    verifier.check(batches[0])
    seconds = []
    for b in batches[1:]:
        start = time.perf_counter()
        verifier.check(b)
        seconds.append(time.perf_counter() - start)
    return 256 / float(np.median(seconds))


def _subprocess(path: str, args: list[str]) -> str:
    env = dict(os.environ, PYTHONPATH=path)
    return subprocess.run([sys.executable, os.path.abspath(__file__), *args], env=env, check=True,
                          capture_output=True, text=True).stdout.strip().splitlines()[-1]


def speed(main: str | None, rounds: int) -> None:
    here = os.path.dirname(HERE)
    mine, theirs = [], []
    for _ in range(rounds):  # alternate, so both see the same machine load
        mine.append(float(_subprocess(here, ["--rate"])))
        if main:
            theirs.append(float(_subprocess(main, ["--rate"])))
    line = f"verdicts/s on fresh 20-instruction candidates (parsed), batches of 256: {max(mine):,.0f} (best of {rounds})"
    if main:
        line += f"; main {max(theirs):,.0f}; ratio {max(mine) / max(theirs):.2f}"
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--main", help="a checkout of main, to measure today's verifier beside this one")
    parser.add_argument("--speed-only", action="store_true", help="only the verdicts/s figure")
    parser.add_argument("--count", type=int, help="adversarial mutants (plain: a fifth), instead of 10,000")
    parser.add_argument("--show", action="store_true", help="print every false accept with its refuting test")
    parser.add_argument("--no-speed", action="store_true", help="skip the verdicts/s figure")
    parser.add_argument("--policy", type=int, metavar="N",
                        help="only the policy figure: N programs sampled from the shipped tasm-basic-v1 policy")
    parser.add_argument("--rate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=7,
                        help="mutant seed (adversarial: this, plain: this + 1; default 7)")
    parser.add_argument("--accepts", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rate:
        print(verdict_rate())
        return
    if args.accepts:
        kind, n, seed = args.accepts
        seed = int(seed) if kind == "adversarial" else int(seed) + 1
        print(json.dumps(default_accepts(mutants(int(n), kind, seed=seed))))
        return
    if args.policy:
        policy_soundness(args.policy, args.seed, args.show)
        return
    if args.speed_only:
        speed(args.main, 6)
        return
    n = args.count or (1000 if args.quick else 10_000)
    soundness("adversarial", n, args.main, args.show, args.seed)
    soundness("plain", 500 if args.quick and not args.count else max(n // 5, 1), args.main, args.show, args.seed)
    if not args.no_speed:
        speed(args.main, 2 if args.quick else 4)


if __name__ == "__main__":
    main()
