"""Verified-equivalent variants of a task's baseline, for stage-1 maximum-likelihood pre-training.

A token policy pre-trained only on the compiler's baseline learns one spelling of each block. This module
finds others, every one checked against the baseline with the project's own verifier (batched: one
:meth:`~tasm_env.verify.Verifier.check` call per batch of candidates, never one per candidate):

* **peephole** rewrites, by greedy hill climbing on cycle cost. A rewrite deletes a window of 1 to
  :data:`MAX_WINDOW` adjacent instructions that has no net effect, or replaces a window of 2 to
  :data:`MAX_WINDOW` by one vocabulary token with the same effect signature (stack depth change and I/O). Each
  round tries the rewrites that worked elsewhere in the program first, then all rewrites in a seeded random
  order weighted by expected saving (gain times the success rate of that kind of rewrite so far), in batches,
  and takes the first batch with a verified one. Its verified rewrites, largest gain first, are combined while
  they do not overlap, and the combinations that verify extend the chain. Every accepted program is a variant:
  the chain baseline -> ... -> best. Work is bounded by :data:`PEEPHOLE_WORK` (candidates times length), so
  long programs get a sample of their rewrites rather than all of them.
* **reorderings**: a random walk from the best program (then from the others in the chain) whose steps swap
  two adjacent instructions or replace one instruction by another token with the same effect signature (a
  window of 1: same cost, more spellings); every program it keeps verified.

All work happens in the token ids of ``Vocabulary.default().bind(task)``, so every variant is something a
policy over that vocabulary can emit, and no variant is longer than ``default_budget(len(task.baseline))``.
Three verifiers, each on its own tests: the search verifier (``n_tests``) sees every candidate; a confirming one
(more tests) sees the few that pass it, so a program accepted by luck of the tests never becomes the base of
further rewrites; a third re-checks every variant before it is returned. A candidate that computes what an
earlier one computed (same static facts and dataflow) takes its verdict (:mod:`agents.variant_memo`).

Straight-line Triton VM instructions each take exactly one cycle (``Execution.cycles`` counts executed
instructions), so a block's cycle cost is its length; :func:`cycles` says so in one place and the tests check
it against :func:`tasm_env.tasks.measure.program_cost`.

Determinism: the same task, seed and arguments give the same variants, unless the ``seconds`` budget is what
stops the search (then a slower machine stops earlier). The work limits are sized so that on tasm-basic-v0
the budget is a safety net, not the usual stopping rule.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import time
import warnings
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from tqdm import tqdm

from tasm_env.asm import Program
from tasm_env.atomic import atomic_write
from tasm_env.errors import TasmError
from tasm_env.emission.spec import default_budget
from tasm_env.tasks.task import Task
from tasm_env.verify import Verifier
from tasm_env.emission.vocab import Vocabulary

from .variant_memo import DataflowMemo

__all__ = ["VariantError", "cycles", "peephole", "variants", "variant_corpus"]

RECHECK_TESTS = 64
"""Tests of the confirming verifier and of the final re-check (at least; twice ``n_tests`` when that is more)."""
MAX_WINDOW = 7
"""Widest window a peephole rewrite deletes or replaces by one token (wider finds more, at more candidates)."""
CHUNK = 384
"""Candidates per verifier batch: big enough to amortise a call, small enough to stop early at an improvement."""
PRIOR_TRIES = 50
"""Prior of the per-kind success rates that order the candidates: one success in this many tries."""
PEEPHOLE_WORK = 100_000
"""Most work one peephole search does, in candidates verified times their length (a verifier's cost grows with
program length). A deterministic limit; ``seconds`` is only a safety net."""
CONTEXT = 2
"""Neighbours either side that identify a failed rewrite across rounds."""
WALK_CANDIDATES = 24
"""Moves one reordering step verifies (half adjacent swaps, half same-effect substitutions)."""
WALK_RESTARTS = 8
"""Steps a walk may take beyond the number of variants it wants (for steps that find nothing new)."""
CLIMB_SHARE = 0.75
"""Share of the ``seconds`` budget :func:`variants` lets the hill climb use before the reordering walk starts."""
_CACHE_VERSION = 1
_TRUST_SEED = 7919  # offset of the seed cached entries are re-verified with

Ids = tuple[int, ...]


class VariantError(TasmError):
    """A task whose variants cannot be made (its baseline has no spelling in the task's bound vocabulary)."""


def cycles(program: Program | Sequence) -> int:
    """Cycle cost of a straight-line block: one cycle per instruction (what ``te.run(...).cycles`` counts)."""
    return len(program)


# ------------------------------------------------------------------------------------------- the search


@dataclass(frozen=True)
class _Rewrite:
    """Replace ``width`` instructions from ``start`` by ``tokens`` (fewer of them)."""

    start: int
    width: int
    tokens: Ids

    @property
    def gain(self) -> int:
        return self.width - len(self.tokens)

    def apply(self, ids: Ids) -> Ids:
        return ids[:self.start] + self.tokens + ids[self.start + self.width:]

    def key(self, ids: Ids) -> tuple:
        """What the rewrite changes plus :data:`CONTEXT` instructions either side: how failures are remembered."""
        left = max(0, self.start - CONTEXT)
        return ids[left:self.start + self.width + CONTEXT], self.start - left, self.width, self.tokens

    def overlaps(self, other: "_Rewrite") -> bool:
        return self.start < other.start + other.width and other.start < self.start + self.width


def _apply_all(ids: Ids, rewrites: Sequence[_Rewrite]) -> Ids:
    """Apply non-overlapping rewrites, the rightmost first so the others' positions stay valid."""
    for rewrite in sorted(rewrites, key=lambda r: -r.start):
        ids = rewrite.apply(ids)
    return ids


class _Search:
    """One task's search, in the token ids of its bound vocabulary: verifier, rng, deadline, work spent."""

    def __init__(self, task: Task, seed: int, n_tests: int, seconds: float, climb_share: float = 1.0):
        self.task, self.n_tests, self.seconds, self.climb_share = task, n_tests, seconds, climb_share
        try:
            self.bound = Vocabulary.default().bind(task)
            self.start: Ids = tuple(self.bound.encode(task.baseline))
        except TasmError as err:
            raise VariantError(f"task {task.name!r}: the baseline has no spelling in the default vocabulary "
                               f"({err})") from None
        self.budget = default_budget(len(task.baseline))
        self.rng = np.random.default_rng(seed)
        first = int(self.rng.integers(0, 1 << 60))  # three different test sets: search, confirm, final re-check
        strong = max(RECHECK_TESTS, 2 * n_tests)
        self.verifier = Verifier(task.baseline, task.inputs, n_tests=n_tests, seed=first)
        self.confirmer = Verifier(task.baseline, task.inputs, n_tests=strong, seed=first + 1)
        self.rechecker = Verifier(task.baseline, task.inputs, n_tests=strong, seed=first + 2)
        self.memo = DataflowMemo(self.verifier.shape)  # verdicts of `verified`, by what a candidate computes
        self.deadline = time.monotonic() + seconds
        self.spent = 0  # peephole work so far: candidates verified times their length
        self.failed: set[tuple] = set()  # keys of rewrites that did not verify
        self.rules: dict[tuple[Ids, Ids], None] = {}  # (window, replacement) pairs that verified, in order
        self.tries: dict[tuple, int] = {}  # rewrites verified, by kind
        self.wins: dict[tuple, int] = {}  # of which passed
        self._tables()

    def _tables(self) -> None:
        """Per-token effect signatures, and the emittable tokens grouped by signature.

        Two pieces of code can only be equivalent when they change the stack depth by the same amount and read
        and write the same I/O; filtering on that spares the verifier most of its static rejections. Tokens
        that touch no stack slot (``sponge_init``) are left out: replacing a window by one is never better
        than deleting the window, which is tried at a larger gain."""
        v = self.bound.vocab
        self.signature = np.stack([v.delta, v.public_reads, v.secret_reads, v.digests, v.outputs], axis=1)
        self.instruction = {int(i): self.bound.token(int(i)) for i in np.flatnonzero(self.bound.emittable)}
        self.by_signature: dict[tuple, list[int]] = {}
        for i in self.instruction:
            if v.reads[i] or v.pushes[i]:
                self.by_signature.setdefault(tuple(self.signature[i].tolist()), []).append(i)

    def program(self, ids: Ids) -> Program:
        return Program(self.instruction[i] for i in ids)

    def out_of_time(self, share: float = 1.0) -> bool:
        return time.monotonic() > self.deadline - (1.0 - share) * self.seconds

    def _check(self, verifier: Verifier, candidates: Sequence[Ids]) -> list[bool]:
        """Verdicts of one verifier, in batches of :data:`CHUNK` (one ``check`` call per batch)."""
        ok: list[bool] = []
        for k in range(0, len(candidates), CHUNK):
            ok += [v.ok for v in verifier.check([self.program(c) for c in candidates[k:k + CHUNK]])]
        return ok

    def verified(self, candidates: Sequence[Ids], memo: bool = True) -> list[bool]:
        """Which candidates the search accepts: those the search verifier passes and a confirming verifier
        (other tests, more of them) passes too. The few survivors cost little to confirm, and a program that
        passed by luck of the tests must not become the base of further rewrites. A candidate that computes
        what an earlier one computed gets its verdict (:class:`~agents.variant_memo.DataflowMemo`); with
        ``memo=False`` (a batch of mostly new, failing rewrites, where a key costs about what a failure does)
        every candidate is verified and only the accepted ones are remembered."""
        if memo:
            return self.memo.check(candidates, self.program, self._verified)
        ok = self._verified(candidates)
        self.memo.remember([c for c, passed in zip(candidates, ok) if passed], self.program, True)
        return ok

    def _verified(self, candidates: Sequence[Ids]) -> list[bool]:
        ok = self._check(self.verifier, candidates)
        confirmed = iter(self._check(self.confirmer, [c for c, passed in zip(candidates, ok) if passed]))
        return [passed and next(confirmed) for passed in ok]

    def recheck(self, candidates: Sequence[Ids]) -> list[Ids]:
        """The candidates a third verifier (tests neither search verifier used) also accepts, in order."""
        return [c for c, ok in zip(candidates, self._check(self.rechecker, candidates)) if ok]

    # ---- peephole hill climbing
    def _rewrites(self, ids: Ids) -> list[_Rewrite]:
        """Every rewrite of ``ids`` that saves cycles: a window of up to :data:`MAX_WINDOW` instructions deleted
        (when it has no net effect) or replaced by one token with the same effect signature. A replacement by
        the window's own first or last token is skipped: it is the deletion of the rest, generated anyway."""
        sums = np.vstack([np.zeros((1, self.signature.shape[1]), dtype=np.int64),
                          np.cumsum(self.signature[list(ids)], axis=0)]).tolist()
        found = []
        for i in range(len(ids)):
            for width in range(1, min(MAX_WINDOW, len(ids) - i) + 1):
                sig = tuple(b - a for a, b in zip(sums[i], sums[i + width]))
                if not any(sig):
                    found.append(_Rewrite(i, width, ()))
                if width >= 2:
                    ends = (ids[i], ids[i + width - 1])
                    found += [_Rewrite(i, width, (t,)) for t in self.by_signature.get(sig, ()) if t not in ends]
        return found

    def _kind(self, rewrite: _Rewrite) -> tuple[str, int]:
        """What the search learns success rates of: the replacing token's mnemonic (or a deletion) and width."""
        return (self.instruction[rewrite.tokens[0]].name if rewrite.tokens else "", rewrite.width)

    def _prioritised(self, ids: Ids, rewrites: list[_Rewrite]) -> list[_Rewrite]:
        """Rewrites not known to fail, in a seeded random order weighted by expected saving: gain times the
        success rate of the rewrite's kind so far in this search (a prior of 1 in :data:`PRIOR_TRIES`).

        A rewrite that failed in an earlier round with the same window and neighbours is not tried again (a
        heuristic: it could pass now, but rarely does), so after the first round mostly the rewrites around
        the last change are verified."""
        fresh = [r for r in rewrites if r.key(ids) not in self.failed]
        weight = np.array([r.gain * (self.wins.get(k, 0) + 1) / (self.tries.get(k, 0) + PRIOR_TRIES)
                           for r in fresh for k in (self._kind(r),)])
        keys = np.log(self.rng.random(len(fresh))) / weight  # weighted sampling without replacement
        return [fresh[j] for j in np.argsort(-keys, kind="stable")]

    def _rule_rewrites(self, ids: Ids) -> list[_Rewrite]:
        """Every occurrence in ``ids`` of a window some verified rewrite changed before, with that change.
        Compiled code repeats its idioms, so a rewrite that helped once often helps elsewhere."""
        found = []
        for window, tokens in self.rules:
            w = len(window)
            found += [_Rewrite(i, w, tokens) for i in range(len(ids) - w + 1) if ids[i:i + w] == window]
        return [r for r in found if r.key(ids) not in self.failed]

    def _first_verified(self, ids: Ids, order: list[_Rewrite], memo: bool) -> list[_Rewrite]:
        """The verified rewrites of the first batch (of ``order``, in order) that has any; failures are
        remembered and successes become rules. Stops at the work limit or the deadline."""
        for k in range(0, len(order), CHUNK):
            allowed = (PEEPHOLE_WORK - self.spent) // max(len(ids), 1)
            if self.out_of_time(self.climb_share) or allowed <= 0:
                break
            chunk = order[k:k + min(CHUNK, allowed)]
            ok = self.verified([r.apply(ids) for r in chunk], memo)
            self.spent += len(chunk) * len(ids)
            for r, passed in zip(chunk, ok):
                kind = self._kind(r)
                self.tries[kind] = self.tries.get(kind, 0) + 1
                self.wins[kind] = self.wins.get(kind, 0) + passed
                if not passed:
                    self.failed.add(r.key(ids))
            good = [r for r, passed in zip(chunk, ok) if passed]
            if good:
                self.rules.update(((ids[r.start:r.start + r.width], r.tokens), None) for r in good)
                return good
        return []

    def _improve(self, ids: Ids) -> list[Ids]:
        """One round: verified programs of strictly falling cost, each a step from the one before; [] if none.

        Known rules are tried first, then every rewrite by expected saving. The verified rewrites of the first
        batch with any, largest gain first (ties in the seeded order), are applied cumulatively while their
        windows do not overlap: the single best, then it plus the next, ... All those combinations are verified
        in one batch; the ones that pass continue the chain. On long programs this makes many improvements per
        round instead of one."""
        good = (self._first_verified(ids, self._rule_rewrites(ids), True)
                or self._first_verified(ids, self._prioritised(ids, self._rewrites(ids)), False))
        if not good:
            return []
        good.sort(key=lambda r: -r.gain)  # stable: seeded order within a gain
        chosen: list[_Rewrite] = []
        for rewrite in good:
            if not any(rewrite.overlaps(c) for c in chosen):
                chosen.append(rewrite)
        combined = [_apply_all(ids, chosen[:k]) for k in range(2, len(chosen) + 1)]
        return [chosen[0].apply(ids)] + [c for c, ok in zip(combined, self.verified(combined)) if ok]

    def climb(self) -> list[Ids]:
        """The chain of accepted programs, the starting program first and the cheapest last."""
        chain = [self.start]
        while steps := self._improve(chain[-1]):
            chain += steps
        return chain

    # ---- reordering walk
    def _moves(self, ids: Ids) -> list[Ids]:
        """Every same-cost neighbour: adjacent swaps and single-token substitutions, each kind in a seeded
        order, interleaved so that any batch holds as many of one as of the other."""
        swaps = [ids[:i] + (ids[i + 1], ids[i]) + ids[i + 2:] for i in range(len(ids) - 1) if ids[i] != ids[i + 1]]
        subs = [ids[:i] + (t,) + ids[i + 1:] for i, x in enumerate(ids)
                for t in self.by_signature.get(tuple(self.signature[x].tolist()), ()) if t != x]
        swaps, subs = ([kind[j] for j in self.rng.permutation(len(kind))] for kind in (swaps, subs))
        return [m for pair in zip_longest(swaps, subs) for m in pair if m is not None]

    def walk(self, starts: Sequence[Ids], want: int, seen: set[Ids]) -> list[Ids]:
        """Up to ``want`` new verified programs, each of the same cost as the one it was found from, by a random
        walk of same-cost moves from ``starts[0]``. Each step verifies the next :data:`WALK_CANDIDATES` untried
        moves of the current program; every verified one is kept and the walk moves to a random one. Where
        nothing new verified, it goes on from the cheapest program (found or started from) with moves left
        that has not just failed, so a tight program does not use up every step. At most
        ``want + WALK_RESTARTS`` steps."""
        found: list[Ids] = []
        untried: dict[Ids, list[Ids]] = {}  # program -> its moves not yet verified, in order
        cold: set[Ids] = set()  # programs whose last step found nothing
        current = starts[0]
        for _ in range(want + WALK_RESTARTS):
            if len(found) >= want or self.out_of_time():
                break
            if current not in untried:
                untried[current] = self._moves(current)
            queue = untried[current]
            moves = [m for m in queue[:WALK_CANDIDATES] if m not in seen]
            del queue[:WALK_CANDIDATES]
            good = [m for m, ok in zip(moves, self.verified(moves)) if ok]
            seen.update(good)
            found += good
            if not good:
                cold.add(current)
            live = [p for p in found + list(starts) if untried.get(p, True)]
            warm = [p for p in live if p not in cold]
            if not warm:  # every program with moves left failed once: give them all another turn
                cold.clear()
                warm = live
            pool = good or warm
            if not pool:
                break
            low = min(map(cycles, pool))
            cheapest = [p for p in pool if cycles(p) == low]
            current = cheapest[int(self.rng.integers(len(cheapest)))]
        return found[:want]


# ------------------------------------------------------------------------------------------- public API


def _check_arguments(seconds: float, n_tests: int, max_variants: int = 1) -> None:
    if not seconds > 0:
        raise TasmError(f"seconds must be positive, got {seconds}")
    if n_tests < 1:
        raise TasmError(f"n_tests must be at least 1, got {n_tests}")
    if max_variants < 0:
        raise TasmError(f"max_variants must be >= 0, got {max_variants}")


def _spread(items: list, n: int) -> list:
    """``n`` items evenly spaced over ``items``, the last one included (the chain's cheapest)."""
    if n >= len(items):
        return list(items)
    if n <= 0:
        return []
    return [items[int(k)] for k in np.linspace(len(items) - 1, 0, n).round()[::-1]]


def peephole(task: Task, *, seconds: float = 5.0, seed: int = 0, n_tests: int = 40) -> Program:
    """The cheapest program the peephole hill climb finds that all three verifiers accept (see the module
    notes); the baseline itself if nothing cheaper is found. Never costlier than the baseline. Also a search
    baseline for the agents: ``seconds`` bounds it, ``seed`` orders its candidates."""
    _check_arguments(seconds, n_tests)
    search = _Search(task, seed, n_tests, seconds)
    cheaper = search.recheck(search.climb()[1:])
    return search.program(cheaper[-1]) if cheaper else task.baseline


def variants(task: Task, *, max_variants: int = 16, seconds: float = 5.0, seed: int = 0,
             n_tests: int = 40) -> list[Program]:
    """Up to ``max_variants`` distinct programs equivalent to ``task.baseline``, cheapest first.

    Each is verified against the baseline (search verifier: ``n_tests`` tests; confirmation and final re-check:
    other seeds and at least :data:`RECHECK_TESTS` tests), encodes in ``Vocabulary.default().bind(task)``, fits
    the token budget ``default_budget(len(task.baseline))`` and differs from the baseline's own tokens. At
    least half come from the peephole chain when it is that long (evenly spaced, the cheapest always
    included), the rest from a reordering walk from the cheapest program (then the others). Fewer than
    ``max_variants`` when fewer exist or pass. ``seconds`` bounds the whole call (a safety net; see the module
    notes on determinism). VariantError if the baseline has no spelling in the vocabulary."""
    _check_arguments(seconds, n_tests, max_variants)
    if max_variants == 0:
        return []
    search = _Search(task, seed, n_tests, seconds, climb_share=CLIMB_SHARE)
    chain = search.climb()
    want = max_variants - min(len(chain) - 1, max_variants // 2)
    walked = search.walk(chain[::-1], want, seen=set(chain))  # reorderings of the best first
    candidates = [c for c in chain[1:] + walked if len(c) <= search.budget]
    good = set(search.recheck(candidates))
    chain_ok = [c for c in chain[1:] if c in good]
    walk_ok = [c for c in walked if c in good]
    n_chain = min(len(chain_ok), max(max_variants - len(walk_ok), max_variants // 2))
    chosen = _spread(chain_ok, n_chain) + walk_ok[:max_variants - n_chain]
    chosen.sort(key=cycles)  # stable: chain order, then walk order, within a cost
    return [search.program(c) for c in chosen]


_VARIANT_DEFAULTS = {name: p.default for name, p in inspect.signature(variants).parameters.items()
                     if p.kind is inspect.Parameter.KEYWORD_ONLY}
"""The settings :func:`variant_corpus` passes to :func:`variants` (and hashes into cache keys) unless told."""


# ------------------------------------------------------------------------------------------- the corpus


def _cache_key(task: Task, settings: dict) -> str:
    digest = hashlib.sha256((str(task.baseline) + "\n" + json.dumps(settings, sort_keys=True)).encode())
    return f"{task.name}:{digest.hexdigest()[:16]}"


def _load_cache(path: Path) -> dict[str, list[str]]:
    """The cache's entries (key -> TASM texts); an unreadable or malformed file warns and counts as empty."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        entries = data["entries"] if data.get("version") == _CACHE_VERSION else None
        if not isinstance(entries, dict) or not all(
                isinstance(v, list) and all(isinstance(t, str) for t in v) for v in entries.values()):
            raise ValueError("expected {'version': 1, 'entries': {key: [TASM text, ...]}}")
        return entries
    except (OSError, ValueError, AttributeError, KeyError, TypeError) as err:
        warnings.warn(f"ignoring the variant cache {path} ({type(err).__name__}: {err}); recomputing",
                      stacklevel=3)
        return {}


def _trusted(task: Task, texts: list[str], n_tests: int, seed: int) -> list[Program] | None:
    """Cached variants of ``task`` if every one still parses, encodes, fits the budget, is distinct, is not the
    baseline and verifies against it (on tests of another seed than the search's); else None. A cache is
    never taken on faith: it is a file anyone can edit."""
    try:
        programs = [Program.parse(t) for t in texts]
        bound = Vocabulary.default().bind(task)
        start = tuple(bound.encode(task.baseline))
        encoded = [tuple(bound.encode(p)) for p in programs]
    except TasmError:
        return None
    budget = default_budget(len(task.baseline))
    if len(set(encoded)) != len(encoded) or start in encoded or any(len(e) > budget for e in encoded):
        return None
    if programs:
        verifier = Verifier(task.baseline, task.inputs, n_tests=max(RECHECK_TESTS, 2 * n_tests),
                            seed=seed + _TRUST_SEED)
        if not all(v.ok for v in verifier.check(programs)):
            return None
    return programs


def _write_json_atomic(path: Path, data) -> None:
    """Temporary file in the same directory, fsync, rename: a crash leaves the old cache or the new one."""
    atomic_write(path, lambda handle: json.dump(data, handle, indent=0))


def variant_corpus(tasks: Iterable[Task], *, cache: str | Path | None = None, progress: bool = True,
                   **kwargs) -> dict[str, list[Program]]:
    """Task name -> :func:`variants` of that task (``kwargs`` are passed on), with a tqdm progress bar.

    ``cache``: a JSON file of earlier results, keyed by task name plus a hash of the baseline text and the
    settings. Cached entries are re-verified before use. A corrupt or malformed cache file is ignored with a
    ``warnings.warn`` and everything is recomputed, as is an entry that does not check out (never an error,
    never trusted). New results are merged into the file, written atomically (temporary file, fsync,
    ``os.replace``), also when the run is interrupted. Unknown ``kwargs`` raise TasmError."""
    settings = dict(_VARIANT_DEFAULTS)
    unknown = set(kwargs) - set(settings)
    if unknown:
        raise TasmError(f"variant_corpus: unknown arguments {sorted(unknown)}; expected some of {sorted(settings)}")
    settings.update(kwargs)
    path = Path(cache) if cache is not None else None
    entries = _load_cache(path) if path else {}
    corpus: dict[str, list[Program]] = {}
    fresh = 0
    try:
        for task in tqdm(list(tasks), desc="variants", unit="task", disable=not progress):
            key = _cache_key(task, settings)
            found = _trusted(task, entries[key], settings["n_tests"], settings["seed"]) if key in entries else None
            if found is None and key in entries:
                warnings.warn(f"variant cache {path}: the entry for task {task.name!r} does not check out; "
                              "recomputing it", stacklevel=2)
            if found is None:
                found = variants(task, **settings)
                entries[key] = [str(p) for p in found]
                fresh += 1
            corpus[task.name] = found
    finally:
        if path and fresh:
            _write_json_atomic(path, {"version": _CACHE_VERSION, "entries": entries})
    return corpus
