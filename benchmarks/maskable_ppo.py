"""MaskablePPO (sb3-contrib, default hyper-parameters) with the project's graph encoder, ``stack`` against
``dataflow`` masking (issue 11's measurement).

    PYTHONPATH=$PWD nice -n 10 python benchmarks/maskable_ppo.py --steps 50000 --tier easy

For each masking level: train on the suite's ``train`` split (``--tier`` filters it) for ``--steps`` env steps
with the env's own reward (``stack``: the plain observation; ``dataflow``: the value observations, the dense
potential-based credit (``--credit``: ``progress`` or ``ready`` of :mod:`tasm_env.envs.potential`, discounted
by MaskablePPO's own default gamma) and lost episodes ended at once unless ``--no-end-lost``; ``--lookahead``
adds the per-action lookahead features, the ``mask_lost`` rule and the policy that reads them,
:class:`agents.rl.features.ActionScorePolicy`, with its fixed prior ``gain / T`` added to the logits,
``--prior-temperature`` T; ``--prior`` chooses the fixed prior: ``gain`` (that one), ``pretrained`` (the
shipped ``tasm-basic-v1`` policy's next-token log-probabilities over ``--pretrained-temperature``,
:mod:`agents.rl.prior`, under either masking), ``both`` or ``none`` (``--no-prior`` = ``none``); sb3-contrib's
defaults otherwise; ``--steps 0`` evaluates the untrained policy, i.e. the prior alone), then sample
``--samples`` episodes of the final (stochastic) policy on every task of the ``test`` split and report the
share of valid episodes, the mean improvement over the baseline (0 for an invalid or no-better block) and the
training rate in steps/s (one torch thread, the wall clock of ``model.learn`` including its updates). Prints
one JSON line per rollout (valid / lost episodes, mean peak potential), one per level and a table; ``--out``
also writes the levels' results, with their per-rollout lines, to a JSON file.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time

import gymnasium
import numpy as np
import torch

import tasm_env  # noqa: F401  (registers tasm_env/TasmEmit-v0)
from agents.rl.features import DEFAULT_PRIOR_TEMPERATURE, ActionScorePolicy, TaskIndexObservation, graph_policy_kwargs
from agents.rl.prior import PretrainedPriorActionScorePolicy, PretrainedPriorObservation, PretrainedPriorPolicy


TOKENS_WIDTH = 128  # the token observation's width on both splits (above every tasm-basic-v1 budget)


def default_gamma() -> float:
    """MaskablePPO's default discount: the dense credit's potential-based shaping must use the learner's."""
    from sb3_contrib import MaskablePPO

    return float(inspect.signature(MaskablePPO.__init__).parameters["gamma"].default)


def make_env(masking: str, split: str, tier: str | None, seed: int, credit: str = "progress",
             end_lost: bool = True, lookahead: bool = False, pretrained: bool = False):
    value = masking == "dataflow"
    extra = {"lookahead": True, "mask_lost": True} if value and lookahead else {}
    env = gymnasium.make("tasm_env/TasmEmit-v0", suite="tasm-basic-v1", split=split, tier=tier, masking=masking,
                         value_state=value, dense_credit=credit if value else False, credit_gamma=default_gamma(),
                         end_lost=value and end_lost, include_graph=False, **extra)
    env = TaskIndexObservation(env, tokens_width=TOKENS_WIDTH)
    if pretrained:
        env = PretrainedPriorObservation(env)
    env.reset(seed=seed)
    return env


