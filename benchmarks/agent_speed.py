"""Speed of the agents' machinery: the cached sampler against torchgfn's own sampler, one-pass teacher-forced
scoring against torchgfn's per-state recomputation, and stage-2 iterations per second.

    python benchmarks/agent_speed.py [--batch 64] [--repeats 3]

Prints rates (blocks/s, it/s) and the ratios; the policy is untrained (speed does not depend on the weights,
only on block lengths, so every row uses the same tasks and seeds).
"""

from __future__ import annotations

import argparse
import time
import warnings

warnings.simplefilter("ignore", DeprecationWarning)

import torch  # noqa: E402
from gfn.samplers import Sampler  # noqa: E402
from gfn.utils.prob_calculations import get_trajectory_pfs  # noqa: E402

from agents.gflownet import GFlowNetConfig, GFlowNetTrainer, build_gflownet  # noqa: E402
from agents.policy import PolicyConfig, TasmPolicy, count_parameters  # noqa: E402
from agents.sampling import rollout, to_trajectories, trajectory_log_probs  # noqa: E402
from tasm_env.envs.gfn import TasmGFNEnv  # noqa: E402


def best_of(repeats: int, run) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    env = TasmGFNEnv(suite="tasm-basic-v1", split="train", tier="easy", masking="typed", max_len=32)
    policy = TasmPolicy(env, PolicyConfig())
    tasks = torch.arange(args.batch) % len(env.tasks)
    conditions = tasks.float()[:, None]
    print(f"policy: {count_parameters(policy):,} parameters; {args.batch} blocks of easy train tasks, "
          f"budget <= 32 tokens; 1 torch thread; best of {args.repeats}")

    with torch.no_grad():
        fast = best_of(args.repeats, lambda: rollout(policy, tasks, generator=torch.Generator().manual_seed(1)))
        slow = best_of(args.repeats, lambda: Sampler(policy).sample_trajectories(env, n=args.batch,
                                                                                 conditions=conditions))
    print(f"sampling   cached sampler {args.batch / fast:8.0f} blocks/s   torchgfn sampler {args.batch / slow:8.0f} "
          f"blocks/s   ratio {slow / fast:5.1f}x")

    trajectories = to_trajectories(rollout(policy, tasks, generator=torch.Generator().manual_seed(1)))
    one_pass = best_of(args.repeats, lambda: trajectory_log_probs(policy, trajectories).sum().backward())
    per_state = best_of(args.repeats, lambda: get_trajectory_pfs(policy, trajectories,
                                                                 recalculate_all_logprobs=True).sum().backward())
    print(f"scoring    one pass       {args.batch / one_pass:8.0f} blocks/s   per state        "
          f"{args.batch / per_state:8.0f} blocks/s   ratio {per_state / one_pass:5.1f}x   (forward + backward)")

    for agent in ("tb", "lpv"):
        config = GFlowNetConfig(agent=agent, tasks_per_batch=args.batch // 4, samples_per_task=4, logz_warmup=0)
        trainer = GFlowNetTrainer(build_gflownet(agent, env, policy, config=config), env, config, progress=False)
        trainer.step()  # verifiers warm up
        seconds = best_of(args.repeats, trainer.step)
        print(f"stage 2    {agent:<4} {1 / seconds:6.2f} it/s ({args.batch} blocks per iteration, rewards included)")


if __name__ == "__main__":
    main()
