"""Peak memory and CPU time of single comparison units, each in a fresh process. Prints figures; asserts nothing.

    python benchmarks/rl_memory.py                                  # reinforce and ppo on a medium and a hard task
    python benchmarks/rl_memory.py --agents reinforce --tasks basic-hard-003 --budget 448

Why: the RL agents' updates once held a decoder pass per step of every block in the loss's graph (memory growing
with blocks x length^2; a 14.7 GB worker was killed on a hard task). Each unit runs in its own interpreter, so
the maximum resident set size printed is that unit's alone (torch and the suite loaded included).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def one_unit(agent: str, task: str, budget: int, batch: int) -> dict:
    from agents.compare.interface import RunUnit, run_unit

    start = time.process_time()
    record = run_unit(RunUnit(agent=agent, seed=0, task=task, budget=budget, batch=batch))
    return {"agent": agent, "task": task, "programs_scored": record.programs_scored,
            "best_cycles": record.best_cycles, "cpu_seconds": time.process_time() - start,
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", default="reinforce,ppo")
    parser.add_argument("--tasks", default="basic-medium-002,basic-hard-003")
    parser.add_argument("--budget", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_unit(args.one[0], args.one[1], args.budget, args.batch)))
        return
    print(f"one comparison unit per process, seed 0, budget {args.budget}, batch {args.batch}")
    for task in args.tasks.split(","):
        for agent in args.agents.split(","):
            out = subprocess.run([sys.executable, __file__, "--one", agent, task, "--budget", str(args.budget),
                                  "--batch", str(args.batch)], check=True, capture_output=True, text=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{agent:>10} {task:<18} max RSS {r['max_rss_mb']:7.0f} MB   CPU {r['cpu_seconds']:6.1f} s   "
                  f"best {r['best_cycles']} cycles after {r['programs_scored']} programs")


if __name__ == "__main__":
    main()
