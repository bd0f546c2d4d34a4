"""Trajectory balance on the torchgfn env for about a minute: easy tasks of tasm-basic-v1, a small MLP policy.

    python examples/tb_one_minute.py [seconds]

Every few iterations it prints the loss, the mean learned logZ, the share of sampled blocks that verify, and the
cheapest verified block found so far per task against its baseline (cycles). torchgfn's own TBGFlowNet does the
learning (pb=None, constant_pb=True: the state space is a tree); the env is conditioned on the task id.

From scratch, a minute teaches the policy the shape of the problem (the loss falls from hundreds to about 1)
but finds few verified blocks: the rewards are sparse. That is what the agents' first stage (pre-training on
the baselines and their verified variants) is for.
"""

from __future__ import annotations

import sys
import time

import torch
from gfn.gflownet import TBGFlowNet

from tasm_env.envs.gfn import TasmGFNEnv, logz_estimator, mlp_policy


def main(seconds: float = 60.0, batch: int = 64) -> None:
    torch.set_num_threads(1)  # small tensors: extra threads only contend
    torch.manual_seed(0)
    # an 8-token budget: the easy tasks' optima are 2-6 instructions (their baselines 10-34)
    env = TasmGFNEnv(suite="tasm-basic-v1", split="train", tier="easy", masking="typed", max_len=8)
    gflownet = TBGFlowNet(pf=mlp_policy(env, hidden=128), pb=None, logZ=logz_estimator(env), constant_pb=True)
    optimizer = torch.optim.Adam(gflownet.pf_pb_parameters(), 1e-3)
    optimizer.add_param_group({"params": gflownet.logz_parameters(), "lr": 1e-2})
    best: dict[int, tuple[float, str]] = {}  # task -> (cycles, program)
    start, iteration = time.time(), 0
    print(f"{env.n_tasks} easy tasks, {env.n_actions} actions, budget <= {env.max_len} tokens, batch {batch}")
    while time.time() - start < seconds:
        # exploration: a bias towards EOS (shorter blocks) while sampling; the loss rebuilds the untempered
        # policy from the saved logits (torchgfn-notes.md section 6, mode 2)
        trajectories = gflownet.sample_trajectories(env, n=batch, save_estimator_outputs=True, sf_bias=-2.0)
        loss = gflownet.loss(env, trajectories, recalculate_all_logprobs=False)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        iteration += 1
        valid = remember_best(env, trajectories, best)
        if iteration % 10 == 0:
            logz = gflownet.logZ(env.conditions_for(range(env.n_tasks))).mean().item()
            print(f"it {iteration:4d}  {time.time() - start:5.1f}s  loss {loss.item():8.3f}  mean logZ {logz:6.3f}  "
                  f"valid {valid:5.1%}  tasks solved {len(best)}/{env.n_tasks}")
    print(f"\n{iteration} iterations in {time.time() - start:.0f}s; cheapest verified blocks (cycles vs baseline):")
    for n, (cycles, program) in sorted(best.items()):
        task = env.tasks[n]
        print(f"  {task.name}: {cycles:.0f} vs {task.baseline_cycles}   {program}")


def remember_best(env: TasmGFNEnv, trajectories, best: dict[int, tuple[float, str]]) -> float:
    """Record the cheapest valid block per task among the sampled ones (the reward model caches the verdicts);
    return the share of valid samples."""
    states = trajectories.terminating_states
    programs = env.decode(states)
    tasks = env.task_ids(states).tolist()
    evaluations = env.rewards.evaluate([env.tasks[t] for t in tasks], programs)
    for t, program, evaluation in zip(tasks, programs, evaluations):
        if evaluation.valid and (t not in best or evaluation.cost < best[t][0]):
            best[t] = (evaluation.cost, " ".join(str(i) for i in program))
    return sum(e.valid for e in evaluations) / len(evaluations)


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0)
