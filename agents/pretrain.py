"""Stage 1: maximum-likelihood pre-training of the policy on known-good programs.

The corpus of each training task: its baseline, verified-equivalent variants of it (peephole rewrites and
reorderings of independent instructions, found and checked with the project's verifier:
:mod:`agents.variants`), and the search's verified best program recorded in the suite (training split only; the
val and test splits' optima are never read). Teacher-forced cross-entropy under the env's masks: the
probability of each token is normalised over the tokens legal in that state, exactly as the policy samples.

    policy = TasmPolicy(env)
    corpus = training_corpus(env)                # [(task index, program), ...]
    history = pretrain(policy, corpus, PretrainConfig(epochs=10), val_env=val_env)

At scale, :mod:`agents.corpus` adds a cached corpus of generated tasks with their verified programs
(``training_corpus(env, first=n) + corpus.examples(offset=n)`` for an env whose first ``n`` tasks are the suite's).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from tqdm.auto import tqdm

from tasm_env.asm import Program
from tasm_env.envs.gfn import TasmGFNEnv
from tasm_env.errors import TasmError

from .metrics import MetricsLogger
from .policy import TasmPolicy, bound_to
from .sampling import replay, to_trajectories, trajectory_log_probs

DEFAULT_MASKING = "dataflow"
"""The masks the agents emit under unless told otherwise (the typed mask narrowed by the value state, which the
policy also reads): stage 1 teacher-forces under them, the stage-1 corpus is checked under them (so that a
default build is the cache training reads), stages 2 and 3 sample under them."""

Example = tuple[int, Program]


@dataclass(frozen=True)
class PretrainConfig:
    """Stage-1 settings: ``epochs`` over the corpus in batches of ``batch_size`` sequences; AdamW(``lr``,
    ``weight_decay``), gradient norm clipped at ``clip``; stop early after ``minutes``; ``seed`` shuffles."""

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    clip: float = 1.0
    minutes: float | None = None
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def spellable(env: TasmGFNEnv, task_index: int, program: Program) -> bool:
    """Can the env's vocabulary (bound to the task) spell ``program`` within the task's budget?"""
    spec = env.specs[task_index]
    try:
        return len(spec.bound.encode(program)) <= spec.budget
    except TasmError:
        return False


def training_corpus(env: TasmGFNEnv, *, variants: int = 8, variant_seconds: float = 2.0,
                    include_optima: bool = True, cache: str | Path | None = None, seed: int = 0,
                    variant_tasks: Sequence[str] | None = None, progress: bool = True,
                    first: int | None = None) -> list[Example]:
    """(task index, program) pairs for the env's tasks (its ``first`` ones if given: the others come with
    programs of their own, e.g. from :mod:`agents.corpus`): baseline, up to ``variants`` verified variants each
    (``0`` for none; only for the tasks named in ``variant_tasks`` if given; cached in the JSON file ``cache``)
    and, with ``include_optima``, the task's recorded best program. Programs the env's vocabulary cannot spell within the budget are left out."""
    tasks = env.tasks if first is None else env.tasks[:first]
    per_task: list[list[Program]] = [[task.baseline] for task in tasks]
    if variants > 0:
        from .variants import variant_corpus
        chosen = [t for t in tasks if variant_tasks is None or t.name in set(variant_tasks)]
        found = variant_corpus(chosen, cache=cache, progress=progress, max_variants=variants,
                               seconds=variant_seconds, seed=seed)
        for programs, task in zip(per_task, tasks):
            programs += found.get(task.name, [])
    if include_optima:
        for programs, task in zip(per_task, tasks):
            if task.optimum is not None:
                programs.append(task.optimum.program)
    corpus = []
    for index, programs in enumerate(per_task):
        for program in dict.fromkeys(programs):  # distinct, in order
            if spellable(env, index, program):
                corpus.append((index, program))
    return legal_under_masks(env, corpus)


def legal_under_masks(env: TasmGFNEnv, corpus: Sequence[Example], chunk: int = 1024) -> list[Example]:
    """The examples the env's masks allow token by token, EOS included (a program the typed mask rules out,
    say a u32 instruction on a value only known to be a field element, has probability 0 under the policy)."""
    machine, kept = env.machine, []
    for start in range(0, len(corpus), chunk):
        part = corpus[start:start + chunk]
        rollout = replay(env, [i for i, _ in part], [p for _, p in part])
        state = machine.initial(rollout.task)
        ok = torch.ones(len(part), dtype=torch.bool)
        for t in range(rollout.tokens.shape[1] + 1):
            token = rollout.tokens[:, t] if t < rollout.tokens.shape[1] else torch.zeros(len(part), dtype=torch.long)
            token = torch.where(t < rollout.lengths, token, 0)  # EOS at (and after) each program's end
            ok &= machine.legal(state, token, env.masking) | (t > rollout.lengths)
            state = machine.step(state, token)
        kept += [example for example, legal in zip(part, ok.tolist()) if legal]
    return kept


def sequence_nll(policy: TasmPolicy, env: TasmGFNEnv, batch: Sequence[Example]) -> torch.Tensor:
    """Mean negative log-likelihood per action (tokens and the final exit) of the batch's programs."""
    rollout = replay(env, [i for i, _ in batch], [p for _, p in batch])
    log_probs = trajectory_log_probs(policy, to_trajectories(rollout))
    return -log_probs.sum() / (rollout.lengths + 1).sum()


