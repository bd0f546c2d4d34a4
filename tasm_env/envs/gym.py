"""The Gymnasium env: one episode writes one TASM block for one task, a token per step.

    import gymnasium as gym
    import tasm_env  # registers tasm_env/TasmEmit-v0

    env = gym.make("tasm_env/TasmEmit-v0", suite="tasm-idioms-v1", split="train", masking="stack")
    obs, info = env.reset(seed=0)
    while True:
        action = env.unwrapped.np_random.choice(info["action_mask"].nonzero()[0])   # a random legal token
        obs, reward, terminated, truncated, info = env.step(action)
        if terminated:
            break
    print(info["program"], reward, info["valid"], info["cost"], info["baseline_cost"])

**Actions** are token ids of the vocabulary (``Discrete(V)``; 0 is EOS, see :mod:`tasm_env.emission.vocab`). Each step
appends one token; EOS ends the episode, and at the length budget EOS is the only legal token, so every episode
ends with EOS within ``budget + 1`` steps (``truncated`` is always False).

**Masks**: ``action_masks()`` (bool, for sb3-contrib's MaskablePPO) and ``info["action_mask"]`` (int8) give the
legal tokens under the masking level (``none``, ``stack``, ``typed``: :mod:`tasm_env.emission.machine`); they equal the
torchgfn env's masks for the same prefix (with EOS moved to the end there). Once the episode is over they allow
only EOS (an autoresetting vector env ignores that step's action).

**Illegal actions** (masked ones): with ``illegal_action="penalty"`` (the default) the episode ends at once
with the invalid reward ``eps ** beta`` (``info["illegal_action"] = True``), so agents that do not mask and
``gymnasium.utils.env_checker.check_env`` (which steps random actions) work. With ``"error"`` ``step`` raises
:class:`IllegalActionError` (a :class:`~tasm_env.errors.TasmError`) naming the token, the prefix and the legal
tokens, and the env state is unchanged.

**Autoreset**: ``metadata["autoreset_mode"]`` is ``AutoresetMode.NEXT_STEP`` (Gymnasium's default): a vector
env resets a finished sub-env on its next step and ignores that step's action.

**Reward**: 0 on every step but the last; at EOS the block is verified against the baseline and earns
``R = exp(log R)`` of :class:`~tasm_env.emission.reward.RewardModel` (``reward="cycles"``: ``eps ** beta`` if
invalid, else ``(1 + max(0, (c_base - c) / c_base)) ** beta``, so in ``[1, 2 ** beta]``; a partial-credit weight
``w``: an invalid block earns ``(eps + w * share) ** beta``; ``reward="shaped"`` (masking ``none`` only): the
seed's ``(eps + k / len) ** beta`` with ``k`` the first stack violation and ``len`` the steps including EOS,
``(1 + eps) ** beta`` without one).

**Observation** (``Dict``): ``tokens`` (max_len,) int64 (the prefix, -1 padded), ``length`` (1,), ``depth`` (1,)
(live depth: inputs plus net stack change), ``remaining`` (1,) (budget left), ``slot_types`` (16,) (top slots,
st0 first: 0 field, 1 u32, 2 bool, 3 below the block's inputs), ``task`` (:data:`TASK_FEATURES`,) float32. The
task's TIR graph (``torch_geometric.data.Data``) is ``env.unwrapped.task_graph`` and ``info["graph"]`` at reset.

**Value state** (``value_state=True``; the default under ``masking="dataflow"`` and with ``dense_credit``): the
observation also has ``slot_nodes`` (16,) int64 (the task-graph node each top slot holds on the probes, st0
first, -1 for none) and ``outputs_ready`` (16,) int8 (output position i holds its final value; 0 beyond the
arity); see :mod:`tasm_env.emission.values`. ``dense_credit`` adds the potential-based shaping
``credit_gamma * Phi(s') - Phi(s)`` to every step's reward, with ``Phi = 0`` after the episode ends and ``Phi``
(:mod:`tasm_env.envs.potential`) a function of the state only: ``True`` or ``"ready"``, the share of outputs
ready; ``"progress"``, 0 on a lost prefix, else the mean of the graph progress towards the outputs, the share
ready and the live depth's closeness to the arity. An episode's return, discounted by ``credit_gamma``, changes
by ``-Phi(s0)``, a constant per task, so the optimal blocks stay the same (Ng, Harada and Russell 1999) when
``credit_gamma`` is the learner's discount (default 1; sb3's PPO discounts by 0.99).

**Ending lost episodes** (``end_lost=True``, value state only): a step into a ``lost`` prefix (the probes prove
that no continuation verifies: :mod:`tasm_env.emission.values`) ends the episode there, scored as at EOS (the
verifier rejects it, since the prefix is a continuation of itself), ``info["lost"] = True``. No episode that
could still verify is cut short, so the blocks that verify and their rewards are the same; the lost ones just
stop early instead of running to the budget.

**Lookahead** (value state, :mod:`tasm_env.envs.lookahead`): ``lookahead=True`` adds ``action_features``
(V, 6) float32, per token the one-step lookahead of its child (potential change, doomed, matches, needed node);
``mask_lost=True`` (``masking="dataflow"`` only) also masks every action whose child is provably doomed, unless
none would be left (sound: no prefix of a verifying block is masked). Both evaluate every legal child per step.
"""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from ..errors import TasmError
from ..emission.reward import Cost
from ..emission.row import RowMachine
from ..emission.spec import TaskSpec
from ..emission.tables import EmissionTables
from ..emission.values import SLOT_WINDOW, ValueModel  # SLOT_WINDOW: the top slots a state describes
from ..emission.vocab import EOS, Vocabulary
from ..tasks.suite import Suite
from ..tasks.task import Task
from .lookahead import ACTION_FEATURES, Lookahead, restrict_lost
from .potential import potential
from .common import (TASK_FEATURES, Reward, check_illegal_action, check_masking, check_options, check_token,
                     check_vocab, describe_task, reward_model, resolve_tasks, shaped_log_rewards, task_features,
                     task_spec)

