"""Why the shipped policy's samples fail: could stack moves alone have finished them?

    python benchmarks/decode_failures.py                     # test split of tasm-basic-v1, 64 samples, T = 1
    python benchmarks/decode_failures.py --temperature 0.5 --tiers easy --samples 16

Draws the samples exactly as ``tasm-env evaluate pretrained --split test --samples N`` does (one env per task,
seed = the task's offset, the policy's dataflow masks), verifies each on the evaluation's 64 tests (seed 1234)
and, for every sample that did not verify, reads each of its prefixes on the env's probes
(:func:`agents.complete.gap`; the value state's ``slot_nodes`` screen first). A failed sample is

* **completable**: at some step its live stack held every value of the baseline's final live stack, every
  other effect (crashes, output, sponge, RAM) already matched, and the arrangement found then
  (:func:`agents.complete.arrangement`) makes a block legal under the masks with EOS at its end;
* **values present, not completable**: every value was there at some step, but the effects differed, or the
  moves were out of reach or illegal under the masks (budget, a masked ``pop``);
* **missing values**: at every step some target value was on no live slot (the fewest missing over its steps
  are counted: 1, 2, 3 or more; counted as target graph nodes in none of the top 16 slots, ``slot_nodes``),
  and whether one computing instruction and stack moves finish one of its prefixes
  (:func:`agents.complete.extend`, as ``decode="complete"`` tries it on up to 24 prefixes a target node short).

Also printed: how many completed candidates (distinct, per task) pass the verifier. Quiet-machine run times
are wall-clock and include the policy's sampling.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import torch

import agents
from agents.complete import complete_programs, completions, gap, goal_nodes
from agents.policy import bound_to
from agents.sampling import sample_programs
from tasm_env.asm import Program
from tasm_env.envs.gfn import TasmGFNEnv
from tasm_env.verify import Verifier


def classify(env: TasmGFNEnv, program, goal: set[int] | None) -> tuple[str, int]:
    """(kind, fewest target values missing over the prefixes) of one failed sample. The count is by the value
    state's ``slot_nodes`` (target nodes in none of the top 16 slots; the env's facts, cached from sampling);
    a prefix with none missing is then read exactly on the probes (:func:`agents.complete.gap`)."""
    values, probes = env.machine.values, env.machine.values.probes(0)
    tokens = tuple(env.specs[0].bound.encode(program))
    facts = values.facts_many([(0, tokens[:t]) for t in range(len(tokens) + 1)])
    fewest, present = 1 << 30, False
    for t, f in enumerate(facts):
        short = 0 if goal is None else len(goal - set(f.slot_nodes.tolist()))
        fewest = min(fewest, short)
        if short == 0:
            g = gap(probes, probes.outcome(probes.evaluate(Program(program[:t]))))
            fewest = min(fewest, g.missing)
            present |= g.missing == 0
    if present:
        return ("completable" if completions(env, 0, program) else "present, not completable"), 0
    return "missing values", fewest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="tasm-basic-v1")
    parser.add_argument("--split", default="test")
    parser.add_argument("--tiers", default=None)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    policy = agents.pretrained(args.suite, split=args.split,
                               tiers=tuple(args.tiers.split(",")) if args.tiers else None)
    tasks = list(policy.env.tasks)
    kinds: dict[str, Counter] = {}
    missing: dict[str, Counter] = {}
    verified_completions: Counter = Counter()
    started = time.perf_counter()
    for n, task in enumerate(tasks):
        env = TasmGFNEnv(tasks=[task], suite=None, masking=policy.env.masking, vocab=policy.env.vocab,
                         value_state=True)
        with bound_to(env, policy):
            drawn = sample_programs(policy, [0], args.samples, temperature=args.temperature,
                                    generator=torch.Generator().manual_seed(args.seed + n))[0]
        verifier = Verifier(task, n_tests=64, seed=1234)
        goal = goal_nodes(env, 0)
        ok = [v.ok for v in verifier.check(drawn)]
        tier_kinds = kinds.setdefault(task.tier, Counter())
        tier_missing = missing.setdefault(task.tier, Counter())
        tier_kinds["valid"] += sum(ok)
        for program, good in zip(drawn, ok):
            if not good:
                kind, fewest = classify(env, program, goal)
                tier_kinds[kind] += 1
                if kind == "missing values":
                    tier_missing[min(fewest, 3)] += 1
                    tier_missing["one instruction"] += bool(complete_programs(env, 0, [program], 1, extra=True))
        done = {c.program for p in drawn for c in completions(env, 0, p)}
        if done:
            verdicts = verifier.check(sorted(done, key=str))
            verified_completions[task.tier, "candidates"] += len(done)
            verified_completions[task.tier, "verified"] += sum(v.ok for v in verdicts)
            verified_completions[task.tier, "tasks"] += any(v.ok for v in verdicts)
        verified_completions[task.tier, "all tasks"] += 1
    seconds = time.perf_counter() - started
    print(f"{args.suite} {args.split}, {len(tasks)} tasks, {args.samples} samples each at temperature "
          f"{args.temperature} (the shipped policy, {policy.env.masking} masks); {seconds:.0f} s wall-clock\n")
    header = ("tier", "samples", "valid", "failed", "completable", "present, not completable", "missing values",
              "missing 1", "missing 2", "missing 3+", "missing, one instruction finishes")
    print(" | ".join(header))
    tiers = [t for t in ("easy", "medium", "hard") if t in kinds]
    for tier in [*tiers, "all"]:
        k = sum((kinds[t] for t in tiers), Counter()) if tier == "all" else kinds[tier]
        m = sum((missing[t] for t in tiers), Counter()) if tier == "all" else missing[tier]
        failed = sum(k.values()) - k["valid"]
        share = (lambda x: f"{x} ({x / failed:.1%})") if failed else str
        print(" | ".join([tier, str(sum(k.values())), str(k["valid"]), str(failed), share(k["completable"]),
                          share(k["present, not completable"]), share(k["missing values"]),
                          share(m[1]), share(m[2]), share(m[3]), share(m["one instruction"])]))
    print("\ncompleted candidates (distinct per task, every completion of every sample): verified / candidates; "
          "tasks with one verified")
    for tier in tiers:
        c = verified_completions
        print(f"{tier}: {c[tier, 'verified']} / {c[tier, 'candidates']}; {c[tier, 'tasks']} / {c[tier, 'all tasks']} "
              "tasks")


if __name__ == "__main__":
    main()
