"""The natively batched Gymnasium vector env: ``num_envs`` episodes of :class:`~tasm_env.envs.gym.TasmEmitEnv`
stepped together on the torch batch machine (:class:`~tasm_env.emission.machine.StackMachine`), one call per
step for all of them. Registered as the ``vector_entry_point`` of ``tasm_env/TasmEmit-v0``:

    envs = gymnasium.make_vec("tasm_env/TasmEmit-v0", num_envs=1024, vectorization_mode="vector_entry_point",
                              masking="typed")
    obs, info = envs.reset(seed=0)               # sub-env i is seeded with seed + i
    obs, reward, terminated, truncated, info = envs.step(actions)   # info["action_mask"]: (num_envs, V) int8

It takes the single env's arguments (``render_mode`` and graphs excepted) and behaves like a ``SyncVectorEnv``
of single envs with the same seeds: the same tasks, observations, rewards, terminations and info keys (each
with Gymnasium's ``_key`` mask). Autoreset is ``AutoresetMode.NEXT_STEP``: the step after a sub-env's episode
ends resets it (a new task from that sub-env's RNG) and ignores its action. Finished blocks are verified in
one reward-model call per step.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from ..emission.machine import StackMachine
from ..emission.state import EmissionState
from ..emission.vocab import EOS
from ..errors import ConfigError, TasmError
from .common import check_options, check_token, describe_task, shaped_log_rewards
from .gym import SLOT_WINDOW, IllegalActionError, TasmEmitEnv


class TasmEmitVectorEnv(VectorEnv):
    """``num_envs`` emission episodes in one batch (see the module docstring). ``**kwargs``: those of
    :class:`~tasm_env.envs.gym.TasmEmitEnv`."""

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, include_graph: bool = False, **kwargs: Any):
        if not isinstance(num_envs, (int, np.integer)) or isinstance(num_envs, bool) or num_envs < 1:
            raise ConfigError(f"num_envs must be an integer of at least 1, got {num_envs!r}")
        if include_graph:
            raise ConfigError("the vector env puts no graphs in info: use include_graph=False and "
                              "envs.task_graph(i) for sub-env i's task graph")
        if kwargs.get("render_mode") is not None:
            raise ConfigError("the vector env does not render: use render_mode=None")
        if kwargs.pop("max_episode_steps", None) is not None:  # make_vec passes the spec's, None
            raise ConfigError("max_episode_steps is not supported: every episode ends within its task's budget "
                              "(use max_len to cap the budgets)")
        self.template = TasmEmitEnv(include_graph=False, **kwargs)  # the configuration, its checks and spaces
        t = self.template
        if t.dense_credit or t.end_lost:
            raise ConfigError("the vector env has no dense credit and no end_lost (they need the value state): "
                              "use dense_credit=False, end_lost=False, or the single env TasmEmitEnv")
        self.num_envs = int(num_envs)
        self.tasks, self.specs, self.masking, self.vocab = t.tasks, t.specs, t.masking, t.vocab
        self.illegal_action, self.rewards, self.max_len = t.illegal_action, t.rewards, t.max_len
        self.machine = StackMachine(t.specs, max_len=t.max_len, type_window=SLOT_WINDOW,
                                    violation_level="stack" if t.rewards is None else None)
        self.layout = self.machine.layout
        self._features = t.task_feature_table()
        self._names = np.array([task.name for task in self.tasks], dtype=object)  # info["task"] rows, by index
        self.single_action_space = t.action_space
        self.single_observation_space = t.observation_space
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.render_mode = None
        self._rngs = [seeding.np_random(None)[0] for _ in range(self.num_envs)]
        self._task = np.zeros(self.num_envs, dtype=np.int64)
        self._state = self.machine.initial(torch.zeros(self.num_envs, dtype=torch.int64))
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._started = False

    # ---- gymnasium API
    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict | None = None):
        """Reset every sub-env: sub-env i seeded with ``seed + i`` (or ``seed[i]``), its task drawn with its RNG
        (or ``options={"task": ...}`` for all)."""
        if seed is not None:
            seeds = [seed + i for i in range(self.num_envs)] if isinstance(seed, (int, np.integer)) else list(seed)
            if len(seeds) != self.num_envs:
                raise ConfigError(f"reset(seed=...) needs one seed per sub-env ({self.num_envs}), got {len(seeds)}")
            self._rngs = [seeding.np_random(s)[0] if s is not None else rng for s, rng in zip(seeds, self._rngs)]
        chosen = check_options(options).get("task")
        for i in range(self.num_envs):
            self._task[i] = self._draw_task(i, chosen)
        self._state = self.machine.initial(torch.from_numpy(self._task.copy()))
        self._autoreset[:] = False
        self._started = True
        return self._observations(), self._info(np.zeros(self.num_envs, dtype=bool))

    def step(self, actions):
        """One token per sub-env (see the module docstring for autoreset and the final step)."""
        if not self._started:
            raise TasmError("call reset() before step()")
        n_actions = len(self.vocab)
        tokens = np.asarray(actions).reshape(-1)
        if len(tokens) != self.num_envs:
            raise ConfigError(f"step needs one action per sub-env ({self.num_envs}), got {len(tokens)}")
        if tokens.dtype.kind not in "iu":
            check_token(tokens[0], n_actions)  # floats and bools: raises, naming what an action is
        outside = (tokens < 0) | (tokens >= n_actions)
        if outside.any():
            check_token(int(tokens[outside][0]), n_actions)  # raises
        tokens_t = torch.from_numpy(tokens.astype(np.int64))
        resetting = self._autoreset.copy()
        live = ~resetting
        legal = self.machine.legal(self._state, tokens_t, self.masking).numpy() | resetting
        if self.illegal_action == "error" and not legal.all():
            self._raise_illegal(int(np.flatnonzero(~legal)[0]), int(tokens[~legal][0]))
        illegal = live & ~legal
        eos = live & legal & (tokens == EOS)
        moving = live & legal & (tokens != EOS)
        if moving.any():
            move = torch.from_numpy(moving)
            stepped = self.machine.step(self._state, torch.where(move, tokens_t, EOS))
            data = torch.where(move[:, None], stepped.data, self._state.data)
            self._state = EmissionState(data, self._state.task, self.layout)
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminated = illegal | eos
        final: dict[str, np.ndarray] = {}
        if terminated.any():
            final = self._finish(eos, illegal, rewards, tokens)
        if resetting.any():
            self._reset_rows(np.flatnonzero(resetting))
        self._autoreset = terminated
        info = self._info(terminated)
        info.update(final)
        return self._observations(), rewards, terminated, np.zeros(self.num_envs, dtype=bool), info

    def action_masks(self) -> np.ndarray:
        """(num_envs, V) bool: each sub-env's legal tokens (only EOS in a sub-env whose episode just ended)."""
        mask = self.machine.forward_masks(self._state, self.masking).numpy()
        if self._autoreset.any():
            mask = mask.copy()
            mask[self._autoreset] = False
            mask[self._autoreset, EOS] = True
        return mask

    def task_graph(self, index: int):
        """Sub-env ``index``'s current task graph (``torch_geometric.data.Data``)."""
        return self.tasks[int(self._task[index])].graph

    def close_extras(self, **kwargs: Any) -> None:
        self.template.close()

    # ---- pieces
    def _draw_task(self, i: int, chosen) -> int:
        if chosen is None:
            return int(self._rngs[i].integers(len(self.tasks)))
        return self.template.task_index_of(chosen)

    def _reset_rows(self, rows: np.ndarray) -> None:
        for i in rows.tolist():
            self._task[i] = self._draw_task(i, None)
        index = torch.from_numpy(rows)
        fresh = self.machine.initial(torch.from_numpy(self._task[rows]))
        data = self._state.data.clone()
        data[index] = fresh.data
        self._state = EmissionState(data, torch.from_numpy(self._task.copy()), self.layout)

    def _finish(self, eos: np.ndarray, illegal: np.ndarray, rewards: np.ndarray, tokens: np.ndarray
                ) -> dict[str, np.ndarray]:
        """Score the sub-envs whose episodes end now; the final-step info arrays (Gymnasium's ``_key`` masks)."""
        n = self.num_envs
        ended = eos | illegal
        program = np.full(n, None, dtype=object)
        reason = np.full(n, None, dtype=object)
        valid = np.zeros(n, dtype=bool)
        cost, base = np.zeros(n), np.zeros(n)
        log_r = np.zeros(n)
        rows = np.flatnonzero(ended)
        programs = dict(zip(rows.tolist(), self.machine.decode(self._state[torch.from_numpy(rows)])))
        for i, p in programs.items():
            program[i] = str(p)
        penalty = self.template.beta * float(np.log(self.template.eps))
        for i in np.flatnonzero(illegal).tolist():
            cost[i] = base[i] = np.nan
            log_r[i] = penalty
        done = np.flatnonzero(eos)
        extra: dict[str, np.ndarray] = {}
        if len(done):
            state = self._state[torch.from_numpy(done)]
            if self.rewards is None:  # shaped
                violation = self.machine.final_violation(state).numpy()
                log_r[done] = shaped_log_rewards(violation, state.length.numpy(), self.template.eps,
                                                 self.template.beta).numpy()
                valid[done] = violation < 0
                cost[done] = base[done] = np.nan
                for i, v in zip(done.tolist(), violation.tolist()):
                    reason[i] = "no stack violation" if v < 0 else f"first stack violation at step {v}"
                extra["violation"] = np.zeros(n, dtype=np.int64)
                extra["violation"][done] = violation
                extra["_violation"] = eos.copy()
            else:
                evaluations = self.rewards.evaluate([self.tasks[t] for t in self._task[done].tolist()],
                                                    [programs[i] for i in done.tolist()])
                log_r[done] = self.rewards.log_rewards_of(evaluations).numpy()
                for i, e in zip(done.tolist(), evaluations):
                    valid[i], cost[i], base[i], reason[i] = e.valid, e.cost, e.baseline_cost, e.reason
        for i in np.flatnonzero(illegal).tolist():
            token = int(tokens[i])
            reason[i] = f"illegal action {token} ({self.template.token_text(int(self._task[i]), token)})"
        rewards[ended] = np.exp(log_r[ended])
        arrays = {"program": program, "valid": valid, "cost": cost, "baseline_cost": base, "reason": reason,
                  "log_reward": log_r, "illegal_action": illegal.copy(),
                  "lost": np.zeros(n, dtype=bool)}  # no end_lost here (no value state): the single env's key
        for key, value in arrays.items():
            extra[key], extra[f"_{key}"] = value, ended.copy()
        return extra

    def _observations(self) -> dict[str, np.ndarray]:
        state, machine = self._state, self.machine
        n = self.num_envs
        return {
            "tokens": state.tokens[:, : self.max_len].numpy().astype(np.int64),
            "length": state.length.numpy().astype(np.int64).reshape(n, 1),
            "depth": machine.live_depth(state).numpy().astype(np.int64).reshape(n, 1),
            "remaining": machine.remaining(state).numpy().astype(np.int64).reshape(n, 1),
            "slot_types": machine.slot_types(state).numpy().astype(np.int64),
            "task": self._features[self._task],
        }

    def _info(self, ended: np.ndarray) -> dict[str, Any]:
        every = np.ones(self.num_envs, dtype=bool)
        mask = self.machine.forward_masks(self._state, self.masking).numpy().astype(np.int8)
        if ended.any():
            mask[ended] = 0
            mask[ended, EOS] = 1
        return {"action_mask": mask, "_action_mask": every, "task": self._names[self._task], "_task": every.copy()}

    def _raise_illegal(self, i: int, token: int):
        legal = np.flatnonzero(self.action_masks()[i]).tolist()
        task = int(self._task[i])
        raise IllegalActionError(
            f"sub-env {i}: action {token} ({self.template.token_text(task, token)}) is masked under masking "
            f"{self.masking!r} for {describe_task(self.tasks[task], self.specs[task])}; legal: {legal[:12]}"
            f"{' ...' if len(legal) > 12 else ''}. Take actions from info['action_mask'], or make the env with "
            "illegal_action='penalty'. No sub-env was stepped.", token, legal)


__all__ = ["TasmEmitVectorEnv"]
