"""Command-line parsing for ``tasm-env`` and the packages that add commands to it: a parser whose errors are one
line (no usage dump), and argument types that say what a flag expects.

    p.add_argument("--minutes", type=positive_float)   # "--minutes -1": expected a positive number, got '-1'
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Callable

from .errors import TasmError


class CliError(TasmError):
    """A bad command line: a missing file, a value that is not an integer."""


class UsageError(CliError):
    """The command line does not parse: an unknown flag, a missing argument, a value of the wrong kind."""

    def __init__(self, prog: str, message: str):
        super().__init__(message)
        self.prog = prog


class Parser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` that raises :class:`UsageError` instead of printing its usage and
    exiting, so that ``tasm-env`` reports every error as one line with exit status 2. Its subparsers are of the
    same class (argparse's default)."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(self.prog, message)

    def print_help(self, file=None) -> None:
        # argparse's own print_help swallows write errors; a closed output pipe must reach tasm-env's main
        file = file or sys.stdout
        file.write(self.format_help())
        file.flush()


def _number(parse: Callable[[str], float], minimum: float, inclusive: bool, what: str) -> Callable[[str], float]:
    def convert(text: str):
        try:
            value = parse(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or value < minimum or (value == minimum and not inclusive):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    convert.__name__ = what.replace(" ", "_")
    return convert


finite_float = _number(float, -math.inf, True, "a finite number")
"""Any finite number, negative ones included (a log-reward floor)."""
positive_int = _number(int, 1, True, "a positive integer")
"""An integer of at least 1 (samples, iterations, tests)."""
non_negative_int = _number(int, 0, True, "an integer of at least 0")
"""An integer of at least 0 (counts that may be zero, seeds)."""
positive_float = _number(float, 0.0, False, "a positive number")
"""A finite number above 0 (minutes, learning rates, temperatures)."""
non_negative_float = _number(float, 0.0, True, "a number of at least 0")
"""A finite number of at least 0 (search seconds, where 0 turns the search off)."""

__all__ = ["CliError", "Parser", "UsageError", "non_negative_float", "non_negative_int", "positive_float",
           "positive_int"]
