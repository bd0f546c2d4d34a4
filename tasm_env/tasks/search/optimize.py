"""``te.optimize``: the exact search on one's own block, with the arguments a researcher reaches for."""

from __future__ import annotations

from typing import Sequence

from ...asm import Program
from ...errors import TaskError
from ...verify import INPUT_TYPES
from .driver import search
from .results import SearchResult


def optimize(block: Program | str, inputs: Sequence[str] = (), seconds: float = 10.0, *,
             max_cycles: int | None = None, node_limit: int = 2_000_000, seed: int = 0) -> SearchResult:
    """The shortest program equivalent to the straight-line ``block`` whose inputs (on top of the stack,
    deepest first) have the types ``inputs`` (``field``, ``u32``, ``bool``, ``nonzero``, ``u32_nonzero``),
    searched for at most ``seconds``.

    The result's ``program`` and ``cycles`` are the best verified program found (the block itself when
    nothing shorter is); ``proved`` says whether no shorter equivalent program exists over ``relative_to``,
    the exact instruction and constant set searched (:class:`~tasm_env.tasks.task.SearchedSet`);
    ``lower_bound`` is proven in any case.

    >>> import tasm_env as te
    >>> te.optimize("dup 0 add dup 0 add", inputs=("field",)).program   # 4x
    Program('push 4 mul')
    """
    if isinstance(inputs, str) or not all(isinstance(kind, str) for kind in inputs):
        raise TaskError(f"inputs: expected a sequence of input type names such as ('field', 'u32'), got "
                        f"{inputs!r}")
    unknown = [kind for kind in inputs if kind not in INPUT_TYPES]
    if unknown:
        raise TaskError(f"inputs: unknown input type {unknown[0]!r}; expected one of {', '.join(INPUT_TYPES)}")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
        raise TaskError(f"seconds: expected a positive number of seconds, got {seconds!r}")
    if not isinstance(block, (Program, str)):
        raise TaskError(f"block: expected a Program or TASM text, got {type(block).__name__}")
    return search(block, tuple(inputs), max_cycles=max_cycles, time_limit=float(seconds), node_limit=node_limit,
                  seed=seed)
