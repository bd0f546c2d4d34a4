"""The ``tasm-env`` command.

    tasm-env run FILE [--stack V ...] [--public-input V ...] [--secret-input V ...] [--max-cycles N]
    tasm-env verify BASELINE CANDIDATE --inputs TYPE ... [--tests N] [--seed S]
    tasm-env demo

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
                     seed=args.seed)
    print(("EQUIVALENT: " if verdict.ok else "NOT EQUIVALENT: ") + verdict.reason)
    if verdict.counterexample is not None:
        c = verdict.counterexample
        print(f"counterexample (test {c.test}):")
        print(_table([
            ("initial stack (top last)", list(c.stack)),
            ("public input", list(c.public_input)),
            ("secret input", list(c.secret_input)),
            ("RAM seed", c.ram_seed),
            ("baseline", c.baseline),
            ("candidate", c.candidate),
        ]))
    return 0 if verdict.ok else 1


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
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("demo", help="run the bundled example program")
    p.set_defaults(func=cmd_demo)
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
