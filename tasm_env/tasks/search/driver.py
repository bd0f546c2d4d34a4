"""The driver of the exact search: :func:`search` runs iterative deepening over fingerprint spaces, verifies
what reaches the goal, and retries with more tests after a fingerprint collision."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

from ... import isa
from ...asm import Instruction, Program
from ...errors import TasmError
from ...verify import Verifier
from .constants import MAX_SOLVED, constants_of, solve_constants
from .engine import Engine
from .layers import Layer, StateSet
from .moves import instruction_set
from .results import SearchResult
from .space import Space, partial_tests

VERIFY_TESTS = 64  # tests of the final check of a program that reached the goal
MAX_FINGERPRINT_TESTS = 64  # collisions double the fingerprint tests up to this many
MAX_CRASH_LANES = 24  # a partial baseline's crash lanes (a bitmask in an int32 meta column)
TOTAL_FINGERPRINTS = "random tests (the baseline crashes on none)"
PARTIAL_FINGERPRINTS = ("the verifier's tests: ones from the baseline's non-crashing region (a crash there "
                        "prunes) and ones on which it crashes (a goal state crashed on all of them)")


def baseline_of(baseline, inputs) -> tuple[Program, tuple[str, ...]]:
    """A Task-like object (``.baseline``, ``.inputs``) or a program with explicit input types."""
    if hasattr(baseline, "baseline") and hasattr(baseline, "inputs"):
        return Program.coerce(baseline.baseline), tuple(baseline.inputs)
    if inputs is None:
        raise TasmError("search needs the input types of the baseline, e.g. inputs=('field', 'field')")
    return Program.coerce(baseline), tuple(inputs)


def parse_instructions(instructions: Sequence[Instruction | str]) -> list[Instruction]:
    """A user's instruction set, checked: straight-line instructions, no ``nop``, each once."""
    out: list[Instruction] = []
    for item in instructions:
        parsed = [item] if isinstance(item, Instruction) else list(Program.parse(item))
        for ins in parsed:
            if ins.name in isa.CONTROL_FLOW or ins.name == "nop" or ins.name == "halt":
                raise TasmError(f"the exact search cannot use `{ins}`: straight-line instructions only, no `nop`")
            out.append(ins)
    return list(dict.fromkeys(out))


def path_of(layers: list[Layer], d: int, parent: int, move: int) -> list[int]:
    """Move indices from the initial state to the child (``move`` applied to state ``parent`` of layer d)."""
    moves = [move]
    i = parent
    for k in range(d, 0, -1):
        moves.append(int(layers[k].move[i]))
        i = int(layers[k].parent[i])
    return moves[::-1]


def reads_below_inputs(program: Program, inputs: int) -> bool:
    """Does the program ever read or remove a slot below its own live values?"""
    live = inputs
    for ins in program:
        spec = ins.spec
        if spec.reads(ins.arg) > live or live + spec.delta(ins.arg) < 0:
            return True
        live += spec.delta(ins.arg)
    return False


def search(baseline, inputs: Sequence[str] | None = None, *, max_cycles: int | None = None,
           time_limit: float = 10.0, node_limit: int = 2_000_000, seed: int = 0, touch_context: bool = False,
           extra_constants: Sequence[int] = (), instructions: Sequence[Instruction | str] | None = None,
           fingerprint_tests: int = 8, incumbent: Program | str | None = None) -> SearchResult:
    """The shortest program equivalent to ``baseline`` (a Task, a Program or TASM text with ``inputs``),
    proved optimal within the searched instruction set when the search completes (see the module docstring).

    ``max_cycles`` limits the lengths searched; ``time_limit`` (seconds) and ``node_limit`` (states expanded)
    stop the search early, returning the best verified program so far with ``proved=False``.
    ``touch_context`` allows reads below the block's live values; ``extra_constants`` adds ``push``/``addi``
    constants; ``instructions`` replaces the searched instruction set altogether (instructions or their text,
    e.g. ``["dup 0", "add", "push 1"]``; optimality is then relative to exactly that set);
    ``fingerprint_tests`` is the initial number of fingerprint tests (doubled on a collision). ``incumbent``
    is a program known to be equivalent (say, an earlier search's optimum): once verified it is the best so
    far, so only shorter lengths are searched and a search stopped early still returns it."""
    started = time.perf_counter()
    program, types = baseline_of(baseline, inputs)
    if not program.is_straight_line or any(i.name == "halt" for i in program):
        raise TasmError("the exact search handles straight-line blocks without `halt` only")
    verifier = Verifier(program, types, n_tests=VERIFY_TESTS, seed=seed + 7919)
    plan = verifier.plan
    counts = (plan.public_consumed, plan.secret_consumed, plan.digests_consumed, len(plan.output))
    io = (plan.public_consumed, plan.secret_consumed, len(plan.output))
    partial = bool(verifier.baseline_crashes.any())  # crashes on some valid inputs: see "Partial baselines"
    if instructions is None:
        constants = constants_of(program, verifier, extra_constants)
        searched = instruction_set(program, constants.push, *io, addi_constants=constants.addi, partial=partial)
    else:
        searched = parse_instructions(instructions)
    solved: list[int] = []
    if not touch_context and reads_below_inputs(program, len(types)):
        touch_context = True  # the baseline itself reaches into the context: search the same way
    scope = ("any stack slot (context elements may move, never be lost)" if touch_context else
             "reads limited to the block's live values (the emission env's `stack` masking)")
    upper = len(program) - 1 if max_cycles is None else min(len(program) - 1, max_cycles)
    deadline = started + time_limit
    lanes, nodes, first_bound = fingerprint_tests, 0, 0
    cap = len(program)  # a bound skipped after unresolved collisions caps what is proven
    best, proven, stopped, names = program, 0, "depth", ()
    if incumbent is not None:
        known = Program.coerce(incumbent)
        if len(known) < len(program) and verifier.check([known])[0].ok:
            best = known
            upper = min(upper, len(known) - 1)
    while True:
        split = partial_tests(program, types, lanes, min(lanes, MAX_CRASH_LANES), seed + lanes) if partial else None
        if partial and split is None:
            raise TasmError("the baseline crashes on some of the final check's tests but on none of the "
                            "fingerprint's; use another seed")
        space = Space(program, types, searched, lanes, seed + lanes, touch_context, counts,
                      *(split if split else (None, None)))
        names = tuple(str(m.instruction) for m in space.moves)
        engine = Engine(space, max(upper, 0), deadline, node_limit, nodes)
        can_solve = instructions is None and len(solved) < MAX_SOLVED
        solve = _solver((constants + solved).all, MAX_SOLVED - len(solved)) if can_solve else None
        outcome = iterate(engine, verifier, first_bound, upper, solve)
        nodes = engine.nodes
        if outcome.new_constants:  # a larger constant set: what was proven over the smaller one does not count
            solved += outcome.new_constants
            widened = constants + solved
            searched = instruction_set(program, widened.push, *io, addi_constants=widened.addi, partial=partial)
            proven, first_bound, cap = 0, 0, len(program)
            continue
        proven = max(proven, min(outcome.lower, cap))
        if outcome.program is not None:
            best = outcome.program
        stopped = outcome.stopped
        if not outcome.collision:
            break
        if lanes < MAX_FINGERPRINT_TESTS:
            lanes *= 2  # the fingerprint could not tell a wrong program from the baseline: use more tests
            first_bound = outcome.lower
        else:  # give up on this length: it stays unproven, search the longer ones
            cap = min(cap, outcome.lower)
            first_bound = outcome.lower + 1
    proved = proven >= len(best)
    if proved:
        stopped = "proved"
    return SearchResult(best, len(best), proved, min(proven, len(best)), nodes, time.perf_counter() - started,
                        names, stopped, scope, lanes, touch_context=touch_context,
                        fingerprints=PARTIAL_FINGERPRINTS if partial else TOTAL_FINGERPRINTS)


