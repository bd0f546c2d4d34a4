"""One chunk of parents: their children by each move, with hashes computed before the rows are built."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

from ...verify import CONTEXT_DEPTH
from .keys import U64, popcount
from .layers import CRASH, META, SIDE, Children, Layer, select, unique_rows
from .moves import Move

if TYPE_CHECKING:
    from .engine import Engine

WINDOW = 16  # the top slots an instruction can touch (st0..st15)


class Chunk:
    """Per-chunk precomputation: the parents' top-window hash terms, so that a stack move's child hash is
    its parent's plus O(1) terms. Positions count from the bottom of the stored stack, so slots a move does
    not touch keep their terms."""

    def __init__(self, engine: Engine, layer: Layer, lo: int, hi: int):
        self.engine, self.space, self.layer, self.lo = engine, engine.space, layer, lo
        self.rows = layer.rows[lo:hi]
        self.depth = layer.depth[lo:hi]
        self.meta = layer.meta[lo:hi]
        self.h1, self.h2 = layer.h1[lo:hi], layer.h2[lo:hi]
        self.present, self.hval = layer.present[lo:hi], layer.hval[lo:hi]
        self.k = min(WINDOW, engine.width)

    @functools.cached_property
    def terms(self) -> list[tuple[np.ndarray, ...]]:
        """Per hash: the top window's keys ``f``, position weights ``rp``, the weight of a new top ``rtop``,
        and prefix sums: ``s[:, n]`` = sum of f*rp over the top n slots, ``t``/``u`` the same with the
        weights shifted by one slot down/up (what ``pick``/``place`` do to the slots above their index)."""
        v, e, k = self.space.values, self.engine, self.k
        win = self.rows[:, :k]
        pos = np.maximum(self.depth[:, None] - 1 - np.arange(k)[None, :], 0)
        terms = []
        with np.errstate(over="ignore"):
            for key, r in ((v.key1, e.r1), (v.key2, e.r2)):
                f = key[win]
                rp = r[pos]
                zero = np.zeros((len(win), 1), dtype=U64)
                s = np.concatenate([zero, np.cumsum(f * rp, axis=1, dtype=U64)], axis=1)
                t = np.concatenate([zero, np.cumsum(f[:, :-1] * rp[:, 1:], axis=1, dtype=U64)], axis=1)
                u = np.concatenate([zero, zero, np.cumsum(f[:, 1:] * rp[:, :-1], axis=1, dtype=U64)], axis=1)
                terms.append((f, rp, r[self.depth], s, t, u))
        return terms

    def _delta(self, move: Move, idx: np.ndarray, which: int) -> np.ndarray:
        """Hash change of a stack move for the parents ``idx`` (chunk-local)."""
        f, rp, rtop, s, t, u = self.terms[which]
        i = move.arg
        with np.errstate(over="ignore"):
            if move.kind == "dup":
                return f[idx, i] * rtop[idx]
            if move.kind == "swap":
                return (f[idx, i] - f[idx, 0]) * (rp[idx, 0] - rp[idx, i])
            if move.kind == "pick":
                return f[idx, i] * rp[idx, 0] + t[idx, i] - s[idx, i + 1]
            if move.kind == "place":
                return u[idx, i + 1] + f[idx, 0] * rp[idx, i] - s[idx, i + 1]
            return U64(0) - s[idx, i]  # pop

    def children(self, m: int, move: Move, d: int, bound: int) -> Children | None:
        """The children by ``move`` of this chunk's parents (at length ``d``) that are legal, alive and
        within ``bound``, with their hashes; None if there are none."""
        if move.kind == "op":
            return self._op_children(m, move, d, bound)
        s, e = self.space, self.engine
        depth = self.depth + move.delta
        legal = (self.depth >= move.touches) & (depth <= e.width)
        if self.space.base == 0:
            legal &= depth >= CONTEXT_DEPTH  # Triton's 16-element floor
        if move.kind == "pop":
            idx = np.flatnonzero(legal & (d + 1 + s.depth_bound(depth) <= bound))
            rest = self.rows[idx, move.arg:]
            present = e.goal_values_present(rest)
            if s.touch_context:
                alive = self._alive(rest, idx, None)
                idx, rest, present = idx[alive], rest[alive], present[alive]
            hval = s.value_bound(present, self.meta[idx])
            ok = d + 1 + np.maximum(s.depth_bound(depth[idx]), hval) <= bound
            idx, present = idx[ok], present[ok]
        else:
            h = np.maximum(s.depth_bound(depth), self.hval)
            idx = np.flatnonzero(legal & (d + 1 + h <= bound))
            present = self.present[idx]
        if not len(idx):
            return None
        h1 = self.h1[idx] + self._delta(move, idx, 0)
        h2 = self.h2[idx] + self._delta(move, idx, 1)
        return Children(m, idx + self.lo, depth[idx], h1, h2, present, None, None)

    @functools.cached_property
    def counts_done(self) -> np.ndarray:
        """Parents that have consumed and written exactly what the baseline does."""
        return (self.meta[:, :SIDE] == np.array(self.space.goal_counts)[None, :]).all(axis=1)

    def final_children(self, m: int, move: Move) -> Children | None:
        """The last layer of an iteration: only children that may be the goal itself, found without the
        bound machinery (stack moves: the child's hash is the goal's; ops: the slots below the results
        already match the goal and the results are the goal's top values)."""
        s, e = self.space, self.engine
        goal = s.goal
        depth = self.depth + move.delta
        legal = (self.depth >= move.touches) & (depth == len(goal))
        if not move.uses_meta:  # the input consumed and output written cannot change any more
            legal &= self.counts_done
        idx = np.flatnonzero(legal)
        if not len(idx):
            return None
        if move.kind != "op":
            if s.uses_side:  # with RAM the side id may differ from the goal's and still match: test exactly
                pass
            elif move.kind == "pop":  # the slots below the popped ones must be the goal's
                idx = idx[(self.rows[idx, move.arg:move.arg + len(goal)] == goal[None, :]).all(axis=1)]
            else:  # a permutation or dup reaches the goal from one state only: compare with its hash
                pre = e.goal_preimage[m]
                idx = idx[(self.h1[idx] == pre[0]) & (self.h2[idx] == pre[1])] if pre else idx[:0]
            if not len(idx):
                return None
            zero = np.zeros(len(idx), dtype=U64)
            return Children(m, idx + self.lo, depth[idx], zero, zero, np.full(len(idx), s.goal_mask), None, None)
        c, q = move.consumes, move.produces
        below = self.rows[idx, c:c + len(goal) - q]
        idx = idx[(below == goal[None, q:]).all(axis=1)]
        if not len(idx):
            return None
        results, metas, ok, inverse = self._evaluate_distinct(move, idx)
        hit = ok & (results[:, :q] == goal[None, :q]).all(axis=1)
        keep = hit[inverse]
        idx, inverse = idx[keep], inverse[keep]
        if not len(idx):
            return None
        zero = np.zeros(len(idx), dtype=U64)
        return Children(m, idx + self.lo, depth[idx], zero, zero, np.full(len(idx), s.goal_mask),
                         metas[inverse] if move.uses_meta else None, results[inverse][:, :q])

    def _evaluate_distinct(self, move: Move, idx: np.ndarray):
        """Run ``move`` once per distinct operand tuple (with side state, if it uses it) of the states ``idx``;
        ``inverse`` maps each state to its tuple's row of ``results``, ``metas`` and ``ok``."""
        key = self.rows[idx, :move.reads]
        if move.uses_meta:
            key = np.concatenate([key, self.meta[idx]], axis=1)
        unique, inverse = unique_rows(key)
        results, metas, ok = move.evaluate(self.space, unique[:, :move.reads], unique[:, move.reads:]
                                           if move.uses_meta else np.zeros((len(unique), META), dtype=np.int64))
        return results, metas, ok, inverse

    def _alive(self, rest: np.ndarray, idx: np.ndarray, extra_dep: np.ndarray | None) -> np.ndarray:
        """Does every context element the goal keeps survive (on the stack, or something depends on it)?"""
        s = self.space
        dep = np.bitwise_or.reduce(s.values.dep[rest], axis=1) if rest.shape[1] else np.zeros(len(rest), np.int64)
        if extra_dep is not None:
            dep |= extra_dep
        if s.uses_side:
            dep |= np.array(s.side_dep, dtype=np.int64)[self.meta[idx, SIDE]]
        return (dep & s.required_context) == s.required_context

    def _op_children(self, m: int, move: Move, d: int, bound: int) -> Children | None:
        """Children by a value (or side-effect) instruction: evaluated once per distinct operand tuple, then
        filtered by crash, liveness of the context and the bound."""
        s, e = self.space, self.engine
        depth = self.depth + move.delta
        legal = (self.depth >= move.touches) & (depth <= e.width) & (depth >= 0)
        if s.base == 0:
            legal &= depth >= CONTEXT_DEPTH
        idx = np.flatnonzero(legal & (d + 1 + s.depth_bound(depth) <= bound))
        if not len(idx):
            return None
        results, metas, ok, inverse = self._evaluate_distinct(move, idx)
        good = ok[inverse]
        idx, inverse = idx[good], inverse[good]
        if not len(idx):
            return None
        top = results[inverse][:, :move.produces]
        meta = metas[inverse] if move.uses_meta else None
        if move.crash_bits:  # a partial baseline: the crash lanes this step crashes on join the parent's
            bits = metas[inverse][:, CRASH]
            if bits.any():
                meta = self.meta[idx].copy()
                meta[:, CRASH] |= bits.astype(meta.dtype)
        rest = self.rows[idx, move.consumes:]
        present = e.goal_values_present(rest) | e.goal_values_present(top)
        if s.touch_context:
            alive = self._alive(rest, idx, np.bitwise_or.reduce(s.values.dep[top], axis=1) if move.produces
                                else None)
            idx, top, rest, present = idx[alive], top[alive], rest[alive], present[alive]
            meta = meta[alive] if meta is not None else None
        child_depth = depth[idx]
        child_meta = meta if meta is not None else self.meta[idx]
        h = np.maximum(s.depth_bound(child_depth), s.value_bound(present, child_meta))
        ok = d + 1 + h <= bound
        if not ok.any():
            return None
        idx, top, present, child_depth = idx[ok], top[ok], present[ok], child_depth[ok]
        child_meta = child_meta[ok]
        h1, h2 = self._op_hash(move, idx, top, child_depth, child_meta if meta is not None else None)
        return Children(m, idx + self.lo, child_depth, h1, h2, present, child_meta if meta is not None else None,
                         top)

    def _op_hash(self, move: Move, idx: np.ndarray, top: np.ndarray, depth: np.ndarray,
                 meta: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Children's hashes: the parent's, minus the consumed slots' terms, plus the results' terms (and the
        meta change)."""
        v, e = self.space.values, self.engine
        out = []
        with np.errstate(over="ignore"):
            for which, (key, r, h) in enumerate(((v.key1, e.r1, self.h1), (v.key2, e.r2, self.h2))):
                s = self.terms[which][3]
                if move.consumes <= self.k:
                    removed = s[idx, move.consumes]
                else:  # wider than the window (never for Triton's instructions): sum directly
                    pos = np.maximum(self.depth[idx, None] - 1 - np.arange(move.consumes)[None, :], 0)
                    removed = (key[self.rows[idx, :move.consumes]] * r[pos]).sum(axis=1, dtype=U64)
                pos = np.maximum(depth[:, None] - 1 - np.arange(move.produces)[None, :], 0)
                added = (key[top] * r[pos]).sum(axis=1, dtype=U64)
                child = h[idx] - removed + added
                if meta is not None:
                    child = child - e.meta_hash(self.meta[idx], which + 1) + e.meta_hash(meta, which + 1)
                out.append(child)
        return out[0], out[1]

    def goal_hits(self, children: Children, m: int) -> list[tuple[int, int]]:
        """(parent, move) pairs among ``children`` whose state is the goal."""
        s = self.space
        near = np.flatnonzero((children.depth == len(s.goal)) & (popcount(s.goal_mask & ~children.present) == 0))
        if not len(near):
            return []
        sub = select(children, near)
        rows, depth, meta, *_ = self.engine.materialise(self.layer, sub, np.arange(len(near)))
        hit = self.engine.is_goal(rows, depth, meta)
        return [(int(p), m) for p in sub.parent[hit]]

