"""What the verifier says: the :class:`Verdict` and its first :class:`Counterexample`."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import batch
from .coverage import TestSet


@dataclass(frozen=True)
class Counterexample:
    """The first test on which the programs differ: its inputs, which part of the state differed (``part``:
    ``crash``, ``op stack``, ``public output``, ``RAM``, ``sponge``) and what each program did there.

    The inputs are read from the test set only when asked for (most verdicts in training are never looked at).
    """

    test: int
    baseline: str
    candidate: str
    tests: TestSet = field(repr=False, compare=False)
    part: str = ""
    programs: tuple = field(default=(), repr=False, compare=False)

    @property
    def stack(self) -> tuple[int, ...]:
        """The whole initial stack, top last."""
        return tuple(int(v) for v in self.tests.inputs.stack[self.test])

    @property
    def public_input(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.tests.inputs.public_input[self.test])

    @property
    def secret_input(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.tests.inputs.secret_input[self.test])

    @property
    def secret_digests(self) -> tuple[tuple[int, ...], ...]:
        return tuple(tuple(int(v) for v in d) for d in self.tests.inputs.secret_digests[self.test])

    @property
    def ram_seed(self) -> int:
        """Never-written RAM cells read ``field.mix(address, ram_seed)``; 0 means all-zero RAM (but see
        :attr:`ram`, which holds the initial contents of every cell either program touched)."""
        return int(self.tests.inputs.ram_seed[self.test])

    @property
    def ram(self) -> dict[int, int]:
        """Initial contents of every RAM cell either program touched on this test (pass as ``vm.run(ram=...)``
        to replay it)."""
        lane = self.tests.lanes(slice(self.test, self.test + 1))
        run = batch.GroupRun([batch.compile_block(p, lane.shape) for p in self.programs], lane)
        cells: dict[int, int] = {}
        for p, plan in enumerate(run.plans):
            addresses = run.values(p, plan.touched).reshape(-1, 1)
            for a, v in zip(addresses[:, 0], lane.initial_ram(addresses)[:, 0]):
                cells[int(a)] = int(v)
        return cells

    def __str__(self) -> str:
        top = ", ".join(str(v) for v in self.stack[-8:])
        return (f"test {self.test}: stack top [... {top}] (top last); baseline -> {self.baseline}; "
                f"candidate -> {self.candidate}")


@dataclass(frozen=True)
class Verdict:
    """``ok`` is True when no test told the programs apart; ``reason`` is one line; ``counterexample`` the
    first failing test where one exists (None for static differences and for ok verdicts); ``part`` the part
    of the state that differed. ``status`` says how certain the verdict is: ``refuted`` (not equivalent),
    ``tested`` (equivalent on every test; ``bound`` states the coverage and, where known, the Schwartz-Zippel
    bound), or ``proved`` (``bound`` names the proof)."""

    ok: bool
    reason: str
    counterexample: Counterexample | None = None
    part: str = ""
    status: str = "refuted"
    bound: str = ""

    def __bool__(self) -> bool:
        return self.ok


SAME_DATAFLOW = Verdict(True, "equivalent: the same dataflow as the baseline", status="proved",
                        bound="the same dataflow as the baseline (plans equal up to the order of operations, the "
                              "operands of commutative ones and dead operations that cannot crash)")
"""The verdict of a candidate whose plan is the baseline's in another order (:mod:`tasm_env.dataflow`): it
does on every input what the baseline does, so no test is run."""


def _filled(cls, values: dict):
    """An instance of the frozen dataclass ``cls`` holding ``values`` (every field), made without its
    ``__init__``, which sets each field through ``object.__setattr__``: the verifier makes a verdict and a
    counterexample for nearly every candidate it rejects after running it."""
    instance = object.__new__(cls)
    instance.__dict__.update(values)
    return instance


def refutation(reason: str, counterexample: Counterexample, part: str) -> Verdict:
    """``Verdict(False, reason, counterexample, part)``, made faster."""
    return _filled(Verdict, {"ok": False, "reason": reason, "counterexample": counterexample, "part": part,
                             "status": "refuted", "bound": ""})


def counterexample(test: int, baseline: str, candidate: str, tests: TestSet, part: str,
                   programs: tuple) -> Counterexample:
    """``Counterexample(test, baseline, candidate, tests, part, programs)``, made faster."""
    return _filled(Counterexample, {"test": test, "baseline": baseline, "candidate": candidate, "tests": tests,
                                    "part": part, "programs": programs})
