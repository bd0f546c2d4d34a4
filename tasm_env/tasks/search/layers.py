"""The layout of search states: layers of states, children not yet built, the set of states met, column maps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ... import isa
from .keys import U64

if TYPE_CHECKING:
    from .moves import Move

ID = np.int32  # value ids in stored stacks (a search never makes 2^31 values)
PUB, SEC, OUT, DIG, SIDE, CRASH = range(6)  # meta columns: input consumed, output written, digests, side id,
META = 6  # and the crash lanes on which the program has crashed (a bitmask; 0 unless the baseline is partial)


@dataclass
class Layer:
    """The states of one length: stacks (top-first id rows, 0 below the bottom), depths, meta, hashes, the
    goal values present, the value part of the bound, and how each was reached (parent index, move index)."""

    rows: np.ndarray
    depth: np.ndarray
    meta: np.ndarray
    h1: np.ndarray
    h2: np.ndarray
    present: np.ndarray
    hval: np.ndarray
    parent: np.ndarray
    move: np.ndarray

    def __len__(self) -> int:
        return len(self.depth)


@dataclass
class Children:
    """Surviving children of one move over one chunk, not yet materialised."""

    move: int
    parent: np.ndarray  # indices into the layer
    depth: np.ndarray
    h1: np.ndarray
    h2: np.ndarray
    present: np.ndarray
    meta: np.ndarray | None  # None: the parents' meta
    top: np.ndarray | None  # op results (top-first); None for stack moves


def column_map(move: Move, width: int) -> np.ndarray:
    """Source column of each column of the child row (``width`` = the empty slot) for a stack move or, for an
    op, of the columns below its results."""
    if move.kind != "op" and move.touches > width:  # never legal at this width
        return np.arange(width)
    if move.kind == "op":
        src = [move.consumes + j for j in range(width - move.produces)]
    else:  # the ISA's move on the column numbers (top last; empty slots below the bottom)
        moved = isa.move_stack(move.kind, move.arg, [width] * width + list(range(width))[::-1])
        src = moved[::-1][:width]
    return np.minimum(np.array(src, dtype=np.int64), width)


class StateSet:
    """The states met so far in an iteration, as a vectorised open-addressing hash set of 128-bit state
    hashes (linear probing; every probe round handles all pending keys at once, so it suits few large
    batches)."""

    def __init__(self, capacity: int = 1 << 16):
        self.t1 = np.zeros(capacity, dtype=U64)  # 0 marks an empty slot
        self.t2 = np.zeros(capacity, dtype=U64)
        self.claim = np.zeros(capacity, dtype=np.int64)
        self.size = 0

    def add_new(self, h1: np.ndarray, h2: np.ndarray) -> np.ndarray:
        """Insert the states; True where a state was not in the set before (for states repeated within the
        input, exactly one occurrence is new)."""
        if 2 * (self.size + len(h1)) > len(self.t1):  # load at most 1/2
            self._grow(2 * (self.size + len(h1)))
        h1 = np.where(h1 == 0, U64(1), h1)  # (a state hashing to 0 shares 1's first word: 2^-64)
        mask = len(self.t1) - 1
        slot = (h1 & U64(mask)).astype(np.int64)  # h1 is already a well-mixed sum of random products
        new = np.zeros(len(h1), dtype=bool)
        pending = np.arange(len(h1))
        while len(pending):
            s = slot[pending]
            t1 = self.t1[s]
            known = (t1 == h1[pending]) & (self.t2[s] == h2[pending])
            empty = t1 == 0
            claimants, at = pending[empty], s[empty]
            self.claim[at] = claimants  # one claimant per empty slot wins
            won = self.claim[at] == claimants
            winners = claimants[won]
            self.t1[at[won]], self.t2[at[won]] = h1[winners], h2[winners]
            new[winners] = True
            self.size += len(winners)
            # losers retry the same slot (now holding the winner: equal or not); occupied ones move on
            moving = ~known & ~empty
            slot[pending[moving]] = (s[moving] + 1) & mask
            keep = moving.copy()
            keep[np.flatnonzero(empty)[~won]] = True
            pending = pending[keep]
        return new

    def _grow(self, need: int) -> None:
        capacity = len(self.t1)
        while capacity < need:
            capacity *= 2
        full = np.flatnonzero(self.t1)
        h1, h2 = self.t1[full], self.t2[full]
        self.__init__(capacity)
        self.add_new(h1, h2)


def select(b: Children, sel: np.ndarray) -> Children:
    return Children(b.move, b.parent[sel], b.depth[sel], b.h1[sel], b.h2[sel], b.present[sel],
                     None if b.meta is None else b.meta[sel], None if b.top is None else b.top[sel])



def unique_rows(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of an int64 matrix and the inverse map (exact, through a byte view)."""
    key = np.ascontiguousarray(key, dtype=np.int64)
    if key.shape[1] == 0:
        return key[:1], np.zeros(len(key), dtype=np.int64)
    if key.shape[1] == 1:
        unique, inverse = np.unique(key[:, 0], return_inverse=True)
        return unique[:, None], inverse
    view = key.view(np.dtype((np.void, key.dtype.itemsize * key.shape[1]))).ravel()
    _, first, inverse = np.unique(view, return_index=True, return_inverse=True)
    return key[first], inverse

