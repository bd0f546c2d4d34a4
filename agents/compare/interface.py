"""The one agent interface of the comparison, the budget that makes it fair, and one unit of work.

An **agent** proposes programs for a task, learns from the scored ones and is asked for nothing else: the
harness keeps the best. Every candidate an agent wants judged goes through its :class:`ScoringBudget`, which
counts it; the budget (``programs_scored``) is the same for every agent, wall-clock is reported beside it.

    class MyAgent:                                   # satisfies the Agent protocol
        name = "mine"
        def propose(self, task, n): ...              # -> up to n Programs (or TASM texts)
        def learn(self, task, scored): ...           # -> None; scored: list[Scored], in proposal order

    register("mine", lambda context: MyAgent())      # context: AgentContext (seed, device, suite, checkpoint)
    record = run_unit(RunUnit(agent="mine", seed=0, task="basic-easy-001", suite="tasm-basic-v1", budget=64))

A :class:`RunUnit` is plain JSON data and :func:`run_unit` a pure function of it (same unit, same record, up to
wall-clock), so the local process pool and Ray trials run the very same code and resume by record.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Callable, Protocol, Sequence

from tasm_env.asm import Program
from tasm_env.errors import TasmError
from tasm_env.tasks.task import Task


class CompareError(TasmError):
    """The comparison was configured or used wrongly (unknown agent, bad budget, tampered results)."""


class BudgetExhausted(CompareError):
    """An agent asked the verifier to score more programs than its budget allows."""


@dataclass(frozen=True)
class Scored:
    """One candidate as the verifier judged it. ``valid``: equivalent to the baseline on every test;
    ``cycles``: its cost when valid (None otherwise); ``distance``: 0 when valid, else in (0, 1], the share of
    test lanes x output slots that disagree with the baseline (STOKE's correctness term; 1 for a program that
    does not parse or crashes where the baseline does not)."""

    program: str
    valid: bool
    cycles: int | None
    distance: float


class Agent(Protocol):
    """What the harness needs of an agent. One instance runs one (seed, task): it may keep state between
    ``propose`` and ``learn`` calls, and is thrown away after the unit."""

    name: str

    def propose(self, task: Task, n: int) -> Sequence[Program | str]:
        """Up to ``n`` candidate programs for ``task`` (fewer is fine; none ends the run early)."""

    def learn(self, task: Task, scored: Sequence[Scored]) -> None:
        """Learn from the verdicts on the last proposals (in order)."""


@dataclass(frozen=True)
class AgentContext:
    """What a factory gets to build an agent: the seed (every random choice derives from it), the torch
    device, the suite and split the task comes from, and a checkpoint for learned agents (None: the
    package's pretrained one for the suite, where there is one)."""

    seed: int
    device: str = "cpu"
    suite: str = "tasm-basic-v1"
    split: str = "test"
    checkpoint: str | None = None
    options: dict = field(default_factory=dict)


AgentFactory = Callable[[AgentContext], Agent]
_REGISTRY: dict[str, AgentFactory] = {}


def register(name: str, factory: AgentFactory) -> None:
    """Make ``name`` available to ``tasm-env compare --agents``."""
    _REGISTRY[name] = factory


def agent_names() -> tuple[str, ...]:
    from . import registry  # noqa: F401  (registers the bundled agents on first use)

    return tuple(sorted(_REGISTRY))


def make_agent(name: str, context: AgentContext) -> Agent:
    if name not in agent_names():
        raise CompareError(f"unknown agent {name!r}; expected one of {', '.join(agent_names())}")
    return _REGISTRY[name](context)


@dataclass(frozen=True)
class RunUnit:
    """One unit of work: one agent, one seed, one task, one budget (programs the verifier scores).
    ``batch``: how many programs an agent proposes per round; ``checkpoint``: where a learned agent starts
    (None: the package's pretrained policy, ``"fresh"``: new weights from the seed); ``options``: JSON settings
    passed to the agent (``AgentContext.options``)."""

    agent: str
    seed: int
    task: str
    suite: str = "tasm-basic-v1"
    split: str = "test"
    budget: int = 256
    batch: int = 16
    device: str = "cpu"
    checkpoint: str | None = None
    options: dict = field(default_factory=dict, hash=False, compare=True)

    def key(self) -> tuple[str, int, str]:
        return (self.agent, self.seed, self.task)


@dataclass
class RunRecord:
    """What one unit produced (a ``runs`` entry of ``results.json``). ``best_program`` is the baseline when
    no scored program verified (``found`` False); ``curve``: (programs scored, best cycles so far) at every
    improvement, starting from (0, baseline cycles)."""

    agent: str
    seed: int
    task: str
    tier: str
    best_program: str
    best_cycles: int
    baseline_cycles: int
    programs_scored: int
    valid_scored: int
    found: bool
    seconds: float
    curve: list[tuple[int, int]]
    optimum_cycles: int | None = None
    optimum_proved: bool = False  # the exact search's record says it is optimal (over its searched set)

    def to_json(self) -> dict:
        return asdict(self)


SCREEN_TESTS = 64  # the verifier's tests per scored program (the env's reward uses the same count)
CONFIRM_SEED_OFFSET = 7919  # the best program is confirmed once more on independent tests (not counted)


class ScoringBudget:
    """The only way an agent under comparison reaches the verifier: counts every program it scores and
    refuses to go past ``budget``. Keeps the best valid program seen (by cycles, then length) and the curve."""

    def __init__(self, task: Task, budget: int, seed: int = 0, n_tests: int = SCREEN_TESTS):
        from tasm_env.verify import Verifier

        if budget < 1:
            raise CompareError(f"the budget must be at least 1 program, got {budget}")
        self.task, self.budget, self.used, self.valid = task, int(budget), 0, 0
        self.verifier = Verifier(task, n_tests=n_tests, seed=seed)
        self.best: tuple[int, int, str] | None = None  # (cycles, length, text)
        self.curve: list[tuple[int, int]] = [(0, task.baseline_cycles)]

    @property
    def remaining(self) -> int:
        return self.budget - self.used

    def score(self, programs: Sequence[Program | str]) -> list[Scored]:
        """Verdicts on ``programs`` (each counts, repeats included: a fair budget counts what was asked)."""
        if len(programs) > self.remaining:
            raise BudgetExhausted(f"{len(programs)} programs asked, {self.remaining} of {self.budget} left")
        from tasm_env.tasks.measure import program_cost

        from .distance import distances

        texts = [p if isinstance(p, str) else str(p) for p in programs]
        verdicts = self.verifier.check(texts)
        far = distances(self.verifier, texts, verdicts)
        scored = []
        for text, verdict, d in zip(texts, verdicts, far):
            self.used += 1
            cycles = None
            if verdict.ok:
                self.valid += 1
                program = Program.parse(text)
                cycles = program_cost(program, self.task.inputs, reference=Program.coerce(self.task.baseline))[0]
                candidate = (cycles, len(program), text)
                if self.best is None or candidate < self.best:
                    if self.best is None or cycles < self.best[0]:
                        self.curve.append((self.used, min(cycles, self.curve[-1][1])))
                    self.best = candidate
            scored.append(Scored(text, verdict.ok, cycles, 0.0 if verdict.ok else d))
        return scored


@contextmanager
def one_torch_thread():
    """One torch thread while a unit runs (restored after): the networks are small, and on a busy machine torch's
    thread pool makes every tiny matmul wait for a free core (sampling measured 15x slower at load 20 on 2
    cores). Parallelism comes from running units side by side instead."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


OnProgress = Callable[[int, "int | None"], None]  # (programs scored so far, best valid cycles or None)


def run_unit(unit: RunUnit, *, task: Task | None = None, progress: bool = False,
             on_progress: OnProgress | None = None) -> RunRecord:
    """Run one agent on one task until its budget is spent (or it proposes nothing), then confirm the best
    program on independent tests; the baseline stands in when nothing verified (``found`` False).
    ``progress``: a bar of programs scored for this run; ``on_progress``: called after every scored batch
    (how a pool worker reports to the driver's bars)."""
    from tasm_env.tasks.suite import load_suite

    task = task if task is not None else load_suite(unit.suite)[unit.task]
    agent = make_agent(unit.agent, AgentContext(seed=unit.seed, device=unit.device, suite=unit.suite,
                                                split=unit.split, checkpoint=unit.checkpoint,
                                                options=dict(unit.options)))
    with one_torch_thread():
        return _run(unit, task, agent, progress, on_progress)


def _run(unit: RunUnit, task: Task, agent: Agent, progress: bool, on_progress: OnProgress | None) -> RunRecord:
    from tqdm.auto import tqdm

    from tasm_env.verify import Verifier

    budget = ScoringBudget(task, unit.budget, seed=unit.seed)
    bar = tqdm(total=unit.budget, desc=f"{unit.agent} seed {unit.seed} {task.name}", unit="prog",
               disable=not progress, leave=False)
    start = time.perf_counter()
    for _ in range(unit.budget):  # each round scores at least one program: at most `budget` rounds
        if not budget.remaining:
            break
        proposals = list(agent.propose(task, min(unit.batch, budget.remaining)))
        if not proposals:
            break
        agent.learn(task, budget.score(proposals))  # over-asking raises BudgetExhausted: no silent trimming
        bar.update(len(proposals))
        bar.set_postfix(best=budget.best[0] if budget.best else "-")
        if on_progress is not None:
            on_progress(budget.used, budget.best[0] if budget.best else None)
    bar.close()
    baseline = str(Program.coerce(task.baseline))
    best, cycles, found = baseline, task.baseline_cycles, False
    if budget.best is not None and budget.best[0] <= task.baseline_cycles:
        confirm = Verifier(task, n_tests=SCREEN_TESTS, seed=unit.seed + CONFIRM_SEED_OFFSET)
        if confirm.check([budget.best[2]])[0].ok:
            best, cycles, found = budget.best[2], budget.best[0], True
    optimum = getattr(task, "optimum", None)
    return RunRecord(agent=unit.agent, seed=unit.seed, task=task.name, tier=getattr(task, "tier", ""),
                     best_program=best, best_cycles=cycles, baseline_cycles=task.baseline_cycles,
                     programs_scored=budget.used, valid_scored=budget.valid, found=found,
                     seconds=time.perf_counter() - start, curve=[list(p) for p in budget.curve],
                     optimum_cycles=getattr(optimum, "cycles", None) if optimum is not None else None,
                     optimum_proved=bool(getattr(optimum, "proved", False)))
