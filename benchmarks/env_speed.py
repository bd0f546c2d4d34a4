"""The environments' speed on fresh inputs (new envs, so first resets of tasks and first verifications count).
Prints rates; asserts nothing. One torch thread.

    python benchmarks/env_speed.py            # about a minute
    python benchmarks/env_speed.py --quick    # shorter runs
    python benchmarks/env_speed.py --cpu-time --only rewards   # one figure

Figures (aims in brackets):
  1. Gymnasium ``TasmEmitEnv``, a random masked agent on the default pool (tasm-basic-v1 train, every tier),
     resets and final verification counted [>= 20,000 steps/s];
  2. the natively batched vector env (``make_vec(..., vectorization_mode="vector_entry_point")``) at 1,024
     envs, random masked actions, autoresets and verification counted [>= 200,000 steps/s];
  3. torchgfn ``TasmGFNEnv``, batch 1,024, forward masks + step under ``typed`` [>= 1,000,000 state-steps/s];
  4. rewards of new blocks spread over 100 tasks in one batch (``env.log_reward``) [>= 20,000 blocks/s]: on
     first visits of the tasks (verifiers built in the call), and other new blocks on the tasks just visited.
Beside each fresh figure, labelled cached: the same episodes (blocks) again, served from the caches.
"""

from __future__ import annotations

import argparse
import gc
import time

import numpy as np
import torch

torch.set_num_threads(1)

import gymnasium as gym  # noqa: E402

import tasm_env  # noqa: E402,F401  (registers the env)
from tasm_env.emission.state import EmissionState  # noqa: E402
from tasm_env.emission.vocab import EOS  # noqa: E402
from tasm_env.envs import GYM_ID  # noqa: E402
from tasm_env.envs.gfn import TasmGFNEnv  # noqa: E402
from tasm_env.envs.gym import TasmEmitEnv  # noqa: E402


clock = time.perf_counter
"""The clock of every figure: wall time, or with ``--cpu-time`` this process's CPU time (steadier on a shared
machine: other jobs' load does not count, their effect on caches does)."""


