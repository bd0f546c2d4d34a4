"""A fast path for the value state: value stacks carried as arrays and stepped by token, many rows at once.

    stacks = ValueStacks(model)                    # model: a ValueModel (probes, decoders)
    covered, facts = stacks.facts(keys)            # keys: (task, prefix tokens); facts: FactArrays of the covered

A prefix whose every token is *covered* (no secret digest, no sponge but constants set by ``sponge_init``, no
static crash such as a stack underflow or a read past the end of an input stream; value-dependent crashes such
as ``assert`` or ``invert`` of zero are crash bits) has as its whole state on the probes its stack (depth, K),
its lanes' crash bits (K,), its RAM writes in order (a log (2w, K): address, value, ...; a read takes the latest
write to its address, else the initial RAM), its public output in write order (o, K) and how many public and
secret input words it consumed (one count each: every lane has as many; :mod:`tasm_env.emission.value_io`):
everything else of its :class:`~tasm_env.emission.values.Outcome` is empty. Every other row is left to the
reference (:meth:`~tasm_env.emission.values.ValueModel.facts_many`), and so is a writing row that matches the
baseline but for RAM (its ``eos_ok`` needs the RAM comparison), so that the hybrid is exact.

**Templates** (:mod:`tasm_env.emission.value_templates`): what a token does, read off its own one-instruction
dataflow plan. A step groups the operations of all rows of all tasks by kind, one evaluator call per kind, then
writes every row's new top slots with one gather and one scatter.

**Store.** Stacks are kept per (task, prefix) (bounded, oldest dropped), so a child steps from its parent's
arrays; a missing ancestor is stepped from the empty prefix in rounds of one token (``backward_step`` and
revisits are exact by construction: the state is a function of the prefix). The facts of the covered rows
are computed from the padded arrays, every task at once (:func:`~tasm_env.emission.stack_facts.facts_of_stacks`);
each row also carries its lane pairs' lowest differing slot, stepped from its parent's (only new slots compared).
"""

from __future__ import annotations

from array import array
from collections import OrderedDict
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .. import batch
from ..plan import OPERATIONS
from .probe_facts import MAX_POP, SLOT_WINDOW, FactArrays, state_digest
from .stack_facts import (PACKED_WIDTHS, StackTables, facts_of_stacks, first_differences, pack_facts,
                          stepped_differences, unpack_facts, written_of)
from .value_io import appended, input_room, padded, read_words
from .value_templates import Templates

__all__ = ["NO_ADDRESS", "STORE_SIZE", "ValueArrays", "ValueStacks", "take_arrays", "value_arrays"]

STORE_SIZE = 1 << 16
"""(task, prefix) stacks kept for the steps after them."""
_EVALUATE = tuple(batch.evaluator(name) for name in OPERATIONS)
_MEM_READ = OPERATIONS.index("mem_read")
NO_ADDRESS = np.uint64(2**64 - 1)
"""A RAM address no write has (above the field's modulus): the padding of shorter write logs."""


class _Chunk:
    """The stacks of the rows one step made (or one empty prefix), kept together: the store's entries name a
    chunk and a row of it, so a step loads its parents with one fancy index per chunk instead of a copy per row.
    Slots at or above a row's depth are zero (the facts compare padded stacks)."""

    __slots__ = ("S", "depth", "crashed", "logs", "packed", "state", "sponge", "outputs", "public", "secret",
                 "first_diff")

    def __init__(self, S: np.ndarray, depth: np.ndarray, crashed: np.ndarray, logs: list | None,
                 sponge: np.ndarray | None = None, outputs: list | None = None, public: np.ndarray | None = None,
                 secret: np.ndarray | None = None, first_diff: np.ndarray | None = None):
        self.S, self.depth, self.crashed = S, depth, crashed
        # (n, K * K) each lane pair's lowest differing stack slot (stack_facts.first_differences), carried
        self.first_diff = first_differences(S, depth) if first_diff is None else first_diff
        self.sponge = np.zeros(len(depth), bool) if sponge is None else sponge  # set by sponge_init (constants)
        self.logs = logs  # each row's write log (2w, K), or None if no row wrote
        self.outputs = outputs  # each row's public output (o, K) in write order, or None if no row wrote any
        none = np.zeros(len(depth), np.int64)
        self.public = none if public is None else public  # the input words each row consumed (value_io)
        self.secret = none if secret is None else secret
        self.packed = None  # (n, 40) the rows' packed facts, once computed
        self.state = np.zeros(len(depth), np.int8)  # 0: facts not computed, 1: packed, 2: deferred to the reference