def _solver(known: set[int], limit: int) -> Callable[[Space], list[int]]:
    """After an exhausted iteration: constants that a final ``push c`` / ``addi c`` / ``push c mul`` would need
    to turn a value reached into a goal value (see :func:`~.constants.solve_constants`)."""
    def solve(space: Space) -> list[int]:
        values = space.values
        goal_ids = sorted(set(space.goal.tolist()) | set(space.goal_output))
        return solve_constants(values.vectors[1:values.count], values.vectors[goal_ids], known, limit)
    return solve


@dataclass
class Outcome:
    program: Program | None  # a verified program shorter than the baseline, if found
    lower: int  # no equivalent program is shorter than this (given the iterations started at first_bound)
    stopped: str  # "proved" (search complete), "depth", "time" or "nodes"
    collision: bool = False  # the goal was met by programs that failed verification at length `lower`
    new_constants: tuple[int, ...] = ()  # solved constants to add (the search restarts with them)


def iterate(engine: Engine, verifier: Verifier, first_bound: int, upper: int,
            solve: Callable[[Space], list[int]] | None = None) -> Outcome:
    """Iterative deepening on the bound, from ``first_bound`` (already proven) up to ``upper`` instructions.
    After each exhausted bound ``solve`` (if given) may name constants to add: the iteration then stops."""
    space = engine.space
    start = engine.initial()
    if first_bound == 0 and engine.is_goal(start.rows, start.depth, start.meta)[0]:
        if verifier.check([Program([])])[0].ok:
            return Outcome(Program([]), 0, "proved")
        return Outcome(None, 0, "proved", collision=True)
    lower = max(first_bound, 1, int(max(space.depth_bound(start.depth)[0], start.hval[0])))
    for bound in range(lower, upper + 1):
        found, collision = run_bound(engine, verifier, start, bound)
        if found is not None:
            assert len(found) == bound, "a program shorter than the proven bound: the lower bound is not admissible"
            return Outcome(found, bound, "proved")
        if engine.stopped:
            return Outcome(None, bound, engine.stopped)
        if collision:
            return Outcome(None, bound, "proved", collision=True)
        lower = bound + 1
        new = solve(space) if solve is not None and bound < upper else []
        if new:
            return Outcome(None, lower, "constants", new_constants=tuple(new))
    return Outcome(None, lower, "depth")


def run_bound(engine: Engine, verifier: Verifier, start: Layer, bound: int) -> tuple[Program | None, bool]:
    """One iteration: every state within the bound, layer by layer. Returns a verified goal program or None,
    and whether a goal was met by programs that all failed verification (a fingerprint collision)."""
    space = engine.space
    layers = [start]
    seen = StateSet()
    seen.add_new(start.h1, start.h2)
    collision = False
    for d in range(bound):
        batches, goals = engine.expand(layers[-1], d, bound, seen)
        if goals:
            programs = list(dict.fromkeys(
                Program([space.moves[k].instruction for k in path_of(layers, d, p, m)]) for p, m in goals))
            for program, verdict in zip(programs, verifier.check(programs)):
                if verdict.ok:
                    return program, False
            collision = True
        if not engine.stopped and time.perf_counter() > engine.deadline:
            engine.stopped = "time"
        if engine.stopped or d + 1 == bound:
            break
        layer = engine.merge(layers[-1], batches)
        if layer is None:
            break
        layers.append(layer)
    return None, collision