def random_legal(masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(B,) a uniformly random legal token per row of (B, V) masks."""
    scores = rng.random(masks.shape) * masks
    return scores.argmax(1)


def gym_agent(seconds: float) -> None:
    env = TasmEmitEnv(include_graph=False)
    fresh = _gym_walk(env, seconds, None)
    cached = _gym_walk(env, None, fresh[0])  # the same episodes again: tables, verifiers and verdicts cached
    steps, episodes, valid, total, reset_time, final_time = fresh
    print(f"1. gym random masked agent, {len(env.tasks)} tasks: {steps / total:,.0f} steps/s [aim 20,000] "
          f"({steps} steps, {episodes} episodes, {valid} valid, {total:.1f} s: resets {reset_time:.2f} s, "
          f"final steps {final_time:.2f} s, other steps {total - reset_time - final_time:.2f} s); "
          f"cached (the same episodes again): {cached[0] / cached[3]:,.0f} steps/s")


def _gym_walk(env: TasmEmitEnv, seconds: float | None, max_steps: int | None) -> tuple:
    """A random masked agent from ``reset(seed=0)`` for ``seconds`` or ``max_steps`` steps: (steps, episodes,
    valid, seconds, reset seconds, final-step seconds)."""
    rng = np.random.default_rng(0)
    steps = episodes = valid = 0
    reset_time = final_time = 0.0
    start = clock()
    t = clock()
    obs, info = env.reset(seed=0)
    reset_time += clock() - t
    while (clock() - start < seconds) if max_steps is None else steps < max_steps:
        legal = np.flatnonzero(info["action_mask"])
        action = int(legal[rng.integers(len(legal))])
        t = clock()
        obs, reward, terminated, truncated, info = env.step(action)
        if action == EOS:
            final_time += clock() - t
        steps += 1
        if terminated:
            episodes += 1
            valid += bool(info["valid"])
            t = clock()
            obs, info = env.reset()
            reset_time += clock() - t
    return steps, episodes, valid, clock() - start, reset_time, final_time


def vector_env(seconds: float, n: int = 1024) -> None:
    t = clock()
    envs = gym.make_vec(GYM_ID, num_envs=n, vectorization_mode="vector_entry_point")
    setup = clock() - t
    steps, episodes, env_time, total = _vector_walk(envs, seconds, None)
    again = _vector_walk(envs, None, steps)  # the same episodes again: verdicts cached
    print(f"2. native vector env, {n} envs: {steps / env_time:,.0f} steps/s in step() [aim 200,000], "
          f"{steps / total:,.0f} with the agent's action choice ({steps} steps, {episodes} episodes; make "
          f"{setup:.2f} s); cached (the same episodes again): {again[0] / again[2]:,.0f} steps/s in step()")


def _vector_walk(envs, seconds: float | None, max_steps: int | None) -> tuple:
    """Random masked actions from ``reset(seed=0)``: (steps, episodes, seconds in step(), seconds)."""
    obs, info = envs.reset(seed=0)
    rng = np.random.default_rng(0)
    steps = episodes = 0
    env_time = 0.0
    start = clock()
    while (clock() - start < seconds) if max_steps is None else steps < max_steps:
        actions = random_legal(info["action_mask"], rng)
        t = clock()
        obs, reward, terminated, truncated, info = envs.step(actions)
        env_time += clock() - t
        steps += envs.num_envs
        episodes += int(terminated.sum())
    return steps, episodes, env_time, clock() - start


def gfn_steps(steps: int, batch: int = 1024) -> None:
    env = TasmGFNEnv(masking="typed")
    gen = torch.Generator().manual_seed(0)
    states = env.reset(batch)
    state = env.emission_state(states)
    state = EmissionState(state.data.clone(), state.task.clone(), env.layout)
    done = 0
    elapsed = 0.0
    for _ in range(steps):
        t = clock()
        masks = env.machine.forward_masks(state, "typed")
        elapsed += clock() - t
        weights = masks.float()
        weights[:, EOS] = (~masks[:, 1:].any(1)).float()  # long episodes: EOS only when nothing else
        tokens = torch.multinomial(weights, 1, generator=gen)[:, 0]
        finished = tokens == EOS
        t = clock()
        env.machine.step(state, tokens, inplace=True)
        elapsed += clock() - t
        done += batch
        if finished.any():  # restart finished rows at s0 (not timed: torchgfn's bookkeeping)
            state.data[finished] = env.machine.s0
            state.forget()
    print(f"3. torchgfn env, batch {batch}, typed masks + step: {done / elapsed:,.0f} state-steps/s "
          f"[aim 1,000,000] ({steps} steps, {len(env.tasks)} tasks)")


def new_blocks(env: TasmGFNEnv, per_task: int, tasks: int, seed: int):
    """``per_task`` random complete blocks (masked random walks ending at EOS) for each of ``tasks`` tasks."""
    ids = torch.arange(tasks).repeat_interleave(per_task)
    env._generator.manual_seed(seed)
    states = env.make_random_states((len(ids),), conditions=ids.float()[:, None])
    state = env.emission_state(states)
    state = EmissionState(state.data.clone(), state.task.clone(), env.layout)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(env.max_len + 1):  # finish every block: prefer EOS as soon as it is legal
        masks = env.machine.forward_masks(state, env.masking)
        open_rows = ~masks[:, EOS]
        if not open_rows.any():
            break
        tokens = torch.multinomial(masks[:, 1:].float() + 1e-9, 1, generator=gen)[:, 0] + 1
        stepped = env.machine.step(state, torch.where(open_rows, tokens, EOS))
        state = EmissionState(torch.where(open_rows[:, None], stepped.data, state.data), state.task, env.layout)
    return env.states_from_tensor(state.data, conditions=ids.float()[:, None])


def rewards(per_task: int) -> None:
    """Three figures, one batch of ``per_task`` new blocks on each of 100 tasks each: first visits (the tasks'
    verifiers built in the call: a verifier seed no other part of this script uses, so none is cached), new
    blocks on the tasks just visited, and the second batch again (cached verdicts)."""
    env = TasmGFNEnv(masking="typed", verifier_seed=20_261_202)
    tasks = min(100, len(env.tasks))
    first = new_blocks(env, per_task, tasks, seed=1)
    t = clock()
    env.log_reward(first)
    cold = clock() - t
    again = new_blocks(env, per_task, tasks, seed=2)
    t = clock()
    env.log_reward(again)
    warm = clock() - t
    state = env.emission_state(again)
    gc.collect()  # else the full collection the batch's garbage has due lands in this short call (~0.2 s)
    t = clock()
    env.machine.decode(state)
    decode = clock() - t  # the part of ``warm`` that decodes states into programs, timed alone
    t = clock()
    env.log_reward(again)
    cached = clock() - t
    n = len(first.tensor)
    print(f"4. rewards (env.log_reward) of {n} blocks over {tasks} tasks in one batch [aim 20,000 blocks/s for new "
          f"blocks]: first visits (verifiers built in the call) {n / cold:,.0f} blocks/s; new blocks on visited "
          f"tasks {n / warm:,.0f} blocks/s (of {warm * 1e3:.0f} ms, decoding states {decode * 1e3:.0f} ms); cached "
          f"(the same blocks again): {n / cached:,.0f} blocks/s (cache {env.rewards.cache_info()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--cpu-time", action="store_true", help="time with this process's CPU time, not wall time")
    parser.add_argument("--only", choices=("gym", "vector", "gfn", "rewards"), help="print one figure only")
    args = parser.parse_args()
    global clock
    if args.cpu_time:
        clock = time.process_time
    seconds = 3.0 if args.quick else 10.0
    figures = {"gym": lambda: gym_agent(seconds), "vector": lambda: vector_env(seconds),
               "gfn": lambda: gfn_steps(50 if args.quick else 200), "rewards": lambda: rewards(5 if args.quick else 10)}
    for name, figure in figures.items():
        if args.only in (None, name):
            figure()


if __name__ == "__main__":
    main()