_NO_FACTS, _PACKED, _DEFERRED = 0, 1, 2
_ROWS = 1 << 32
"""A store entry is one int, ``serial * _ROWS + row + 1`` (row -1: not covered), so that a step's entries are
one int array (no tuple a row)."""


_WORD = 8
"""Bytes of one int64 of a packed key."""


def _packed(key: tuple[int, tuple]) -> bytes:
    """A (task, prefix) key as the store keys it: task and tokens as int64 bytes. Bytes keep their hash, so
    the several lookups of one key hash it once (a tuple hashes its whole prefix at every lookup), and the
    parent's key is a slice."""
    return array("q", (key[0], *key[1])).tobytes()


def _entry(serial: int, row: int) -> int:
    return serial * _ROWS + row + 1


def _split(entries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(serial, row) of int entries."""
    return entries // _ROWS, entries % _ROWS - 1


class ValueStacks:
    """The fast path over a :class:`~tasm_env.emission.values.ValueModel`'s tasks (see the module docstring)."""

    def __init__(self, model, store_size: int = STORE_SIZE):
        self.model = model
        self.store_size = int(store_size)
        # (task, prefix), packed (_packed) -> its chunk serial and row, one int (_entry); inserted in serial order
        self._store: OrderedDict = OrderedDict()
        self._chunks: OrderedDict[int, _Chunk] = OrderedDict()
        self._serial = 0
        self.templates = Templates(model.decoders)
        self._tables: StackTables | None = None
        self._table_of: dict[int, int] = {}
        self._table_row = np.zeros(0, np.int64)  # task -> its row in the tables, -1: not in them
        self.covered_rows = 0
        self.rows = 0

    def forget(self) -> None:
        """Drop the stored stacks (templates and tables stay): the next prefixes are stepped from the empty one."""
        self._store.clear()
        self._chunks.clear()

    def _new_chunk(self, chunk: _Chunk) -> int:
        serial = self._serial = self._serial + 1
        self._chunks[serial] = chunk
        return serial

    def _empty(self, task: int) -> int:
        p = self.model.probes(task)
        if p.k != self.model.k:  # fewer lanes than the others: the reference's (tables share one K)
            return _entry(self._serial, -1)
        return _entry(self._new_chunk(_Chunk(p.inputs.stack.T[None].copy(), np.array([p.inputs.stack.shape[1]]),
                                             np.zeros((1, p.k), bool), None)), 0)

    def stacks(self, keys: Sequence[tuple[int, tuple]]) -> list:
        """Each key's (stack (d, K), crashed (K,), write log (2w, K)), or None where the prefix is not covered."""
        serials, rows = _split(self._entries(keys))
        found = []
        for serial, row in zip(serials.tolist(), rows.tolist()):
            if row < 0:
                found.append(None)
                continue
            c = self._chunks[serial]
            found.append((c.S[row, :c.depth[row]], c.crashed[row],
                          c.logs[row] if c.logs is not None else np.zeros((0, c.S.shape[2]), np.uint64)))
        self._evict()
        return found

    def value_keys(self, keys: Sequence[tuple[int, tuple]]) -> list[bytes | None]:
        """Each key's :meth:`~tasm_env.emission.values.ValueModel.value_key`, the same bytes, from its stored
        stacks; None where the prefix is not covered or has a sponge (the store keeps no sponge values)."""
        serials, rows = _split(self._entries(keys))
        found: list[bytes | None] = [None] * len(keys)
        parts, logs = [], []  # (position, stack, crashed, log index or -1)
        for b, (serial, row) in enumerate(zip(serials.tolist(), rows.tolist())):
            if row < 0:
                continue
            c = self._chunks[serial]
            if c.sponge[row]:
                continue
            log = c.logs[row] if c.logs is not None else None
            output = c.outputs[row] if c.outputs is not None else None
            parts.append((b, c.S[row, :c.depth[row]], c.crashed[row], -1 if log is None or not len(log) else len(logs),
                          output))
            if parts[-1][3] >= 0:
                logs.append(log)
        if parts:
            K = parts[0][2].shape[0]
            written = written_of(logs, K)[0] if logs else None
            nothing = np.zeros((0, K), np.uint64)
            for b, stack, crashed, w, output in parts:
                ram = nothing if w < 0 else written[w, :len(logs[w])]
                found[b] = state_digest(stack, crashed, nothing if output is None else output, ram, None)
        self._evict()
        return found

    def _entries(self, keys: Sequence[tuple[int, tuple]]) -> np.ndarray:
        """Each key's store entry (see _entry), the missing prefixes stepped (the store is not trimmed here: see
        _evict). Each missing prefix's key is built once, with its parent's (one slice a row)."""
        store = self._store
        packed = [_packed(key) for key in keys]
        need: dict[bytes, bytes] = {}  # missing prefix -> its parent
        for key in packed:
            while key not in store and key not in need:
                if len(key) == _WORD:  # the empty prefix: the task alone
                    store[key] = self._empty(int(np.frombuffer(key, np.int64)[0]))
                    break
                parent = need[key] = key[:-_WORD]
                key = parent
        by_length: dict[int, tuple[list, list]] = {}
        for child, parent in need.items():
            group = by_length.get(len(parent))
            if group is None:
                group = by_length[len(parent)] = ([], [])
            group[0].append(child)
            group[1].append(parent)
        for length in sorted(by_length):
            self._step(*by_length[length])
        return np.array([store[key] for key in packed], dtype=np.int64)

    def _evict(self) -> None:
        store = self._store
        while len(store) > self.store_size:
            store.popitem(last=False)
        oldest = next(iter(store.values())) // _ROWS if store else self._serial + 1
        while self._chunks and next(iter(self._chunks)) < oldest:  # no entry names them any more
            self._chunks.popitem(last=False)

    def _load(self, serial: np.ndarray, row: np.ndarray, D: int = 0, copy: bool = True) -> _Chunk:
        """The rows as one chunk, not stored (stacks zero-padded to D' >= D slots). With ``copy`` False (a reader
        that writes nothing into it), rows that are one chunk's rows 0..n-1 in order are that chunk's arrays
        (views, no copy): a fresh step's facts read the chunk the step has just made."""
        n = len(row)
        if not copy and n and serial[0] == serial[-1] and row[0] == 0 and row[-1] == n - 1 \
                and (serial == serial[0]).all() and (np.diff(row) == 1).all():
            c = self._chunks[int(serial[0])]
            D = max(D, int(c.depth[:n].max()))
            if D <= c.S.shape[1]:
                cut = lambda a: None if a is None else a[:n]  # noqa: E731
                return _Chunk(c.S[:n, :D], c.depth[:n], c.crashed[:n], cut(c.logs), c.sponge[:n], cut(c.outputs),
                              c.public[:n], c.secret[:n], c.first_diff[:n])
        if n and (serial == serial[0]).all():  # one chunk's rows (a walk's step): plain gathers, no scatter
            c = self._chunks[int(serial[0])]
            depth = c.depth[row]
            D = max(D, int(depth.max()))
            if D <= c.S.shape[1]:
                S = c.S[row, :D]
            else:  # one new (n, D, K) array: a kept chunk's memory is fresh pages, each first touch a fault
                S = np.zeros((n, D, c.S.shape[2]), np.uint64)
                S[:, :c.S.shape[1]] = c.S[row]
            pick = lambda a: None if a is None else [a[i] for i in row.tolist()]  # noqa: E731
            return _Chunk(S, depth, c.crashed[row], pick(c.logs), c.sponge[row], pick(c.outputs), c.public[row],
                          c.secret[row], c.first_diff[row])
        depth = self._field(serial, row, "depth")
        groups = [(np.flatnonzero(serial == s), self._chunks[s]) for s in np.unique(serial).tolist()]
        D = max(D, int(depth.max(initial=0)))
        K = groups[0][1].crashed.shape[1]
        S = np.zeros((n, D, K), np.uint64)
        crashed, sponge = np.zeros((n, K), bool), np.zeros(n, bool)
        public, secret = np.zeros(n, np.int64), np.zeros(n, np.int64)
        first_diff = np.zeros((n, K * K), np.int32)
        for m, c in groups:
            r = row[m]
            w = min(c.S.shape[1], D)
            S[m, :w] = c.S[r, :w]
            crashed[m], sponge[m], public[m], secret[m] = c.crashed[r], c.sponge[r], c.public[r], c.secret[r]
            first_diff[m] = c.first_diff[r]

        def lists(name: str) -> list | None:  # each row's log from its chunk's, empty where its chunk has none
            if all(getattr(c, name) is None for _, c in groups):
                return None
            found = [np.zeros((0, K), np.uint64)] * n
            for m, c in groups:
                if getattr(c, name) is not None:
                    for b, rb in zip(m.tolist(), row[m].tolist()):
                        found[b] = getattr(c, name)[rb]
            return found
        return _Chunk(S, depth, crashed, lists("logs"), sponge, lists("outputs"), public, secret, first_diff)

    def _step(self, keys: list[bytes], parents: list[bytes]) -> None:
        """The children ``keys`` from their ``parents``' stored stacks, every row at once (packed keys of one
        length: task, then the tokens)."""
        store = self._store
        serial, row = _split(np.array([store[parent] for parent in parents], dtype=np.int64))
        words = np.frombuffer(b"".join(keys), np.int64).reshape(len(keys), -1)
        tasks, tokens = words[:, 0].copy(), words[:, -1].copy()
        picked = np.flatnonzero((row >= 0) & (tokens >= 1))
        tid = self.templates.ids(tasks[picked], tokens[picked])
        picked, tid = picked[tid >= 0], tid[tid >= 0]
        out = np.full(len(keys), _entry(self._serial, -1), np.int64)  # nothing covered: the newest serial
        if len(picked):
            book = self.templates.codebook()
            serial, row = serial[picked], row[picked]
            depth = self._field(serial, row, "depth")
            ok = (depth + book.change[tid] >= 16) & (depth + book.keep[tid] >= 0)
            reads = np.flatnonzero(book.public[tid] + book.secret[tid])
            if len(reads):  # a read past the end of a stream is a static crash: the reference's
                tables, trow = self.tables(tasks[picked[reads]])
                ok[reads] &= input_room(book, tid[reads], self._field(serial[reads], row[reads], "public"),
                                        self._field(serial[reads], row[reads], "secret"), tables.n_public[trow],
                                        tables.n_secret[trow])
            picked = picked[ok]
            if len(picked):
                chunk = self._stepped(tid[ok], serial[ok], row[ok], tasks[picked],
                                      int((depth + book.change[tid]).max()))
                s = self._new_chunk(chunk)
                out[:] = _entry(s, -1)
                out[picked] = _entry(s, 0) + np.arange(len(picked))
        store.update(zip(keys, out.tolist()))

    def _stepped(self, tid: np.ndarray, serial: np.ndarray, row: np.ndarray, tasks: np.ndarray, D: int) -> _Chunk:
        """The chunk of the rows that apply templates ``tid`` to the stored parents (serial, row), D slots."""
        book = self.templates.codebook()
        n = len(tid)
        c = self._load(serial, row, D)
        S, depth, crashed, logs = c.S, c.depth, c.crashed, c.logs
        new_depth = depth + book.change[tid]
        D, K = S.shape[1], S.shape[2]
        n_own = int(book.size[tid].max())
        own = np.zeros((n, n_own, K), np.uint64)  # each row's constants, then its operations' results
        C = min(book.constants.shape[1], n_own)
        own[:, :C] = book.constants[tid, :C, None]
        reads = np.flatnonzero(book.public[tid] + book.secret[tid])
        if len(reads):
            tables, trow = self.tables(tasks[reads])
            at = np.zeros(n, np.int64)
            at[reads] = trow
            read_words(own, book, tid, c.public, c.secret, tables.streams, at)
        contexts = None  # each row's task's initial RAM, for mem_read
        W = max((len(log) for log in logs), default=0) if logs is not None else 0

        def write_logs(m: np.ndarray) -> np.ndarray:  # rows m's logs (m, W, K), for their mem_read
            # padded with an address no write has (above the field), so a padded write never matches
            out, lengths = padded([logs[b] for b in m.tolist()], len(m), K, W)
            out[:, 0::2][np.arange(0, W, 2)[None] >= lengths[:, None]] = NO_ADDRESS
            return out

        def fetch(members: np.ndarray, codes: np.ndarray) -> np.ndarray:
            below = codes < 0  # the other branch's index clipped into range: np.where reads both
            slots = S[members, np.clip(depth[members] + codes, 0, D - 1)] if below.any() else None
            if slots is not None and below.all():  # one source only (the usual cases): one gather, no select
                return slots
            values = own[members, np.clip(codes, 0, n_own - 1)]
            return values if slots is None else np.where(below[:, None], slots, values)

        for j in range(book.op_kind.shape[1]):  # the operations in column order: a column reads earlier ones
            rows = np.flatnonzero(book.op_kind[tid, j] >= 0)
            if not len(rows):
                continue
            t = tid[rows]
            group = book.op_kind[t, j] * 1024 + book.op_arity[t, j]
            order = np.argsort(group, kind="stable")  # each (kind, arity) group a run of rows
            rows, t, group = rows[order], t[order], group[order]
            A = int(book.op_arity[t, j].max())
            # every operand of the column in one gather, (rows, A, K); a group's operands are slices of it
            X = fetch(np.repeat(rows, A), book.op_codes[t, j, :A].reshape(-1)).reshape(len(rows), A, K)
            at = book.op_at[t, j]
            starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]]).tolist()
            for s, e in zip(starts, starts[1:] + [len(rows)]):
                kind, arity = divmod(int(group[s]), 1024)
                m = rows[s:e]
                operands = [X[s:e, a] for a in range(arity)]
                ctx = None
                if kind == _MEM_READ:
                    if contexts is None:
                        order = np.unique(tasks)
                        contexts = batch.Contexts([self.model.probes(t).inputs for t in order.tolist()],
                                                  np.searchsorted(order, tasks))
                    ctx = contexts.select(m)
                    if W:
                        logged = write_logs(m)
                        operands += [logged[:, q] for q in range(W)]
                results, crashes = _EVALUATE[kind](operands, ctx)
                for r, result in enumerate(results):
                    own[m, at[s:e] + r] = result  # broadcast as the evaluator gives it
                for _, mask in crashes:
                    crashed[m] |= mask
        # the writes and the output read the old stack: before its slots are written
        new_logs = appended(logs, book.n_writes[tid], book.writes[tid], fetch, K)
        outputs = appended(c.outputs, book.n_output[tid], book.output[tid], fetch, K)
        T = book.tail.shape[1]
        base = depth + book.keep[tid]
        valid = np.arange(T)[None] < book.tail_len[tid][:, None]
        rb, rj = np.nonzero(valid)
        values = fetch(rb, book.tail[tid[rb], rj]) if T else np.zeros((0, K), np.uint64)  # read before written
        S[rb, base[rb] + rj] = values
        # a shrunk stack's old slots: zero, as the facts need (the slots above the old depth are zero already)
        zb, zd = np.nonzero((np.arange(D)[None] >= new_depth[:, None]) & (np.arange(D)[None] < depth[:, None]))
        S[zb, zd] = 0
        return _Chunk(S, new_depth, crashed, new_logs, c.sponge | book.sponge[tid], outputs,
                      c.public + book.public[tid], c.secret + book.secret[tid],
                      stepped_differences(c.first_diff, base, rb, rj, values))

    def _field(self, serial: np.ndarray, row: np.ndarray, name: str) -> np.ndarray:
        """The rows' values of a chunk's (n,) int field (depth, public, secret)."""
        found = np.zeros(len(row), np.int64)
        for s in np.unique(serial).tolist():
            m = np.flatnonzero(serial == s)
            found[m] = getattr(self._chunks[s], name)[row[m]]
        return found

    def tables(self, tasks: Sequence[int] | np.ndarray) -> tuple[StackTables, np.ndarray]:
        """The padded tables of every task probed so far and each given task's row in them (an array lookup)."""
        tasks = np.asarray(tasks, dtype=np.int64)
        known = self._table_row
        if len(tasks) and (int(tasks.max()) >= len(known) or (known[tasks] < 0).any()):
            order = sorted(set(self._table_of) | set(tasks.tolist()))
            self._table_of = {t: i for i, t in enumerate(order)}
            self._tables = StackTables([self.model.probes(t) for t in order])
            known = self._table_row = np.full(order[-1] + 1, -1, np.int64)
            known[order] = np.arange(len(order))
        return self._tables, known[tasks]

    def facts(self, keys: Sequence[tuple[int, tuple]]) -> tuple[np.ndarray, FactArrays | None]:
        """(covered (n,) bool, the facts of the covered keys in order, or None if none is). A covered prefix's
        facts are kept in its chunk, packed (:func:`~tasm_env.emission.stack_facts.pack_facts`), for its next
        visits; so is the reference's verdict that it decides the row (a deferred one)."""
        serial, row = _split(self._entries(keys))
        self.rows += len(keys)
        state = np.full(len(keys), _DEFERRED, np.int8)
        groups = []
        for s in np.unique(serial[row >= 0]).tolist():
            m = np.flatnonzero((serial == s) & (row >= 0))
            c = self._chunks[s]
            state[m] = c.state[row[m]]
            groups.append((m, c))
        fresh = np.flatnonzero(state == _NO_FACTS)
        if len(fresh):
            # each fresh prefix once (rows repeat a prefix), in (chunk, row) order: a step's chunk read in place
            _, first, inverse = np.unique(serial[fresh] * _ROWS + row[fresh], return_index=True, return_inverse=True)
            one = fresh[first]
            got = self._load(serial[one], row[one], copy=False)
            tables, tid = self.tables([keys[b][0] for b in one.tolist()])
            if got.logs is None:
                written, writes = np.zeros((len(one), 0, tables.K), np.uint64), np.zeros(len(one), bool)
            else:
                written, writes = written_of(got.logs, tables.K)
            facts, defer = facts_of_stacks(tables, tid, got.S, got.depth, got.crashed, written, writes, got.sponge,
                                           padded(got.outputs, len(one), tables.K), got.first_diff)
            packed = pack_facts(facts)[inverse]
            state[fresh] = np.where(defer, _DEFERRED, _PACKED)[inverse]
            for m, c in groups:  # write back: each chunk's rows among the fresh ones
                hit = np.flatnonzero(state[m] != c.state[row[m]])
                if len(hit):
                    if c.packed is None:
                        c.packed = np.zeros((len(c.depth), packed.shape[1]), np.int64)
                    pos = np.searchsorted(fresh, m[hit])
                    c.packed[row[m[hit]]] = packed[pos]
                    c.state[row[m[hit]]] = state[m[hit]]
        covered = state == _PACKED
        self.covered_rows += int(covered.sum())
        result = None
        if covered.any():
            out = np.zeros((len(keys), sum(PACKED_WIDTHS)), np.int64)
            for m, c in groups:
                m = m[covered[m]]
                if len(m):
                    out[m] = c.packed[row[m]]
            result = unpack_facts(out[covered])
        self._evict()
        return covered, result


