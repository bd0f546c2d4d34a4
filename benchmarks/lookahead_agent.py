"""How much the value state can support before any training: a stochastic one-step lookahead agent.

    PYTHONPATH=$PWD nice -n 10 python benchmarks/lookahead_agent.py --temperatures 0.02,0.05,0.1 --samples 16

On every task of the ``test`` split (``--split``; ``--tier``, default easy) of ``tasm-basic-v1``, ``--samples`` episodes
under ``masking="dataflow"`` with the value state: at each step the agent samples a legal token with
probability ``softmax(gain / T)``, ``gain`` the per-action ``progress`` potential change of
:mod:`tasm_env.envs.lookahead` (EOS: ``1 - Phi`` when the block matches the baseline on the probes). With
``--mask-lost`` (default on) the env's ``mask_lost`` rule also masks actions whose child is proven lost.
``T = inf`` is the uniformly random legal agent on the same mask. Prints one JSON line per temperature:
the share of valid episodes, the mean improvement over the baseline, and the CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from tasm_env.envs.gym import TasmEmitEnv
from tasm_env.envs.lookahead import ACTION_FEATURES



def run(temperature: float, samples: int, tier: str, seed: int, mask_lost: bool, feature: str,
        split: str = "test") -> dict:
    column = ACTION_FEATURES.index(feature)
    env = TasmEmitEnv(suite="tasm-basic-v1", split=split, tier=tier, masking="dataflow", lookahead=True,
                      mask_lost=mask_lost, include_graph=False)
    rng = np.random.default_rng(seed)
    valid, improvement, steps = [], [], 0
    start = time.process_time()
    for index in range(len(env.tasks)):
        for _ in range(samples):
            obs, info = env.reset(seed=int(rng.integers(1 << 31)), options={"task": index})
            while True:
                legal = np.flatnonzero(env.action_masks())
                if np.isinf(temperature):
                    action = int(rng.choice(legal))
                else:
                    gain = obs["action_features"][legal, column].astype(np.float64) / temperature
                    p = np.exp(gain - gain.max())
                    action = int(rng.choice(legal, p=p / p.sum()))
                obs, _, terminated, _, info = env.step(action)
                steps += 1
                if terminated:
                    break
            ok = bool(info["valid"])
            valid.append(ok)
            base, cost = info["baseline_cost"], info["cost"]
            improvement.append(max(0.0, (base - cost) / base) if ok else 0.0)
    return {"split": split, "temperature": temperature, "feature": feature, "mask_lost": mask_lost, "tasks": len(env.tasks), "episodes": len(valid),
            "valid": int(np.sum(valid)), "valid_share": round(float(np.mean(valid)), 4),
            "mean_improvement": round(float(np.mean(improvement)), 4), "steps": steps,
            "cpu_seconds": round(time.process_time() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--temperatures", default="0.02,0.05,0.1,inf")
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--tier", default="easy")
    parser.add_argument("--split", default="test", help="the suite's split to run on (train: to choose T)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-mask-lost", action="store_true")
    parser.add_argument("--feature", default="gain", choices=["gain", "reach"],
                        help="the per-action feature the softmax reads (tasm_env.envs.lookahead)")
    args = parser.parse_args()
    for t in args.temperatures.split(","):
        print(json.dumps(run(float(t), args.samples, args.tier, args.seed, not args.no_mask_lost,
                                       args.feature, args.split)), flush=True)


if __name__ == "__main__":
    main()
