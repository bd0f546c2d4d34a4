"""Rewards and schedules for the emission problem (torch tensors in and out).

* :func:`cycle_reward` / :func:`cycle_log_reward`: the seed's ``R = eps`` if invalid, else
  ``1 + max(0, (c_base - c) / c_base)``, raised to ``beta`` (so ``R`` is ``eps**beta`` or in ``[1, 2**beta]``).
* :func:`shaped_reward` / :func:`shaped_log_reward`: the seed's ``eps + k / len`` where ``k`` is the first
  mask violation, ``1 + eps`` without one (``R`` in ``[eps, 1 + eps]``); :func:`shaped_phase` says when the
  seed used it.
* :func:`partial_credit`: the share of output slots a candidate gets right over a verifier's tests, in ``[0, 1]``.
* :func:`cost_of`: a program's cost as ``cycles``, ``padded_height`` or a weighted sum of table heights.
* :func:`linear_anneal`: the seed's temperature schedule (2.0 -> 0.5 over 10k steps).
* :class:`RewardModel`: verifies a batch of (task, program) (screened across tasks, then one verifier call per
  task), caches verdicts per (task, program), returns log-rewards.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Mapping, Sequence, Union

import numpy as np
import torch

from .. import batch
from ..asm import Program
from ..collector import collector_paused
from ..cost import TableHeights, next_power_of_two
from ..errors import ConfigError, TasmError
from ..plan import summarize
from ..verify import CONTEXT_DEPTH, Verifier, verifier_of
from .screen import random_round, screen

Cost = Union[str, Mapping[str, float]]
COSTS = ("cycles", "padded_height")
"""Named costs; a mapping from table name (:class:`~tasm_env.cost.TableHeights` fields) to weight is the third
kind."""
PAUSE_AT = 8
"""New blocks in one :meth:`RewardModel.evaluate` call from which Python's cyclic garbage collector is paused
while they are screened and checked (:func:`tasm_env.collector.collector_paused`). Measured on the native
vector env (``benchmarks/env_speed.py --only vector``: most steps finish 0-40 new blocks): 8 gave 1.03-1.25x
over no pause in five pairs, 64 (a few steps only) and 1 (every step) none (docs/envs.md, 2026-12-04)."""


def _tensor(x, dtype=torch.float64) -> torch.Tensor:
    return torch.as_tensor(x, dtype=dtype)


# ------------------------------------------------------------------------------------------ the seed's


def cycle_reward(valid, cycles, baseline_cycles, eps: float = 1e-3, beta: float = 1.0) -> torch.Tensor:
    """``R = eps`` where invalid, else ``1 + max(0, (c_base - c) / c_base)``; then ``R ** beta``.

    Works for any cost (cycles, padded height, ...): ``cycles`` and ``baseline_cycles`` broadcast. A baseline
    cost <= 0 gives no improvement term."""
    return torch.exp(cycle_log_reward(valid, cycles, baseline_cycles, eps, beta))


def cycle_log_reward(valid, cycles, baseline_cycles, eps: float = 1e-3, beta: float = 1.0) -> torch.Tensor:
    """``log`` of :func:`cycle_reward`, computed directly (for GFlowNets)."""
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}")
    valid = _tensor(valid, torch.bool)
    cost, base = _tensor(cycles), _tensor(baseline_cycles)
    gain = torch.where(base > 0, (base - cost) / base.clamp_min(1e-300), torch.zeros_like(base)).clamp_min(0)
    return beta * torch.where(valid, torch.log1p(gain), torch.full_like(gain, math.log(eps)))


def invalid_by_log_reward(log_rewards: torch.Tensor) -> torch.Tensor:
    """Which blocks these log rewards (of :meth:`RewardModel.log_rewards_of`, ``beta > 0``) mark invalid: a valid
    block's is ``beta * log1p(gain) >= 0``, an invalid one's ``beta * log(eps + credit) < 0`` (``eps + credit < 1``)."""
    return log_rewards < 0


def shaped_reward(first_violation, length, eps: float = 1e-3) -> torch.Tensor:
    """The seed's shaped reward: ``eps + k / len`` where ``k`` (0-based) is the first step that violated the
    mask, ``1 + eps`` where there was none (``first_violation < 0``). ``length`` is the episode's action count
    (the environments count the terminating EOS, so a violating EOS at position n scores ``eps + n/(n+1)``).
    ``R`` is in ``[eps, 1 + eps]``."""
    k, n = _tensor(first_violation), _tensor(length)
    early = eps + k / n.clamp_min(1)
    return torch.where(k < 0, torch.full_like(early, 1 + eps), early)


def shaped_log_reward(first_violation, length, eps: float = 1e-3) -> torch.Tensor:
    """``log`` of :func:`shaped_reward`."""
    return torch.log(shaped_reward(first_violation, length, eps))


def shaped_phase(step: int, steps: int = 1000, until: float = 0.7) -> bool:
    """Whether the seed used the shaped reward at training ``step``: while ``step / steps < until``."""
    return step / steps < until


def linear_anneal(step: int, start: float = 2.0, end: float = 0.5, steps: int = 10_000) -> float:
    """The seed's sampling temperature: linear from ``start`` at step 0 to ``end`` at ``steps``, then ``end``."""
    if steps <= 0:
        return end
    return start + (end - start) * min(max(step, 0) / steps, 1.0)


