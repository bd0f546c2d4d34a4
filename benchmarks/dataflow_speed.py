"""Speed of the value state: torchgfn env state-steps/s (forward mask + step) at batch 1,024 under ``typed`` and
``dataflow``, on fresh envs (no value cache: every prefix is a first visit), one torch thread; and Gymnasium
steps/s (random legal tokens, EOS only when forced, final verification included) on 30 fresh episodes. Beside
each fresh figure, labelled cached: the same steps (the same episodes) again on the same env, where every
prefix's value facts (and every final verdict) come from the caches. Prints rates.

    python benchmarks/dataflow_speed.py [--batch 1024] [--steps 8] [--cpu-time] [--gc-off] [--profile 30]

``--gc-off`` (a diagnostic, labelled so in the output): the same figures with Python's cyclic garbage collector
off, to show how much of a fresh step is the collector walking the process's objects. ``--profile N`` (a
diagnostic too): cProfile of the fresh ``dataflow`` walk (probes built first), its top N functions by cumulative
time, printed after that walk (its rates then include the profiler's cost and are labelled so).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import time

import torch

torch.set_num_threads(1)

import numpy as np  # noqa: E402

from tasm_env.envs.gfn import TasmGFNEnv  # noqa: E402
from tasm_env.envs.gym import TasmEmitEnv  # noqa: E402
from tasm_env.tasks.suite import load_suite  # noqa: E402


clock = time.perf_counter
"""The clock of every figure: wall time, or with ``--cpu-time`` this process's CPU time (steadier on a shared
machine: other jobs' load does not count, their effect on caches does)."""


def rate(level: str, batch: int, steps: int, profile: int = 0) -> tuple[float, float]:
    """(fresh, cached) state-steps/s: the walk on a new env, then the same walk again on it (the fresh walk
    profiled when ``profile``: its top ``profile`` functions printed)."""
    env = TasmGFNEnv(suite="tasm-basic-v1", split="train", tier="easy", masking=level)
    states = env.reset(batch, conditions=env.sample_conditions(batch))
    task = env.task_ids(states)
    start = env.emission_state(states)
    machine = env.machine
    if machine.values is not None:  # the probes of every task, built once per task (not a per-step cost)
        for n in set(task.tolist()):
            machine.values.probes(n)
    rates = []
    for walk in range(2):
        profiler = cProfile.Profile() if profile and walk == 0 else None
        if profiler is not None:
            profiler.enable()
        gen = torch.Generator().manual_seed(0)
        state = start
        spent = 0.0
        for _ in range(steps):
            t0 = clock()
            mask = machine.forward_masks(state, level)
            spent += clock() - t0
            # the agent's choice is not the env's cost (as in env_speed.py): not timed
            weights = mask.float()
            weights[:, 0] = (~mask[:, 1:].any(1)).float()  # EOS only when nothing else: long episodes
            actions = torch.multinomial(weights, 1, generator=gen)[:, 0]
            t0 = clock()
            state = machine.step(state, actions)
            spent += clock() - t0
        if profiler is not None:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(profile)
        rates.append(batch * steps / spent)
    stacks = getattr(machine, "value_stacks", None)  # the fast path (absent on older checkouts)
    if stacks is not None and stacks.rows:
        print(f"  {level}: the value-stack fast path covered {stacks.covered_rows / stacks.rows:.1%} of "
              f"{stacks.rows:,} row facts (fresh and cached walks)", flush=True)
    return rates[0], rates[1]


def gym_rate(level: str, episodes: int = 30) -> tuple[float, float]:
    """(fresh, cached) steps/s: 30 episodes on a new env, then the same 30 episodes again on it."""
    tasks = [t for t in load_suite("tasm-basic-v1").train if t.tier == "easy"]
    env = TasmEmitEnv(tasks, masking=level, include_graph=False)
    rates = []
    for _ in range(2):
        rng = np.random.default_rng(0)
        steps, spent = 0, 0.0
        for episode in range(episodes):
            _, info = env.reset(seed=episode)
            while True:
                mask = info["action_mask"].astype(bool)
                mask[0] = not mask[1:].any()
                action = int(rng.choice(np.flatnonzero(mask)))
                t0 = clock()
                _, _, terminated, _, info = env.step(action)
                spent += clock() - t0
                steps += 1
                if terminated:
                    break
        rates.append(steps / spent)
    return rates[0], rates[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--cpu-time", action="store_true", help="time with this process's CPU time, not wall time")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="diagnostic: cProfile the fresh dataflow walk, print its top N functions")
    parser.add_argument("--gc-off", action="store_true",
                        help="diagnostic: Python's cyclic garbage collector off (labelled in the output)")
    args = parser.parse_args()
    note = ""
    if args.gc_off:
        gc.disable()
        note = " [DIAGNOSTIC: cyclic GC off]"
    global clock
    if args.cpu_time:
        clock = time.process_time
    for level in ("typed", "dataflow"):
        profile = args.profile if level == "dataflow" else 0
        fresh, cached = rate(level, args.batch, args.steps, profile)
        label = note + (" [DIAGNOSTIC: fresh walk profiled]" if profile else "")
        print(f"{level}: {fresh:,.0f} state-steps/s at batch {args.batch} (fresh prefixes, {args.steps} steps); "
              f"cached: {cached:,.0f}{label}", flush=True)
    for level in ("typed", "dataflow"):
        fresh, cached = gym_rate(level)
        print(f"Gymnasium {level}: {fresh:,.0f} steps/s (fresh episodes, verification included); cached: "
              f"{cached:,.0f}{note}", flush=True)


if __name__ == "__main__":
    main()
