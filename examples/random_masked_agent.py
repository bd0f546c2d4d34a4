"""A random agent on the Gymnasium env that only takes legal (unmasked) tokens.

    python examples/random_masked_agent.py [episodes] [suite]

For each episode it prints the task, the block written, whether it verifies and its reward; at the end, the
share of valid blocks and the mean reward. Stopping (EOS) is down-weighted so that blocks are not all trivial.
"""

from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np

import tasm_env  # noqa: F401  (registers tasm_env/TasmEmit-v0)


def main(episodes: int = 20, suite: str = "tasm-idioms-v1", seed: int = 0) -> None:
    env = gym.make("tasm_env/TasmEmit-v0", suite=suite, split="train", masking="typed", render_mode="ansi")
    rng = np.random.default_rng(seed)
    rewards, valid = [], 0
    for episode in range(episodes):
        obs, info = env.reset(seed=seed + episode)
        terminated = False
        while not terminated:
            legal = np.flatnonzero(info["action_mask"])  # same as env.unwrapped.action_masks()
            weights = np.where(legal == 0, 0.2, 1.0)  # token 0 is EOS
            action = rng.choice(legal, p=weights / weights.sum())
            obs, reward, terminated, truncated, info = env.step(action)
        rewards.append(reward)
        valid += info["valid"]
        program = info["program"].replace("\n", " ") or "(empty)"
        print(f"{info['task']:>16}  reward {reward:6.3f}  valid {info['valid']!s:5}  {program}")
    print(env.render())  # the last episode, as render_mode="ansi" prints it
    print(f"{episodes} episodes: {valid / episodes:.0%} valid, mean reward {np.mean(rewards):.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20, sys.argv[2] if len(sys.argv) > 2 else "tasm-idioms-v1")
