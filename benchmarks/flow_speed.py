"""CPU seconds of one SubTB / DB log-flow evaluation: the state flow (``agents.policy.TasmFlow``, the policy's
architecture with one output) on every state of a stage-2 batch, forward and backward, with the decoder run
once per longest shared prefix (``agents.prefixes.shared_prefixes``, the code) against once per state (the
code before it), alternating, on the same batches; the states' value facts are computed once before the
clock (both ways read them from the same cache), so the figures are the flow's own cost.

    python benchmarks/flow_speed.py                 # 3 rounds, 16 train tasks x 4 samples of the shipped policy

Prints seconds per evaluation for each way and their ratio; checks the two give the same flows.
"""

from __future__ import annotations

import argparse
import time

import torch

import agents.policy_network as network_module  # where PolicyNetwork reads shared_prefixes
from agents.policy import TasmFlow
from agents.sampling import rollout, to_trajectories
from agents.shipped import pretrained


def per_state(tokens: torch.Tensor, length: torch.Tensor, task: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every state its own row: the decoding before shared prefixes."""
    n = tokens.shape[0]
    return torch.arange(n), torch.arange(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=16)
    parser.add_argument("--samples", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    policy = pretrained("tasm-basic-v1", split="train", tiers=("easy", "medium"))  # stage 2's tasks
    env = policy.env
    flow = TasmFlow(env, policy.config)
    shared = network_module.shared_prefixes
    times = {"shared prefixes": [], "per state": []}
    for r in range(args.rounds):
        task = torch.arange(r * args.tasks, (r + 1) * args.tasks).repeat_interleave(args.samples) % len(env.tasks)
        sampled = rollout(policy, task, temperature=1.5, generator=torch.Generator().manual_seed(r))
        states = to_trajectories(sampled).states
        with torch.no_grad():  # the states' value facts once, outside the clock: both ways read the same cache
            flow(states, states.conditions)
        outputs = {}
        for name, split in (("shared prefixes", shared), ("per state", per_state))[:: 1 if r % 2 == 0 else -1]:
            network_module.shared_prefixes = split
            flow.zero_grad()
            start = time.process_time()
            out = flow(states, states.conditions)
            out.sum().backward()
            times[name].append(time.process_time() - start)
            outputs[name] = out.detach()
        network_module.shared_prefixes = shared
        n = int(states.batch_shape[0] * states.batch_shape[1])
        gap = (outputs["shared prefixes"] - outputs["per state"]).abs().max().item()
        print(f"round {r}: {n} states, max |difference| {gap:.2e}, "
              + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)
    mean = {k: sum(v) / len(v) for k, v in times.items()}
    print(", ".join(f"{k}: {v:.2f} CPU-s per evaluation" for k, v in mean.items())
          + f"; per state / shared = {mean['per state'] / mean['shared prefixes']:.1f}x")


if __name__ == "__main__":
    main()
