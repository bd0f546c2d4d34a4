"""Completion decoding: finish a sampled prefix whose live stack already holds every value the block must leave.

    from agents.complete import completions, complete_candidates
    found = completions(env, task_index, program)      # [Completion]: prefix + stack moves, legal, EOS-ready
    programs = complete_candidates(policy, [0], 64)    # per task: up to 64 distinct completed candidates

Under ``masking="dataflow"`` EOS is legal only where the whole block matches the baseline on the env's probes
(docs/envs.md). A sampled block often computes everything the baseline leaves on the stack and then wanders
until the token budget runs out, never arranging its stack exactly. Here each prefix of a sample is read on the
same probes the mask uses (:class:`~tasm_env.emission.values.TaskProbes`):

* :func:`gap`: does the prefix already match the baseline in everything a stack move cannot change (crash
  pattern, public output, sponge, RAM), and which of the baseline's final live values are on its live stack
  (a slot holds a value when it equals it on every probe where the baseline does not crash)?
* :func:`arrangement`: when every value is there, the shortest sequence of ``dup``/``swap``/``pick``/``place``
  /``pop`` (breadth-first over the abstract stack of value labels, slots the target does not need all alike,
  under a node limit) that leaves exactly the baseline's final live stack; the classical compiler's clean-up
  (copy the outputs to the top in order, then pick and pop everything below them,
  :mod:`tasm_env.tasks.compiler`) when the search stops early;
* :func:`completions`: every prefix of one sampled program so completed, kept only if the whole block is
  legal token by token under the env's masks with EOS legal at its end (:func:`legal_under_masks`: the
  machine's own masks, so within the budget, I/O totals met, no forbidden ``pop``) and distinct.

:func:`complete_candidates` is the decoder (``decode="complete"`` of :mod:`agents.best`): sample, complete every
trajectory at every step where completion is possible, and return the distinct results cheapest first (fewer
instructions, then the order found), at most ``samples`` of them. Nothing here calls the verifier: every
candidate goes through :func:`agents.best.choose` under its budget like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

from tasm_env import isa
from tasm_env.asm import Instruction, Program
from tasm_env.emission.probe_facts import MAX_POP, SLOT_WINDOW
from tasm_env.emission.state import EmissionState
from tasm_env.emission.value_stacks import value_arrays
from tasm_env.emission.values import Outcome, TaskProbes
from tasm_env.emission.vocab import EOS
from tasm_env.envs.gfn import TasmGFNEnv
from tasm_env.errors import TasmError

from .policy import TasmPolicy
from .sampling import sample_programs

ARRANGE_NODES = 20_000
"""Abstract stacks the breadth-first arrangement search visits before it settles for the compiler's clean-up."""
SPARE_DEPTH = 2
"""The search's stacks grow at most this far beyond the deeper of the prefix's live stack and the target's."""
JUNK = -1
"""The label of a live slot that holds no value of the target stack."""


@dataclass(frozen=True)
class Gap:
    """How far a prefix's value state is from a block that ends like the baseline. ``live`` and ``goal``: the
    labels of the prefix's and of the baseline's final live slots, deepest first (equal values share a label;
    :data:`JUNK` for a slot holding no target value); ``missing``: target values on no live slot;
    ``effects_match``: crash pattern, public output, sponge and RAM already equal the baseline's."""

    live: tuple[int, ...]
    goal: tuple[int, ...]
    missing: int
    effects_match: bool

    @property
    def completable(self) -> bool:
        """Stack moves alone can finish the block (if the stack's reach allows)."""
        return self.effects_match and self.missing == 0


def gap(probes: TaskProbes, outcome: Outcome) -> Gap:
    """The :class:`Gap` of a prefix whose run on ``probes`` is ``outcome`` (``probes.outcome(...)``)."""
    base = probes.base
    runs = ~base.crashed
    effects = bool(np.array_equal(outcome.crashed, base.crashed)) and outcome.output.shape == base.output.shape \
        and bool((outcome.output[:, runs] == base.output[:, runs]).all()) \
        and (outcome.sponge is None) == (base.sponge is None) \
        and (base.sponge is None or bool((outcome.sponge[:, runs] == base.sponge[:, runs]).all())) \
        and bool(outcome.ram_match[runs].all())
    labels: dict[bytes, int] = {}
    goal = tuple(labels.setdefault(row[runs].tobytes(), len(labels)) for row in base.stack[probes.bottom:])
    live = tuple(labels.get(row[runs].tobytes(), JUNK) for row in outcome.stack[probes.bottom:])
    missing = len(set(goal) - set(live))
    return Gap(live, goal, missing, effects)


# ------------------------------------------------------------------------------------- arrangement


