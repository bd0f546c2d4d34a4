"""The three stages end to end, as the ``tasm-env train / evaluate / compare`` commands run them.

Every stage and the evaluation take ``device=`` (default the CPU): the networks run there, the envs' states,
masks and rewards stay on the host. Data discipline: stage 1 learns from the suite's **train** split plus ``extra_tasks`` freshly generated tasks
per tier (the suite's own generator, another seed; any task whose TIR equals one of the suite's tasks is dropped,
so no val or test task is ever trained on); checkpoints are **selected on val**; results are reported on **test**.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import torch

from tasm_env.envs.gfn import TasmGFNEnv
from tasm_env.errors import TasmError
from tasm_env.tasks.generate import canonical_key, generate
from tasm_env.tasks.build import with_optima
from tasm_env.tasks.suite import Suite, load_suite, save_suite
from tasm_env.tasks.task import Task

from .checkpoint import load_module, load_optimizer, read_checkpoint, save_checkpoint
from .evaluate import Report, evaluate_samples
from .gflownet import NEEDS_PRIOR, GFlowNetConfig, GFlowNetTrainer, build_gflownet, frozen_copy
from .metrics import MetricsLogger
from .policy import PolicyConfig, PolicyError, TasmPolicy, has_value_state
from .pretrain import DEFAULT_MASKING, PretrainConfig, pretrain, training_corpus

Device = torch.device | str | None  # where the networks run: None is the CPU (see agents.policy.resolve_device)
EXTRA_SEED = 90_001  # generated training tasks: a seed stream the suite builder never used
LEGACY_MASKING = "typed"
"""What a checkpoint that records no masking was trained under."""


# ------------------------------------------------------------------------------------------- tasks


def split_tasks(suite: Suite, split: str, tiers: Sequence[str] | None) -> list[Task]:
    tasks = [t for t in suite.split(split) if tiers is None or t.tier in tiers]
    if not tasks:
        raise TasmError(f"suite {suite.name!r} split {split!r} has no tasks of tiers {tiers}")
    return tasks


def extra_tasks(suite: Suite, tiers: Sequence[str], per_tier: int | dict[str, int], seed: int = EXTRA_SEED, *,
                search_seconds: float = 0.0, search_tiers: Sequence[str] = ("easy",), cache: Path | None = None,
                jobs: int = 1, progress: bool = True) -> list[Task]:
    """``per_tier`` generated tasks of each tier (a number, or one per tier), none equal (same canonical TIR) to any task of ``suite``.
    With ``search_seconds``, the exact search runs on the tasks of ``search_tiers`` for that long each and its
    verified best program is recorded as the task's optimum (a training target, as the suite records one for its
    train split). ``cache``: a suite JSON file that keeps the result for the same arguments."""
    counts = per_tier if isinstance(per_tier, dict) else {tier: per_tier for tier in tiers}
    key = f"extra:{suite.name}:{','.join(tiers)}:{sorted(counts.items())}:{seed}:{search_seconds}:{','.join(search_tiers)}"
    if cache is not None and cache.is_file():
        cached = load_suite(cache)
        if cached.description == key:
            return list(cached.tasks.values())
    taken = {canonical_key(t.tir) for t in suite}
    tasks: list[Task] = []
    for k, tier in enumerate(t for t in tiers if t in ("easy", "medium", "hard")):
        n = counts.get(tier, 0)
        if n <= 0:
            continue
        fresh = [tir for tir in generate(tier, n + n // 10 + 8, seed=seed + k) if canonical_key(tir) not in taken][:n]
        tasks += [Task.from_tir(tir, name=f"extra-{tier}-{i:05d}", tier=tier) for i, tir in enumerate(fresh)]
    if search_seconds > 0:
        searched = [t for t in tasks if t.tier in search_tiers]
        found = {t.name: t for t in with_optima(searched, search_seconds, 500_000, "extra tasks", jobs, progress)}
        tasks = [found.get(t.name, t) for t in tasks]
    if cache is not None:
        save_suite(Suite("extra", 0, key, {t.name: t for t in tasks}, {"train": [t.name for t in tasks]}), cache)
    return tasks


def make_env(tasks: Sequence[Task], masking: str) -> TasmGFNEnv:
    return TasmGFNEnv(tasks=list(tasks), suite=None, masking=masking)


# ------------------------------------------------------------------------------------------- stages


def provenance(started: float) -> dict:
    """How a run was made, for its checkpoint's meta: the command line, the minutes it took, the UTC date.
    The CLI reads ``tasm-env ...`` whether it ran as the script or as ``python -m tasm_env.cli``."""
    program, *args = sys.argv or [""]
    if Path(program).name == "tasm-env" or Path(program).parts[-2:] == ("tasm_env", "cli.py"):
        program = "tasm-env"
    return {"command": " ".join([program, *args]), "minutes": round((time.time() - started) / 60, 2),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


def keep_value_facts(env: TasmGFNEnv, programs_per_task: int) -> None:
    """Teacher forcing revisits every prefix of the corpus each epoch, more than the value model's cache
    (sized for sampling) keeps: widen it to the corpus's prefixes (at most ``programs_per_task`` programs of
    at most the budget per task), so that each prefix's value state is computed once per run."""
    if not has_value_state(env):
        return
    env.machine.values.keep_at_least(sum(spec.budget + 2 for spec in env.specs) * programs_per_task)