# -------------------------------------------------------------------------------------- partial credit


def partial_credit(verifier: Verifier, programs: Sequence[Program | str]) -> np.ndarray:
    """Per program, the share of output slots equal to the baseline's over the verifier's tests, in ``[0, 1]``.

    Output slots are the baseline's outputs on the stack (its top ``output arity`` slots, compared slot by slot
    from the top) and its public output words. A crash is an outcome: a lane where both crash scores every
    slot right (a crash's kind need not match, as in the verdict), a lane where only one of them crashes
    scores 0; a program the batched executor cannot run scores 0. A block with no output slots scores the
    share of lanes where the program crashes exactly when the baseline does. Every program equivalent to the
    baseline scores 1."""
    shape, base = verifier.shape, verifier.plan
    arity = len(base.stack) - shape.stack_depth + len(verifier.input_types)  # outputs above the context
    arity = max(arity, 0)
    scores = np.zeros(len(programs))
    plans, where = [], []
    for i, program in enumerate(programs):
        try:
            plans.append(batch.compile_block(Program.coerce(program), shape))
            where.append(i)
        except TasmError:
            continue
    if not plans:
        return scores
    run = batch.GroupRun([base] + plans, verifier.tests.inputs)
    lanes = verifier.tests.inputs.lanes
    base_top = run.values(0, base.stack[len(base.stack) - arity:]) if arity else np.zeros((0, lanes), np.uint64)
    base_out = run.values(0, base.output) if base.output else np.zeros((0, lanes), np.uint64)
    slots = arity + len(base.output)
    base_ok = run.crash[0] == batch.NO_CRASH
    for p, (i, plan) in enumerate(zip(where, plans), start=1):
        crashes = run.crash[p] != batch.NO_CRASH
        ok = ~crashes & base_ok  # both ran: compare the slots
        both_crash = int((crashes & ~base_ok).sum())  # the same outcome: every slot right
        if slots == 0:
            scores[i] = (ok.sum() + both_crash) / lanes
            continue
        right = both_crash * slots
        top = min(arity, len(plan.stack))
        if top:
            cand = run.values(p, plan.stack[len(plan.stack) - top:])
            right += ((cand == base_top[arity - top:]) & ok).sum()
        words = min(len(base.output), len(plan.output))
        if words:
            right += ((run.values(p, plan.output[:words]) == base_out[:words]) & ok).sum()
        scores[i] = right / (slots * lanes)
    return scores


# ----------------------------------------------------------------------------------------------- costs


def _check_cost(cost: Cost) -> None:
    if isinstance(cost, str):
        if cost not in COSTS:
            raise TasmError(f"unknown cost {cost!r}: expected one of {', '.join(COSTS)} or a mapping of table "
                            f"weights over {', '.join(TableHeights._fields)}")
        return
    unknown = set(cost) - set(TableHeights._fields)
    if unknown:
        raise TasmError(f"unknown tables {sorted(unknown)} in cost weights: expected {', '.join(TableHeights._fields)}")


def cost_of(program: Program | str, task, cost: Cost = "cycles") -> float:
    """The cost of ``program`` as a block of ``task``: ``cycles`` (instructions executed, from the static pass),
    ``padded_height`` or a weighted sum of table heights (both from a reference-VM run on the task's cost test:
    :func:`tasm_env.tasks.measure.program_cost`, with the baseline deciding the input offered)."""
    _check_cost(cost)
    program = Program.coerce(program)
    if cost == "cycles":
        from ..plan import Shape

        k = len(task.inputs)
        return float(summarize(program, Shape(CONTEXT_DEPTH + k, 1 << 12, 1 << 12, 1 << 12)).cycles)
    from ..tasks.measure import program_cost

    _, heights = program_cost(program, tuple(task.inputs), reference=Program.coerce(task.baseline))
    if cost == "padded_height":
        return float(next_power_of_two(max(heights.values())))
    return float(sum(weight * heights[name] for name, weight in cost.items()))


# ------------------------------------------------------------------------------------------ the model


@dataclass(frozen=True)
class Evaluation:
    """What the reward model found for one (task, program): validity, the verdict's reason, the program's and
    the baseline's cost (the program's is NaN when invalid) and the partial-credit share (NaN unless asked)."""

    valid: bool
    reason: str
    cost: float
    baseline_cost: float
    share: float = float("nan")


