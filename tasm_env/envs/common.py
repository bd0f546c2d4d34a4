"""What the torchgfn env and the Gymnasium env share: the task pool, the configuration checks, the reward model,
and fixed-size task features.

Both envs are thin wrappers over the emission core (:mod:`tasm_env.emission`); nothing here decides what is
legal or what a program earns. (:class:`~tasm_env.emission.row.RowMachine` is re-exported from here, its old
home.)
"""

from __future__ import annotations

from typing import Sequence, Union

import numpy as np

from ..emission.reward import COSTS, Cost, RewardModel, shaped_log_reward
from ..emission.row import RowMachine
from ..emission.spec import TaskSpec, default_budget
from ..emission.state import check_level
from ..emission.vocab import Vocabulary
from ..errors import TasmError
from ..tasks.suite import Suite, load_suite
from ..tasks.task import Task
from ..tasks.tir import OPS
from ..verify import INPUT_TYPES

Reward = Union[str, float]
"""``"cycles"`` (the seed's cycle reward), ``"shaped"`` (the seed's ``eps + k / len``, masking ``none`` only) or
a partial-credit weight ``w`` in ``(0, 1 - eps)`` (cycle reward; an invalid program earns ``eps + w * share``)."""
REWARDS = ("cycles", "shaped")
ILLEGAL_ACTIONS = ("error", "penalty")


# ---------------------------------------------------------------------------------------- configuration


def resolve_tasks(tasks: Task | Sequence[Task] | str | Suite | None = None, suite: str | Suite | None = None,
                  split: str = "train", tier: str | None = None) -> list[Task]:
    """The task pool: ``tasks`` (one Task or a list), else the ``split`` of ``suite`` (a name, a path to a suite
    file or a :class:`~tasm_env.tasks.suite.Suite`); ``tasks`` may also be a suite name. ``tier`` keeps only the
    tasks of that tier (``easy``, ``medium``, ``hard``, ``idiom``)."""
    if isinstance(tasks, (str, Suite)):
        tasks, suite = None, tasks
    if tasks is None:
        if suite is None:
            raise TasmError("no tasks: pass tasks=[Task, ...] or suite='tasm-basic-v0' (with split=...)")
        loaded = suite if isinstance(suite, Suite) else load_suite(suite)
        pool = loaded.split(split)
        where = f"suite {loaded.name!r} split {split!r}"
    else:
        pool = [tasks] if isinstance(tasks, Task) else list(tasks)
        where = "the given tasks"
        for task in pool:
            if not isinstance(task, Task):
                raise TasmError(f"tasks must be tasm_env.Task objects, got {type(task).__name__}")
    if tier is not None:
        pool = [task for task in pool if task.tier == tier]
        where += f" tier {tier!r}"
    if not pool:
        raise TasmError(f"no tasks in {where}")
    return pool


def check_masking(masking: str) -> str:
    return check_level(masking, "masking")


def check_illegal_action(illegal_action: str) -> str:
    if illegal_action not in ILLEGAL_ACTIONS:
        raise TasmError(f"illegal_action must be one of {', '.join(map(repr, ILLEGAL_ACTIONS))}, "
                        f"got {illegal_action!r}")
    return illegal_action