def _policy_from(checkpoint_path: str | Path, env: TasmGFNEnv, device: Device = None) -> tuple[TasmPolicy, dict]:
    checkpoint = read_checkpoint(checkpoint_path)
    policy = TasmPolicy(env, policy_config(checkpoint.meta, checkpoint_path), device=device)
    load_module(checkpoint, "policy", policy)
    return policy, checkpoint.meta


def policy_config(meta: dict, path: str | Path) -> PolicyConfig:
    """The policy config a checkpoint's meta records (an older one, without value features, included)."""
    if not isinstance(meta.get("policy_config"), dict):
        raise PolicyError(f"{path}: the checkpoint records no policy_config (is it a policy checkpoint?)")
    return PolicyConfig.from_dict(meta["policy_config"])


def load_policy(path: str | Path, tasks: Sequence[Task], device: Device = None) -> tuple[TasmPolicy, dict]:
    """The policy saved at ``path``, bound to an env of ``tasks`` under the masking it was trained with."""
    meta = read_checkpoint(path).meta
    return _policy_from(path, make_env(tasks, meta.get("masking", LEGACY_MASKING)), device)


def run_stage1(out: Path, *, suite: str = "tasm-basic-v1", tiers: Sequence[str] | None = None,
               masking: str = DEFAULT_MASKING, epochs: int = 150, variants: int = 6, variant_seconds: float = 1.5, extra: int | dict[str, int] = 300,
               search_seconds: float = 0.8, extra_cache: Path | None = None,
               variant_extra: dict[str, int] | None = None, minutes: float | None = None, lr: float = 2e-3, d_model: int = 64, seed: int = 0,
               progress: bool = True, device: Device = None, corpus=0,
               corpus_dir: Path | None = None, init: str | Path | None = None) -> Path:
    """Pre-train a fresh policy; writes ``out/stage1.safetensors`` and ``out/stage1-metrics.csv``. ``extra``
    generated tasks per tier join the train split (see :func:`extra_tasks`; the easy ones get a search of
    ``search_seconds`` each, cached in ``extra_cache``, default ``out/extra-tasks.json``). ``corpus``: also
    train on the cached stage-1 corpus of that many programs, or of those ``CorpusSettings`` (:mod:`agents.corpus`,
    built on first use under ``corpus_dir`` or its default cache, checked under ``masking``); its tasks of
    ``tiers`` that equal no task of ``suite`` and no generated task join the env. ``init``: fine-tune the
    policy of that checkpoint (its config; ``d_model`` is then ignored) instead of fresh weights."""
    torch.manual_seed(seed)
    started = time.time()
    loaded = load_suite(suite)
    tiers = tuple(tiers or ("easy", "medium", "hard"))
    generated = extra_tasks(loaded, tiers, extra, search_seconds=search_seconds,
                            cache=extra_cache or out / "extra-tasks.json", progress=progress)
    train = split_tasks(loaded, "train", tiers) + generated
    scaled = None
    if corpus:
        from dataclasses import replace

        from .corpus import CorpusSettings, load_corpus
        wanted = corpus if isinstance(corpus, CorpusSettings) else CorpusSettings(programs=corpus)
        scaled = load_corpus(replace(wanted, masking=masking), cache_dir=corpus_dir,
                             progress=progress).restricted(tiers, exclude=[*loaded, *train])
    base = len(train)
    env = make_env(train + (scaled.tasks if scaled else []), masking)
    val_env = make_env(split_tasks(loaded, "val", tiers), masking)
    if init is None:
        policy = TasmPolicy(env, PolicyConfig(d_model=d_model), device=device)
    else:
        policy = _policy_from(init, env, device)[0]
    # variants for the suite's train tasks and the first `variant_extra[tier]` generated tasks of each tier
    # (the search's results already serve the other generated easy tasks)
    limits = variant_extra or {}
    for each in (env, val_env):  # before the corpus is checked under the masks, which reads the value state
        keep_value_facts(each, variants + 2)
    chosen = [t.name for t in train if not t.name.startswith("extra-")]
    for tier in tiers:
        chosen += [t.name for t in generated if t.tier == tier][: limits.get(tier, 0)]
    corpus = training_corpus(env, variants=variants, variant_seconds=variant_seconds, cache=out / "variants.json",
                             seed=seed, progress=progress, variant_tasks=chosen, first=base)
    corpus += scaled.examples(offset=base) if scaled else []  # checked against the masks when it was built
    # the val corpus is spelled like the training one (baselines and their variants, no optima), so that the
    # selected epoch is the one that best predicts programs of that kind on unseen tasks
    val_corpus = training_corpus(val_env, variants=variants, variant_seconds=variant_seconds,
                                 cache=out / "variants.json", include_optima=False, seed=seed, progress=progress)
    settings = PretrainConfig(epochs=epochs, lr=lr, minutes=minutes, seed=seed)
    logger = MetricsLogger(out / "stage1-metrics.csv")
    training_started = time.time()
    history = pretrain(policy, corpus, settings, val_env=val_env, val_corpus=val_corpus, logger=logger,
                       progress=progress)
    logger.close()
    meta = {"stage": 1, "suite": suite, "tiers": list(tiers), "masking": masking, "init": str(init) if init else None,
            "policy_config": policy.config.to_dict(),
            "pretrain_config": settings.to_dict(), "corpus": len(corpus), "extra_tasks": extra, "search_seconds": search_seconds,
            "variant_extra": limits, "stage1_corpus": scaled.summary() if scaled else None,
            "variants": variants,
            "epochs_run": round(history[-1]["epochs_done"], 3), "checks": len(history), "seconds": time.time() - training_started,
            "best_val_nll": min((h.get("val_nll", float("inf")) for h in history), default=None),
            "trained": provenance(started)}
    return save_checkpoint(out / "stage1.safetensors", {"policy": policy}, meta)


