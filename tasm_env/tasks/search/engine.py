"""The breadth-first engine: layers of states under a bound, expanded chunk by chunk."""

from __future__ import annotations

import time

import numpy as np

from ... import isa
from .chunk import Chunk
from .keys import U64, mix
from .layers import CRASH, ID, META, SIDE, Children, Layer, column_map, select
from .moves import Move
from .space import Space

CHUNK = 1 << 15  # parents expanded together (bounds the temporary arrays)


class Engine:
    """Breadth-first layers under the bound ``B``; one instance per fingerprint test set."""

    def __init__(self, space: Space, max_bound: int, deadline: float, node_limit: int, nodes: int):
        self.space = space
        self.width = space.width(max_bound)
        self.deadline = deadline
        self.node_limit = node_limit
        self.nodes = nodes
        rng = np.random.default_rng(int(space.values.salt) + 17)
        self.r1 = rng.integers(0, 1 << 64, size=self.width + 2, dtype=U64)
        self.r2 = rng.integers(0, 1 << 64, size=self.width + 2, dtype=U64)
        self.colmaps = [column_map(m, self.width) for m in space.moves]
        self.stopped: str | None = None
        self.goal_preimage = [self._preimage_hash(m, c) for m, c in zip(space.moves, self.colmaps)]

    def _preimage_hash(self, move: Move, colmap: np.ndarray) -> tuple[np.uint64, np.uint64] | None:
        """The hashes of the one state from which a permutation or ``dup`` reaches the goal (None if no state
        does, or for other moves)."""
        s, goal = self.space, self.space.goal
        if move.kind not in isa.INDEX_INSTRUCTIONS or move.touches > len(goal) - (move.kind == "dup"):
            return None
        child = np.zeros(self.width + 1, dtype=np.int64)
        child[:len(goal)] = goal
        parent = np.zeros(self.width + 1, dtype=np.int64)
        parent[colmap] = child[:self.width]  # child[j] = parent[colmap[j]]
        depth = len(goal) - move.delta
        if move.kind == "dup":
            if goal[0] != goal[move.arg + 1]:
                return None
            parent[:self.width] = np.append(child[1:self.width], 0)
        meta = np.array([list(s.goal_counts) + [0] * (META - len(s.goal_counts))], dtype=np.int64)
        h1, h2 = self.row_hash(parent[None, :self.width], np.array([depth]), meta)
        return h1[0], h2[0]  # numpy uint64 scalars: compared with uint64 arrays

    # ---- hashing
    def meta_hash(self, meta: np.ndarray, salt: int) -> np.ndarray:
        """Hash terms of the meta columns (input consumed, output written, digests, side)."""
        h = np.zeros(len(meta), dtype=U64)
        with np.errstate(over="ignore"):
            for m in range(META):
                h += mix(meta[:, m].astype(U64) * U64(0x100000001B3) + U64(salt * 131 + m))
        return h

    def row_hash(self, rows: np.ndarray, depth: np.ndarray, meta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Both state hashes from scratch: sum over slots of key(id) * r(position from the bottom), plus meta."""
        v = self.space.values
        pos = np.maximum(depth[:, None] - 1 - np.arange(rows.shape[1])[None, :], 0)
        with np.errstate(over="ignore"):
            h1 = (v.key1[rows] * self.r1[pos]).sum(axis=1, dtype=U64) + self.meta_hash(meta, 1)
            h2 = (v.key2[rows] * self.r2[pos]).sum(axis=1, dtype=U64) + self.meta_hash(meta, 2)
        return h1, h2

    def goal_values_present(self, rows: np.ndarray) -> np.ndarray:
        """Bitmask of the goal values among the ids of each row."""
        return np.bitwise_or.reduce(self.space.values.goal_bit[rows], axis=1) if rows.shape[1] else \
            np.zeros(len(rows), dtype=U64)

    def initial(self) -> Layer:
        s = self.space
        rows = np.zeros((1, self.width), dtype=ID)
        rows[0, :len(s.start)] = s.start
        depth = np.array([len(s.start)])
        meta = np.zeros((1, META), dtype=np.int32)
        h1, h2 = self.row_hash(rows, depth, meta)
        present = self.goal_values_present(rows)
        return Layer(rows, depth, meta, h1, h2, present, s.value_bound(present, meta), np.zeros(1, np.int64),
                      np.full(1, -1, np.int64))

    def is_goal(self, rows: np.ndarray, depth: np.ndarray, meta: np.ndarray) -> np.ndarray:
        """Exact goal test of materialised states."""
        s = self.space
        goal_row = np.zeros(self.width, dtype=np.int64)
        goal_row[:len(s.goal)] = s.goal
        proj = s.values.proj  # the identity unless the baseline is partial: then equal where it passes
        ok = (depth == len(s.goal)) & (proj[rows] == proj[goal_row][None, :]).all(axis=1)
        ok &= (meta[:, :SIDE] == np.array(s.goal_counts)[None, :]).all(axis=1)  # PUB, SEC, OUT, DIG
        ok &= meta[:, CRASH] == s.crash_all  # and crashed on every crash lane (0 of them: total baseline)
        if s.uses_side:
            for i in np.flatnonzero(ok):
                ok[i] = s.ram_matches(int(meta[i, SIDE]))
        return ok

    # ---- one layer
    def expand(self, layer: Layer, d: int, bound: int, seen) -> tuple[list[Children], list[tuple[int, int]]]:
        """Children of every state of ``layer`` (length ``d``) that may still reach the goal within ``bound``
        and were not met before in this iteration (``seen``, which they join), and the (parent, move) pairs
        that reach the goal. Sets ``stopped`` when a limit is hit."""
        batches: list[Children] = []
        goals: list[tuple[int, int]] = []
        last = d + 1 == bound  # the children are only looked at for the goal
        kept = 0
        for lo in range(0, len(layer), CHUNK):
            hi = min(len(layer), lo + CHUNK)
            if self.nodes + (hi - lo) > self.node_limit:
                self.stopped = "nodes"
                break
            self.nodes += hi - lo
            chunk = Chunk(self, layer, lo, hi)
            fresh = []
            for m, move in enumerate(self.space.moves):
                if time.perf_counter() > self.deadline:
                    self.stopped = "time"
                    break
                # (a partial baseline's goal is met up to the crash lanes' values: no exact-hash shortcut)
                children = (chunk.final_children(m, move) if last and not self.space.partial else
                            chunk.children(m, move, d, bound))
                if children is not None:
                    goals += chunk.goal_hits(children, m)
                    fresh.append(children)
            if not last and fresh:
                new = seen.add_new(np.concatenate([b.h1 for b in fresh]), np.concatenate([b.h2 for b in fresh]))
                bounds = np.cumsum([0] + [len(b.h1) for b in fresh])
                for b, lo_, hi_ in zip(fresh, bounds[:-1], bounds[1:]):
                    sel = np.flatnonzero(new[lo_:hi_])
                    if len(sel):
                        batches.append(select(b, sel))
                        kept += len(sel)
                if kept > self.node_limit - self.nodes:  # the next layer could not be expanded: stop now
                    self.stopped = self.stopped or "nodes"
            if self.stopped:
                break
        return batches, goals

    def merge(self, layer: Layer, batches: list[Children]) -> Layer | None:
        """The next layer: the children (already distinct), materialised."""
        if not batches:
            return None
        parts = [self.materialise(layer, b, np.arange(len(b.h1))) for b in batches]
        rows, depth, meta, present, parent, move = (np.concatenate(x) for x in zip(*parts))
        h1 = np.concatenate([b.h1 for b in batches])
        h2 = np.concatenate([b.h2 for b in batches])
        return Layer(rows, depth, meta, h1, h2, present, self.space.value_bound(present, meta), parent, move)

    def materialise(self, layer: Layer, b: Children, sel: np.ndarray):
        """Rows, depths, meta, goal values present, parents and moves of the selected children."""
        parent = b.parent[sel]
        src = np.concatenate([layer.rows[parent], np.zeros((len(parent), 1), dtype=ID)], axis=1)
        below = src[:, self.colmaps[b.move]]  # the last column stands for an empty slot
        rows = below if b.top is None else np.concatenate([b.top[sel].astype(ID), below], axis=1)
        meta = layer.meta[parent] if b.meta is None else b.meta[sel].astype(np.int32)
        return (rows, b.depth[sel], meta, b.present[sel], parent.astype(np.int32),
                np.full(len(sel), b.move, dtype=np.int32))

