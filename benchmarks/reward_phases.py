"""Figure 4's warm batch (``env_speed.py --only rewards``: 1,000 new blocks over 100 visited tasks) repeated on
fresh blocks, with the time spent compiling plans (``batch.compile_block``, as the screen calls it) and evaluating
schedules (``batch.evaluate_schedule``) timed apart.

    OMP_NUM_THREADS=1 python benchmarks/reward_phases.py [--batches 6]

Prints, per batch, blocks/s of ``env.log_reward`` and the compile's and evaluation's milliseconds, then the medians (CPU time of
this process; the garbage collector is collected before each batch so that a collection falls in none).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import tasm_env.batch as batch
from benchmarks.core import timed
from benchmarks.env_speed import TasmGFNEnv, new_blocks

clock = time.process_time
spent = {"compile": 0.0, "evaluate": 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=6)
    args = parser.parse_args()
    env = TasmGFNEnv(masking="typed", verifier_seed=20_261_202)
    env.log_reward(new_blocks(env, 10, 100, seed=1))  # first visits: the verifiers built
    # the screen looks both up on the module at each call
    batch.compile_block = timed(batch.compile_block, spent, "compile", clock)
    batch.evaluate_schedule = timed(batch.evaluate_schedule, spent, "evaluate", clock)
    rates, compiles, evaluations = [], [], []
    for seed in range(2, 2 + args.batches):
        blocks = new_blocks(env, 10, 100, seed=seed)
        gc.collect()
        spent.update(compile=0.0, evaluate=0.0)
        t = clock()
        env.log_reward(blocks)
        elapsed = clock() - t
        rates.append(len(blocks.tensor) / elapsed)
        compiles.append(spent["compile"] * 1e3)
        evaluations.append(spent["evaluate"] * 1e3)
        print(f"batch {seed - 1}: {rates[-1]:,.0f} blocks/s ({elapsed * 1e3:.1f} ms, compiling {compiles[-1]:.1f} ms, "
              f"evaluating {evaluations[-1]:.1f} ms)")
    print(f"median: {statistics.median(rates):,.0f} blocks/s, compiling {statistics.median(compiles):.1f} ms, "
          f"evaluating {statistics.median(evaluations):.1f} ms a batch")


if __name__ == "__main__":
    main()