def _arguments(name: str, n: int) -> list[int]:
    """The arguments of stack move ``name`` that ``isa`` allows and that read no deeper than ``n`` live slots.
    No-op and twin moves (``pick 0``, ``pick 1`` = ``swap 1``) are dropped by the search's visited set."""
    spec = isa.spec(name)
    return [arg for arg in spec.arg.range() if spec.reads(arg) <= n]


def _moves(stack: tuple[int, ...]) -> Iterator[tuple[Instruction, tuple[int, ...]]]:
    """Every stack move legal on ``stack`` (deepest first, top last), in a fixed order, with its result
    (:func:`tasm_env.isa.move_stack`: the VM's own definition of each move)."""
    for name in isa.STACK_MOVES:
        for arg in _arguments(name, len(stack)):
            yield Instruction(name, arg), tuple(isa.move_stack(name, arg, list(stack)))


def clean_up(live: Sequence[int], goal: Sequence[int]) -> tuple[Instruction, ...] | None:
    """The classical compiler's end of block on labels: ``dup`` each target value to the top, deepest first,
    then ``pick`` every slot below them to the top and ``pop`` them in fives. None when a value lies beyond
    ``dup``'s reach or is missing."""
    stack, code = list(live), []
    for label in goal:
        depths = [d for d in range(min(len(stack), SLOT_WINDOW)) if stack[-1 - d] == label]
        if not depths:
            return None
        code.append(Instruction("dup", depths[0]))
        stack.append(label)
    below = len(stack) - len(goal)
    for k in range(below if goal else 0):  # the k-th dead slot lies k deeper than the block's end
        depth = len(goal) + k
        if depth >= SLOT_WINDOW:
            return None
        code.append(Instruction("pick", depth) if depth > 1 else Instruction("swap", 1))
    code += [Instruction("pop", min(MAX_POP, below - k)) for k in range(0, below, MAX_POP)]
    return tuple(code)


def arrangement(live: Sequence[int], goal: Sequence[int], *, node_limit: int = ARRANGE_NODES
                ) -> tuple[Instruction, ...] | None:
    """The shortest stack moves that turn the labelled stack ``live`` into ``goal`` (both deepest first) found
    breadth-first within ``node_limit`` visited stacks, else :func:`clean_up`'s; None when some target value
    is missing (or out of reach for both)."""
    live, goal = tuple(live), tuple(goal)
    if live == goal:
        return ()
    need = set(goal)
    if not need <= set(live):
        return None
    fallback = clean_up(live, goal)
    bound = len(fallback) if fallback is not None else 4 * (len(live) + len(goal)) + 2
    cap = max(len(live), len(goal)) + SPARE_DEPTH
    parent: dict[tuple[int, ...], tuple[tuple[int, ...], Instruction] | None] = {live: None}
    layer, depth = [live], 0
    while layer and depth + 1 < bound and len(parent) < node_limit:
        depth += 1
        nxt = []
        for stack in layer:
            if len(parent) >= node_limit:
                break
            for move, child in _moves(stack):
                if child in parent or len(child) > cap or not need <= set(child):
                    continue
                parent[child] = (stack, move)
                if child == goal:
                    code = []
                    while parent[child] is not None:
                        child, move = parent[child]
                        code.append(move)
                    return tuple(reversed(code))
                nxt.append(child)
        layer = nxt
    return fallback


# ------------------------------------------------------------------------------------- completions


@dataclass(frozen=True)
class Completion:
    """A sampled prefix (its first ``prefix_length`` instructions) completed by ``moves`` into ``program``."""

    program: Program
    prefix_length: int
    moves: tuple[Instruction, ...]


def prefix_gaps(probes: TaskProbes, program: Program) -> Iterator[tuple[int, Gap]]:
    """(t, gap of the first t instructions) for t = 0 .. len(program), each prefix's run extending the last."""
    run = None
    for t in range(len(program) + 1):
        run = probes.evaluate(Program(program[:t]), run)
        yield t, gap(probes, probes.outcome(run))


def legal_under_masks(env: TasmGFNEnv, task: int, programs: Sequence[Program]) -> list[bool]:
    """Is each program, token by token, legal under ``env``'s masks for task ``task``, within the budget, with
    EOS legal after its last token? (The machine's own ``forward_masks``, one batched step per position.)"""
    machine, bound = env.machine, env.specs[task].bound
    rows: list[list[int] | None] = []
    for program in programs:
        try:
            tokens = bound.encode(program)
        except TasmError:  # not spellable in this task's vocabulary
            tokens = None
        rows.append(tokens if tokens is not None and len(tokens) <= env.specs[task].budget else None)
    ok = [r is not None for r in rows]
    live = [b for b, r in enumerate(rows) if r is not None]
    if not live:
        return ok
    longest = max(len(rows[b]) for b in live)
    state = machine.initial([task] * len(live))
    for t in range(longest + 1):
        mask = machine.forward_masks(state, env.masking)
        token = torch.tensor([rows[b][t] if t < len(rows[b]) else EOS for b in live], dtype=torch.long)
        here = mask.gather(1, token[:, None])[:, 0].tolist()
        for j, b in enumerate(live):
            if t <= len(rows[b]) and not here[j]:
                ok[b] = False
        if t < longest:
            state = machine.step(state, token)  # EOS leaves a finished row as it is
    return ok