def corpus_nll(policy: TasmPolicy, env: TasmGFNEnv, corpus: Sequence[Example], batch_size: int = 64) -> float:
    """Mean NLL per action over a corpus (no gradients)."""
    total = count = 0.0
    with torch.no_grad(), policy.encoding_cache():
        for start in range(0, len(corpus), batch_size):
            batch = corpus[start:start + batch_size]
            actions = sum(len(env.specs[i].bound.encode(p)) + 1 for i, p in batch)
            total += float(sequence_nll(policy, env, batch)) * actions
            count += actions
    return total / max(count, 1)


def pretrain(policy: TasmPolicy, corpus: Sequence[Example], config: PretrainConfig = PretrainConfig(), *,
             val_env: TasmGFNEnv | None = None, val_corpus: Sequence[Example] | None = None,
             logger: MetricsLogger | None = None, progress: bool = True,
             on_epoch: Callable[[int, dict], None] | None = None) -> list[dict]:
    """Teacher-forced MLE on ``corpus`` (pairs for ``policy.env``'s tasks). After each epoch the NLL on
    ``val_corpus`` (pairs for ``val_env``'s tasks) is measured and the weights of the best epoch are kept.
    Returns one dict of metrics per epoch."""
    if not corpus:
        raise TasmError("the pre-training corpus is empty")
    env = policy.env
    optimizer = torch.optim.AdamW(policy.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    rng = random.Random(config.seed)
    order = list(corpus)
    steps_per_epoch = math.ceil(len(order) / config.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, config.epochs * steps_per_epoch),
                                                          eta_min=config.lr / 20)
    deadline = None if config.minutes is None else time.monotonic() + 60 * config.minutes
    history, best, best_state = [], math.inf, None
    bar = tqdm(total=config.epochs * steps_per_epoch, desc="stage 1 (MLE)", disable=not progress, unit="batch")
    step = 0
    for epoch in range(config.epochs):
        rng.shuffle(order)
        losses = []
        for start in range(0, len(order), config.batch_size):
            with policy.encoding_cache():
                loss = sequence_nll(policy, env, order[start:start + config.batch_size])
                optimizer.zero_grad()
                loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), config.clip)
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
            if deadline is not None and time.monotonic() > deadline:
                break
        row = {"epoch": epoch, "train_nll": sum(losses) / len(losses), "lr": schedule.get_last_lr()[0]}
        if val_env is not None and val_corpus:
            with bound_to(val_env, policy):
                row["val_nll"] = corpus_nll(policy, val_env, val_corpus)
        score = row.get("val_nll", row["train_nll"])
        if score < best:
            best, best_state = score, {k: v.clone() for k, v in policy.state_dict().items()}
        history.append(row)
        if logger is not None:
            logger.log(step, **row)
        if on_epoch is not None:
            on_epoch(epoch, row)
        if deadline is not None and time.monotonic() > deadline:
            break
    bar.close()
    if best_state is not None:
        policy.load_state_dict(best_state)
    return history


__all__ = ["Example", "PretrainConfig", "corpus_nll", "legal_under_masks", "pretrain", "sequence_nll", "spellable",
           "training_corpus"]
