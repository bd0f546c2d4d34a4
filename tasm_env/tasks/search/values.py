"""Interned value vectors: every distinct vector of values over the fingerprint tests gets one id."""

from __future__ import annotations

import numpy as np

from ...field import P
from .keys import U64, Index, mix


class Values:
    """Interned value vectors: one id per distinct vector of values over the fingerprint tests.

    Id 0 is the empty slot (below the bottom of a stored stack); its keys are 0 so it adds nothing to a
    state's hash. Per id: two random 64-bit keys (for state hashing), the context elements it may depend on
    (``dep``, a bitmask over the 16 context slots), its bit among the goal values (``goal_bit``), and whether
    it is u32 / non-zero on every test (so crashing operands are known without computing).

    With ``ok_lanes`` (a partial baseline: the first ``ok_lanes`` lanes are tests it passes, the others tests
    on which it crashes) each id also has ``proj``, the id of its vector on the passing lanes only (in a
    nested :class:`Values`): the goal is met when a stack agrees with the baseline's there, whatever it
    holds on the crash lanes (where only crashing counts). ``goal_bit`` then follows the projection."""

    def __init__(self, lanes: int, salt: int, ok_lanes: int | None = None):
        self.lanes = lanes
        self.ok_lanes = lanes if ok_lanes is None else ok_lanes
        self.projection = Values(ok_lanes, salt ^ 0x5DEECE66D) if ok_lanes is not None else None
        self.proj = np.zeros(1024, dtype=np.int64)
        self.count = 1
        self.vectors = np.zeros((1024, lanes), dtype=U64)
        self.key1 = np.zeros(1024, dtype=U64)
        self.key2 = np.zeros(1024, dtype=U64)
        self.dep = np.zeros(1024, dtype=np.int64)
        self.goal_bit = np.zeros(1024, dtype=U64)
        self.u32 = np.zeros(1024, dtype=bool)
        self.nonzero = np.zeros(1024, dtype=bool)
        self.salt = U64(salt)
        self._lane_salt = mix(np.arange(lanes, dtype=U64) * U64(0x632BE59BD9B4E019) + self.salt)
        self._index = Index()  # fold of a vector -> id
        self._collided: dict[bytes, int] = {}  # vectors whose fold is another vector's: exact, by bytes
        self._single: dict[bytes, int] = {}  # cache of intern_one

    def _grow(self, need: int) -> None:
        size = len(self.key1)
        if need <= size:
            return
        new = max(need, 2 * size)
        for name in ("vectors", "key1", "key2", "dep", "goal_bit", "u32", "nonzero", "proj"):
            old = getattr(self, name)
            grown = np.zeros((new,) + old.shape[1:], dtype=old.dtype)
            grown[:size] = old
            setattr(self, name, grown)

    def _fold(self, vectors: np.ndarray) -> np.ndarray:
        """A 64-bit key per vector: lanes mixed with their own offsets, summed, mixed again."""
        lanes = mix(vectors + self._lane_salt[None, :])
        return mix(lanes.sum(axis=1, dtype=U64) ^ self.salt)

    def _store(self, vectors: np.ndarray, dep) -> np.ndarray:
        ids = np.arange(self.count, self.count + len(vectors))
        self._grow(self.count + len(vectors))
        self.vectors[ids] = vectors
        self.dep[ids] = dep
        self.key1[ids] = mix(ids.astype(U64) ^ self.salt)
        self.key2[ids] = mix(ids.astype(U64) * U64(0x2545F4914F6CDD1D) + self.salt + U64(1))
        self.u32[ids] = (vectors < U64(1 << 32)).all(axis=1)
        self.nonzero[ids] = (vectors != 0).all(axis=1)
        self.count += len(vectors)
        if self.projection is None:
            self.proj[ids] = ids
        else:
            p = self.projection.intern(vectors[:, :self.ok_lanes], 0)
            self.proj[ids] = p
            self.goal_bit[ids] = self.projection.goal_bit[p]
        return ids

    def mark_goal(self, gid: int, bit: int) -> None:
        """Make ``gid`` (and, with a projection, every value equal to it on the passing lanes) goal value
        number ``bit``."""
        if self.projection is None:
            self.goal_bit[gid] |= U64(1) << U64(bit)
            return
        p = int(self.proj[gid])
        self.projection.goal_bit[p] |= U64(1) << U64(bit)
        same = np.flatnonzero(self.proj[:self.count] == p)
        self.goal_bit[same] |= U64(1) << U64(bit)

    def intern(self, vectors: np.ndarray, dep) -> np.ndarray:
        """Ids of the rows of ``vectors`` (m, lanes), creating new ids as needed; ``dep`` (m,) or a scalar:
        the context dependence of new values."""
        vectors = np.ascontiguousarray(vectors, dtype=U64).reshape(-1, self.lanes)
        if not len(vectors):
            return np.zeros(0, dtype=np.int64)
        dep = np.broadcast_to(np.asarray(dep, dtype=np.int64), (len(vectors),))
        keys, first, inverse = np.unique(self._fold(vectors), return_index=True, return_inverse=True)
        found = self._index.get(keys, -1)
        new = np.flatnonzero(found < 0)
        if len(new):
            found[new] = self._store(vectors[first[new]], dep[first[new]])
            self._index.add(keys[new], found[new])
        ids = found[inverse]
        for row in np.flatnonzero((self.vectors[ids] != vectors).any(axis=1)):
            ids[row] = self._intern_collided(vectors[row], int(dep[row]))  # a 64-bit fold collision
        return ids

    def intern_one(self, vector: np.ndarray, dep: int) -> int:
        """The id of one vector (the per-operand-tuple steps call this often: an exact bytes cache first)."""
        key = np.ascontiguousarray(vector, dtype=U64).tobytes()
        found = self._single.get(key)
        if found is None:
            found = self._single[key] = int(self.intern(np.frombuffer(key, dtype=U64)[None, :], dep)[0])
        return found

    def _intern_collided(self, vector: np.ndarray, dep: int) -> int:
        key = vector.tobytes()
        found = self._collided.get(key)
        if found is None:
            found = self._collided[key] = int(self._store(vector[None, :], dep)[0])
        return found

    def constant(self, value: int) -> int:
        return int(self.intern(np.full((1, self.lanes), value % P, dtype=U64), 0)[0])