def completions(env: TasmGFNEnv, task: int, program: Program, *, node_limit: int = ARRANGE_NODES
                ) -> list[Completion]:
    """Every distinct completion of a prefix of ``program`` (a block drawn for task ``task`` of ``env``, an env
    with a value state) that is legal under the env's masks with EOS at its end, in prefix order."""
    values = env.machine.values
    if values is None:
        raise TasmError("completion reads the value state: build the env with value_state=True "
                        "(the default under masking='dataflow')")
    probes = values.probes(task)
    found: dict[Program, Completion] = {}
    for t, g in prefix_gaps(probes, Program.coerce(program)):
        if not g.completable:
            continue
        moves = arrangement(g.live, g.goal, node_limit=node_limit)
        if moves is None:
            continue
        whole = Program(tuple(program[:t]) + moves)
        if whole not in found:
            found[whole] = Completion(whole, t, moves)
    kept = list(found.values())
    legal = legal_under_masks(env, task, [c.program for c in kept])
    return [c for c, ok in zip(kept, legal) if ok]


STACK_MOVES = isa.STACK_MOVES
"""The instructions :func:`arrangement` uses; one computing instruction (:func:`extend`) is any other token."""
EXTEND_PREFIXES = 24
"""Prefixes per task, one target value short, that :func:`complete_programs` tries one more instruction after."""


def goal_nodes(env: TasmGFNEnv, task: int) -> set[int] | None:
    """The task-graph nodes the baseline's final live slots hold, as the value state names them
    (``slot_nodes``), or None when one has no node or lies below the window: the cheap screen then passes all."""
    probes, values, bound = env.machine.values.probes(task), env.machine.values, env.specs[task].bound
    try:
        tokens = bound.encode(env.tasks[task].baseline)
    except TasmError:
        return None
    nodes = values.facts(task, tuple(tokens)).slot_nodes[:probes.arity]
    return None if probes.arity > SLOT_WINDOW or (nodes < 0).any() else set(nodes.tolist())


def _short(nodes: np.ndarray, goal: set[int] | None) -> int:
    """Target nodes missing from the top slots (0 when there is no screen)."""
    return 0 if goal is None else len(goal - set(nodes.tolist()))


def _finish(probes: TaskProbes, prefix: Program, node_limit: int) -> Program | None:
    """``prefix`` plus its arrangement, when its exact gap (from scratch on the probes) allows one."""
    g = gap(probes, probes.outcome(probes.evaluate(prefix)))
    moves = arrangement(g.live, g.goal, node_limit=node_limit) if g.completable else None
    return None if moves is None else Program(tuple(prefix) + moves)


def extend(env: TasmGFNEnv, task: int, prefixes: Sequence[Program], *, node_limit: int = ARRANGE_NODES
           ) -> list[Program]:
    """One computing instruction after each prefix, then :func:`arrangement`: every token legal under the
    env's masks after the prefix that is not a stack move (the machine's masks), screened by the children's
    value state (``slot_nodes`` must hold every target node), then completed exactly (:func:`gap`). A short
    exhaustive search over the value states one instruction away; legality of the whole is checked by the
    caller (:func:`legal_under_masks`)."""
    if not prefixes:
        return []
    machine, probes, goal = env.machine, env.machine.values.probes(task), goal_nodes(env, task)
    vocab = machine.vocab
    computing = torch.tensor([i != EOS and vocab.mnemonic[i] not in STACK_MOVES for i in range(len(vocab))])
    states = machine.encode(list(prefixes), task)
    mask = machine.forward_masks(states, env.masking) & computing[None, :]
    rows, tokens = torch.nonzero(mask, as_tuple=True)
    if not len(rows):
        return []
    children = machine.step(EmissionState(states.data[rows], states.task[rows], states.layout), tokens)
    facts = machine.value_facts(children)
    found = []
    for child, f in zip(machine.decode(children), facts):
        if f is not None and not f.lost and _short(f.slot_nodes, goal) == 0:
            done = _finish(probes, child, node_limit)
            if done is not None:
                found.append(done)
    return found


