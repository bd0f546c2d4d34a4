"""Speed-up of the comparison's backends on the same units: 1 local worker, 2 local workers, Ray with 2 CPUs.
Prints seconds and ratios; asserts nothing.

    python benchmarks/compare_scaling.py                       # 2 seeds x 6 tasks x 256 programs, random agent
    python benchmarks/compare_scaling.py --agents random,mcmc --seeds 3 --tasks 8 --budget 512

Each backend runs in a fresh Python process (nothing warm carries over from one to the next) and is timed from
the call to ``run_units`` to its return: pool start-up, or Ray trials' start, included; the start of Ray itself
(``ray.init``) is printed apart, since a cluster is started once for many sweeps. The records of every backend
are checked to be the same (up to ``seconds``). The local backend is ``agents.compare.backends.run_units``;
while that module is missing, a spawn pool of ``run_unit`` here stands in (the line printed says which).
On a machine shared with other work, run it a few times: the ratio moves with the load.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def units_from(args) -> list:
    from agents.compare.interface import RunUnit
    from tasm_env.tasks.suite import load_suite

    tasks = [t.name for t in load_suite(args.suite).split("test")][: args.tasks]
    return [RunUnit(agent, seed, task, suite=args.suite, budget=args.budget)
            for agent in args.agents.split(",") for seed in range(args.seeds) for task in tasks]


def local_run(units, workers: int) -> tuple[list, str]:
    try:
        from agents.compare.backends import run_units
    except ImportError:
        import multiprocessing

        from agents.compare.interface import run_unit

        if workers == 1:
            return [run_unit(u) for u in units], "sequential run_unit (agents.compare.backends missing)"
        with multiprocessing.get_context("spawn").Pool(workers) as pool:  # spawn: torch may be imported
            return pool.map(run_unit, units, chunksize=1), "spawn pool of run_unit (agents.compare.backends missing)"
    return run_units(units, backend="local", workers=workers), "agents.compare.backends.run_units(backend='local')"


def measure_one(args) -> dict:
    """In this (fresh) process: run the units on one backend, return seconds and records."""
    units = units_from(args)
    backend, workers = args.one.split(":")
    extra = {}
    if backend == "ray":
        import tempfile

        from agents.compare.ray_backend import ray_init_kwargs, run_units_ray

        connect = ray_init_kwargs(None)  # before Ray is imported: a Ray of its own, on 127.0.0.1
        import ray

        start = time.perf_counter()
        ray.init(num_cpus=int(workers), logging_level="WARNING", log_to_driver=False, **connect)
        extra["ray_init_seconds"] = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as storage:
            start = time.perf_counter()
            records = run_units_ray(units, None, shard_size=args.shard_size, storage_path=storage, resume=False)
            seconds = time.perf_counter() - start
        ray.shutdown()
        how = f"agents.compare.ray_backend.run_units_ray (shard_size={args.shard_size})"
    else:
        start = time.perf_counter()
        records, how = local_run(units, int(workers))
        seconds = time.perf_counter() - start
    rows = [{k: v for k, v in r.to_json().items() if k != "seconds"} for r in records]
    return {"seconds": seconds, "how": how, "records": rows, "unit_seconds": sum(r.seconds for r in records),
            **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suite", default="tasm-basic-v1")
    parser.add_argument("--agents", default="random")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--tasks", type=int, default=6)
    parser.add_argument("--budget", type=int, default=256)
    parser.add_argument("--shard-size", type=int, default=3)
    parser.add_argument("--backends", default="local:1,local:2,ray:2", help="backend:workers, comma-separated")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one backend in this process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args)))
        return
    passed = ["--suite", args.suite, "--agents", args.agents, "--seeds", str(args.seeds), "--tasks",
              str(args.tasks), "--budget", str(args.budget), "--shard-size", str(args.shard_size)]
    results = {}
    for spec in args.backends.split(","):
        if spec.startswith("ray") and importlib.util.find_spec("ray") is None:
            print(f"{spec:>8}: skipped, Ray is not installed (pip install tasm-env[ray])")
            continue
        out = subprocess.run([sys.executable, __file__, *passed, "--one", spec], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
        results[spec] = json.loads(out.strip().splitlines()[-1])
        r = results[spec]
        init = f", ray.init {r['ray_init_seconds']:.1f} s apart" if "ray_init_seconds" in r else ""
        print(f"{spec:>8}: {r['seconds']:7.1f} s for {len(r['records'])} units "
              f"(sum of units' own seconds {r['unit_seconds']:.1f}{init})  [{r['how']}]")
    base = results.get("local:1")
    if base:
        for spec, r in results.items():
            if spec != "local:1":
                print(f"speed-up of {spec} over local:1: {base['seconds'] / r['seconds']:.2f}x")
    same = len({json.dumps(r["records"], sort_keys=True) for r in results.values()}) <= 1
    print(f"same records on every backend (up to seconds): {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
