"""How close the shipped policy's beam comes to a task's outputs, and how well the policy predicts the baseline.

    python benchmarks/beam_reach.py                        # the hard tasks of the val split of tasm-basic-v1
    python benchmarks/beam_reach.py --tiers medium --split val

For each task, the default progress-guided beam (width 16, :func:`agents.beam.search` as
:func:`agents.beam.policy_beam` runs it, without completions) is followed depth by depth: the fewest target
nodes missing from any row's top slots (``slot_nodes`` against the baseline's final live nodes,
:func:`agents.complete.goal_nodes`) and the largest share of outputs ready, over the whole search, and its depth, merges and prunes (children built: at most a full pool per depth); and the
baseline is replayed token by token under the masks (teacher forcing): the mean log-probability the policy
gives the baseline's next token and the share of positions where it is the policy's first choice. Also printed:
the completions of the baseline's own prefixes (:func:`agents.complete.complete_programs`, 64 at most, the
baseline itself excluded) and how many of them verify (64 tests, seed 1234). Nothing here is timed.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import agents
from agents.beam import POOL_PER_ROW, BeamStats, PROGRESS_WEIGHT, policy_log_probs, progress, search
from agents.complete import complete_programs, goal_nodes
from agents.policy import bound_to
from tasm_env.asm import Program
from tasm_env.envs.gfn import TasmGFNEnv
from tasm_env.verify import Verifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="tasm-basic-v1")
    parser.add_argument("--split", default="val")
    parser.add_argument("--tiers", default="hard")
    parser.add_argument("--width", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_grad_enabled(False)
    policy = agents.pretrained(args.suite, split=args.split, tiers=tuple(args.tiers.split(",")))
    print("task | baseline instr | budget | goal nodes | fewest missing (beam) | best ready share (beam) | "
          "beam depth | merged / children built | pruned | baseline token: mean log-p | first choice | "
          "baseline completions verified / proposed")
    for task in policy.env.tasks:
        env = TasmGFNEnv(tasks=[task], suite=None, masking=policy.env.masking, vocab=policy.env.vocab,
                         value_state=True)
        machine, goal = env.machine, goal_nodes(env, 0)
        fewest, ready, stats = [1 << 30], [0.0], BeamStats()

        def visit(rows) -> None:
            for f in machine.value_facts(rows):
                if f is not None:
                    fewest[0] = min(fewest[0], len(goal - set(f.slot_nodes.tolist())) if goal else 0)
                    ready[0] = max(ready[0], f.ready_share)

        tokens = env.specs[0].bound.encode(task.baseline)
        with bound_to(env, policy), policy.encoding_cache():
            ahead = progress(env, task)
            prior = lambda s, sc, m: sc[:, None] + policy_log_probs(policy, env, s, m).to(torch.float64)  # noqa: E731
            for _ in search(env, 0, args.width, prior, rescore=lambda r, f, sc: sc + PROGRESS_WEIGHT * ahead(r, f),
                            pool=POOL_PER_ROW * args.width, visit=visit, stats=stats):
                pass
            state, logp, first = machine.initial([0]), [], []
            for token in tokens:
                lp = policy_log_probs(policy, env, state, machine.forward_masks(state, env.masking))[0]
                logp.append(float(lp[token]))
                first.append(bool((lp > lp[token]).sum() == 0))
                state = machine.step(state, torch.tensor([token]))
        base = Program.coerce(task.baseline)
        done = [p for p in complete_programs(env, 0, [base], 65) if p != base][:64]
        ok = sum(v.ok for v in Verifier(task, n_tests=64, seed=1234).check(done)) if done else 0
        built = stats.depth * POOL_PER_ROW * args.width  # children built per depth, at most (a full pool)
        print(f"{task.name} | {len(base)} | {env.specs[0].budget} | {len(goal) if goal else '-'} | {fewest[0]} | "
              f"{ready[0]:.2f} | {stats.depth} | {stats.merged} / {built} | {stats.pruned} | {np.mean(logp):.2f} | "
              f"{np.mean(first):.0%} | {ok} / {len(done)}", flush=True)


if __name__ == "__main__":
    main()
