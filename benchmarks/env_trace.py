"""A digest of seeded random episodes of the Gymnasium env: one line per episode (task, length, reward, verdict
and a hash of every step's observation and action mask), then per step of the native vector env a hash of its
observations, masks, rewards and verdicts, for comparing two versions of the package:

    PYTHONPATH=/path/to/old python benchmarks/env_trace.py --episodes 300 > old.txt
    PYTHONPATH=/path/to/new python benchmarks/env_trace.py --episodes 300 > new.txt
    diff old.txt new.txt && echo identical

The agent is a uniformly random legal one (its own seeded RNG), so equal masks give equal episodes. Asserts
nothing; prints one digest line per episode and a last line hashing them all.
"""

from __future__ import annotations

import argparse
import hashlib

import gymnasium
import numpy as np

from tasm_env.envs import GYM_ID
from tasm_env.envs.gym import TasmEmitEnv


def episode_lines(masking: str, episodes: int, seed: int) -> list[str]:
    """``episodes`` random legal episodes of a fresh env under ``masking`` from ``reset(seed=seed)``."""
    env = TasmEmitEnv(include_graph=False, masking=masking, dense_credit=masking == "dataflow")
    rng = np.random.default_rng(seed)
    lines = []
    obs, info = env.reset(seed=seed)
    for n in range(episodes):
        digest = hashlib.sha256()
        total, steps = 0.0, 0
        while True:
            for key in sorted(obs):
                digest.update(key.encode() + np.ascontiguousarray(obs[key]).tobytes())
            mask = info["action_mask"]
            digest.update(mask.tobytes() + env.action_masks().tobytes())
            action = int(rng.choice(np.flatnonzero(mask)))
            obs, reward, terminated, truncated, info = env.step(action)
            total += reward
            steps += 1
            if terminated or truncated:
                break
        lines.append(f"{masking} {n} {info['task']} steps {steps} return {total!r} valid {info['valid']} "
                     f"cost {info['cost']!r} reason {info['reason']!r} {digest.hexdigest()[:16]}")
        obs, info = env.reset()
    return lines


def vector_lines(masking: str, steps: int, n_envs: int, seed: int) -> list[str]:
    """``steps`` steps of random legal actions in the native vector env of ``n_envs`` sub-envs: one digest line
    per step (observations, masks, rewards, terminations, verdicts)."""
    envs = gymnasium.make_vec(GYM_ID, num_envs=n_envs, vectorization_mode="vector_entry_point", masking=masking)
    rng = np.random.default_rng(seed)
    obs, info = envs.reset(seed=seed)
    lines = []
    for n in range(steps):
        mask = info["action_mask"]
        actions = (rng.random(mask.shape) * mask).argmax(1)
        obs, reward, terminated, truncated, info = envs.step(actions)
        digest = hashlib.sha256()
        for key in sorted(obs):
            digest.update(key.encode() + np.ascontiguousarray(obs[key]).tobytes())
        digest.update(info["action_mask"].tobytes() + reward.tobytes() + terminated.tobytes())
        verdicts = [str(v) for v in info.get("reason", [])] + [repr(v) for v in info.get("cost", [])]
        digest.update(" ".join(verdicts).encode())
        lines.append(f"vector-{masking} {n} ended {int(terminated.sum())} valid {int(np.sum(info.get('valid', 0)))} "
                     f"{digest.hexdigest()[:16]}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=300, help="episodes per masking level")
    parser.add_argument("--levels", default="stack,typed,dataflow", help="masking levels, comma-separated")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vector-steps", type=int, default=200, help="steps of the native vector env per level")
    parser.add_argument("--vector-envs", type=int, default=64)
    args = parser.parse_args()
    everything = hashlib.sha256()
    for level in args.levels.split(","):
        lines = episode_lines(level, args.episodes, args.seed)
        if level != "dataflow":  # the vector env's levels
            lines += vector_lines(level, args.vector_steps, args.vector_envs, args.seed)
        for line in lines:
            print(line)
            everything.update(line.encode())
    print(f"all {everything.hexdigest()}")


if __name__ == "__main__":
    main()