def distinct_prefixes(rows: Sequence[Sequence[int]]) -> Iterator[tuple[int, tuple, int]]:
    """(row index, prefix tokens, prefix length) of every distinct prefix of the token rows (the empty one
    included), each at its first occurrence, in row order then by length: a prefix tree's walk, so that rows
    sharing their ancestors (a beam's) cost each shared prefix once (a prefix's facts and completion do not
    depend on which row it came from)."""
    root: dict = {}
    for b, row in enumerate(rows):
        node, tokens = root, tuple(row)
        if b == 0:
            yield b, (), 0
        for t, token in enumerate(tokens, 1):
            child = node.get(token)
            if child is None:
                child = node[token] = {}
                yield b, tokens[:t], t
            node = child


def complete_programs(env: TasmGFNEnv, task: int, drawn: Sequence[Program], keep: int, *, extra: bool = True,
                      node_limit: int = ARRANGE_NODES, encoded: Sequence[Sequence[int]] | None = None
                      ) -> list[Program]:
    """The distinct completions of every block in ``drawn`` (task ``task`` of ``env``), fewest instructions
    first (then in the order found), at most ``keep``: the candidates a learned agent can hand its scorer.

    Each prefix is screened by its value state (``slot_nodes``, from the machine's value stacks where they cover
    it: every target node in the top slots) before its exact :func:`gap`; with ``extra``, up to
    :data:`EXTEND_PREFIXES` distinct prefixes one
    target node short (shortest first, then in the order found) also get one computing instruction
    (:func:`extend`). Every candidate kept is legal under the env's masks with EOS at its end. ``encoded``: the
    blocks' tokens (``bound.encode`` of each), when the caller has them."""
    if keep < 1:
        raise TasmError(f"keep must be at least 1, got {keep}")
    values, bound = env.machine.values, env.specs[task].bound
    if values is None:
        raise TasmError("completion reads the value state: build the env with value_state=True "
                        "(the default under masking='dataflow')")
    probes, goal = values.probes(task), goal_nodes(env, task)
    keys, where = [], []
    if encoded is None:
        encoded = [bound.encode(program) for program in drawn]
    for b, tokens, t in distinct_prefixes(encoded):
        keys.append((task, tokens))
        where.append((b, t))
    order: dict[Program, int] = {}
    near: dict[Program, int] = {}
    # the machine's value-stack fast path where it covers a prefix (a beam's are mostly stored there already),
    # the reference's facts elsewhere: the same facts either way
    machine = env.machine
    facts = value_arrays(values, keys, machine.value_stacks if machine.fast_values else None)
    for (b, t), nodes, lost in zip(where, facts.slot_nodes, facts.lost.tolist()):
        short = _short(nodes, goal)
        if short == 0:
            done = _finish(probes, Program(drawn[b][:t]), node_limit)
            if done is not None:
                order.setdefault(done, len(order))
        elif short == 1 and extra and not lost:
            near.setdefault(Program(drawn[b][:t]), t)
    if extra and near:
        chosen = sorted(near, key=near.__getitem__)[:EXTEND_PREFIXES]  # stable: ties in the order found
        for done in extend(env, task, chosen, node_limit=node_limit):
            order.setdefault(done, len(order))
    kept = sorted(order, key=lambda p: (len(p), order[p]))
    legal = legal_under_masks(env, task, kept)
    return [p for p, ok in zip(kept, legal) if ok][:keep]


def complete_each(env: TasmGFNEnv, task: int, drawn: Sequence[Program], *, extra: bool = False,
                  node_limit: int = ARRANGE_NODES) -> list[Program]:
    """One program per draw, in order: the draw's shortest legal completion (:func:`complete_programs` of that
    draw alone), or the draw itself when none exists. For agents that learn from what they proposed (the
    comparison's learned agents): proposals stay aligned with the draws, and the completed programs can be
    replayed into trajectories with :func:`agents.sampling.replay` to learn from what was scored."""
    out = []
    for program in drawn:
        done = complete_programs(env, task, [program], 1, extra=extra, node_limit=node_limit)
        out.append(done[0] if done else Program.coerce(program))
    return out


def complete_candidates(policy: TasmPolicy, task_ids: Sequence[int], samples: int, *, temperature: float = 1.0,
                        generator: torch.Generator | None = None, extra: bool = True) -> list[list[Program]]:
    """For each task id of the policy's env: draw ``samples`` blocks, complete them (:func:`complete_programs`)
    and return at most ``samples`` distinct candidates, fewest instructions first."""
    drawn = sample_programs(policy, task_ids, samples, temperature=temperature, generator=generator)
    return [complete_programs(policy.env, task, programs, samples, extra=extra)
            for task, programs in zip(task_ids, drawn)]


__all__ = ["ARRANGE_NODES", "Completion", "EXTEND_PREFIXES", "Gap", "JUNK", "STACK_MOVES", "arrangement", "clean_up",
           "complete_candidates", "complete_each", "complete_programs", "completions", "distinct_prefixes", "extend", "gap",
           "goal_nodes", "legal_under_masks", "prefix_gaps"]
