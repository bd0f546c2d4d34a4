"""The ``tasm-env`` command.

    tasm-env run FILE [--stack V ...] [--public-input V ...] [--secret-input V ...] [--max-cycles N]
    tasm-env verify BASELINE CANDIDATE --inputs TYPE ... [--tests N] [--seed S]
    tasm-env tasks list [SUITE]
    tasm-env tasks show TASK        (TASK: a task name, or SUITE:TASK)
    tasm-env demo
    tasm-env train | evaluate | compare ...   (the agents: see agents/cli.py)

Values may be separated by spaces or commas; negative values are reduced mod p. Errors print one line to
stderr and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from .errors import TasmError
from .field import P

EXAMPLE = Path(__file__).resolve().parent / "data" / "examples" / "gcd_and_hash.tasm"


class CliError(TasmError):
    """A bad command line: a missing file, a value that is not an integer."""


def _values(tokens: Sequence[str] | None, what: str) -> tuple[int, ...]:
    values: list[int] = []
    for token in tokens or ():
        for part in token.replace(",", " ").split():
            try:
                value = int(part, 0)
            except ValueError:
                raise CliError(f"{what}: expected integers, got {part!r}") from None
            if not -P < value < P:
                raise CliError(f"{what}: {value} is outside (-p, p)")
            values.append(value % P)
    return tuple(values)


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as err:
        raise CliError(f"cannot read {path}: {err.strerror}") from None


def _table(rows: Sequence[tuple[str, object]]) -> str:
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name:<{width}}  {value}" for name, value in rows)


def _print_execution(ex) -> None:
    print(f"final stack (top last, {len(ex.stack)} elements): {list(ex.stack)}")
    print(f"output: {list(ex.output)}")
    print(f"cycles: {ex.cycles}")
    print("table heights:")
    print(_table([*ex.heights.as_dict().items(), ("padded height", ex.padded_height)]))


def cmd_run(args) -> int:
    from .vm import run

    ex = run(
        _read(args.file),
        stack=_values(args.stack, "--stack"),
        public_input=_values(args.public_input, "--public-input"),
        secret_input=_values(args.secret_input, "--secret-input"),
        max_cycles=args.max_cycles,
    )
    _print_execution(ex)
    return 0


def cmd_verify(args) -> int:
    from .verify import verify

    verdict = verify(_read(args.baseline), _read(args.candidate), inputs=tuple(args.inputs), n_tests=args.tests,
                     seed=args.seed, prove=not args.no_prove)
    print(("EQUIVALENT: " if verdict.ok else "NOT EQUIVALENT: ") + verdict.reason)
    print(f"status: {verdict.status}" + (f" ({verdict.bound})" if verdict.bound else ""))
    if verdict.counterexample is not None:
        c = verdict.counterexample
        print(f"counterexample (test {c.test}):")
        print(_table([
            ("initial stack (top last)", list(c.stack)),
            ("public input", list(c.public_input)),
            ("secret input", list(c.secret_input)),
            ("RAM seed", c.ram_seed),
            ("RAM read (initial)", c.ram),
            ("baseline", c.baseline),
            ("candidate", c.candidate),
        ]))
    return 0 if verdict.ok else 1


def cmd_tasks_list(args) -> int:
    from .tasks.suite import available_suites, load_suite

    names = [args.suite] if args.suite else available_suites()
    for name in names:
        suite = load_suite(name)
        print(f"{suite.name} (version {suite.version}): {len(suite)} tasks; "
              + ", ".join(f"{k} {len(v)}" for k, v in suite.splits.items()))
        print(f"  {'task':<24} {'tier':<7} {'split':<5} {'inputs':<28} {'baseline':>8} {'optimum':>8}")
        for task in suite:
            print(f"  {task.name:<24} {task.tier:<7} {suite.split_of(task.name):<5} "
                  f"{_inputs_text(task.inputs):<28} {task.baseline_cycles:>8} {_optimum_text(task):>8}")
    return 0


def _inputs_text(inputs) -> str:
    """Input types with runs folded: ('field', 'field', 'u32') -> 'field x2, u32'."""
    from itertools import groupby

    runs = [(kind, len(list(group))) for kind, group in groupby(inputs)]
    return ", ".join(kind if n == 1 else f"{kind} x{n}" for kind, n in runs) or "-"


def _optimum_text(task) -> str:
    if task.optimum is None:
        return "-"
    return str(task.optimum.cycles) if task.optimum.proved else f"<={task.optimum.cycles}"


def _find_task(ref: str):
    from .tasks.suite import available_suites, load_suite

    suite_name, _, task_name = ref.rpartition(":")
    for name in [suite_name] if suite_name else available_suites():
        suite = load_suite(name)
        if task_name in suite.tasks:
            return suite, suite[task_name]
    raise CliError(f"no task named {task_name!r}" + (f" in suite {suite_name!r}" if suite_name else
                                                     " in the shipped suites (try `tasm-env tasks list`)"))


def cmd_tasks_show(args) -> int:
    from .tasks.graph import EDGE_TYPES
    from .tasks.tir import format_tir

    suite, task = _find_task(args.task)
    print(f"{task.name} ({suite.name}, {suite.split_of(task.name)} split, tier {task.tier}, from {task.source})")
    print(f"inputs (deepest first): {' '.join(task.inputs) or '-'}")
    print("\nTIR:")
    print("\n".join("  " + line for line in format_tir(task.tir).splitlines()))
    graph = task.graph
    kinds = graph.edge_type.bincount(minlength=len(EDGE_TYPES)).tolist()
    print(f"\ngraph: {graph.num_nodes} nodes, {graph.edge_index.shape[1]} edges ("
          + ", ".join(f"{n} {EDGE_TYPES[k]}" for k, n in enumerate(kinds) if n) + ")")
    print(f"\nbaseline ({task.baseline_cycles} cycles):")
    print("\n".join("  " + line for line in str(task.baseline).splitlines()))
    print("baseline table heights: " + ", ".join(f"{k} {v}" for k, v in task.baseline_heights.items()))
    if task.optimum is None:
        print("\noptimum: not searched")
    else:
        status = "proven optimal" if task.optimum.proved else "best found, not proven optimal"
        print(f"\noptimum: {task.optimum.cycles} cycles ({status}; {task.optimum.nodes} search states, "
              f"{task.optimum.seconds:.1f} s)")
        print("\n".join("  " + line for line in str(task.optimum.program).splitlines()) or "  (empty program)")
    return 0


def cmd_demo(args) -> int:
    """The main job until agents exist: run the bundled example program and show what it costs."""
    from .vm import run

    text = EXAMPLE.read_text()
    print(f"# {EXAMPLE.name}\n{text.strip()}\n")
    print("public input: [1071, 462]\n")
    _print_execution(run(text, public_input=(1071, 462)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tasm-env", description="Triton VM assembly: run, verify, learn.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run a TASM file on the reference VM")
    p.add_argument("file")
    p.add_argument("--stack", nargs="*", metavar="V", help="values pushed on the initial stack, top last")
    p.add_argument("--public-input", nargs="*", metavar="V")
    p.add_argument("--secret-input", nargs="*", metavar="V")
    p.add_argument("--max-cycles", type=int, default=1_000_000)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("verify", help="check that a candidate block is equivalent to a baseline block")
    p.add_argument("baseline")
    p.add_argument("candidate")
    p.add_argument("--inputs", nargs="*", default=[], metavar="TYPE",
                   help="types of the baseline's inputs, deepest first: field, u32, bool, nonzero")
    p.add_argument("--tests", type=int, default=40)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--no-prove", action="store_true", help="skip the exact proof (polynomial identity, z3)")
    p.set_defaults(func=cmd_verify)

    tasks = sub.add_parser("tasks", help="list and show the shipped tasks").add_subparsers(dest="tasks_command",
                                                                                         required=True)
    p = tasks.add_parser("list", help="list a suite's tasks (default: every shipped suite)")
    p.add_argument("suite", nargs="?")
    p.set_defaults(func=cmd_tasks_list)
    p = tasks.add_parser("show", help="show one task: TIR, graph, baseline, cost, optimum")
    p.add_argument("task", help="a task name, or SUITE:TASK")
    p.set_defaults(func=cmd_tasks_show)

    p = sub.add_parser("demo", help="run the bundled example program")
    p.set_defaults(func=cmd_demo)

    from agents.cli import add_commands  # train / evaluate / compare (they import torch only when they run)

    add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except TasmError as err:
        print(f"tasm-env: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
