"""sb3-contrib's MaskablePPO on the Gymnasium env, unchanged: it finds the masks through ``action_masks()``.

    pip install "tasm-env[rl]"        # stable-baselines3, sb3-contrib
    python examples/maskable_ppo.py [timesteps]

Trains for a few thousand steps on the idiom tasks (8-token budget, typed masks), then prints the mean reward
of the last training episodes, a masked evaluation, and the best block found per task (cycles vs baseline).
"""

from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.evaluation import evaluate_policy
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.monitor import Monitor

import tasm_env  # noqa: F401  (registers tasm_env/TasmEmit-v0)


class BestBlocks(BaseCallback):
    """Keeps the cheapest valid block per task seen in training, and every episode's reward."""

    def __init__(self):
        super().__init__()
        self.best: dict[str, tuple[float, float, str]] = {}  # task -> (cost, baseline cost, program)
        self.rewards: list[float] = []

    def _on_step(self) -> bool:
        for info, done, reward in zip(self.locals["infos"], self.locals["dones"], self.locals["rewards"]):
            if not done:
                continue
            self.rewards.append(float(reward))
            task = info["task"]
            if info["valid"] and (task not in self.best or info["cost"] < self.best[task][0]):
                self.best[task] = (info["cost"], info["baseline_cost"], info["program"].replace("\n", " "))
        return True


def main(timesteps: int = 4096) -> None:
    torch.set_num_threads(1)
    env = Monitor(gym.make("tasm_env/TasmEmit-v0", suite="tasm-idioms-v1", split="train", masking="typed",
                           max_len=8, include_graph=False))
    model = MaskablePPO("MultiInputPolicy", env, n_steps=256, batch_size=64, n_epochs=4, seed=0, device="cpu",
                        verbose=0)
    callback = BestBlocks()
    model.learn(timesteps, callback=callback)
    recent = callback.rewards[-100:]
    print(f"{timesteps} steps, {len(callback.rewards)} episodes; mean reward of the last {len(recent)}: "
          f"{np.mean(recent):.3f}")
    mean, std = evaluate_policy(model, env, n_eval_episodes=20, use_masking=True)
    print(f"masked evaluation over 20 episodes: {mean:.3f} +- {std:.3f}")
    print("best blocks found (cycles vs baseline):" if callback.best else "no block verified yet (sparse rewards: "
          "try more timesteps, a partial-credit reward such as reward=0.5, or fewer tasks)")
    for task, (cost, baseline, program) in sorted(callback.best.items()):
        print(f"  {task:>16}: {cost:.0f} vs {baseline:.0f}   {program}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 4096)