def evaluate(model, masking: str, tier: str | None, samples: int, seed: int, credit: str, end_lost: bool,
             lookahead: bool = False, pretrained: bool = False, split: str = "test") -> dict:
    """Sample ``samples`` episodes per task of ``split`` from the trained policy (on those tasks' graphs)."""
    env = make_env(masking, split, tier, seed, credit, end_lost, lookahead, pretrained)
    extractor = model.policy.features_extractor
    extractor.bind(env.unwrapped.tasks)
    valid, improvement = [], []
    try:
        for index in range(len(env.unwrapped.tasks)):
            for _ in range(samples):
                obs, _ = env.reset(options={"task": index})
                while True:
                    action, _ = model.predict(obs, action_masks=env.action_masks(), deterministic=False)
                    obs, _, terminated, truncated, info = env.step(int(action))
                    if terminated or truncated:
                        break
                ok = bool(info["valid"])
                valid.append(ok)
                base, cost = info["baseline_cost"], info["cost"]
                improvement.append(max(0.0, (base - cost) / base) if ok else 0.0)
    finally:
        extractor.bind(model.get_env().envs[0].unwrapped.tasks)  # back to the train tasks
    return {"test_tasks": len(env.unwrapped.tasks), "episodes": len(valid), "valid_share": float(np.mean(valid)),
            "mean_improvement": float(np.mean(improvement))}


def progress_callback(masking: str):
    """Prints, after each rollout, the steps so far, the rate and the share of valid training episodes in it."""
    from stable_baselines3.common.callbacks import BaseCallback

    class Progress(BaseCallback):
        def _on_training_start(self) -> None:
            self.rollouts: list[dict] = []
            self.start, self.valid, self.episodes, self.lost = time.perf_counter(), 0, 0, 0
            self.best, self.peaks = 0.0, []

        def _on_step(self) -> bool:
            for done, info in zip(self.locals["dones"], self.locals["infos"]):
                self.best = max(self.best, float(info.get("potential", 0.0)))
                if done:
                    self.episodes += 1
                    self.valid += bool(info.get("valid"))
                    self.lost += bool(info.get("lost"))
                    self.peaks.append(self.best)
                    self.best = 0.0
            return True

        def _on_rollout_end(self) -> None:
            seconds = time.perf_counter() - self.start
            line = {"masking": masking, "progress_steps": self.num_timesteps, "seconds": round(seconds),
                              "steps_per_s": round(self.num_timesteps / seconds, 1),
                              "rollout_episodes": self.episodes, "rollout_valid": self.valid,
                              "rollout_lost": self.lost,
                              "mean_peak_potential": round(float(np.mean(self.peaks)), 3) if self.peaks else None}
            self.rollouts.append(line)
            print(json.dumps(line), flush=True)
            self.valid, self.episodes, self.lost, self.peaks = 0, 0, 0, []

    return Progress()


def last_rollouts_valid(rollouts: list[dict], steps: int) -> dict:
    """The share of valid training episodes over the last rollouts covering about ``steps`` env steps."""
    if not rollouts:
        return {"last_rollouts": 0, "last_rollouts_episodes": 0, "last_rollouts_valid_share": None}
    per = rollouts[0]["progress_steps"]
    tail = rollouts[-max(1, round(steps / per)):]
    episodes, valid = sum(r["rollout_episodes"] for r in tail), sum(r["rollout_valid"] for r in tail)
    return {"last_rollouts": len(tail), "last_rollouts_episodes": episodes,
            "last_rollouts_valid_share": round(valid / episodes, 4) if episodes else None}


