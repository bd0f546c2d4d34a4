"""Stage-1 training speed: optimizer steps per second of teacher-forced MLE, as ``tasm-env train --stage 1`` runs
them (``agents.pretrain.pretrain``), with a breakdown. Prints rates; asserts nothing.

    python benchmarks/pretrain_speed.py                  # 24 batches of 32, fresh, then the same batches again
    python benchmarks/pretrain_speed.py --batches 40 --extra 150

The setting is stage 1's: the ``tasm-basic-v1`` train split plus ``--extra`` generated tasks per tier (no search),
under ``masking="dataflow"``, a fresh ``TasmPolicy`` with the default ``PolicyConfig``, a corpus of the tasks'
baselines and recorded optima (``training_corpus(env, variants=0)``; ``--variants`` adds verified variants).
The corpus is built on one env and trained on a *new* env of the same tasks, so the first pass visits every
prefix for the first time (the env's value caches are cold, as for the big cached corpus, which is never
checked at load): that pass is labelled fresh. The same batches again are labelled cached (the env's caches and,
on the fast path, the kept per-example inputs warm). Each step is what ``pretrain`` does per batch: the loss,
``zero_grad``, ``backward``, gradient clipping, ``AdamW.step``. On code without ``agents.teacher`` (before the
fast path) the loss is ``sequence_nll``, as ``pretrain`` then computed it; so the same script times an old
checkout (``PYTHONPATH=old-worktree python benchmarks/pretrain_speed.py``).

The breakdown is CPU time, each moment counted once, in the innermost phase it is in: replay (the machine's
steps over the programs), masks (forward masks, value state included), features (what the policy reads from
the states), encoder (graph embeddings), decoder, readout + head, the rest of the loss (batch assembly, the
masked log-softmax, trajectories), backward, optimizer (clip + step + zero_grad).
"""

from __future__ import annotations

import argparse
import random
import time

import torch

import agents.pretrain as pretrain_module
import agents.sampling as sampling
import tasm_env as te
from core import Phases  # the sibling scripts' timing wrappers
from agents.pipeline import extra_tasks, keep_value_facts, make_env, split_tasks
from agents.policy import PolicyConfig, PrefixDecoder, PolicyNetwork, TaskGraphs, TasmPolicy
from agents.pretrain import PretrainConfig, training_corpus

try:
    import agents.teacher as teacher
except ImportError:  # the code before the fast path
    teacher = None

CLOCK = time.process_time


def setting(extra: int, variants: int):
    suite = te.load_suite("tasm-basic-v1")
    tasks = split_tasks(suite, "train", None) + extra_tasks(suite, ("easy", "medium", "hard"), extra, progress=False)
    corpus = training_corpus(make_env(tasks, "dataflow"), variants=variants, progress=False)  # warms that env only
    env = make_env(tasks, "dataflow")  # cold caches: the first pass's prefixes are first visits
    keep_value_facts(env, variants + 2)
    return env, corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=24)
    parser.add_argument("--extra", type=int, default=100, help="generated tasks per tier")
    parser.add_argument("--variants", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    env, corpus = setting(args.extra, args.variants)
    config = PretrainConfig()
    size = config.batch_size
    order = list(range(len(corpus)))
    random.Random(args.seed).shuffle(order)
    batches = min(args.batches, len(order) // size)
    lengths = [len(env.specs[i].bound.encode(p)) for i, p in corpus]
    print(f"setting: {len(env.tasks)} tasks, {len(corpus)} programs (mean {sum(lengths) / len(lengths):.1f} "
          f"tokens), {batches} batches of {size}, path {'teacher (fast)' if teacher else 'sequence_nll (old)'}; "
          f"set up in {time.perf_counter() - started:.0f} s")
    torch.manual_seed(args.seed)
    policy = TasmPolicy(env, PolicyConfig())
    optimizer = torch.optim.AdamW(policy.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    phases = Phases()
    phases.patch(pretrain_module, "replay", "replay")
    if teacher is not None:
        phases.patch(teacher, "replay", "replay")
        phases.patch(teacher, "pack_state", "features")
    phases.patch(sampling, "pack_state", "features")
    phases.patch(type(env.machine), "forward_masks", "masks")
    phases.patch(TaskGraphs, "memory", "encoder")
    phases.patch(PrefixDecoder, "forward", "decoder")
    phases.patch(PrefixDecoder, "embed", "decoder")
    phases.patch(PolicyNetwork, "readout", "readout + head")
    data = teacher.TeacherData(env, corpus) if teacher else None
    chunk = getattr(teacher, "CHUNK", 0)

    def loss_of(start: int) -> torch.Tensor:
        indices = order[start:start + size]
        if data is not None:
            return data.nll(policy, indices, ahead=order[start + size:start + chunk])
        return pretrain_module.sequence_nll(policy, env, [corpus[i] for i in indices])

    loss_of = phases.wrap(loss_of, "rest of the loss")
    backward = phases.wrap(lambda loss: loss.backward(), "backward")

    def optimize() -> None:
        torch.nn.utils.clip_grad_norm_(policy.parameters(), config.clip)
        optimizer.step()

    optimize = phases.wrap(optimize, "optimizer")
    zero = phases.wrap(optimizer.zero_grad, "optimizer")
    for label in ("fresh", "cached"):
        phases.totals.clear()
        wall, cpu = time.perf_counter(), CLOCK()
        for k in range(batches):
            with policy.encoding_cache():
                loss = loss_of(k * size)
                zero()
                backward(loss)
            optimize()
        wall, cpu = time.perf_counter() - wall, CLOCK() - cpu
        print(f"{label:>6}: {batches / wall:6.2f} batches/s, {batches * size / wall:7.1f} programs/s wall; "
              f"{batches / cpu:6.2f} batches per CPU s ({cpu / batches * 1000:.0f} ms CPU a batch; last loss "
              f"{float(loss.detach()):.4f})")
        print("        " + ", ".join(f"{name} {seconds / batches * 1000:.0f}"
                                    for name, seconds in phases.totals.most_common()) + " (ms CPU a batch)")


if __name__ == "__main__":
    main()