def reward_model(reward: Reward, masking: str, cost: Cost = "cycles", beta: float = 1.0, eps: float = 1e-3,
                 n_tests: int = 40, seed: int = 42) -> RewardModel | None:
    """The verifying reward model for ``reward`` (None for ``"shaped"``, which verifies nothing). Checks the
    combination: the shaped reward scores the first mask violation, so it needs ``masking="none"``."""
    if not eps > 0:
        raise TasmError(f"eps must be positive, got {eps}")
    if not beta > 0:
        raise TasmError(f"beta must be positive, got {beta}")
    if isinstance(cost, str) and cost not in COSTS:
        raise TasmError(f"cost must be one of {', '.join(map(repr, COSTS))} or a mapping of table weights, "
                        f"got {cost!r}")
    if reward == "shaped":
        if masking != "none":
            raise TasmError("reward='shaped' scores the first stack violation, which masking "
                            f"{masking!r} never allows: use masking='none'")
        return None
    if reward == "cycles":
        weight = 0.0
    elif isinstance(reward, (int, float)) and not isinstance(reward, bool):
        weight = float(reward)
        if not 0 < weight < 1 - eps:
            raise TasmError(f"a partial-credit reward weight must be in (0, 1 - eps) = (0, {1 - eps}), got {weight}")
    else:
        raise TasmError(f"reward must be 'cycles', 'shaped' or a partial-credit weight in (0, 1 - eps), got {reward!r}")
    return RewardModel(cost=cost, eps=eps, beta=beta, partial_credit=weight, n_tests=n_tests, seed=seed)


def task_spec(task: Task, vocab: Vocabulary, max_len: int | None) -> TaskSpec:
    """The task's spec, its budget the default (``max(2n, n + 8)`` for a baseline of n instructions) capped at
    ``max_len``."""
    budget = default_budget(len(task.baseline))
    if max_len is not None:
        if max_len < 1:
            raise TasmError(f"max_len must be at least 1, got {max_len}")
        budget = min(budget, int(max_len))
    return TaskSpec.from_task(task, vocab, budget=budget)


def shaped_log_rewards(first_violation, n_tokens, eps: float, beta: float):
    """``beta * log(eps + k / len)`` (``beta * log(1 + eps)`` without a violation), ``len`` counting the EOS."""
    return beta * shaped_log_reward(first_violation, n_tokens + 1, eps)


# --------------------------------------------------------------------------------------- task features

_OPS = tuple(OPS)
TASK_FEATURES: tuple[str, ...] = (
    "inputs", "output_arity", "baseline_length", "baseline_cycles", "budget", "constants",
    "public_reads", "secret_reads", "secret_digests", "public_outputs",
    *(f"input={kind}" for kind in INPUT_TYPES),
    *(f"op={name}" for name in _OPS),
)
"""The meaning of each entry of :func:`task_features` (counts, as float32)."""


def task_features(task: Task, spec: TaskSpec) -> np.ndarray:
    """A fixed-size float32 description of a task (:data:`TASK_FEATURES`): its shape, its baseline's length and
    cycles, its budget, the constants it binds, its I/O totals, its input types and a histogram of its TIR ops."""
    inputs = [sum(kind == t for t in task.inputs) for kind in INPUT_TYPES]
    ops = [0] * len(_OPS)
    for node in task.tir.nodes:
        ops[_OPS.index(node.op)] += 1
    values = [spec.n_inputs, spec.output_arity, len(task.baseline), task.baseline_cycles, spec.budget,
              len(spec.bound.constants), *spec.io_totals, *inputs, *ops]
    return np.asarray(values, dtype=np.float32)


def check_token(token, n_actions: int) -> int:
    """An action as a Python int in ``[0, n_actions)`` (numpy integers and 0-d arrays accepted)."""
    if isinstance(token, np.ndarray) and token.size == 1:
        token = token.reshape(()).item()
    try:
        value = int(token)
    except (TypeError, ValueError):
        raise TasmError(f"an action is an integer token id in [0, {n_actions}), got {token!r}") from None
    if value != token or not 0 <= value < n_actions:
        raise TasmError(f"an action is an integer token id in [0, {n_actions}), got {token!r}")
    return value


def describe_task(task: Task, spec: TaskSpec) -> str:
    return (f"task {task.name!r} ({spec.n_inputs} inputs -> {spec.output_arity} outputs, baseline "
            f"{task.baseline_cycles} cycles, budget {spec.budget})")


__all__ = ["ILLEGAL_ACTIONS", "REWARDS", "Reward", "RowMachine", "TASK_FEATURES", "check_illegal_action",
           "check_masking", "check_token", "describe_task", "reward_model", "resolve_tasks", "shaped_log_rewards",
           "task_features", "task_spec"]
