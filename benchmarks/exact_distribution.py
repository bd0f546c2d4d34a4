"""How close each GFlowNet objective gets to the exact target distribution on tasks small enough to enumerate.

    python benchmarks/exact_distribution.py [--iterations 300] [--samples 4000]

Three tiny tasks (``add``, ``dup 0 mul``, ``lt``; blocks of at most 2 tokens under the typed masks, a few hundred
legal blocks each) and the policy of ``agents.policy`` (small size). Each of TB, LPV and RTB (RTB's prior: the
untrained policy, frozen) trains on-policy for ``--iterations``, then ``env.validate`` compares the empirical
distribution of ``--samples`` sampled blocks per task with the exact one, R(x) / Z: L1 distance, Jensen-Shannon
divergence, and for objectives with a log Z the error of the learned log Z against the exact one. The rows
"before" are the untrained policy. For RTB the target is prior(x) * R(x)^beta / Z, not R(x) / Z, so its L1 / JSD
against R / Z measure something else: it is listed for completeness, marked.
"""

from __future__ import annotations

import argparse
import time
import warnings

warnings.simplefilter("ignore")  # torchgfn's note on few validation samples relative to all tasks' blocks

import torch  # noqa: E402

import tasm_env as te  # noqa: E402
from agents.evaluate import distribution_distance  # noqa: E402
from agents.gflownet import GFlowNetConfig, GFlowNetTrainer, build_gflownet, frozen_copy  # noqa: E402
from agents.policy import PolicyConfig, TasmPolicy  # noqa: E402
from tasm_env.envs.gfn import TasmGFNEnv  # noqa: E402

TINY = [te.Task.from_tasm("add", ("field", "field"), name="add"),
        te.Task.from_tasm("dup 0 mul", ("field",), name="square"),
        te.Task.from_tasm("lt", ("u32", "u32"), name="lt")]
SMALL = PolicyConfig(d_model=32, heads=4, gnn_layers=2, decoder_layers=2, d_ff=64, edge_dim=8)


def row(label: str, rows: list[dict]) -> str:
    cells = [f"{r['task']}: L1 {r['l1']:.3f} JSD {r['jsd']:.3f}" + (f" dlogZ {r['logz_diff']:+.2f}"
                                                                     if r["logz_diff"] is not None else "")
             for r in rows]
    return f"{label:<14} " + " | ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--samples", type=int, default=4000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    env = TasmGFNEnv(tasks=TINY, suite=None, masking="typed", max_len=2, beta=1.0)
    print(f"{env.n_terminating_states} legal blocks over {len(TINY)} tasks; reward beta 1 (the env's log-reward)")
    for agent in ("tb", "lpv", "rtb"):
        torch.manual_seed(0)
        policy = TasmPolicy(env, SMALL)
        prior = frozen_copy(policy) if agent == "rtb" else None
        config = GFlowNetConfig(agent=agent, iterations=args.iterations, tasks_per_batch=3, samples_per_task=16,
                                lr=1e-3, logz_lr=3e-2, reward_beta=1.0, log_reward_clip=-1e9, mode="on-policy",
                                logz_warmup=0, seed=0)
        gflownet = build_gflownet(agent, env, policy, prior=prior, config=config)
        indices = range(len(TINY))
        if agent == "tb":
            print(row("untrained", distribution_distance(env, gflownet, indices, args.samples)))
        start = time.perf_counter()
        GFlowNetTrainer(gflownet, env, config, progress=False).train()
        seconds = time.perf_counter() - start
        label = f"{agent.upper()}{' (prior*R)' if agent == 'rtb' else ''}"
        print(row(label, distribution_distance(env, gflownet, indices, args.samples)) + f"   [{seconds:.0f} s]")


if __name__ == "__main__":
    main()