@dataclass(frozen=True)
class ValueArrays:
    """The value facts of B rows as arrays (a row without a key, a garbage row, is not ``valid``): as
    :class:`~tasm_env.emission.values.ValueFacts` give them, ``ready`` padded to 16 positions."""

    keys: list
    valid: np.ndarray  # (B,) bool
    slot_nodes: np.ndarray  # (B, 16) int64
    ready: np.ndarray  # (B, 16) bool
    lost: np.ndarray  # (B,) bool
    eos_ok: np.ndarray  # (B,) bool
    pop_loses: np.ndarray  # (B, MAX_POP + 1) bool


def value_arrays(model, keys: Sequence[tuple | None], stacks: ValueStacks | None) -> ValueArrays:
    """The facts of the rows' (task, prefix) keys: from ``stacks`` where it covers a row, from ``model``'s
    reference (:meth:`~tasm_env.emission.values.ValueModel.facts_many`) for the others (all of them without
    ``stacks``)."""
    B = len(keys)
    valid = np.array([key is not None for key in keys], dtype=bool)
    slot_nodes = np.full((B, SLOT_WINDOW), -1, np.int64)
    ready = np.zeros((B, SLOT_WINDOW), bool)
    lost, eos_ok = np.zeros(B, bool), np.zeros(B, bool)
    pop_loses = np.zeros((B, MAX_POP + 1), bool)
    rows = np.flatnonzero(valid)
    present = [keys[b] for b in rows]
    rest = rows
    if stacks is not None and len(rows):
        covered, facts = stacks.facts(present)
        if facts is not None:
            at = rows[covered]
            slot_nodes[at], lost[at], eos_ok[at], pop_loses[at] = \
                facts.slot_nodes, facts.lost, facts.eos_ok, facts.pop_loses
            width = min(facts.outputs_ready.shape[1], SLOT_WINDOW)
            ready[at, :width] = facts.outputs_ready[:, :width]
        rest = rows[~covered]
    if len(rest):
        for b, f in zip(rest.tolist(), model.facts_many([keys[b] for b in rest])):
            slot_nodes[b], lost[b], eos_ok[b], pop_loses[b] = f.slot_nodes, f.lost, f.eos_ok, f.pop_loses
            width = min(len(f.outputs_ready), SLOT_WINDOW)
            ready[b, :width] = f.outputs_ready[:width]
    return ValueArrays(list(keys), valid, slot_nodes, ready, lost, eos_ok, pop_loses)


def take_arrays(parts: Sequence[tuple[ValueArrays, Sequence[int]]]) -> ValueArrays:
    """The rows ``index`` of each part's arrays, in order, as the arrays of one state."""
    index = [np.asarray(i, dtype=np.int64) for _, i in parts]
    keys = [a.keys[b] for (a, _), i in zip(parts, index) for b in i.tolist()]
    fields = [np.concatenate([getattr(a, name)[i] for (a, _), i in zip(parts, index)])
              for name in ("valid", "slot_nodes", "ready", "lost", "eos_ok", "pop_loses")]
    return ValueArrays(keys, *fields)
