"""What the torchgfn env and the Gymnasium env share: the task pool, the configuration checks, the reward model,
fixed-size task features, and :class:`RowMachine`, the state machine for one episode in numpy.

Both envs are thin wrappers over the emission core (:mod:`tasm_env.stack`, :mod:`tasm_env.reward`); nothing
here decides what is legal or what a program earns.
"""

from __future__ import annotations

from typing import Sequence, Union

import numpy as np

from ..asm import Program
from ..errors import TasmError
from ..reward import COSTS, Cost, RewardModel, shaped_log_reward
from ..stack import (CONTEXT, LEVELS, NO_VIOLATION, ORIGIN, StackMachine, TaskSpec, _BUDGET, _CLASS, _K, _LEVEL,
                     default_budget)
from ..tasks.suite import Suite, load_suite
from ..tasks.task import Task
from ..tasks.tir import OPS
from ..value_types import INPUT_TYPES
from ..vocab import EOS, Vocabulary

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
    if masking not in LEVELS:
        raise TasmError(f"masking must be one of {', '.join(map(repr, LEVELS))}, got {masking!r}")
    return masking


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


# ------------------------------------------------------------------------------------------ one row


class RowMachine:
    """One episode of one task on a :class:`~tasm_env.stack.StackMachine`, in numpy.

    The batched machine pays torch's per-call overhead (about 150 us a mask and 200 us a step at batch 1); a
    single-episode env needs a few microseconds. This class reads the machine's own tables and applies its own
    rules (:meth:`StackMachine.forward_masks`, :meth:`StackMachine.step` with ``violation`` tracking,
    :meth:`StackMachine.slot_types`, :meth:`StackMachine.final_violation`) to one row. ``row`` holds what the
    machine's row holds for the same prefix (tokens, length, stack change, I/O counters, violation, slot types;
    its table offsets are this machine's). tests/test_envs_gym.py checks rows, masks and rewards against the
    torchgfn env. Rows are always legal states here, so no index needs clamping.
    """

    def __init__(self, machine: StackMachine, task: int, level: str, track_violations: bool = False):
        self.machine, self.task, self.level = machine, int(task), check_masking(level)
        self.layout = L = machine.layout
        self.spec = machine.specs[self.task]
        self.track_violations = track_violations
        info = machine._info[self.task].tolist()
        self._inputs, self._budget, self._effect_base = info[_K], info[_BUDGET], info[_CLASS]
        self._starts = {level: (info[at], info[at + 1]) for level, at in _LEVEL.items()}
        self._effects = machine._effects.numpy()
        type_sources = np.arange(L.type_sources.start, L.type_sources.stop)
        self._type_gather = type_sources[machine._src.numpy()]  # (V, tracked): the columns new types come from
        self._static = machine._static.numpy()  # shares the machine's memory: read-only here
        self._static.flags.writeable = False
        T = L.tracked
        codes = slice(self.task * (ORIGIN + T), (self.task + 1) * (ORIGIN + T))
        self._resolve = machine._resolve.numpy()[codes]
        is_u32 = machine._is_u32.numpy()[codes].tolist()
        columns = np.atleast_1d(np.arange(L.width)[machine._u32_columns]).tolist()
        # (column, bit) of each slot whose u32-ness picks the typed static row, with the codes that hold u32
        self._u32_checks = [(c, b, {code for code, u in enumerate(is_u32) if u})
                            for c, b in zip(columns, machine._u32_bits.tolist())] if machine._n_codes > 1 else []
        self._none_rows = (machine._eos_only_row, machine._n_static + int(machine._n_bound[self.task]))
        self._reach = {level: (reach.pattern_id.numpy(), reach.patterns.numpy(), reach.columns)
                       for level, reach in machine._reach.items()}
        self._types_window = slice(L.types.start, L.types.start + machine.type_window)
        # the layout's columns as plain ints and slices (its properties compute them on every access)
        self._length, self._change, self._violation = L.length, L.change, L.violation
        self._sponge, self._offset, self._slot_result = L.sponge, L.offsets.start, L.slot_result
        self._effect_columns, self._type_columns = L.effects, L.types
        self._s0 = machine.s0.numpy()
        self.row = self._s0.copy()
        self._mask: np.ndarray | None = None
        self._masks: dict[tuple[int, int], np.ndarray] = {}  # (static row, pattern) -> mask, read-only

    # ---- state
    def reset(self) -> None:
        self.row = self._s0.copy()
        self._mask = None

    @property
    def length(self) -> int:
        return self.row.item(self._length)

    @property
    def depth(self) -> int:
        """The live depth: the block's inputs plus the net stack change so far."""
        return self._inputs + self.row.item(self._change)

    @property
    def remaining(self) -> int:
        """Tokens the budget still allows (EOS excluded)."""
        return self._budget - self.length

    @property
    def tokens(self) -> np.ndarray:
        """The prefix so far (token ids)."""
        return self.row[: self.length].astype(np.int64)

    @property
    def violation(self) -> int:
        return self.row.item(self._violation)

    def slot_types(self) -> np.ndarray:
        """The resolved types of the top ``type_window`` slots, st0 first (:meth:`StackMachine.slot_types`)."""
        resolved = self._resolve.take(self.row[self._types_window])
        resolved[max(self.depth, 0):] = CONTEXT
        return resolved

    def program(self) -> Program:
        return self.spec.bound.decode(self.tokens.tolist())

    # ---- legality
    def mask(self) -> np.ndarray:
        """(V,) bool: the legal next tokens under the level (column 0 = EOS). Cached until the next step."""
        if self._mask is None:
            self._mask = self.mask_at(self.level)
        return self._mask

    def mask_at(self, level: str) -> np.ndarray:
        """(V,) bool under any level (the machine's :meth:`~StackMachine.forward_masks` for this row): a static
        legality row AND a reachability pattern, both looked up from the row's table offsets."""
        row = self.row
        if level == "none":
            return self._static[self._none_rows[0] if self.length >= self._budget else self._none_rows[1]]
        if level not in self._reach:
            raise TasmError(f"masking must be one of {', '.join(map(repr, LEVELS))}, got {level!r}")
        pattern_id, patterns, columns = self._reach[level]
        reach_start, static_start = self._starts[level]
        here = reach_start + row.item(self._offset)
        static = static_start + row.item(self._offset + 1)
        if level == "typed":
            static += sum(bit for column, bit, u32 in self._u32_checks if row.item(column) in u32)
        pattern = pattern_id.item(here * columns + min(self._budget - self.length, columns - 1))
        key = (level, static, pattern)
        mask = self._masks.get(key)
        if mask is None:
            if len(self._masks) >= 1 << 14:
                self._masks.clear()
            mask = self._masks[key] = self._static[static] & patterns[pattern]
            mask.flags.writeable = False
        return mask

    def legal(self, token: int) -> bool:
        return bool(self.mask()[token])

    def is_complete(self) -> bool:
        """EOS is legal under ``stack``: the output arity is reached and the I/O totals are met."""
        return bool(self.mask_at("stack")[EOS])

    def final_violation(self) -> int:
        """The first violation (under ``stack``) of an episode ending with EOS now: the recorded one, else the EOS
        position if EOS is illegal here, else -1 (:meth:`StackMachine.final_violation`)."""
        if self.violation >= 0:
            return self.violation
        return NO_VIOLATION if self.is_complete() else self.length

    # ---- transitions
    def step(self, token: int) -> None:
        """Append a token (not EOS: the episode's end is the env's business). Records the first ``stack``
        violation when tracking violations; does not check legality otherwise."""
        row = self.row
        if token == EOS:
            raise ValueError("RowMachine.step appends instruction tokens; EOS ends the episode outside it")
        length = row.item(self._length)
        if self.track_violations and self.violation < 0 and not self.mask_at("stack")[token]:
            row[self._violation] = length
        effect = self._effects[self._effect_base + row.item(self._sponge) + token]
        row[length] = token
        row[self._effect_columns] += effect[:9]
        row[self._slot_result] = effect[9]
        row[self._type_columns] = row[self._type_gather[token]]
        self._mask = None


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
