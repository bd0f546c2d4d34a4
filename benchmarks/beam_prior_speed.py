"""CPU time of the beam's policy prior alone (``agents.beam.CachedPrior``), replaying the calls of real beams.

    python benchmarks/beam_prior_speed.py                         # 3 test tasks per tier, best of 5 replays
    python benchmarks/beam_prior_speed.py --save new.npz          # and write every call's log-probabilities
    python benchmarks/beam_prior_speed.py --against old.npz       # ... or compare them with another checkout's
    python benchmarks/beam_prior_speed.py --old /work/wt-old --rounds 12   # old and new alternated in one process

Runs ``decode="beam"`` (the defaults) on the tasks, recording each prior call (the beam's rows, their masks, the
parents handed over), then replays the calls of each task on a fresh ``CachedPrior`` ``--repeats`` times and
prints the best replay's CPU ms per task and per depth. Run it in an old and a new worktree (alternated) for a
ratio; ``--save``/``--against`` check that both give the same floats, bit for bit. ``--old WORKTREE`` loads that
checkout's ``agents`` package beside this one (as ``agents_old``; ``tasm_env`` is this checkout's) and replays
the same recorded calls on both, alternated task by task (the order flipped every other task) for ``--rounds``
rounds: the load drifts less within a task's replay than between processes. It prints each round's CPU ms per
task and the median of the rounds' ratios, and whether both gave the same bits.
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
import time

import numpy as np

import agents.beam as beam
from agents.best import candidates
from decode_speed import policy_and_tasks, task_arguments  # the sibling script: the same options and tasks


def record(policy, tasks, samples: int) -> list:
    """[(env, task index, [(rows, mask, parents)])] of every CachedPrior the beams built."""
    calls: list = []
    build, score = beam.CachedPrior.__init__, beam.CachedPrior.__call__

    def init(self, policy, task, **kwargs):
        calls.append((policy.env, task, []))
        build(self, policy, task, **kwargs)

    def call(self, state, mask):
        calls[-1][2].append((state, mask, None if self.parents is None else self.parents.clone()))
        return score(self, state, mask)

    beam.CachedPrior.__init__, beam.CachedPrior.__call__ = init, call
    try:
        for n, task in enumerate(tasks):
            candidates([task], policy, samples, decode="beam", seed=n)
    finally:
        beam.CachedPrior.__init__, beam.CachedPrior.__call__ = build, score
    return calls


def replay(policy, calls: list, prior_class=None) -> list:
    """Every call's log-probabilities, each task's calls on a fresh prior (``prior_class``, default this
    checkout's ``CachedPrior``)."""
    out = []
    for env, task, seq in calls:
        policy.rebind(env)
        with policy.encoding_cache():
            prior = (prior_class or beam.CachedPrior)(policy, task)
            for state, mask, parents in seq:
                if parents is not None:
                    prior.follow(parents)
                out.append(prior(state, mask).numpy())
    return out


def against_old(args, policy, calls: list, tasks: list) -> None:
    """Replay ``calls`` on the old checkout's prior and this one's, alternated per task, ``args.rounds`` times."""
    spec = importlib.util.spec_from_file_location("agents_old", f"{args.old}/agents/__init__.py",
                                                  submodule_search_locations=[f"{args.old}/agents"])
    old = importlib.util.module_from_spec(spec)
    sys.modules["agents_old"] = old
    spec.loader.exec_module(old)
    old_beam = importlib.import_module("agents_old.beam")
    sides = {"old": (old.pretrained(args.suite, split=args.split), old_beam.CachedPrior),
             "new": (policy, beam.CachedPrior)}
    same = all(np.array_equal(a, b) for a, b in zip(*(replay(p, calls, c) for p, c in sides.values())))
    spent = {"old": [], "new": []}
    for r in range(args.rounds):
        this = {"old": 0.0, "new": 0.0}
        for j, call in enumerate(calls):
            for side in (("old", "new") if (r + j) % 2 == 0 else ("new", "old")):
                side_policy, side_prior = sides[side]
                started = time.process_time()
                replay(side_policy, [call], side_prior)
                this[side] += time.process_time() - started
        for side in this:
            spent[side].append(1000 * this[side] / len(tasks))
    for side, ms in spent.items():
        print(f"{side} ({args.old if side == 'old' else 'this checkout'}): " + " ".join(f"{m:.0f}" for m in ms)
              + " CPU ms per task")
    ratio = statistics.median(o / n for o, n in zip(spent["old"], spent["new"]))
    print(f"median old/new ratio over {args.rounds} rounds: {ratio:.2f}x; the same bits: {same}")


def main() -> None:
    parser = task_arguments(__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--save", default=None, help="write the log-probabilities of every call (npz)")
    parser.add_argument("--against", default=None, help="compare them with a file --save wrote")
    parser.add_argument("--old", default=None, help="another worktree: its prior and this one's, alternated")
    parser.add_argument("--rounds", type=int, default=12, help="with --old: rounds of alternated replays")
    args = parser.parse_args()
    policy, tasks = policy_and_tasks(args)
    calls = record(policy, tasks, args.samples)
    if args.old:
        against_old(args, policy, calls, tasks)
        return
    depths = sum(len(seq) for _, _, seq in calls)
    best, out = float("inf"), []
    for _ in range(args.repeats):
        started = time.process_time()
        out = replay(policy, calls)
        best = min(best, time.process_time() - started)
    print(f"{args.suite} {args.split}: {len(tasks)} tasks, {depths} prior calls; best of {args.repeats} replays: "
          f"{1000 * best / len(tasks):.1f} CPU ms per task, {1e6 * best / depths:.0f} us per call")
    if args.save:
        np.savez(args.save, *out)
    if args.against:
        with np.load(args.against) as old:
            theirs = [old[f"arr_{i}"] for i in range(len(old.files))]
        same = len(theirs) == len(out) and all(np.array_equal(a, b) for a, b in zip(theirs, out))
        print(f"the same log-probabilities, bit for bit, as {args.against}: {same}")


if __name__ == "__main__":
    main()
