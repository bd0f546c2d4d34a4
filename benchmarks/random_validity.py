"""A uniformly random legal agent's share of valid episodes per masking level and tier. Prints a table.

    python benchmarks/random_validity.py                  # 200 episodes per (level, tier), tasm-basic-v1 if present
    python benchmarks/random_validity.py --episodes 50 --suite tasm-basic-v1

Each episode: reset the Gymnasium env (a task drawn uniformly from the tier, all splits), then take a legal
token drawn uniformly from the mask (EOS included when legal) until the episode ends; the verifier decides
``info["valid"]``. The random agent is seeded per (level, tier), so reruns print the same table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tasm_env.envs.gym import TasmEmitEnv
from tasm_env.tasks.suite import load_suite

LEVELS = ("stack", "typed", "dataflow")


def default_suite() -> str:
    try:
        load_suite("tasm-basic-v1")
        return "tasm-basic-v1"
    except Exception:  # not built yet: the v0 suite
        return "tasm-basic-v1"


def valid_share(tasks, level: str, episodes: int, seed: int) -> tuple[int, float]:
    env = TasmEmitEnv(tasks=tasks, masking=level, include_graph=False)
    rng = np.random.default_rng(seed)
    valid = 0
    for episode in range(episodes):
        _, info = env.reset(seed=seed + episode)
        while True:
            action = int(rng.choice(np.flatnonzero(info["action_mask"])))
            _, _, terminated, _, info = env.step(action)
            if terminated:
                valid += bool(info["valid"])
                break
    return valid, valid / episodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default=None)
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    name = args.suite or default_suite()
    suite = load_suite(name)
    tasks = list(suite.train) + list(suite.val) + list(suite.test)
    tiers = sorted({t.tier for t in tasks}, key=["easy", "medium", "hard"].index)
    print(f"suite {name}, {args.episodes} episodes per cell, uniformly random legal tokens")
    print("| level | " + " | ".join(tiers) + " |")
    print("|---|" + "---|" * len(tiers))
    for level in LEVELS:
        cells = []
        for tier in tiers:
            t0 = time.perf_counter()
            valid, share = valid_share([t for t in tasks if t.tier == tier], level, args.episodes, args.seed)
            cells.append(f"{100 * share:.1f}% ({valid}/{args.episodes}, {time.perf_counter() - t0:.0f} s)")
        print(f"| {level} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
