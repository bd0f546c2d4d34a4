"""What the torchgfn env and the Gymnasium env share: the task pool, the configuration checks, the reward model,
and fixed-size task features.

Both envs are thin wrappers over the emission core (:mod:`tasm_env.emission`); nothing here decides what is
legal or what a program earns. (:class:`~tasm_env.emission.row.RowMachine` is re-exported from here, its old
home.)
"""

from __future__ import annotations

import math
import numbers
import operator
import os
from typing import Mapping, Sequence, Union

import numpy as np

from ..emission.reward import COSTS, Cost, RewardModel, shaped_log_reward
from ..emission.row import RowMachine
from ..emission.spec import TaskSpec, default_budget
from ..emission.state import check_level
from ..emission.vocab import Vocabulary
from ..errors import ConfigError, TasmError
from ..tasks.suite import Suite, load_suite
from ..tasks.task import Task
from ..tasks.tir import OPS
from ..value_types import INPUT_TYPES

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
    if isinstance(tasks, (str, os.PathLike, Suite)):
        tasks, suite = None, tasks
    if tasks is None:
        if suite is None:
            raise TasmError("no tasks: pass tasks=[Task, ...] or suite='tasm-basic-v1' (with split=...)")
        if not isinstance(suite, (str, os.PathLike, Suite)):
            raise ConfigError(f"suite must be a suite name such as 'tasm-basic-v1', a path to a suite JSON file or "
                              f"a tasm_env.Suite, got {suite!r}")
        loaded = suite if isinstance(suite, Suite) else load_suite(suite)
        pool = loaded.split(split)
        where = f"suite {loaded.name!r} split {split!r}"
    else:
        if not isinstance(tasks, (Task, Sequence)):
            raise ConfigError(f"tasks must be a tasm_env.Task, a sequence of them or a suite name, got {tasks!r}")
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


def check_vocab(vocab) -> Vocabulary:
    """``vocab``, or :meth:`Vocabulary.default` for None."""
    if vocab is None:
        return Vocabulary.default()
    if not isinstance(vocab, Vocabulary):
        raise ConfigError(f"vocab must be a tasm_env.emission.vocab.Vocabulary (Vocabulary.default(), "
                          f"Vocabulary.trident() or your own) or None for the default, got {vocab!r}")
    return vocab


def check_real(value, name: str, low: float, high: float = math.inf, why: str = "") -> float:
    """``value`` as a float if it is a real number (not a bool) in the open interval ``(low, high)``."""
    interval = f"({low}, {high})" if high < math.inf else f"greater than {low}"
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not low < value < high:
        raise ConfigError(f"{name} must be a number {interval}{why}, got {value!r}")
    return float(value)


def check_count(value, name: str, low: int = 1) -> int:
    """``value`` if it is an integer (not a bool) of at least ``low``."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
        raise ConfigError(f"{name} must be an integer of at least {low}, got {value!r}")
    return int(value)


def reward_model(reward: Reward, masking: str, cost: Cost = "cycles", beta: float = 1.0, eps: float = 1e-3,
                 n_tests: int = 40, seed: int = 42) -> RewardModel | None:
    """The verifying reward model for ``reward`` (None for ``"shaped"``, which verifies nothing). Checks the
    combination: the shaped reward scores the first mask violation, so it needs ``masking="none"``."""
    eps = check_real(eps, "eps", 0, 1, " (the reward of an invalid block, below every valid block's reward of at "
                     "least 1)")
    beta = check_real(beta, "beta", 0)
    n_tests = check_count(n_tests, "n_tests")
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
        raise ConfigError(f"verifier_seed must be an integer, got {seed!r}")
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
        budget = min(budget, check_count(max_len, "max_len (the most tokens a block may have, EOS excluded)"))
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
    """An action as a Python int in ``[0, n_actions)``: an int, a numpy integer or an integer array of one
    element. Floats and bools are refused, even when they equal a token id."""
    value = token.reshape(()).item() if isinstance(token, np.ndarray) and token.size == 1 else token
    if type(value) is not int:  # the common cases first: a step costs a few microseconds
        if isinstance(value, np.integer):
            value = int(value)
        elif isinstance(value, (bool, np.bool_)) or "bool" in str(getattr(value, "dtype", "")):
            value = None
        else:
            try:
                value = operator.index(value)  # numpy and torch integers; floats raise
            except TypeError:
                value = None
    if value is None or not 0 <= value < n_actions:
        raise ConfigError(f"an action is an integer token id in [0, {n_actions}) (an int or a numpy integer, not "
                          f"a float or a bool), got {token!r}")
    return value


RESET_OPTIONS = ("task",)
"""The keys ``reset(options=...)`` of the Gymnasium env understands."""


def check_options(options) -> Mapping:
    """``options`` of a reset (None: none), refusing anything but a mapping with keys in :data:`RESET_OPTIONS`."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ConfigError(f"options must be None or a dict such as {{'task': a name, an index or a Task}}, "
                          f"got {options!r}")
    unknown = [key for key in options if key not in RESET_OPTIONS]
    if unknown:
        raise ConfigError(f"unknown reset option(s) {', '.join(map(repr, unknown))}: the options are "
                          f"{', '.join(map(repr, RESET_OPTIONS))}")
    return options


def describe_task(task: Task, spec: TaskSpec) -> str:
    return (f"task {task.name!r} ({spec.n_inputs} inputs -> {spec.output_arity} outputs, baseline "
            f"{task.baseline_cycles} cycles, budget {spec.budget})")


__all__ = ["ILLEGAL_ACTIONS", "RESET_OPTIONS", "REWARDS", "Reward", "RowMachine", "TASK_FEATURES", "check_count",
           "check_illegal_action", "check_masking", "check_options", "check_real", "check_token", "check_vocab",
           "describe_task", "reward_model", "resolve_tasks", "shaped_log_rewards", "task_features", "task_spec"]
