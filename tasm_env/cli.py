"""The ``tasm-env`` command.

    tasm-env run FILE [--stack V ...] [--public-input V ...] [--secret-input V ...] [--max-cycles N]
    tasm-env verify BASELINE CANDIDATE --inputs TYPE ... [--tests N] [--seed S]
    tasm-env tasks list [SUITE]
    tasm-env tasks show TASK        (TASK: a task name, or SUITE:TASK)
    tasm-env tasks show FILE --inputs TYPE ...      (one's own block)
    tasm-env optimize FILE --inputs TYPE ... [--seconds S]
    tasm-env demo
    tasm-env train | evaluate | compare ...   (the agents' commands: see agents/commands.py)

Values may be separated by spaces or commas; negative values are reduced mod p. Errors print one line to
stderr and exit with status 2, without a traceback. When the reader of the output goes away (``| head``), the
command stops quietly with status 141, as if killed by SIGPIPE.

Other packages add commands through the ``tasm_env.commands`` entry point group (the agents add train,
evaluate and compare that way): each entry point names a function that takes argparse's subparsers action.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Sequence

from .cli_args import CliError, Parser, UsageError, non_negative_int, positive_int
from .errors import TasmError
from .field import P

EXAMPLE = Path(__file__).resolve().parent / "data" / "examples" / "gcd_and_hash.tasm"


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
        print(f"{suite.name} (version {suite.version}"
              + (f", superseded by {suite.superseded_by}" if suite.superseded_by else "") + f"): {len(suite)} tasks; "
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


def _own_task(args):
    """The block in the file ``args.task`` as a task (``--inputs`` gives its input types)."""
    from .tasks.task import Task

    return Task.from_tasm(_read(args.task), tuple(args.inputs or ()), name=Path(args.task).stem)


def cmd_tasks_show(args) -> int:
    from .tasks.graph import EDGE_TYPES
    from .tasks.tir import format_tir

    if args.inputs is not None or Path(args.task).is_file():
        task = _own_task(args)
        print(f"{task.name} (your block from {args.task})")
    else:
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
        print("\noptimum: not searched" + (f" (try `tasm-env optimize {args.task} --inputs ...`)"
                                            if args.inputs is not None else ""))
    else:
        status = "proven optimal" if task.optimum.proved else "best found, not proven optimal"
        print(f"\noptimum: {task.optimum.cycles} cycles ({status}; {task.optimum.nodes} search states, "
              f"{task.optimum.seconds:.1f} s)")
        print("\n".join("  " + line for line in str(task.optimum.program).splitlines()) or "  (empty program)")
        if task.optimum.relative_to is not None:
            print(f"relative to: {task.optimum.relative_to.describe()}")
    return 0


def cmd_optimize(args) -> int:
    from .tasks.search import optimize

    if not args.seconds > 0:
        raise CliError(f"--seconds: expected a positive number, got {args.seconds}")
    block = _read(args.file)
    result = optimize(block, inputs=tuple(args.inputs), seconds=args.seconds)
    status = ("proven optimal" if result.proved else
              f"best found, not proven optimal (every equivalent program has at least {result.lower_bound} cycles)")
    print(f"{result.cycles} cycles ({status}; the block takes {len(_parse(block))}; "
          f"stopped: {result.stopped}; {result.nodes} search states, {result.seconds:.1f} s)")
    print("\n".join("  " + line for line in str(result.program).splitlines()) or "  (empty program)")
    rel = result.relative_to
    print(f"relative to: {rel.describe()}")
    print(f"  push constants: {', '.join(str(c) for c in rel.push)}")
    print(f"  addi constants: {', '.join(str(c) for c in rel.addi)}")
    print(f"  scope: {result.scope}")
    return 0


def _parse(text: str):
    from .asm import Program

    return Program.parse(text)


def cmd_demo(args) -> int:
    """The main job until agents exist: run the bundled example program and show what it costs."""
    from .vm import run

    text = EXAMPLE.read_text()
    print(f"# {EXAMPLE.name}\n{text.strip()}\n")
    print("public input: [1071, 462]\n")
    _print_execution(run(text, public_input=(1071, 462)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="tasm-env", description="Triton VM assembly: run, verify, learn.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run a TASM file on the reference VM")
    p.add_argument("file")
    p.add_argument("--stack", nargs="*", metavar="V", help="values pushed on the initial stack, top last")
    p.add_argument("--public-input", nargs="*", metavar="V")
    p.add_argument("--secret-input", nargs="*", metavar="V")
    p.add_argument("--max-cycles", type=positive_int, default=1_000_000)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("verify", help="check that a candidate block is equivalent to a baseline block")
    p.add_argument("baseline")
    p.add_argument("candidate")
    p.add_argument("--inputs", nargs="*", default=[], metavar="TYPE",
                   help="types of the baseline's inputs, deepest first: field, u32, bool, nonzero")
    p.add_argument("--tests", type=positive_int, default=40)
    p.add_argument("--seed", type=non_negative_int, default=42)
    p.add_argument("--no-prove", action="store_true", help="skip the exact proof (polynomial identity, z3)")
    p.set_defaults(func=cmd_verify)

    tasks = sub.add_parser("tasks", help="list and show the shipped tasks").add_subparsers(dest="tasks_command",
                                                                                         required=True)
    p = tasks.add_parser("list", help="list a suite's tasks (default: every shipped suite)")
    p.add_argument("suite", nargs="?")
    p.set_defaults(func=cmd_tasks_list)
    p = tasks.add_parser("show", help="show one task: TIR, graph, baseline, cost, optimum")
    p.add_argument("task", help="a task name, SUITE:TASK, or a TASM file of your own (with --inputs)")
    p.add_argument("--inputs", nargs="*", default=None, metavar="TYPE",
                   help="for a TASM file: types of its inputs, deepest first: field, u32, bool, nonzero")
    p.set_defaults(func=cmd_tasks_show)

    p = sub.add_parser("optimize", help="the exact search: the shortest program equivalent to a TASM block")
    p.add_argument("file")
    p.add_argument("--inputs", nargs="*", default=[], metavar="TYPE",
                   help="types of the block's inputs, deepest first: field, u32, bool, nonzero, u32_nonzero")
    p.add_argument("--seconds", type=float, default=10.0, help="search time limit (default 10)")
    p.set_defaults(func=cmd_optimize)

    p = sub.add_parser("demo", help="run the bundled example program")
    p.set_defaults(func=cmd_demo)

    add_plugin_commands(sub)
    return parser


COMMANDS_GROUP = "tasm_env.commands"
"""The entry point group of packages that add ``tasm-env`` commands."""
SOURCE_PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def command_plugins() -> list[EntryPoint]:
    """The entry points of :data:`COMMANDS_GROUP`: the installed ones, plus any that this source checkout's
    ``pyproject.toml`` declares and the installed metadata lacks (an editable install made before they were
    declared, or a checkout run from ``PYTHONPATH``)."""
    found = {ep.name: ep for ep in entry_points(group=COMMANDS_GROUP)}
    for ep in declared_in_source(SOURCE_PYPROJECT):
        found.setdefault(ep.name, ep)
    return list(found.values())


def declared_in_source(pyproject: Path) -> list[EntryPoint]:
    """The :data:`COMMANDS_GROUP` entry points declared by ``pyproject``, if it is tasm-env's; else none."""
    try:
        import tomllib
        data = tomllib.loads(pyproject.read_text())
    except (ImportError, OSError, ValueError):  # Python 3.10, an installed package, a broken file
        return []
    project = data.get("project", {})
    if project.get("name") != "tasm-env":
        return []
    declared = project.get("entry-points", {}).get(COMMANDS_GROUP, {})
    return [EntryPoint(name, value, COMMANDS_GROUP) for name, value in declared.items()]


def add_plugin_commands(sub) -> None:
    """Let every :func:`command_plugins` entry add its commands; one that fails is reported on stderr and left
    out, so the core commands keep working."""
    for ep in command_plugins():
        try:
            ep.load()(sub)
        except Exception as err:  # noqa: BLE001  (any failure of foreign code: report it, run the rest)
            print(f"tasm-env: warning: commands from {ep.value} not loaded: {type(err).__name__}: {err}",
                  file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        status = args.func(args)
        sys.stdout.flush()  # so that a closed pipe shows here rather than at exit
        return status
    except UsageError as err:
        print(f"{err.prog}: error: {err} (see `{err.prog} --help`)", file=sys.stderr)
        return 2
    except TasmError as err:
        print(f"tasm-env: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        _discard_stdout()
        return 141


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout replaced by an object without a file (a test's capture)
        pass


if __name__ == "__main__":
    sys.exit(main())