def _gflownet_modules(gflownet) -> dict:
    modules = {"policy": gflownet.pf}
    for prefix, name in (("logz", "logZ"), ("flow", "logF")):
        module = getattr(gflownet, name, None)
        if isinstance(module, torch.nn.Module):
            modules[prefix] = module
    return modules


def run_stage2(out: Path, *, agent: str = "tb", init: str | None = None, resume: bool = False,
               suite: str = "tasm-basic-v1", tiers: Sequence[str] | None = ("easy", "medium"),
               masking: str = DEFAULT_MASKING, iterations: int = 2000, minutes: float | None = None,
               mode: str = "explore", tasks_per_batch: int = 16, samples_per_task: int = 4, lr: float = 1e-4,
               reward_beta: float = 8.0, invalid_reward: float = 1e-3, log_reward_clip: float = -20.0,
               invalid_bound: bool = False, temperature: tuple[float, float] = (1.5, 1.0), eval_every: int = 50,
               eval_samples: int = 16,
               extra: int = 0, experts: int = 0, valid_replay: int = 0,
               patience: int = 0, dead_iterations: int = 0, anchor: float = 0.0,
               d_model: int = 64, seed: int = 0, progress: bool = True, device: Device = None) -> Path:
    """GFlowNet fine-tuning; writes ``out/stage2.safetensors`` (best on val), ``out/stage2-last.safetensors``
    (with the optimizer, for ``resume``) and ``out/stage2-metrics.csv``."""
    torch.manual_seed(seed)
    started = time.time()
    loaded = load_suite(suite)
    tiers = tuple(tiers or ("easy", "medium"))
    env = make_env(split_tasks(loaded, "train", tiers) + extra_tasks(loaded, tiers, extra), masking)
    val_env = make_env(split_tasks(loaded, "val", tiers), masking)
    last = out / "stage2-last.safetensors"
    start_from = str(last) if resume else init
    if resume and not last.is_file():
        raise TasmError(f"--resume: no {last} to continue from")
    if start_from is not None:
        policy, meta = _policy_from(start_from, env, device)
    else:
        policy, meta = TasmPolicy(env, PolicyConfig(d_model=d_model), device=device), {}
    prior_path = meta.get("prior", init) if resume else init
    prior = None
    if agent in NEEDS_PRIOR:
        if prior_path is None:
            raise TasmError(f"{agent} needs the stage-1 policy as its prior: pass --init OUT/stage1.safetensors")
        prior = frozen_copy(_policy_from(prior_path, env, device)[0])
    config = GFlowNetConfig(agent=agent, iterations=iterations, minutes=minutes, mode=mode,
                            tasks_per_batch=tasks_per_batch, samples_per_task=samples_per_task, lr=lr,
                            reward_beta=reward_beta, invalid_reward=invalid_reward, log_reward_clip=log_reward_clip,
                            invalid_bound=invalid_bound,
                            temperature_start=temperature[0], temperature_end=temperature[1],
                            eval_every=eval_every, eval_samples=eval_samples, experts_per_iteration=experts,
                            valid_replay=valid_replay, patience=patience, dead_iterations=dead_iterations,
                            anchor=anchor, seed=seed)
    gflownet = build_gflownet(agent, env, policy, prior=prior, config=config)
    base_meta = {"stage": 2, "agent": agent, "suite": suite, "tiers": list(tiers), "masking": masking,
                 "policy_config": policy.config.to_dict(), "gflownet_config": config.to_dict(), "init": init,
                 "prior": prior_path}

    def save(trainer: GFlowNetTrainer, tag: str) -> None:
        meta = {**base_meta, "iteration": trainer.iteration, "best_val_score": trainer.best_score,
                "best_iteration": trainer.best_iteration, "stopped": trainer.stopped,
                "trained": provenance(started)}
        if tag == "best":
            save_checkpoint(out / "stage2.safetensors", _gflownet_modules(trainer.gflownet), meta)
        else:
            save_checkpoint(last, _gflownet_modules(trainer.gflownet), meta, optimizer=trainer.optimizer)

    logger = MetricsLogger(out / "stage2-metrics.csv", append=resume)
    known = []
    if experts > 0 or valid_replay > 0:  # baselines, recorded optima and cached variants (stage 1's, when it ran in a sibling folder)
        cache = Path(init).parent / "variants.json" if init else None
        known = training_corpus(env, variants=6 if cache is not None and cache.is_file() else 0,
                                variant_seconds=1.5, cache=cache, progress=False)
    trainer = GFlowNetTrainer(gflownet, env, config, val_env=val_env, logger=logger, checkpoint=save,
                              experts=known, progress=progress)
    if resume:
        checkpoint = read_checkpoint(last)
        for prefix, module in _gflownet_modules(gflownet).items():
            load_module(checkpoint, prefix, module)
        load_optimizer(checkpoint, trainer.optimizer)
        trainer.iteration = int(checkpoint.meta["iteration"])
        trainer.selection.restore(checkpoint.meta["best_val_score"])
        iterations = max(0, iterations - trainer.iteration)
    trainer.train(iterations=iterations, minutes=minutes)
    logger.close()
    return out / "stage2.safetensors"