def task_key(task) -> tuple:
    """What identifies a task for caching: its name, baseline program and input types (two tasks sharing a name
    but not a baseline never share cache entries)."""
    return task.name, Program.coerce(task.baseline), tuple(task.inputs)


class RewardModel:
    """Log-rewards for batches of (task, program), with verification results cached in an LRU keyed by
    (task key, program).

    ``cost``: ``"cycles"``, ``"padded_height"`` or table weights. ``eps``, ``beta``: as in :func:`cycle_reward`.
    ``partial_credit``: weight ``w`` in ``[0, 1 - eps)``; when positive, an invalid program earns
    ``eps + w * share`` (:func:`partial_credit`) instead of ``eps``, still below every valid program's 1.
    ``n_tests``, ``seed``: the verifier's tests.

    Verifiers live in one place, :func:`tasm_env.verify.verifier_of` (an LRU of
    :data:`~tasm_env.verify.VERIFIERS_KEPT`); the model keeps verdicts and each task's baseline cost. A batch's
    new blocks are screened together (:func:`tasm_env.emission.screen.screen`: every task's first-round tests
    in one evaluation), then each task's survivors and unscreened blocks are checked by its verifier, one call
    per task."""

    def __init__(self, cost: Cost = "cycles", eps: float = 1e-3, beta: float = 1.0, partial_credit: float = 0.0,
                 n_tests: int = 40, seed: int = 42, cache_size: int = 1 << 16):
        _check_cost(cost)
        if not 0 < eps < 1:
            raise ConfigError(f"eps (the reward of an invalid program) must be in (0, 1), below every valid "
                              f"program's reward of at least 1, got {eps}")
        if not 0 <= partial_credit < 1 - eps:
            raise ValueError(f"partial_credit must be in [0, 1 - eps), got {partial_credit}")
        self.cost, self.eps, self.beta, self.partial_credit = cost, eps, beta, partial_credit
        self.n_tests, self.seed = n_tests, seed
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple, Evaluation] = OrderedDict()
        self._base_costs: dict[tuple, float] = {}  # task key -> the baseline's cost (one float per task seen)
        self.hits = self.misses = 0
        self._asked: set[tuple] = set()  # task keys whose verifier this model asked for (built by now)

    def verifier(self, task) -> Verifier:
        """The verifier of ``task`` (from the one cache, :func:`tasm_env.verify.verifier_of`)."""
        self._asked.add(task_key(task))
        return verifier_of(task, None, self.n_tests, self.seed)

    def baseline_cost(self, task) -> float:
        """The cost of ``task``'s baseline (computed once per task)."""
        return self._baseline_cost(task_key(task), task)

    def _baseline_cost(self, key: tuple, task) -> float:
        found = self._base_costs.get(key)
        if found is None:
            found = self._base_costs[key] = cost_of(task.baseline, task, self.cost)
        return found

    def evaluate(self, tasks, programs: Sequence[Program | str]) -> list[Evaluation]:
        """One :class:`Evaluation` per program; ``tasks`` is one task for all or one per program."""
        tasks = list(tasks) if isinstance(tasks, (list, tuple)) else [tasks] * len(programs)
        if len(tasks) != len(programs):
            raise ValueError(f"{len(tasks)} tasks for {len(programs)} programs")
        results: list[Evaluation | None] = [None] * len(programs)
        pending: dict[tuple, tuple[object, dict[Program, list[int]]]] = {}
        keys: dict[int, tuple] = {}  # id(task) -> its key, one per task of the batch (shared by its cache entries)
        for i, (task, program) in enumerate(zip(tasks, programs)):
            try:
                program = Program.coerce(program)
            except TasmError as err:
                results[i] = Evaluation(False, f"not a program: {err}", float("nan"), float("nan"))
                continue
            key = keys.get(id(task))
            if key is None:
                key = keys[id(task)] = task_key(task)
            found = self._cache.get((key, program))
            if found is not None:
                self._cache.move_to_end((key, program))
                self.hits += 1
                results[i] = found
            else:
                self.misses += 1
                pending.setdefault(key, (task, {}))[1].setdefault(program, []).append(i)
        if pending:
            with collector_paused(sum(len(entry[1]) for entry in pending.values()) >= PAUSE_AT):
                self._evaluate_new(pending, results)
        return results  # type: ignore[return-value]

    def _evaluate_new(self, pending: dict, results: list) -> None:
        """Screen, check and remember the new blocks of ``pending`` (task key -> (task, program -> indices)),
        into ``results``."""
        refuted, early = self._screen_first_visits(pending)
        for key, evaluation in refuted:
            self._remember(key[:2], evaluation)
            for i in key[2]:
                results[i] = evaluation
        pending = {key: entry for key, entry in pending.items() if entry[1]}
        work = [early[key][0] if key in early else (self.verifier(task), list(by_program))
                for key, (task, by_program) in pending.items()]
        later = iter(screen([w for key, w in zip(pending, work) if key not in early]))
        screened = [early[key][1] if key in early else next(later) for key in pending]
        for (key, (task, by_program)), (verifier, unique), refuted in zip(pending.items(), work, screened):
            base_cost = self._baseline_cost(key, task)
            rest = [program for j, program in enumerate(unique) if not refuted.refuted[j]]
            verdicts = dict(zip(rest, verifier.check(rest)))
            shares = partial_credit(verifier, unique) if self.partial_credit > 0 else [float("nan")] * len(unique)
            for j, (program, share) in enumerate(zip(unique, shares)):
                if refuted.refuted[j]:
                    evaluation = Evaluation(False, refuted.reason(j), float("nan"), base_cost, float(share))
                else:
                    verdict = verdicts[program]
                    cost = cost_of(program, task, self.cost) if verdict.ok else float("nan")
                    evaluation = Evaluation(verdict.ok, verdict.reason, cost, base_cost, float(share))
                self._remember((key, program), evaluation)
                for i in by_program[program]:
                    results[i] = evaluation

    def _screen_first_visits(self, pending: dict) -> tuple[list[tuple[tuple, Evaluation]], dict]:
        """Refute new blocks of tasks whose verifier this model has not asked for yet on the verifier's own
        random tests and static check (:func:`tasm_env.emission.screen.random_round`), before building it:
        ((task key, program, indices), evaluation) per refuted block, each removed from ``pending``. Not with
        partial credit (its share needs the verifier's tests) or a seed the verifier does not cache by.

        The same evaluation screens the blocks of the tasks whose verifier was asked for before this batch on
        its first round, as :meth:`evaluate` would next (their blocks are not removed here): the second item is
        task key -> ((verifier, programs), :class:`~tasm_env.emission.screen.Screened`) for those tasks."""
        if self.partial_credit > 0 or type(self.seed) is not int or type(self.n_tests) is not int:
            return [], {}
        work, keys, asked = [], [], []
        for key, (task, by_program) in pending.items():
            if key in self._asked:
                asked.append(key)
                continue
            found = random_round(key[1], key[2], self.n_tests, self.seed, key[0])
            if found is not None:
                work.append((found, list(by_program)))
                keys.append(key)
        known, kept = [], []
        for key in asked:
            try:
                known.append((self.verifier(pending[key][0]), list(pending[key][1])))
            except TasmError:
                continue  # evaluate asks again, and raises, where it did before this screen
            kept.append(key)
        screened = screen(work + known)
        refuted = []
        for key, (_, programs), found in zip(keys, work, screened):
            task, by_program = pending[key]
            at = np.flatnonzero(found.refuted).tolist()
            base_cost = self._baseline_cost(key, task) if at else None
            for j in at:
                program = programs[j]
                evaluation = Evaluation(False, found.reason(j), float("nan"), base_cost)
                refuted.append(((key, program, by_program.pop(program)), evaluation))
        return refuted, {key: (w, found) for key, w, found in zip(kept, known, screened[len(work):])}

    def _remember(self, key: tuple, evaluation: Evaluation) -> None:
        self._cache[key] = evaluation
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def log_rewards(self, tasks, programs: Sequence[Program | str]) -> torch.Tensor:
        """(N,) float64 log-rewards: :func:`cycle_log_reward` of the evaluations (plus partial credit)."""
        return self.log_rewards_of(self.evaluate(tasks, programs))

    def rewards(self, tasks, programs: Sequence[Program | str]) -> torch.Tensor:
        return torch.exp(self.log_rewards(tasks, programs))

    def log_rewards_of(self, evaluations: Sequence[Evaluation]) -> torch.Tensor:
        valid = torch.tensor([e.valid for e in evaluations], dtype=torch.bool)
        cost = torch.tensor([e.cost if e.valid else 0.0 for e in evaluations], dtype=torch.float64)
        base = torch.tensor([e.baseline_cost for e in evaluations], dtype=torch.float64)
        log_r = cycle_log_reward(valid, cost, base, self.eps, self.beta)
        if self.partial_credit > 0:
            share = torch.tensor([0.0 if math.isnan(e.share) else e.share for e in evaluations], dtype=torch.float64)
            invalid = self.beta * torch.log(self.eps + self.partial_credit * share)
            log_r = torch.where(valid, log_r, invalid)
        return log_r

    def cache_info(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "size": len(self._cache), "tasks": len(self._base_costs)}

    def clear(self) -> None:
        """Forget verdicts and baseline costs (verifiers stay in :func:`tasm_env.verify.verifier_of`'s cache)."""
        self._cache.clear()
        self._base_costs.clear()
        self.hits = self.misses = 0