def run(masking: str, steps: int, tier: str | None, samples: int, seed: int, credit: str,
        end_lost: bool = True, lookahead: bool = False,
        prior_temperature: float | None = DEFAULT_PRIOR_TEMPERATURE,
        pretrained_temperature: float | None = None, eval_split: str = "test") -> dict:
    """``prior_temperature``: the gain prior's (None: off); ``pretrained_temperature``: the pretrained prior's
    (None: off)."""
    from sb3_contrib import MaskablePPO

    lookahead = lookahead and masking == "dataflow"
    pretrained = pretrained_temperature is not None
    env = make_env(masking, "train", tier, seed, credit, end_lost, lookahead, pretrained)
    if lookahead:
        policy = PretrainedPriorActionScorePolicy if pretrained else ActionScorePolicy
    else:
        policy = PretrainedPriorPolicy if pretrained else "MultiInputPolicy"
    kwargs = graph_policy_kwargs(env.unwrapped.tasks)
    if lookahead:
        kwargs["prior_temperature"] = prior_temperature
    if pretrained:
        kwargs["pretrained_temperature"] = pretrained_temperature
    model = MaskablePPO(policy, env, seed=seed, verbose=0, policy_kwargs=kwargs)
    callback = progress_callback(masking)
    start = time.perf_counter()
    model.learn(total_timesteps=steps, callback=callback)
    seconds = time.perf_counter() - start
    value = masking == "dataflow"
    result = {"masking": masking, "credit": credit if value else None, "end_lost": value and end_lost,
              "lookahead": lookahead, "gain_prior": prior_temperature if lookahead else None,
              "pretrained_prior": pretrained_temperature,
              "steps": int(model.num_timesteps), "train_tasks": len(env.unwrapped.tasks),
              "seconds": round(seconds, 1),
              "steps_per_s": round(model.num_timesteps / seconds, 1) if model.num_timesteps else None}
    result.update(last_rollouts_valid(callback.rollouts, 6_000))
    result["eval_split"] = eval_split
    result.update(evaluate(model, masking, tier, samples, seed, credit, end_lost, lookahead, pretrained, eval_split))
    result["rollouts"] = callback.rollouts
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--tier", default="easy", help="tier of tasm-basic-v1 ('all' for every tier)")
    parser.add_argument("--samples", type=int, default=16, help="episodes per test task at the end")
    parser.add_argument("--masking", default="stack,dataflow")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-end-lost", action="store_true",
                        help="under dataflow, run lost episodes to the budget instead of ending them")
    parser.add_argument("--lookahead", action="store_true",
                        help="under dataflow, the per-action lookahead features (tasm_env.envs.lookahead), the "
                             "mask_lost rule and agents.rl.features.ActionScorePolicy")
    parser.add_argument("--credit", default="progress", choices=["progress", "ready", "reach"],
                        help="the dense credit's potential under dataflow (tasm_env.envs.potential)")
    parser.add_argument("--prior-temperature", type=float, default=DEFAULT_PRIOR_TEMPERATURE,
                        help="with --lookahead, the temperature T of ActionScorePolicy's fixed prior gain / T")
    parser.add_argument("--prior", default="gain", choices=["gain", "pretrained", "both", "none"],
                        help="the fixed prior in the logits: the gain prior (with --lookahead), the shipped "
                             "pretrained policy's log-probabilities (agents.rl.prior), both or none")
    parser.add_argument("--pretrained-temperature", type=float, default=1.0,
                        help="the pretrained prior's temperature (its log-probabilities are divided by it)")
    parser.add_argument("--no-prior", action="store_true", help="the same as --prior none")
    parser.add_argument("--eval-split", default="test", choices=["val", "test"],
                        help="the split sampled at the end (val: to choose a setting without the test tasks)")
    parser.add_argument("--out", help="also write the results (with their per-rollout lines) to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tier = None if args.tier == "all" else args.tier
    rows = []
    for masking in args.masking.split(","):
        prior = "none" if args.no_prior else args.prior
        row = run(masking, args.steps, tier, args.samples, args.seed, args.credit, not args.no_end_lost,
                  args.lookahead, args.prior_temperature if prior in ("gain", "both") else None,
                  args.pretrained_temperature if prior in ("pretrained", "both") else None, args.eval_split)
        print(json.dumps({k: v for k, v in row.items() if k != "rollouts"}), flush=True)
        rows.append(row)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"command": "benchmarks/maskable_ppo.py " + " ".join(sys.argv[1:]), "results": rows}, f,
                      indent=1)
    print("\n| masking | steps | steps/s | test valid | mean improvement |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['masking']} | {r['steps']} | {r['steps_per_s']} | {100 * r['valid_share']:.1f}% "
              f"({r['episodes']} episodes) | {100 * r['mean_improvement']:.2f}% |")


if __name__ == "__main__":
    main()
