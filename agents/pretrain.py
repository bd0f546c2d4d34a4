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
from .teacher import CHUNK, TeacherData

DEFAULT_MASKING = "dataflow"
"""The masks the agents emit under unless told otherwise (the typed mask narrowed by the value state, which the
policy also reads): stage 1 teacher-forces under them, the stage-1 corpus is checked under them (so that a
default build is the cache training reads), stages 2 and 3 sample under them."""

Example = tuple[int, Program]


@dataclass(frozen=True)
class PretrainConfig:
    """Stage-1 settings: ``epochs`` over the corpus in batches of ``batch_size`` sequences; AdamW(``lr``,
    ``weight_decay``), gradient norm clipped at ``clip``; stop early after ``minutes``; ``seed`` shuffles.
    The learning rate follows a cosine from ``lr`` down to ``lr / 20`` over the run: over its steps, or over its
    minutes when those end it sooner (a corpus too large for one epoch in the budget still anneals). Under a
    time budget the val NLL is also measured ``checks`` times within the budget, so that a long epoch still
    yields its best weights rather than only its last."""

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    clip: float = 1.0
    minutes: float | None = None
    seed: int = 0
    checks: int = 8

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
    """Teacher-forced MLE on ``corpus`` (pairs for ``policy.env``'s tasks). After each epoch (and, under a time
    budget, at each of ``config.checks`` points within it) the NLL on ``val_corpus`` (pairs for ``val_env``'s
    tasks) is measured and the weights of the best check are kept. Returns one dict of metrics per check
    (``epoch`` is fractional for a check within an epoch)."""
    if not corpus:
        raise TasmError("the pre-training corpus is empty")
    env = policy.env
    optimizer = torch.optim.AdamW(policy.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    rng = random.Random(config.seed)
    # indices shuffled as the examples were (the same batches); each example's inputs computed once, kept
    data = TeacherData(env, corpus)
    order = list(range(len(corpus)))
    steps_per_epoch = math.ceil(len(order) / config.batch_size)
    clock = _Budget(config, total_steps=config.epochs * steps_per_epoch)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: clock.lr_factor(step))
    history, best = [], {"score": math.inf, "state": None}

    def check(epoch: float, losses: list[float]) -> None:
        row = {"epoch": epoch, "epochs_done": step / steps_per_epoch, "train_nll": sum(losses) / len(losses),
               "lr": schedule.get_last_lr()[0]}
        if val_env is not None and val_corpus:
            with bound_to(val_env, policy):
                row["val_nll"] = corpus_nll(policy, val_env, val_corpus)
        score = row.get("val_nll", row["train_nll"])
        if score < best["score"]:
            best.update(score=score, state={k: v.clone() for k, v in policy.state_dict().items()})
        history.append(row)
        if logger is not None:
            logger.log(step, **row)
        if on_epoch is not None:
            on_epoch(len(history) - 1, row)

    bar = tqdm(total=config.epochs * steps_per_epoch, desc="stage 1 (MLE)", disable=not progress, unit="batch")
    step = 0
    for epoch in range(config.epochs):
        rng.shuffle(order)
        losses = []
        for batch_number, start in enumerate(range(0, len(order), config.batch_size)):
            with policy.encoding_cache():
                stop = start + config.batch_size
                loss = data.nll(policy, order[start:stop], ahead=order[stop:start + CHUNK])
                optimizer.zero_grad()
                loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), config.clip)
            optimizer.step()
            step += 1
            schedule.step()
            losses.append(float(loss.detach()))
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
            if clock.out_of_time():
                break
            if clock.check_due() and batch_number + 1 < steps_per_epoch:
                check(epoch + (batch_number + 1) / steps_per_epoch, losses)
        check(epoch + len(losses) / steps_per_epoch if clock.out_of_time() else epoch, losses)
        if clock.out_of_time():
            break
    bar.close()
    if best["state"] is not None:
        policy.load_state_dict(best["state"])
    return history


class _Budget:
    """The run's progress as the larger of its step fraction and its time fraction: what the learning-rate
    cosine follows, when it is out of time, and when a check within an epoch is due."""

    def __init__(self, config: PretrainConfig, total_steps: int):
        self.total_steps = max(1, total_steps)
        self.floor = 1 / 20
        self.seconds = None if config.minutes is None else 60 * config.minutes
        self.started = time.monotonic()
        self.checks = max(1, config.checks)
        self.checks_done = 0

    def _time_fraction(self) -> float:
        return 0.0 if self.seconds is None else (time.monotonic() - self.started) / self.seconds

    def lr_factor(self, step: int) -> float:
        done = min(1.0, max(step / self.total_steps, self._time_fraction()))
        return self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * done))

    def out_of_time(self) -> bool:
        return self._time_fraction() >= 1.0

    def check_due(self) -> bool:
        """True once per 1/``checks`` of the time budget (never without one)."""
        if self.seconds is None or self._time_fraction() * self.checks < self.checks_done + 1:
            return False
        self.checks_done = int(self._time_fraction() * self.checks)
        return True


__all__ = ["Example", "PretrainConfig", "corpus_nll", "legal_under_masks", "pretrain", "sequence_nll", "spellable",
           "training_corpus"]