def run_stage3(out: Path, *, agent: str, init: str, suite: str = "tasm-basic-v1",
               tiers: Sequence[str] | None = ("easy", "medium"), rounds: int = 4, samples: int = 16,
               burst: int = 50, minutes: float | None = None, seed: int = 0, progress: bool = True,
               device: Device = None) -> Path:
    """Online refinement from a stage-2 checkpoint: ``rounds`` of builds over the train tasks, each recorded in
    ``out/replay.jsonl``, with guarded fine-tuning bursts; writes ``out/stage3.safetensors``."""
    from .online import OnlineRefiner

    checkpoint = read_checkpoint(init)
    meta = checkpoint.meta
    loaded = load_suite(suite)
    masking = meta.get("masking", LEGACY_MASKING)
    env = make_env(split_tasks(loaded, "train", tiers), masking)
    val_env = make_env(split_tasks(loaded, "val", tiers), masking)
    policy = _policy_from(init, env, device)[0]
    prior = None
    if agent in NEEDS_PRIOR:
        prior = frozen_copy(_policy_from(meta.get("prior") or init, env, device)[0])
    config = GFlowNetConfig(**{**meta.get("gflownet_config", {}), "agent": agent, "seed": seed})
    gflownet = build_gflownet(agent, env, policy, prior=prior, config=config)
    for prefix, module in _gflownet_modules(gflownet).items():
        if checkpoint.has(prefix):
            load_module(checkpoint, prefix, module)
    logger = MetricsLogger(out / "stage3-metrics.csv")
    trainer = GFlowNetTrainer(gflownet, env, config, val_env=val_env, logger=None, progress=False)
    refiner = OnlineRefiner(trainer, buffer_path=out / "replay.jsonl", trigger=len(env.tasks), burst=burst,
                            seed=seed)
    deadline = None if minutes is None else time.monotonic() + 60 * minutes
    generator = torch.Generator().manual_seed(seed)
    for round_ in range(rounds):
        order = torch.randperm(len(env.tasks), generator=generator).tolist()
        outcomes = refiner.build([env.tasks[i] for i in order], samples=samples, seed=seed + round_)
        burst = refiner.bursts[-1] if refiner.bursts else None
        logger.log(round_, built=len(outcomes), improved=sum(o.cycles < o.baseline_cycles for o in outcomes) / len(outcomes),
                   fallback=sum(o.fallback_used for o in outcomes) / len(outcomes),
                   val_before=burst.score_before if burst else float("nan"),
                   val_after=burst.score_after if burst else float("nan"),
                   accepted=int(burst.accepted) if burst else -1, model_version=refiner.model_version)
        if progress:
            print(f"stage 3 round {round_ + 1}/{rounds}: buffer {refiner.buffer.stats()}, "
                  f"last burst {burst}", flush=True)
        if deadline is not None and time.monotonic() > deadline:
            break
    logger.close()
    meta = {**meta, "stage": 3, "model_version": refiner.model_version, "guard": refiner.guard.to_dict(),
            "bursts": [vars(b) for b in refiner.bursts]}
    return save_checkpoint(out / "stage3.safetensors", _gflownet_modules(gflownet), meta)