"""Slot types in the observation (the reach of ``dup``/``swap``)."""
TASK_FEATURE_MAX = 1e6
"""Upper bound of the ``task`` observation's entries (counts; finite so that checkers do not complain)."""


class IllegalActionError(TasmError):
    """A masked action was taken with ``illegal_action="error"``. ``token`` is the action, ``legal`` the legal
    token ids."""

    def __init__(self, message: str, token: int, legal: Sequence[int]):
        super().__init__(message)
        self.token = token
        self.legal = tuple(legal)


class TasmEmitEnv(gymnasium.Env):
    """Write a TASM block for a task one token at a time (see the module docstring for spaces and rewards).

    Tasks: ``tasks`` (a Task or a list), else the ``split`` of ``suite`` (``tier`` filters either); each reset
    draws one with the env's RNG, or takes ``options={"task": name, index or Task}``. ``masking``: ``none``,
    ``stack``, ``typed`` or ``dataflow``. ``reward``: ``cycles``, ``shaped`` or a partial-credit weight; ``cost``:
    ``cycles``, ``padded_height`` or table weights; ``beta``, ``eps``: as in :mod:`tasm_env.emission.reward`.
    ``max_len`` caps every task's budget (default ``max(2n, n + 8)`` for a baseline of n instructions) and the
    token observation has the largest budget's length. ``illegal_action``: ``penalty`` (default: end with the
    invalid reward) or ``error`` (raise :class:`IllegalActionError`). ``vocab``: default
    :meth:`Vocabulary.default`. ``n_tests``, ``verifier_seed``: the verifier's tests. ``include_graph=False``
    leaves ``info["graph"]`` out of ``reset`` (building the first graph imports torch-geometric, ~4 s).
    ``value_state``, ``dense_credit``, ``credit_gamma``, ``end_lost``, ``probes``: the value observations, the
    dense credit (``False``, ``True`` = ``"ready"``, ``"progress"``), its discount, ending episodes at a lost
    prefix and the number of probes (see the module docstring).
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4, "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, tasks: Task | Sequence[Task] | None = None, suite: str | Suite | None = "tasm-basic-v1",
                 split: str = "train", tier: str | None = None, masking: str = "stack", reward: Reward = "cycles",
                 cost: Cost = "cycles", beta: float = 1.0, eps: float = 1e-3, max_len: int | None = None,
                 illegal_action: str = "penalty", render_mode: str | None = None, vocab: Vocabulary | None = None,
                 n_tests: int = 40, verifier_seed: int = 42, include_graph: bool = True,
                 value_state: bool | None = None, dense_credit: bool | str = False, credit_gamma: float = 1.0,
                 end_lost: bool = False, probes: int = 8, lookahead: bool = False, mask_lost: bool = False):
        self.tasks = resolve_tasks(tasks, suite, split, tier)
        self.masking = check_masking(masking)
        self.illegal_action = check_illegal_action(illegal_action)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise TasmError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.render_mode = render_mode
        self.rewards = reward_model(reward, masking, cost, beta, eps, n_tests, verifier_seed)
        self.reward_kind, self.beta, self.eps = reward, float(beta), float(eps)
        self.vocab = check_vocab(vocab)
        self.specs: list[TaskSpec] = [task_spec(task, self.vocab, max_len) for task in self.tasks]
        self.max_len = max(spec.budget for spec in self.specs)
        self._features = [task_features(task, spec) for task, spec in zip(self.tasks, self.specs)]
        self._rows: dict[int, RowMachine] = {}  # per task, built on first use (one small machine each)
        V = len(self.vocab)
        depth_bound = int(np.abs(self.vocab.delta).max()) * self.max_len + max(s.n_inputs for s in self.specs)
        self.action_space = spaces.Discrete(V)
        self.observation_space = spaces.Dict({
            "tokens": spaces.Box(-1, V - 1, (self.max_len,), np.int64),
            "length": spaces.Box(0, self.max_len, (1,), np.int64),
            "depth": spaces.Box(-depth_bound, depth_bound, (1,), np.int64),  # below 0 only under masking "none"
            "remaining": spaces.Box(0, self.max_len, (1,), np.int64),
            "slot_types": spaces.Box(0, 3, (SLOT_WINDOW,), np.int64),
            "task": spaces.Box(0.0, TASK_FEATURE_MAX, (len(TASK_FEATURES),), np.float32),
        })
        # ---- value state (issue 11): slot nodes, outputs ready, dense credit
        self.dense_credit = "ready" if dense_credit is True else dense_credit or False
        self._potentials = [potential(self.dense_credit, t) for t in self.tasks] if self.dense_credit else []
        if not 0.0 < float(credit_gamma) <= 1.0:
            raise TasmError(f"credit_gamma must be in (0, 1] (the learner's discount), got {credit_gamma!r}")
        self.credit_gamma = float(credit_gamma)
        if value_state is None:
            value_state = self.masking == "dataflow" or bool(self.dense_credit)
        if value_state is None and (lookahead or mask_lost):
            value_state = True
        if not value_state and (self.masking == "dataflow" or self.dense_credit or end_lost or lookahead or mask_lost):
            raise TasmError("masking='dataflow', dense_credit, end_lost, lookahead and mask_lost need value_state=True")
        if mask_lost and self.masking != "dataflow":
            raise TasmError(f"mask_lost narrows the 'dataflow' mask: make the env with masking='dataflow', "
                            f"got masking={self.masking!r}")
        self.end_lost = bool(end_lost)
        shared = None if self.rewards is None else self.rewards.verifier  # one verifier per task for both
        self.values = ValueModel.of(self.tasks, self.specs, probes, n_tests, verifier_seed, shared) \
            if value_state else None
        if self.values is not None:
            nodes = max(len(t.tir.nodes) for t in self.tasks)
            self.observation_space.spaces["slot_nodes"] = spaces.Box(-1, nodes - 1, (SLOT_WINDOW,), np.int64)
            self.observation_space.spaces["outputs_ready"] = spaces.Box(0, 1, (SLOT_WINDOW,), np.int8)
        self.lookahead = Lookahead(self.values, self.tasks, self.vocab) if lookahead or mask_lost else None
        self.mask_lost = bool(mask_lost)
        if lookahead:
            self.observation_space.spaces["action_features"] = spaces.Box(
                -1.0, 1.0, (V, len(ACTION_FEATURES)), np.float32)
        self._legal_now: np.ndarray | None = None
        self._potential = 0.0
        # ---- end value state
        self.include_graph = include_graph
        self.task_index = 0
        self._graphs: dict[int, Any] = {}
        self._row: RowMachine | None = None
        self._done = True
        self._last_info: dict[str, Any] = {}

    # ---- the current episode
    @property
    def task(self) -> Task:
        return self.tasks[self.task_index]

    @property
    def task_spec(self) -> TaskSpec:
        """The current task's :class:`~tasm_env.emission.spec.TaskSpec` (budget, output arity, bound constants)."""
        return self.specs[self.task_index]

    @property
    def task_graph(self):
        """The current task's TIR graph (``torch_geometric.data.Data``, see :mod:`tasm_env.tasks.graph`)."""
        graph = self._graphs.get(self.task_index)
        if graph is None:
            graph = self._graphs[self.task_index] = self.task.graph
        return graph

    @property
    def row(self) -> RowMachine:
        if self._row is None:
            raise TasmError("call reset() before using the env")
        return self._row

    def _row_machine(self, index: int) -> RowMachine:
        row = self._rows.get(index)
        if row is None:
            tables = EmissionTables.build([self.specs[index]], max_len=self.max_len, type_window=SLOT_WINDOW)
            track = self.reward_kind == "shaped"
            values = None if self.values is None else (self.values, index)
            row = self._rows[index] = RowMachine(tables, 0, self.masking, track_violations=track,
                                                 type_window=SLOT_WINDOW, values=values)
        return row

    def _pick_task(self, options: dict | None) -> int:
        chosen = check_options(options).get("task")
        if chosen is None:
            return int(self.np_random.integers(len(self.tasks)))
        return self.task_index_of(chosen)

    def task_index_of(self, chosen) -> int:
        """The index in ``tasks`` of a task given by name, index or Task (what ``options["task"]`` takes)."""
        if isinstance(chosen, Task):
            matches = [i for i, t in enumerate(self.tasks) if t == chosen]
        elif isinstance(chosen, (int, np.integer)) and not isinstance(chosen, bool):
            matches = [int(chosen)] if 0 <= chosen < len(self.tasks) else []
        else:
            matches = [i for i, t in enumerate(self.tasks) if t.name == chosen]
        if not matches:
            raise TasmError(f"options['task'] = {chosen!r} is not a task of this env (a name, an index in "
                            f"0..{len(self.tasks) - 1} or one of its Task objects)")
        return matches[0]

    # ---- gymnasium API
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        """Start an episode (an empty block) for a task drawn with the env's RNG, or ``options["task"]``."""
        super().reset(seed=seed)
        self.task_index = self._pick_task(options)
        self._row = self._row_machine(self.task_index)
        self._row.reset()
        self._legal_now = None
        self._done = False
        self._potential = self.potential_now()
        info = self._info()
        if self.include_graph:
            info["graph"] = self.task_graph.clone()  # a copy: callers may change it
        return self._observation(), info

    def step(self, action) -> tuple[dict, float, bool, bool, dict]:
        """Append token ``action`` (EOS ends the episode and scores the block)."""
        if self._done:
            raise TasmError("the episode is over: call reset() before step()")
        row = self._row  # set: an episode is running
        token = check_token(action, self.action_space.n)
        if not self.legal_mask()[token]:
            return self._illegal(token)
        if token == EOS:
            return self._finish()
        row.step(token)
        self._legal_now = None
        if self.end_lost and row.value_facts().lost:
            return self._finish(lost=True)
        return self._observation(), self._credit(), False, False, self._info()

    def action_masks(self) -> np.ndarray:
        """(V,) bool: the legal tokens now (only EOS once the episode is over). For sb3-contrib's MaskablePPO."""
        if self._done:
            mask = np.zeros(self.action_space.n, dtype=bool)
            mask[EOS] = True
            return mask
        return self.legal_mask().copy()

    def legal_mask(self) -> np.ndarray:
        """(V,) bool, read-only: the legal tokens of the running episode (the level's mask, narrowed by
        ``mask_lost``'s rule when set). Cached until the next step."""
        if self._legal_now is None:
            mask = self.row.mask()
            if self.mask_lost:
                lost = self.lookahead.lost_children(self.task_index, self.row.tokens.tolist(), mask)
                mask = restrict_lost(mask, lost)
                mask.flags.writeable = False
            self._legal_now = mask
        return self._legal_now

    def render(self) -> str | None:
        """``render_mode="ansi"``: the task, the program so far (one instruction per line) and the state."""
        if self.render_mode != "ansi":
            return None
        row = self.row
        lines = [describe_task(self.task, self.task_spec)]
        lines += [f"  {i:3d}  {instruction}" for i, instruction in enumerate(row.program())]
        status = "done" if self._done else f"live depth {row.depth}, budget left {row.remaining}"
        lines.append(f"  [{row.length} tokens, {status}]")
        if self._done and "log_reward" in self._last_info:
            info = self._last_info
            lines.append(f"  reward {np.exp(info['log_reward']):.4f} (valid {info['valid']}, cost {info['cost']}, "
                         f"baseline {info['baseline_cost']})")
        return "\n".join(lines) + "\n"

    # ---- pieces
    def potential_now(self) -> float:
        """``Phi`` of the current state (:mod:`tasm_env.envs.potential`; 0 without ``dense_credit`` and once
        the episode is over)."""
        if not self.dense_credit or self._done:
            return 0.0
        row = self.row
        return self._potentials[self.task_index](row.value_facts(), row.depth)

    def _credit(self) -> float:
        """The dense credit of the step just taken: ``credit_gamma * Phi(s') - Phi(s)`` (0 without
        ``dense_credit``; ``Phi(s') = 0`` once the episode is over)."""
        if not self.dense_credit:
            return 0.0
        after = self.potential_now()
        credit, self._potential = self.credit_gamma * after - self._potential, after
        return credit

    def _observation(self) -> dict[str, np.ndarray]:
        observation = self._base_observation()
        if self.values is not None:
            facts = self._row.value_facts()
            ready = np.zeros(SLOT_WINDOW, dtype=np.int8)
            ready[: min(len(facts.outputs_ready), SLOT_WINDOW)] = facts.outputs_ready[:SLOT_WINDOW]
            observation["slot_nodes"] = facts.slot_nodes.copy()
            observation["outputs_ready"] = ready
        if "action_features" in self.observation_space.spaces:
            if self._done:
                observation["action_features"] = np.zeros(self.observation_space["action_features"].shape,
                                                          dtype=np.float32)
            else:
                row = self._row
                observation["action_features"] = self.lookahead.features(
                    self.task_index, row.tokens.tolist(), row.depth, self.legal_mask())
        return observation

    def _base_observation(self) -> dict[str, np.ndarray]:
        row = self._row  # set: only called within an episode
        length, depth, remaining = row.counts()
        return {
            "tokens": row.row[: self.max_len].astype(np.int64),  # the prefix, PAD (-1) after it
            "length": np.array([length], dtype=np.int64),
            "depth": np.array([depth], dtype=np.int64),
            "remaining": np.array([remaining], dtype=np.int64),
            "slot_types": row.slot_types().astype(np.int64),
            "task": self._features[self.task_index].copy(),
        }

    def _info(self) -> dict[str, Any]:
        mask = self.legal_mask() if not self._done else self.action_masks()
        info = {"action_mask": mask.astype(np.int8), "task": self.tasks[self.task_index].name}
        if self.dense_credit:
            info["potential"] = self._potential  # Phi of the latest state before the episode's end
        return info

    def _illegal(self, token: int):
        row = self.row
        legal = np.flatnonzero(self.legal_mask()).tolist()
        if self.illegal_action == "error":
            shown = ", ".join(f"{i} ({self._token_text(i)})" for i in legal[:12])
            more = f" and {len(legal) - 12} more" if len(legal) > 12 else ""
            raise IllegalActionError(
                f"action {token} ({self._token_text(token)}) is masked under masking {self.masking!r} for "
                f"{describe_task(self.task, self.task_spec)} after the prefix [{self._prefix_text()}] (live depth "
                f"{row.depth}, budget left {row.remaining}); legal: {shown}{more}. Take actions from "
                "env.action_masks() / info['action_mask'], or make the env with illegal_action='penalty'.",
                token, legal)
        log_reward = self.beta * float(np.log(self.eps))
        self._done = True
        info = self._info()
        info.update(program=str(row.program()), valid=False, cost=float("nan"),
                    baseline_cost=float("nan"), log_reward=log_reward, illegal_action=True, lost=False,
                    reason=f"illegal action {token} ({self._token_text(token)})")
        self._last_info = info
        return self._observation(), float(np.exp(log_reward)) + self._credit(), True, False, info

    def _finish(self, lost: bool = False):
        row = self.row
        program = row.program()
        self._done = True
        info = self._info()
        info.update(program=str(program), illegal_action=False, lost=lost)
        if self.rewards is None:  # shaped
            violation = row.final_violation()
            log_reward = float(shaped_log_rewards(np.array([violation]), np.array([row.length]), self.eps,
                                                  self.beta)[0])
            info.update(violation=violation, valid=violation < 0, cost=float("nan"), baseline_cost=float("nan"),
                        reason="no stack violation" if violation < 0 else f"first stack violation at step {violation}")
        else:
            evaluation = self.rewards.evaluate([self.task], [program])[0]
            log_reward = float(self.rewards.log_rewards_of([evaluation])[0])
            info.update(valid=evaluation.valid, cost=evaluation.cost, baseline_cost=evaluation.baseline_cost,
                        reason=evaluation.reason)
        info["log_reward"] = log_reward
        self._last_info = info
        return self._observation(), float(np.exp(log_reward)) + self._credit(), True, False, info

    def task_feature_table(self) -> np.ndarray:
        """(n_tasks, len(TASK_FEATURES)) float32: every task's ``task`` observation."""
        return np.stack(self._features)

    def token_text(self, task_index: int, token: int) -> str:
        """Token ``token`` as task ``task_index`` binds it, in backquotes (or "unknown token")."""
        try:
            return f"`{self.specs[task_index].bound.token(token)}`"
        except TasmError:
            return "unknown token"

    def _token_text(self, token: int) -> str:
        return self.token_text(self.task_index, token)

    def _prefix_text(self) -> str:
        return " ".join(str(i) for i in self.row.program()) or "empty"
