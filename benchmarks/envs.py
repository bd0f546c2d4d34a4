"""Speed of the environments. Prints rates; asserts nothing.

    python benchmarks/envs.py            # all figures (about two minutes)
    python benchmarks/envs.py --quick    # fewer rounds and iterations

Figures (aims in brackets), all on the easy tasks of tasm-basic-v1's train split, one torch thread:
  * torchgfn env: state-steps/s at batch 1,024 for a forward mask plus a step, reward excluded [>= 1 million/s],
    as TasmGFNEnv does them (``states.forward_masks`` + ``env.step`` on a private copy) and through torchgfn's
    ``env._step`` wrapper (which adds its sink bookkeeping and copies), per masking level;
  * Gymnasium env: steps/s excluding the final verification (``env.step`` on non-final tokens, with the
    observation, the info and its action mask) [>= 20,000/s], and whole episodes/s including it;
  * reward evaluation: terminal states/s at batch 256 through ``env.log_reward`` (decode + verify + cost), for
    blocks new to the verdict cache and for the same blocks again;
  * TB training: iterations/s at batch 64 with a small MLP policy (sampling, rewards, loss and update).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

torch.set_num_threads(1)

from gfn.gflownet import TBGFlowNet  # noqa: E402

from tasm_env.envs.gfn import TasmGFNEnv, logz_estimator, mlp_policy  # noqa: E402
from tasm_env.envs.gym import TasmEmitEnv  # noqa: E402
from tasm_env.emission.state import LEVELS  # noqa: E402
from tasm_env.tasks.suite import load_suite  # noqa: E402
from tasm_env.emission.vocab import EOS  # noqa: E402

SUITE, SPLIT, TIER = "tasm-basic-v1", "train", "easy"


def best_of(rounds: int, measure) -> float:
    """The best rate of several rounds (the least disturbed by other work on a shared machine)."""
    return max(measure() for _ in range(rounds))


def random_actions(masks: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """(B, 1) a random legal action per row, exit (last) only when nothing else is legal: long episodes."""
    weights = masks.float()
    weights[:, -1] = (~masks[:, :-1].any(1)).float()
    return torch.multinomial(weights, 1, generator=gen)


def gfn_rates(env: TasmGFNEnv, batch: int, steps: int, gen: torch.Generator,
              conditions: torch.Tensor | None = None) -> tuple[float, float]:
    """(env mask + step, torchgfn _step + mask) state-steps/s over ``steps`` steps from s0."""
    states = env.reset(batch, conditions=conditions)
    own = wrapped = 0.0
    for _ in range(steps):
        fresh = env.states_from_tensor(states.tensor, states.conditions)  # no cached masks
        t0 = time.perf_counter()
        masks = fresh.forward_masks
        own += time.perf_counter() - t0
        actions = env.Actions(random_actions(masks, gen))
        moving = ~states.is_sink_state & ~actions.is_exit  # the rows _step hands to env.step, as a private copy
        copy = env.states_from_tensor(states.tensor[moving].clone(), states.conditions[moving])
        t0 = time.perf_counter()
        env.step(copy, actions[moving])
        own += time.perf_counter() - t0
        t0 = time.perf_counter()
        states = env._step(states, actions)
        states.forward_masks
        wrapped += time.perf_counter() - t0
        if states.is_sink_state.all():
            break
    done = steps * batch
    return done / own, done / wrapped


def bench_gfn(rounds: int) -> None:
    print(f"torchgfn env, {SUITE} {SPLIT} {TIER}, batch 1,024 (state-steps/s, mask + step, reward excluded; "
          f"fresh: a new env per round; cached: the same walk again on it, value facts from the cache)")
    for level in LEVELS:
        fresh, cached = [], []
        for r in range(rounds):
            env = TasmGFNEnv(suite=SUITE, split=SPLIT, tier=TIER, masking=level)
            conditions = env.sample_conditions(1024)
            if env.machine.values is not None:  # the probes: built once per task, not a per-step cost
                for n in set(env.task_ids(env.reset(1024, conditions=conditions)).tolist()):
                    env.machine.values.probes(n)
            fresh.append(gfn_rates(env, 1024, 24, torch.Generator().manual_seed(r), conditions))
            cached.append(gfn_rates(env, 1024, 24, torch.Generator().manual_seed(r), conditions))
        own, wrapped = max(f[0] for f in fresh), max(f[1] for f in fresh)
        line = f"  {level:>8}: {own:>11,.0f} /s (env masks + step)   {wrapped:>11,.0f} /s (through torchgfn's _step)"
        if env.machine.values is not None:
            line += f"   cached: {max(c[0] for c in cached):>11,.0f} /s (env masks + step)"
        print(line)


def bench_gym(rounds: int, episodes: int) -> None:
    tasks = [t for t in load_suite(SUITE).split(SPLIT) if t.tier == TIER]
    print(f"Gymnasium env, {len(tasks)} tasks, random legal tokens, EOS only when forced")
    for level in LEVELS:
        env = TasmEmitEnv(tasks, masking=level, include_graph=False)
        rng = np.random.default_rng(0)
        for n in range(len(tasks)):  # build each task's machine outside the timing
            env.reset(options={"task": n})

        def measure() -> tuple[float, float]:
            steps, step_seconds, start = 0, 0.0, time.perf_counter()
            for episode in range(episodes):
                _, info = env.reset(seed=int(rng.integers(1 << 30)))
                while True:
                    legal = np.flatnonzero(info["action_mask"])
                    tokens = legal[legal != EOS]
                    if len(tokens) == 0:
                        env.step(EOS)  # the final step: verification
                        break
                    token = tokens[rng.integers(len(tokens))]
                    t0 = time.perf_counter()
                    _, _, _, _, info = env.step(token)
                    step_seconds += time.perf_counter() - t0
                    steps += 1
            return steps / step_seconds, episodes / (time.perf_counter() - start)

        results = [measure() for _ in range(rounds)]
        print(f"  {level:>5}: {max(r[0] for r in results):>9,.0f} steps/s excluding the final verification   "
              f"{max(r[1] for r in results):>6,.0f} episodes/s including it")


def terminal_states(env: TasmGFNEnv, batch: int, gen: torch.Generator):
    """Random legal blocks (EOS at the first chance after a random length)."""
    states = env.make_random_states((batch,))
    for _ in range(env.max_len + 1):
        masks = states.forward_masks
        done = masks[:, -1]
        if done.all():
            return states
        actions = random_actions(masks, gen)
        actions[done] = env.n_actions - 1
        stepped = env._step(states, env.Actions(actions))
        keep = done[:, None]
        states = env.states_from_tensor(torch.where(keep, states.tensor, stepped.tensor), states.conditions)
    return states


def bench_rewards(rounds: int) -> None:
    env = TasmGFNEnv(suite=SUITE, split=SPLIT, tier=TIER, masking="typed")
    gen = torch.Generator().manual_seed(1)
    warm_up_verifiers(env)
    batches = [terminal_states(env, 256, gen) for _ in range(rounds)]
    cold, warm = [], []
    for states in batches:  # each batch's blocks are new to the verdict cache (but for repeats)
        t0 = time.perf_counter()
        log_r = env.log_reward(states)
        cold.append(256 / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        env.log_reward(states)
        warm.append(256 / (time.perf_counter() - t0))
    valid = (log_r > np.log(env.eps) + 1e-3).float().mean().item()
    print(f"reward evaluation, batch 256 ({valid:.0%} of the random blocks valid): "
          f"{max(cold):,.0f} terminal states/s with a cold verdict cache, {max(warm):,.0f} /s warm")


def warm_up_verifiers(env: TasmGFNEnv) -> None:
    """Build every task's verifier (its tests and the baseline's cost) outside the timing: the reward model
    keeps them, so in training this happens once per task."""
    for task in env.tasks:
        env.rewards.verifier(task)


def bench_tb(iterations: int) -> None:
    torch.manual_seed(0)
    env = TasmGFNEnv(suite=SUITE, split=SPLIT, tier=TIER, masking="typed")
    warm_up_verifiers(env)
    gflownet = TBGFlowNet(pf=mlp_policy(env, hidden=128), pb=None, logZ=logz_estimator(env), constant_pb=True)
    optimizer = torch.optim.Adam(gflownet.pf_pb_parameters(), 1e-3)
    optimizer.add_param_group({"params": gflownet.logz_parameters(), "lr": 1e-2})
    phases = {"sample": 0.0, "reward": 0.0, "loss + update": 0.0}
    steps = 0
    for _ in range(iterations):
        t0 = time.perf_counter()
        trajectories = gflownet.sample_trajectories(env, n=64, save_logprobs=True)
        t1 = time.perf_counter()
        trajectories.log_rewards  # computed lazily; timed on its own
        t2 = time.perf_counter()
        loss = gflownet.loss(env, trajectories, recalculate_all_logprobs=False)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        t3 = time.perf_counter()
        phases["sample"] += t1 - t0
        phases["reward"] += t2 - t1
        phases["loss + update"] += t3 - t2
        steps += int(trajectories.terminating_idx.float().mean())
    total = sum(phases.values())
    shares = ", ".join(f"{name} {seconds / total:.0%}" for name, seconds in phases.items())
    print(f"TB, {env.n_tasks} tasks (budgets up to {env.max_len} tokens), batch 64, MLP 128x2: "
          f"{iterations / total:.2f} iterations/s ({shares}; {steps / iterations:.0f} steps per trajectory)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and iterations")
    args = parser.parse_args()
    rounds = 2 if args.quick else 5
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread\n")
    bench_gfn(rounds)
    bench_gym(rounds, episodes=40 if args.quick else 100)
    bench_rewards(rounds)
    bench_tb(10 if args.quick else 30)


if __name__ == "__main__":
    main()