# ------------------------------------------------------------------------------------------ evaluation


def evaluate_policy(policy: TasmPolicy, tasks: Sequence[Task], samples: int, *, seed: int = 0,
                    temperature: float = 1.0, progress: bool = True, decode: str = "sample", width: int = 16,
                    masking: str | None = None, progress_weight: float | None = None,
                    beam_completion: bool | None = None, baseline_completion: bool | None = None) -> Report:
    """Propose ``samples`` blocks per task (fixed seed) with the decoder ``decode`` (``sample``, or ``beam`` of
    ``width``: its best-scored finished programs, the beam chosen with ``progress_weight``, default
    :data:`agents.beam.PROGRESS_WEIGHT`, and its prefixes completed by stack moves with ``beam_completion``,
    default :data:`agents.beam.COMPLETE`, and the baseline's prefixes with ``baseline_completion``, default
    :data:`agents.beam.BASELINE_COMPLETION`; :func:`agents.best.candidates`) and score them on 64 tests
    the training never used (:func:`agents.evaluate.evaluate_samples`). The policy runs on its own device;
    the report's ``settings`` record the decoder and the milliseconds per task it took."""
    from tqdm.auto import tqdm

    from .beam import BASELINE_COMPLETION, COMPLETE, PROGRESS_WEIGHT
    from .best import candidates

    progress_weight = PROGRESS_WEIGHT if progress_weight is None else progress_weight
    beam_completion = COMPLETE if beam_completion is None else beam_completion
    baseline_completion = BASELINE_COMPLETION if baseline_completion is None else baseline_completion
    drawn, started = [], time.perf_counter()
    for task in tqdm(tasks, desc=decode, disable=not progress, unit="task"):
        drawn += candidates([task], policy, samples, decode=decode, width=width, progress_weight=progress_weight,
                            beam_completion=beam_completion, baseline_completion=baseline_completion, masking=masking,
                            temperature=temperature, seed=seed + len(drawn))
    ms = 1000 * (time.perf_counter() - started) / max(len(tasks), 1)
    report = evaluate_samples(tasks, drawn, n_tests=64)
    report.settings = {"decode": decode, "samples": samples, "width": width if decode == "beam" else None,
                       "progress_weight": progress_weight if decode == "beam" else None,
                       "beam_completion": beam_completion if decode == "beam" else None,
                       "baseline_completion": baseline_completion if decode == "beam" else None,
                       "masking": masking or policy.env.masking, "temperature": temperature, "seed": seed,
                       "decode_ms_per_task": ms}
    return report


