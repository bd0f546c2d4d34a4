"""The I/O of the value-stack fast path (:mod:`tasm_env.emission.value_stacks`): ``read_io N``, ``divine N`` and
``write_io N`` on many rows at once.

**Inputs.** Every probe lane of a task has as many public (and secret) input words (the task's
:class:`~tasm_env.plan.Shape`), so how many a prefix has consumed is one count per row, not per lane, and a
read past the end is a static crash (every lane, decided by the shape): such a row is not covered (the
reference's). ``read_io N`` pushes the next N words of the lane's public stream, ``divine N`` of its secret one,
in read order: a token's template holds them as its own values after its constants (:func:`read_words`).

**Output.** ``write_io N`` appends st0, st1, ... to the row's output (n, K), in write order, as the reference's
plan lists its output ids; ``write_mem`` appends to the RAM write log the same way (:func:`appended`).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

__all__ = ["appended", "input_room", "padded", "read_words"]


def input_room(book, tid: np.ndarray, public: np.ndarray, secret: np.ndarray, n_public: np.ndarray,
               n_secret: np.ndarray) -> np.ndarray:
    """(n,) bool: template ``tid[b]`` reads no more words than row b's streams have left (``public``/``secret``:
    the words consumed so far; ``n_public``/``n_secret``: the row's task's stream lengths)."""
    return (public + book.public[tid] <= n_public) & (secret + book.secret[tid] <= n_secret)


def read_words(own: np.ndarray, book, tid: np.ndarray, public: np.ndarray, secret: np.ndarray,
               streams: tuple[np.ndarray, np.ndarray], trow: np.ndarray) -> None:
    """Write each row's input words into its own values ``own`` (n, size, K), in place: template ``tid[b]``'s
    public words at ``book.reads_at``, its secret words after them, the next ones of row b's task's streams
    (``streams``: public and secret words, (tasks, words, K) zero-padded; ``trow``: each row's task there)."""
    at = book.reads_at[tid]
    for count, consumed, stream in ((book.public[tid], public, streams[0]), (book.secret[tid], secret, streams[1])):
        rb, rk = np.nonzero(np.arange(int(count.max(initial=0)))[None] < count[:, None])
        own[rb, at[rb] + rk] = stream[trow[rb], consumed[rb] + rk]
        at = at + count


def appended(logs: list | None, counts: np.ndarray, codes: np.ndarray, fetch: Callable, K: int) -> list | None:
    """Each row's log (w, K) with the values its template appends (``counts[b]`` codes ``codes[b]``, fetched
    before the stack changes) at the end; ``logs`` None: no row had any (returned as is if none appends)."""
    if not counts.any():
        return logs
    empty = np.zeros((0, K), np.uint64)
    out = list(logs) if logs is not None else [empty] * len(counts)
    rows = np.flatnonzero(counts)
    c = counts[rows]
    rb, rk = np.nonzero(np.arange(int(c.max()))[None] < c[:, None])
    values = fetch(rows[rb], codes[rows[rb], rk])  # every appending row's values in one gather, row by row
    for b, part in zip(rows.tolist(), np.split(values, np.cumsum(c)[:-1])):
        out[b] = np.concatenate([out[b], part])
    return out


def padded(logs: Sequence[np.ndarray] | None, n: int, K: int, width: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, W, K) the rows' logs zero-padded (W at least ``width``) and (n,) their lengths (``logs`` None: all
    empty)."""
    lengths = np.zeros(n, np.int64) if logs is None else np.array([len(log) for log in logs], dtype=np.int64)
    out = np.zeros((n, max(int(lengths.max(initial=0)), width), K), np.uint64)
    for b in np.flatnonzero(lengths).tolist():
        out[b, :lengths[b]] = logs[b]
    return out, lengths
