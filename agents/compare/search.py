"""The policy-free agents of the comparison: uniform random legal programs, STOKE-style MCMC, the exact oracle
and the value-state beam search. None of them learns from a network; every candidate still goes through the
harness's :class:`~agents.compare.interface.ScoringBudget`.

| agent | proposes |
|---|---|
| ``random`` | episodes of the Gymnasium env with a uniformly random legal token per step (masking ``dataflow``: EOS only where the block matches the baseline on the probes) |
| ``mcmc`` | one Markov-chain step per round from the baseline (replace / insert / delete / swap), Metropolis on ``cycles + weight x distance`` |
| ``exact`` | the suite's recorded optimum (or, with none recorded, ``te.optimize``'s best), once |
| ``beam`` | :func:`agents.beam.value_beam`'s programs in the order found (the beam helper's module) |
"""

from __future__ import annotations

import math
from typing import Iterator, Sequence

import numpy as np

from tasm_env.asm import Program
from tasm_env.emission.vocab import EOS
from tasm_env.tasks.task import Task

from .interface import AgentContext, CompareError, Scored

MASKING = "dataflow"


class RandomLegal:
    """Uniformly random legal programs: at every step a token drawn uniformly from the env's mask."""

    name = "random"

    def __init__(self, context: AgentContext):
        self.rng = np.random.default_rng([context.seed, 1])
        self.masking = context.options.get("masking", MASKING)
        self.env = None

    def propose(self, task: Task, n: int) -> list[str]:
        from tasm_env.envs.gym import TasmEmitEnv

        if self.env is None:
            self.env = TasmEmitEnv(tasks=[task], suite=None, masking=self.masking, include_graph=False)
        out = []
        for _ in range(n):
            self.env.reset(options={"task": 0})
            while True:
                legal = np.flatnonzero(self.env.action_masks())
                token = int(self.rng.choice(legal)) if len(legal) else EOS
                if token == EOS:  # the block is scored by the harness, not by the env's own verifier
                    out.append(str(self.env.row.program()))
                    break
                self.env.step(token)
        return out

    def learn(self, task: Task, scored: Sequence[Scored]) -> None:
        pass


def instruction_pool(task: Task) -> list[Program]:
    """Every single instruction the task's bound vocabulary can emit (the moves' alphabet)."""
    from tasm_env.emission.spec import TaskSpec
    from tasm_env.emission.vocab import Vocabulary

    bound = TaskSpec.from_task(task, Vocabulary.default()).bound
    pool = []
    for token in range(1, len(bound.vocab)):
        try:
            pool.append(bound.decode([token]))
        except Exception:  # a token this task cannot emit (no constant bound to it)
            continue
    return pool


class Mcmc:
    """STOKE (Schkufza, Sharma, Aiken 2013) on straight-line TASM: a Markov chain over programs started at the
    baseline. A move replaces an instruction by one of the pool, inserts one, deletes one or swaps two (equal
    odds). ``cost = cycles + weight x distance`` with cycles the instruction count (a straight-line block runs
    one instruction per cycle; a valid program's are the verifier's measured cycles) and distance the share of
    disagreeing test cells (:mod:`agents.compare.distance`); ``weight`` defaults to the baseline's cycles, so a
    wholly wrong program costs as much again as the baseline. A move is accepted with probability
    ``min(1, exp(-(cost' - cost) / temperature))``. One proposal per round, so the chain is exact (each move
    starts from the state the last verdict left)."""

    name = "mcmc"

    def __init__(self, context: AgentContext):
        self.rng = np.random.default_rng([context.seed, 2])
        self.temperature = float(context.options.get("temperature", 1.0))
        self.weight = context.options.get("weight")
        self.current: list | None = None
        self.cost = math.inf
        self.proposed: list = []

    def _start(self, task: Task) -> None:
        self.current = list(Program.coerce(task.baseline).instructions)
        self.pool = [p.instructions[0] for p in instruction_pool(task) if len(p.instructions) == 1]
        self.weight = float(self.weight if self.weight is not None else task.baseline_cycles)
        self.cost = float(task.baseline_cycles)

    def _move(self) -> list:
        program, rng = list(self.current), self.rng
        kind = int(rng.integers(4)) if len(program) > 1 else int(rng.choice([0, 1]))
        i = int(rng.integers(len(program))) if program else 0
        if kind == 0 and program:
            program[i] = self.pool[int(rng.integers(len(self.pool)))]
        elif kind == 1 or not program:
            program.insert(int(rng.integers(len(program) + 1)), self.pool[int(rng.integers(len(self.pool)))])
        elif kind == 2:
            del program[i]
        else:
            j = int(rng.integers(len(program)))
            program[i], program[j] = program[j], program[i]
        return program

    def propose(self, task: Task, n: int) -> list[str]:
        if self.current is None:
            self._start(task)
        self.proposed = self._move()
        return [str(Program(self.proposed))]

    def learn(self, task: Task, scored: Sequence[Scored]) -> None:
        for verdict in scored:
            cycles = verdict.cycles if verdict.valid else len(self.proposed)
            cost = cycles + self.weight * verdict.distance
            if cost <= self.cost or self.rng.random() < math.exp(-(cost - self.cost) / self.temperature):
                self.current, self.cost = self.proposed, cost


class Exact:
    """The oracle: the exact search's optimum (recorded in the suite; else ``te.optimize`` for ``seconds``)."""

    name = "exact"

    def __init__(self, context: AgentContext):
        self.seconds = float(context.options.get("seconds", 10.0))
        self.done = False

    def propose(self, task: Task, n: int) -> list[str]:
        if self.done:
            return []
        self.done = True
        optimum = getattr(task, "optimum", None)
        if optimum is None:
            from tasm_env.tasks.search import optimize

            optimum = optimize(task.baseline, task.inputs, seconds=self.seconds)
        return [str(Program.coerce(optimum.program))]

    def learn(self, task: Task, scored: Sequence[Scored]) -> None:
        pass


class Beam:
    """Policy-free beam search over value states (:func:`agents.beam.value_beam`, width ``options["width"]``,
    default 8): hands out the beam's programs in the order found, as many per round as asked."""

    name = "beam"

    def __init__(self, context: AgentContext):
        try:
            from agents.beam import value_beam
        except ImportError as err:
            raise CompareError("the beam agent needs agents/beam.py (agents.beam.value_beam), which this "
                               f"installation lacks: {err}") from None
        self.value_beam, self.seed = value_beam, context.seed
        self.width = int(context.options.get("width", 8))
        self.found: Iterator | None = None

    def propose(self, task: Task, n: int) -> list[str]:
        if self.found is None:
            self.found = iter(self.value_beam(task, width=self.width, count=10**6, seed=self.seed))
        out = []
        for program in self.found:
            out.append(str(program))
            if len(out) >= n:
                break
        return out

    def learn(self, task: Task, scored: Sequence[Scored]) -> None:
        pass


__all__ = ["Beam", "Exact", "MASKING", "Mcmc", "RandomLegal", "instruction_pool"]