def evaluate_checkpoint(path: str | Path, *, suite: str = "tasm-basic-v1", split: str = "test",
                        tiers: Sequence[str] | None = None, samples: int = 64, seed: int = 0,
                        temperature: float = 1.0, progress: bool = True, device: Device = None,
                        decode: str = "sample", width: int = 16, masking: str | None = None,
                        progress_weight: float | None = None, beam_completion: bool | None = None,
                        baseline_completion: bool | None = None) -> Report:
    """Evaluate the policy saved at ``path`` (loaded onto ``device``, default the CPU) on a suite split."""
    tasks = split_tasks(load_suite(suite), split, tiers)
    policy, _ = load_policy(path, tasks, device)
    return evaluate_policy(policy, tasks, samples, seed=seed, temperature=temperature, progress=progress,
                           decode=decode, width=width, masking=masking, progress_weight=progress_weight,
                           beam_completion=beam_completion, baseline_completion=baseline_completion)


def compare(out: Path, *, agents: Sequence[str] = ("tb", "rtb", "random", "mcmc", "beam", "exact"),
            suite: str = "tasm-basic-v1", split: str = "test", tiers: Sequence[str] | None = None,
            tasks: int | None = None, budget: int = 256, batch: int = 16, seeds: int = 3,
            checkpoint: str | None = None, backend: str = "local", workers: int | None = None,
            progress: bool = True, device: Device = None, decode: str = "sample") -> list:
    """The comparison (:mod:`agents.compare`): every agent on every selected task for seeds ``0..seeds-1``,
    ``budget`` programs scored each (``decode="complete"``: the learned agents' draws finished by stack moves
    before they are scored, :mod:`agents.compare.single_task`); keeps ``out/results.json`` current (and
    resumes from it), then writes ``out/compare.md``, ``out/curves.png`` and ``out/profiles.png`` and prints the table. Returns the records."""
    from .compare.report import write_report
    from .compare.sweep import SweepSettings, run_sweep

    settings = SweepSettings(agents=tuple(agents), suite=suite, split=split,
                             tiers=None if tiers is None else tuple(tiers), tasks=tasks, budget=budget, batch=batch,
                             seeds=seeds, checkpoint=checkpoint, device=str(device or "cpu"),
                             options={} if decode == "sample" else {"decode": decode})
    from .compare.sweep import make_units

    make_units(settings)  # unknown agents and bad numbers fail here, before any warning or file
    learned = [a for a in agents if a not in ("random", "mcmc", "exact", "beam")]
    if learned and checkpoint is None:
        from .start import pretrained_checkpoint

        if pretrained_checkpoint(suite) is None:
            print(f"warning: no pretrained checkpoint ships for {suite}: {', '.join(learned)} start from fresh "
                  "weights (pass --checkpoint PATH)")
    records = run_sweep(Path(out), settings, backend=backend, workers=workers, progress=progress)
    text, plots = write_report(records, settings.to_json(), Path(out))
    print(text)
    for path in plots:
        print(f"plot: {path}")
    return records


__all__ = ["DEFAULT_MASKING", "compare", "evaluate_checkpoint", "evaluate_policy", "extra_tasks", "keep_value_facts",
           "load_policy", "make_env", "policy_config", "provenance", "run_stage1",
           "run_stage2", "run_stage3", "split_tasks"]
