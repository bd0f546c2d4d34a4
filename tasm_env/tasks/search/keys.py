"""Hashing helpers of the exact search: 64-bit mixing, popcounts and a vectorised sorted-run index."""

from __future__ import annotations

import numpy as np

U64 = np.uint64


def mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, elementwise on uint64 arrays (array arithmetic wraps silently)."""
    z = np.atleast_1d(np.asarray(x, dtype=U64)) + U64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> U64(30))) * U64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> U64(27))) * U64(0x94D049BB133111EB)
    return z ^ (z >> U64(31))


def popcount(x: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 (numpy 1.26 has no bitwise_count)."""
    x = np.asarray(x, dtype=U64)
    with np.errstate(over="ignore"):
        x = x - ((x >> U64(1)) & U64(0x5555555555555555))
        x = (x & U64(0x3333333333333333)) + ((x >> U64(2)) & U64(0x3333333333333333))
        x = (x + (x >> U64(4))) & U64(0x0F0F0F0F0F0F0F0F)
        return ((x * U64(0x0101010101010101)) >> U64(56)).astype(np.int64)


def ceil_div(a: np.ndarray, b: int) -> np.ndarray:
    return -(-a // b)


# =========================================================================================== the values


class Index:
    """A map from uint64 keys to int64 values with vectorised lookups and inserts: a few sorted runs, merged
    like a binary counter (each run at most half the size of the one before), so a lookup is one
    ``searchsorted`` per run and inserting costs O(log n) amortised per key. (Many small lookups are its
    use: a sort-based map has no probe-round overhead there, unlike :class:`StateSet`'s table.)"""

    def __init__(self):
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []

    def get(self, keys: np.ndarray, missing: int) -> np.ndarray:
        out = np.full(len(keys), missing, dtype=np.int64)
        for run_keys, run_values in self.runs:
            pos = np.minimum(np.searchsorted(run_keys, keys), len(run_keys) - 1)
            hit = run_keys[pos] == keys
            out[hit] = run_values[pos[hit]]
        return out

    def add(self, keys: np.ndarray, values: np.ndarray) -> None:
        """Insert keys that are distinct and not present yet."""
        if not len(keys):
            return
        order = np.argsort(keys)
        self.runs.append((keys[order], np.asarray(values, dtype=np.int64)[order]))
        while len(self.runs) > 1 and len(self.runs[-2][0]) <= 2 * len(self.runs[-1][0]):
            (k1, v1), (k2, v2) = self.runs.pop(), self.runs.pop()
            k, v = np.concatenate([k2, k1]), np.concatenate([v2, v1])
            order = np.argsort(k, kind="stable")
            self.runs.append((k[order], v[order]))

