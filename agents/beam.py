"""Beam search over value states: the emission tree searched breadth-first under the env's masks, prefixes with
the same value state merged, the best ``width`` kept at every depth.

    from agents.beam import policy_beam, value_beam
    finished = policy_beam(policy, task_index, width=16, keep=64)   # policy-guided: [Finished], best score first
    for program in value_beam(task, width=8, count=64, seed=0):     # policy-free, in the order found
        ...

**States.** A prefix's *value state* is what it leaves on the K probe inputs of its task
(:meth:`tasm_env.emission.values.ValueModel.value_key`: stack, crashes, public output, sponge, RAM written) plus
its I/O counters (input consumed is compared by the verifier but leaves no trace on the stack). Two prefixes
with equal value states have the same continuations on the probes, so the search keeps the first one reached
(the shorter, or at equal length the better scored) and drops the rest: ``merged`` counts them. A prefix the
probes prove dead (``ValueFacts.lost``: no continuation can verify) is dropped too (``pruned``).

**Moves** are the tokens legal under the env's masking (``dataflow``: EOS only where the whole block matches the
baseline on the probes). A row whose EOS is legal yields a :class:`Finished` program; the other legal tokens
are its children.

**Scores.** :func:`policy_beam`: a prefix carries the policy's log-probability (the logits of the torchgfn
estimator call ``policy(states, conditions)``, normalised over the legal tokens, as the sampler draws them;
computed incrementally by :class:`CachedPrior`, one cached decoder step per row and depth); the beam is chosen by that plus ``progress_weight`` times the child's :func:`progress`, and with ``complete`` the
prefixes it held are finished by stack moves (:mod:`agents.complete`) after its own programs.
:func:`value_beam` (no policy, the comparison's ``beam`` agent): progress read off the value state: the share
of outputs ready plus the share of graph nodes present on the stack minus cycles so far (instructions, a
straight-line block runs one per cycle) over the baseline's, with a seeded jitter that breaks ties.

Nothing here calls the verifier: :mod:`agents.best` verifies the finished programs under its budget.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from functools import partial
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from tasm_env.asm import Program
from tasm_env.collector import collector_paused
from tasm_env.emission.state import EmissionState
from tasm_env.emission.value_stacks import ValueArrays
from tasm_env.emission.vocab import EOS
from tasm_env.envs.gfn import TasmGFNEnv
from tasm_env.errors import TasmError
from tasm_env.tasks.task import Task

from .beam_prior import BeamError, CachedPrior
from .complete import complete_programs
from .policy import TasmPolicy


@dataclass
class BeamStats:
    """What one search did: states expanded (their children scored), children dropped because their value
    state was already reached (``merged``) or proven dead (``pruned``), programs finished, depth reached."""

    expansions: int = 0
    merged: int = 0
    pruned: int = 0
    finished: int = 0
    depth: int = 0


@dataclass(frozen=True)
class Finished:
    """A program the beam finished (EOS legal after it): its score and its length in tokens."""

    program: Program
    score: float
    depth: int


Prior = Callable[[EmissionState, torch.Tensor, torch.Tensor], torch.Tensor]
"""(beam rows, their scores (B,), masks (B, V)) -> (B, V) scores of the children (EOS column: finishing)."""
Rescore = Callable[[EmissionState, ValueArrays, np.ndarray], np.ndarray]
"""(children's rows, their value facts as arrays (the machine's ``value_arrays``), their prior scores) -> their
scores, replacing the prior."""


def search(env: TasmGFNEnv, task: int, width: int, prior: Prior, *, rescore: Rescore | None = None,
           pool: int | None = None, merge: bool = True, max_length: int | None = None,
           stats: BeamStats | None = None, visit: Callable[[EmissionState], None] | None = None,
           follow: Callable[[torch.Tensor], None] | None = None) -> Iterator[Finished]:
    """Beam search for task ``task`` of ``env`` (built with a value state), yielding finished programs depth by
    depth (best prior first within a depth). ``prior`` orders the children and is what a kept row carries to
    the next depth (its ``scores``); ``rescore``, when given, ranks the children again from their value facts
    for choosing the beam (the rows still carry their prior): the best ``pool`` children by prior at a time
    (None: every legal child) are built and ranked, the next ``pool`` only if merging and pruning left the beam
    short; ``merge=False`` keeps equal value states apart (for measuring what merging saves); ``max_length``: no
    prefix grows beyond this many tokens (default: the task's budget); ``visit`` is handed every beam (its rows)
    before it is expanded; ``follow`` is handed, before each beam after the first is scored, its rows' parents
    (B,) (rows of the beam before: what an incremental prior such as :class:`CachedPrior` continues from)."""
    if width < 1:
        raise BeamError(f"the beam width must be at least 1, got {width}")
    if pool is not None and pool < 1:
        raise BeamError(f"the rescoring pool must be at least 1 child, got {pool}")
    machine, values = env.machine, env.machine.values
    if values is None:
        raise BeamError("beam search needs an env with a value state: TasmGFNEnv(..., value_state=True)")
    stats = stats if stats is not None else BeamStats()
    beam, scores = machine.initial([task]), torch.zeros(1, dtype=torch.float64)
    seen: set[bytes] = set()
    while len(beam):
        if visit is not None:
            visit(beam)
        mask = machine.forward_masks(beam, env.masking)
        child = prior(beam, scores, mask).to(torch.float64).masked_fill(~mask, float("-inf"))
        stats.expansions += len(beam)
        done = torch.nonzero(mask[:, EOS])[:, 0].tolist()
        programs = machine.decode(EmissionState(beam.data[done], beam.task[done], beam.layout)) if done else []
        for row, program in sorted(zip(done, programs), key=lambda rp: -float(child[rp[0], EOS])):
            stats.finished += 1
            yield Finished(program, float(child[row, EOS]), int(beam.length[row]))
        child[:, EOS] = float("-inf")
        if max_length is not None and stats.depth >= max_length:
            break
        beam, scores, parents = _next_beam(env, beam, child, width, rescore, pool, seen if merge else None, stats)
        stats.depth += 1
        if follow is not None and len(beam):
            follow(parents)


def _next_beam(env: TasmGFNEnv, beam: EmissionState, child: torch.Tensor, width: int, rescore: Rescore | None,
               pool: int | None, seen: set[bytes] | None, stats: BeamStats
               ) -> tuple[EmissionState, torch.Tensor, torch.Tensor]:
    """The best ``width`` children with new value states (ranked by ``rescore`` within each chunk of ``pool``
    children when given), in rank order, with their priors and their parents (rows of ``beam``)."""
    machine = env.machine
    flat = child.reshape(-1)
    legal = torch.nonzero(torch.isfinite(flat))[:, 0]
    order = legal[torch.argsort(flat[legal], descending=True, stable=True)]
    V = child.shape[1]
    # a chunk at a time, best first: without rescoring only as many children are built as the beam needs
    chunk = (pool or max(len(order), 1)) if rescore is not None else max(2 * width, 16)
    kept: list[tuple[float, int]] = []  # (prior, parent)
    picked: list[tuple[EmissionState, list[int]]] = []  # each chunk's rows and the indices kept of it
    keys: set[bytes] = set()
    candidates = []
    for start in range(0, len(order), chunk):
        index = order[start:start + chunk]
        rows = machine.step(EmissionState(beam.data[index // V], beam.task[index // V], beam.layout), index % V)
        facts = machine.value_arrays(rows)  # arrays, not one ValueFacts a row: the rescore and the loop read them
        prior = flat[index].numpy()
        score = prior if rescore is None else rescore(rows, facts, prior)
        lost, parent_of = facts.lost.tolist(), (index // V).tolist()
        # value keys only for the rows the loop reaches (best first), a block at a time: most rows never do
        stored = _StoredKeys(machine, rows, width) if seen is not None else None
        # best score first, ties in prior order (a stable sort, as sorted(..., key=-score) gives them)
        candidates = np.argsort(-score, kind="stable").tolist() if rescore is not None else range(len(index))
        picked.append((rows, []))
        for at, i in enumerate(candidates):
            if lost[i]:
                stats.pruned += 1
                continue
            if seen is not None:
                key = stored.key(candidates, at)
                if key in seen or key in keys:
                    stats.merged += 1
                    continue
                keys.add(key)
            kept.append((float(prior[i]), parent_of[i]))
            picked[-1][1].append(i)
            if len(kept) == width:
                break
        if len(kept) == width:
            break
    if seen is not None:
        seen |= keys
    if not kept:
        return machine.initial([]), torch.zeros(0, dtype=torch.float64), torch.zeros(0, dtype=torch.long)
    # the kept rows carry the value arrays computed for them: the next depth's masks need not compute them again
    return (machine.gather(picked), torch.tensor([s for s, _ in kept], dtype=torch.float64),
            torch.tensor([parent for _, parent in kept], dtype=torch.long))


class _StoredKeys:
    """The merge keys of a chunk's rows (value key plus I/O counters), computed for the candidates in the order
    the beam examines them, ``block`` at a time: the fast path's keys where it holds the stacks, the
    reference's value key for the rest."""

    def __init__(self, machine, rows: EmissionState, block: int):
        self.machine, self.rows, self.block = machine, rows, max(int(block), 1)
        self.found: dict[int, bytes] = {}
        self.lengths = self.counters = self.tokens = None

    def key(self, candidates: Sequence[int], at: int) -> bytes:
        """The key of row ``candidates[at]`` (the rows after it in ``candidates`` computed along)."""
        i = candidates[at]
        if i not in self.found:
            rows = [b for b in candidates[at:at + self.block] if b not in self.found]
            stored = self.machine.stored_value_keys(self.rows, rows)
            if self.counters is None:
                self.counters = self.rows.counters.tolist()
            for b, key in zip(rows, stored):
                if key is None:
                    if self.tokens is None:
                        self.tokens, self.lengths = self.rows.tokens.tolist(), self.rows.length.tolist()
                    key = self.machine.values.value_key(int(self.rows.task[b]), self.tokens[b][:self.lengths[b]])
                self.found[b] = key + bytes(str(self.counters[b]), "ascii")
        return self.found[i]


# ------------------------------------------------------------------------------------ policy-guided


def policy_log_probs(policy: TasmPolicy, env: TasmGFNEnv, state: EmissionState, mask: torch.Tensor) -> torch.Tensor:
    """(B, V) log-probabilities of the next token (vocabulary order, EOS first) under ``mask``, from the torchgfn
    estimator call on the rows (the policy must be bound to ``env``)."""
    conditions = state.task.to(torch.get_default_dtype())[:, None]
    states = env.states_from_tensor(state.data, conditions=conditions)
    logits = policy(states, conditions).to(mask.device)  # action order: token t is action t - 1, EOS last
    logits = torch.cat([logits[:, -1:], logits[:, :-1]], 1)
    return logits.masked_fill(~mask, float("-inf")).log_softmax(1)


PROGRESS_WEIGHT = 1.0
"""The default weight of value-state progress (:func:`progress`) against the policy's log-probability when
:func:`policy_beam` chooses its beam (tuned on the val split of tasm-basic-v1; docs/agents.md)."""
COMPLETE = True
"""Whether :func:`policy_beam` finishes the prefixes it held by stack moves by default."""
BASELINE_COMPLETION = False
"""Whether :func:`policy_beam` also completes the prefixes of the task's own baseline by default (after the beam's
programs and its completions; the baseline itself is never proposed). Off by default: ``decode="beam"`` measures
the policy, and these candidates are the compiler's program re-finished by a search, the same for every policy
(turn it on, ``baseline=True`` / ``--baseline-completion on``, for the cheapest programs). On the hard tasks of
tasm-basic-v1 the policy's prefixes never come within two target values of the outputs (docs/results.md), while
the compiler's prefixes do: with it on, this is where every hard task's verified program comes from."""
POOL_PER_ROW = 4
"""With progress, the best ``POOL_PER_ROW * width`` children by log-probability are built and ranked at a time."""


@torch.no_grad()
def policy_beam(policy: TasmPolicy, task: int, width: int = 16, keep: int = 64, *,
                progress_weight: float = PROGRESS_WEIGHT, pool: int | None = None, complete: bool = COMPLETE,
                baseline: bool = BASELINE_COMPLETION, merge: bool = True, stats: BeamStats | None = None,
                incremental: bool = True) -> list[Finished]:
    """The ``keep`` best-scored distinct programs a policy-guided beam of ``width`` finishes for task ``task`` of
    the policy's env (which must carry a value state), best first. A program's score is its log-probability
    under the policy (EOS included). The beam keeps, at every depth, the children with the best log-probability
    plus ``progress_weight`` times their value-state :func:`progress` (0: log-probability alone), choosing among
    the best ``pool`` children by log-probability at a time (default ``POOL_PER_ROW * width``). With
    ``complete``, the prefixes the beam held are also finished by stack moves where their value state allows
    (:func:`agents.complete.complete_programs`, one computing instruction included): those completions follow
    the beam's own programs (fewest instructions first, score ``-inf``: not the policy's), up to ``keep`` in
    all. With ``baseline``, the prefixes of the task's baseline are completed the same way and follow those
    (the baseline itself excluded: it is the fallback, not a candidate). ``incremental``: score each depth by
    one cached decoder step (:class:`CachedPrior`); off, by the estimator call on every row's whole prefix
    (:func:`policy_log_probs`, the reference: the same log-probabilities to rounding, slower)."""
    if progress_weight < 0:
        raise BeamError(f"progress_weight must be at least 0, got {progress_weight}")
    env = policy.env

    log_probs = CachedPrior(policy, task) if incremental else partial(policy_log_probs, policy, env)

    def prior(state: EmissionState, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return scores[:, None] + log_probs(state, mask).to(torch.float64)

    ahead = progress(env, env.tasks[task])

    def with_progress(rows: EmissionState, facts: ValueArrays, scores: np.ndarray) -> np.ndarray:
        return scores + progress_weight * ahead(rows, facts)

    rescore = with_progress if progress_weight > 0 else None

    best: dict[Program, Finished] = {}
    held: list[tuple[int, ...]] = []  # every beam row's tokens, as the vocabulary spells its program
    spelling = torch.tensor(canonical_tokens(env, task)) if complete else None

    def hold(rows: EmissionState) -> None:
        spelt = spelling[rows.tokens[:, :int(rows.length.max())].clamp(min=0)].tolist()  # no padding columns
        held.extend(tuple(row[:n]) for row, n in zip(spelt, rows.length.tolist()))
    # the collector paused for the whole call: the search and the completions allocate millions of short-lived
    # objects (rows, plans, runs, facts) freed by reference counting, and the collections they would trigger
    # walk the process's caches again and again (a third of the call; benchmarks/beam_phases.py)
    with collector_paused(True):
        with policy.encoding_cache():
            for found in search(env, task, width, prior, rescore=rescore, pool=pool or POOL_PER_ROW * width,
                                merge=merge, stats=stats, follow=log_probs.follow if incremental else None,
                                visit=hold if complete else None):
                if found.program not in best or best[found.program].score < found.score:
                    best[found.program] = found
        ranked = heapq.nlargest(keep, best.values(), key=lambda f: f.score)
        if complete and len(ranked) < keep and held:
            inner = {row[:-1] for row in held}  # a prefix of another row held: its prefixes are covered there
            leaves = [row for row in dict.fromkeys(held) if row not in inner]
            bound = env.specs[task].bound
            _append_completions(env, task, [bound.decode(row) for row in leaves], keep, best, ranked, encoded=leaves)
        if baseline and len(ranked) < keep:
            source = Program.coerce(env.tasks[task].baseline)
            _append_completions(env, task, [source], keep, best, ranked, exclude=source)
    return ranked


def _append_completions(env: TasmGFNEnv, task: int, leaves: list[Program], keep: int,
                        best: dict[Program, Finished], ranked: list[Finished], exclude: Program | None = None,
                        encoded: list[tuple[int, ...]] | None = None) -> None:
    """Append the completions of ``leaves``' prefixes (:func:`agents.complete.complete_programs`; ``encoded``:
    their tokens, when known) that are not in ``best`` yet and are not ``exclude``, score ``-inf`` (not the
    policy's), until ``ranked`` holds ``keep``."""
    for program in complete_programs(env, task, leaves, keep + (exclude is not None), encoded=encoded):
        if len(ranked) < keep and program not in best and program != exclude:
            best[program] = Finished(program, float("-inf"), len(env.specs[task].bound.encode(program)))
            ranked.append(best[program])


def canonical_tokens(env: TasmGFNEnv, task: int) -> list[int]:
    """Per token id of task ``task``'s vocabulary, the id its instruction is encoded with (``bound.encode`` of its
    decoding: itself unless two ids spell one instruction; ids that spell none, such as EOS, map to themselves).
    A beam row mapped through it is the encoding of the row's program, without decoding and encoding again."""
    bound, ids = env.specs[task].bound, []
    for i in range(len(env.machine.vocab)):
        try:
            spelt = bound.encode(bound.decode([i]))
        except TasmError:  # reserved, or a slot without a constant
            spelt = []
        ids.append(spelt[0] if len(spelt) == 1 else i)
    return ids


# -------------------------------------------------------------------------------------- policy-free


def progress(env: TasmGFNEnv, task: Task) -> Callable[[EmissionState, ValueArrays], np.ndarray]:
    """How far prefixes of ``task`` (rows of ``env``) have come, read off their value facts (the machine's
    ``value_arrays``): twice the share of outputs ready, plus how far into the task graph the stack reaches (the
    latest node present, and the share of nodes present, in node order), minus the distance of the live depth
    from the block's final depth over that depth, minus cycles so far over the baseline's (0 for a row without
    facts)."""
    n = max(len(task.tir.nodes), 1)
    final = max(len(task.tir.outputs), 1)
    base = max(task.baseline_cycles, 1)
    probes = env.machine.values.probes if env.machine.values is not None else None

    def ahead(rows: EmissionState, facts: ValueArrays) -> np.ndarray:
        out = np.zeros(len(facts.keys), dtype=np.float64)
        live = np.flatnonzero(facts.valid)
        if not len(live):
            return out
        slot_nodes = facts.slot_nodes[live]
        # as ValueFacts.ready_share: the share of the task's outputs ready (arity columns wide), 1 with none
        ids = rows.task.numpy()[live].tolist()
        arity_of = {t: probes(t).arity for t in set(ids)}  # once per task (a beam's rows share one)
        arities = [arity_of[t] for t in ids]
        if len(set(arities)) == 1 and arities[0]:
            ready = facts.ready[live, :arities[0]].mean(1)
        else:
            ready = np.array([facts.ready[b, :a].mean() if a else 1.0 for b, a in zip(live.tolist(), arities)])
        # the rows at once, each operation as the one-row formula does it (the same doubles, bit for bit)
        nodes = np.sort(slot_nodes, axis=1)
        distinct = (nodes >= 0) & np.concatenate([np.ones((len(live), 1), bool), nodes[:, 1:] != nodes[:, :-1]], 1)
        present = distinct.sum(1)
        reach = np.where(present > 0, (nodes[:, -1] + 1) / n, 0.0)
        depth = env.machine.live_depth(rows).numpy()[live]
        lengths = rows.length.numpy()[live]
        out[live] = 2 * ready + 0.5 * reach + 0.25 * present / n - np.abs(depth - final) / (2 * final) - lengths / base
        return out

    return ahead


def progress_score(env: TasmGFNEnv, task: Task) -> Rescore:
    """The policy-free score of a prefix: its prior plus its :func:`progress`."""
    ahead = progress(env, task)

    def rescore(rows: EmissionState, facts: ValueArrays, prior: np.ndarray) -> np.ndarray:
        return np.asarray(prior, dtype=np.float64) + ahead(rows, facts)

    return rescore


def value_beam(task: Task, width: int = 8, count: int = 64, seed: int = 0, *, masking: str = "dataflow",
               merge: bool = True, max_length: int | None = None, stats: BeamStats | None = None
               ) -> Iterator[Program]:
    """Up to ``count`` distinct programs for ``task`` from a beam of ``width`` scored by value-state progress
    (:func:`progress_score`; no policy), in the order found: shorter first, then by score. ``seed`` draws the
    tie-breaking jitter, so different seeds search differently. Programs are at most ``max_length``
    instructions (default: the baseline's, since a longer block cannot be cheaper). Nothing is verified here."""
    if count < 1:
        raise BeamError(f"count must be at least 1, got {count}")
    env = TasmGFNEnv(tasks=[task], suite=None, masking=masking, value_state=True)
    generator = torch.Generator().manual_seed(int(seed))

    def prior(state: EmissionState, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return 1e-3 * torch.rand(mask.shape, generator=generator, dtype=torch.float64)

    given: set[Program] = set()
    for found in search(env, 0, width, prior, rescore=progress_score(env, task), merge=merge,
                        max_length=max_length or task.baseline_cycles, stats=stats):
        if found.program not in given:
            given.add(found.program)
            yield found.program
            if len(given) >= count:
                return


__all__ = ["BASELINE_COMPLETION", "BeamError", "BeamStats", "COMPLETE", "CachedPrior", "canonical_tokens", "Finished", "POOL_PER_ROW", "PROGRESS_WEIGHT", "policy_beam",
           "policy_log_probs", "progress", "progress_score", "search", "value_beam"]
