"""``tasm-env train``, ``tasm-env evaluate`` and ``tasm-env compare``: the ``agents`` entry point of the
``tasm_env.commands`` group (``pyproject.toml``), which :mod:`tasm_env.cli` loads.

    tasm-env train --stage 1 --suite tasm-basic-v1 --out runs/base
    tasm-env train --stage 1 --corpus 100000 --out runs/big   (plus the cached corpus of agents.corpus)
    tasm-env train --stage 2 --agent rtb --init runs/base/stage1.safetensors --out runs/rtb --minutes 25
    tasm-env train --stage 2 --agent tb --from-scratch --out runs/tb0 --iterations 500   (random initial weights)
    tasm-env train --stage 3 --agent rtb --init runs/rtb/stage2.safetensors --out runs/rtb
    tasm-env evaluate runs/rtb/stage2.safetensors --suite tasm-basic-v1 --split test --samples 64
    tasm-env evaluate runs/rtb/stage2.safetensors --decode beam --width 16 --json rtb-beam.json
    tasm-env compare --suite tasm-basic-v1 --agents tb,rtb,random,mcmc,exact --budget 64 --seeds 3 --out runs/compare
    tasm-env compare --check runs/compare                       (re-verify every program in results.json)

Each run directory gets ``metrics.csv`` (and TensorBoard events when ``tensorboard`` is installed) and
safetensors checkpoints: ``stage1.safetensors``, ``stage2.safetensors`` (the best on the val split),
``stage2-last.safetensors`` (with the optimizer, for ``--resume``), ``stage3.safetensors`` and the stage-3 replay
buffer ``replay.jsonl``. This module imports nothing heavy until a command runs.

Stage 2 starts from ``--init`` (or ``--resume``); training from random weights takes an explicit
``--from-scratch``, and a fresh stage-2 run needs a limit, ``--minutes`` or ``--iterations``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tasm_env.cli_args import finite_float, non_negative_float, non_negative_int, positive_float, positive_int
from tasm_env.errors import TasmError

AGENT_NAMES = ("tb", "lpv", "rtb", "rlpv", "subtb", "db", "trustpcl")  # agents.gflownet.AGENTS (not imported: heavy)
STAGE2_ITERATIONS = 2000
"""Stage 2's iteration limit when only --minutes is given, or when resuming."""


def add_commands(sub) -> None:
    """Add the agent commands to ``tasm-env``'s subparsers."""
    p = sub.add_parser("train", help="train an agent (stage 1 MLE, stage 2 GFlowNet, stage 3 online)")
    p.add_argument("--stage", type=int, choices=(1, 2, 3), required=True)
    p.add_argument("--agent", choices=AGENT_NAMES, default="tb", help="stage 2/3 objective (default tb)")
    _common(p)
    p.add_argument("--out", required=True, help="run directory (metrics, checkpoints)")
    p.add_argument("--init", help="checkpoint to start from (stage 2/3: the previous stage's; stage 1: fine-tune it)")
    p.add_argument("--from-scratch", action="store_true", help="stage 2: start from random weights, without --init")
    p.add_argument("--resume", action="store_true", help="continue stage 2 from OUT/stage2-last.safetensors")
    p.add_argument("--epochs", type=positive_int, default=150, help="stage 1 epochs (default 150)")
    p.add_argument("--variants", type=non_negative_int, default=6,
                   help="stage 1: verified variants per task (default 6)")
    p.add_argument("--variant-seconds", type=non_negative_float, default=1.5,
                   help="stage 1: variant search per task (default 1.5)")
    p.add_argument("--extra-tasks", default="300",
                   help="stage 1: freshly generated training tasks per tier, none equal to a suite task: N, or "
                        "E,M,H for easy, medium, hard (default 300)")
    p.add_argument("--search-seconds", type=non_negative_float, default=0.8,
                   help="stage 1: exact search per generated easy task, its result a training target (default 0.8)")
    p.add_argument("--variant-extra", default="0,300,50",
                   help="stage 1: variants also for the first E,M,H generated tasks per tier (default 0,300,50)")
    p.add_argument("--extra-cache", help="stage 1: where to keep the generated tasks (default OUT/extra-tasks.json)")
    p.add_argument("--corpus", type=non_negative_int, default=0, metavar="N",
                   help="stage 1: also train on the cached corpus of N verified programs for generated tasks, built "
                        "on first use under $TASM_CORPUS_DIR or ~/.cache/tasm-env/corpus (default 0: none)")
    p.add_argument("--iterations", type=positive_int,
                   help=f"stage 2 iterations (with --minutes or --resume only: default {STAGE2_ITERATIONS})")
    p.add_argument("--minutes", type=positive_float, help="stop the stage after this many minutes")
    p.add_argument("--mode", choices=("on-policy", "explore", "replay"), default="explore")
    p.add_argument("--tasks-per-batch", type=positive_int, default=16)
    p.add_argument("--samples-per-task", type=positive_int, default=4)
    p.add_argument("--lr", type=positive_float, help="learning rate (default: 2e-3 stage 1, 1e-4 stage 2)")
    p.add_argument("--reward-beta", type=non_negative_float, default=8.0)
    p.add_argument("--invalid-reward", type=positive_float, default=1e-3,
                   help="stage 2: an invalid block's reward before --reward-beta, in (0, 1) (default 1e-3; its log "
                        "reward is reward_beta * log of it; see docs/agents.md, 'the invalid floor')")
    p.add_argument("--log-reward-clip", type=finite_float, default=-20.0,
                   help="stage 2: torchgfn's log_reward_clip_min, the floor log rewards are raised to (default -20; "
                        "below reward_beta * log(--invalid-reward): no clip in effect)")
    p.add_argument("--invalid-bound", action="store_true",
                   help="stage 2: the invalid floor is an upper bound (0 <= R <= floor): an invalid block's residual "
                        "counts only when positive, so no sampled invalid block is raised to the floor "
                        "(tb, lpv, rtb, rlpv, trustpcl; see docs/agents.md)")
    p.add_argument("--temperature", default="1.5,1.0",
                   help="stage 2 sampling temperature, annealed linearly: START,END (default 1.5,1.0)")
    p.add_argument("--eval-every", type=positive_int, default=50)
    p.add_argument("--experts", type=non_negative_int, default=0,
                   help="stage 2: known-good programs (stage-1 corpus) mixed into each batch (default 0)")
    p.add_argument("--valid-replay", type=non_negative_int, default=0,
                   help="stage 2 guard: N verified blocks (seeded with baselines and recorded optima, grown with the "
                        "run's own verified samples; never empties) mixed into every batch (default 0: off)")
    p.add_argument("--patience", type=non_negative_int, default=0,
                   help="stage 2: stop when val has not improved for K checks (default 0: never)")
    p.add_argument("--dead-iterations", type=non_negative_int, default=0,
                   help="stage 2: stop when no fresh training sample verified for M iterations in a row "
                        "(default 0: never)")
    p.add_argument("--anchor", type=non_negative_float, default=0.0,
                   help="stage 2 guard: weight of an MLE term on the --valid-replay blocks of each batch (default 0)")
    p.add_argument("--d-model", type=positive_int, default=64)
    p.add_argument("--rounds", type=positive_int, default=4, help="stage 3: build rounds over the train tasks")
    p.add_argument("--build-samples", type=positive_int, default=16, help="stage 3: samples per build (default 16)")
    p.add_argument("--burst", type=non_negative_int, default=50,
                   help="stage 3: fine-tuning iterations per round (default 50)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate checkpoints on a suite split (one table each, one plot)")
    p.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT",
                   help="checkpoint files, or the word 'pretrained' for the one shipped for --suite")
    p.add_argument("--labels", help="comma-separated names for the checkpoints (default: their run folders)")
    _common(p)
    p.add_argument("--split", default="test")
    p.add_argument("--samples", type=positive_int, default=64, help="samples per task (default 64)")
    p.add_argument("--temperature", type=positive_float, default=1.0,
                   help="sampling temperature (default 1: the policy)")
    p.add_argument("--decode", choices=("sample", "beam", "complete"), default="sample",
                   help="sample: best of --samples draws; beam: the --samples best programs a policy-guided beam "
                        "over value states finishes; complete: --samples draws whose prefixes are finished by "
                        "stack moves where the value state allows (agents.complete) (default sample)")
    p.add_argument("--width", type=positive_int, default=16, help="beam width (--decode beam; default 16)")
    p.add_argument("--progress-weight", type=float, default=None,
                   help="--decode beam: weight of value-state progress beside the policy's log-probability when "
                        "the beam is chosen (0: log-probability alone; default agents.beam.PROGRESS_WEIGHT)")
    p.add_argument("--beam-completion", choices=("on", "off"), default=None,
                   help="--decode beam: also finish the prefixes the beam held by stack moves (agents.complete) "
                        "(default agents.beam.COMPLETE)")
    p.add_argument("--baseline-completion", choices=("on", "off"), default=None,
                   help="--decode beam: also finish the baseline's own prefixes by stack moves, after the beam's "
                        "candidates (the baseline itself is never proposed) (default agents.beam.BASELINE_COMPLETION)")
    p.add_argument("--decode-masking", choices=("stack", "typed", "dataflow"),
                   help="masks to decode under (default: the checkpoint's)")
    p.add_argument("--json", help="write the report(s) as JSON (overall, one re-checkable record per task): FILE, "
                                  "or a folder for several checkpoints")
    p.add_argument("--csv", help="write per-task rows as CSV: FILE, or a folder for several checkpoints")
    p.add_argument("--markdown", help="write the tables as Markdown")
    p.add_argument("--plot", help="write the improvement-vs-samples plot (PNG), one line per checkpoint")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("compare", help="the comparison: agents under equal budgets of programs scored, over seeds "
                                       "(see docs/comparison.md)")
    p.add_argument("--suite", default="tasm-basic-v1")
    p.add_argument("--split", default="test")
    p.add_argument("--tiers", default=None, help="comma-separated tiers (default: all)")
    p.add_argument("--tasks", type=positive_int, default=None, help="at most N tasks per tier (default: all)")
    p.add_argument("--agents", default="tb,rtb,random,mcmc,beam,exact",
                   help="comma-separated agents (tasm-env compare --list-agents)")
    p.add_argument("--budget", type=positive_int, default=256, help="programs the verifier scores per run (default 256)")
    p.add_argument("--batch", type=positive_int, default=16, help="programs an agent proposes per round (default 16)")
    p.add_argument("--seeds", type=positive_int, default=3, help="seeds per (agent, task): 0..K-1 (default 3)")
    p.add_argument("--checkpoint", default=None,
                   help="learned agents' starting policy (default: the pretrained one for the suite; 'fresh': new weights)")
    p.add_argument("--decode", choices=("sample", "complete"), default="sample",
                   help="learned agents' proposals: the sampled blocks, or each finished by stack moves "
                        "(agents.complete) before it is scored (default sample)")
    p.add_argument("--out", default="runs/compare")
    p.add_argument("--backend", choices=("local", "ray"), default="local")
    p.add_argument("--workers", type=positive_int, default=None, help="local processes (default: the cores)")
    p.add_argument("--check", metavar="DIR", default=None, help="re-verify DIR/results.json from scratch and exit")
    p.add_argument("--report", metavar="DIR", default=None,
                   help="re-render DIR/compare.md and the plots from DIR/results.json (no runs) and exit")
    p.add_argument("--list-agents", action="store_true", help="print the available agents and exit")
    p.add_argument("--device", default="cpu", help="where the networks run: cpu, cuda, cuda:N (default cpu)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_compare)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--suite", default="tasm-basic-v1")
    p.add_argument("--tiers", default=None, help="comma-separated tiers (default: stage 2 easy,medium; else all)")
    p.add_argument("--masking", choices=("stack", "typed", "dataflow"), default="dataflow",
                   help="action masks (default dataflow: typed, narrowed by the value state the policy reads)")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--device", default="cpu", help="where the networks run: cpu, cuda, cuda:N (default cpu)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def cmd_train(args) -> int:
    from . import pipeline

    out = Path(args.out)
    if args.stage == 1:
        path = pipeline.run_stage1(out, suite=args.suite, tiers=_tiers(args.tiers), masking=args.masking,
                                   epochs=args.epochs, variants=args.variants,
                                   variant_seconds=args.variant_seconds,
                                   extra=_counts(args.extra_tasks, "--extra-tasks"),
                                   search_seconds=args.search_seconds,
                                   extra_cache=Path(args.extra_cache) if args.extra_cache else None,
                                   variant_extra=_counts(args.variant_extra, "--variant-extra", per_tier=True),
                                   minutes=args.minutes, corpus=args.corpus, init=args.init,
                                   lr=args.lr or 2e-3, d_model=args.d_model, seed=args.seed,
                                   progress=not args.no_progress, device=args.device)
    elif args.stage == 2:
        _check_stage2_start(args)
        path = pipeline.run_stage2(out, agent=args.agent, init=args.init, resume=args.resume, suite=args.suite,
                                   tiers=_tiers(args.tiers, ("easy", "medium")), masking=args.masking,
                                   iterations=args.iterations or STAGE2_ITERATIONS, minutes=args.minutes,
                                   mode=args.mode,
                                   tasks_per_batch=args.tasks_per_batch, samples_per_task=args.samples_per_task,
                                   lr=args.lr or 1e-4, reward_beta=args.reward_beta, invalid_reward=args.invalid_reward,
                                   log_reward_clip=args.log_reward_clip, invalid_bound=args.invalid_bound,
                                   eval_every=args.eval_every,
                                   temperature=_pair(args.temperature, "--temperature"), experts=args.experts,
                                   valid_replay=args.valid_replay, patience=args.patience,
                                   dead_iterations=args.dead_iterations, anchor=args.anchor,
                                   d_model=args.d_model, seed=args.seed, progress=not args.no_progress,
                                   device=args.device)
    else:
        if not args.init:
            raise TasmError("stage 3 refines a trained policy: pass --init OUT/stage2.safetensors")
        path = pipeline.run_stage3(out, agent=args.agent, init=args.init, suite=args.suite,
                                   tiers=_tiers(args.tiers, ("easy", "medium")), rounds=args.rounds,
                                   samples=args.build_samples, burst=args.burst,
                                   minutes=args.minutes, seed=args.seed, progress=not args.no_progress,
                                   device=args.device)
    print(f"saved {path}")
    return 0


def _check_stage2_start(args) -> None:
    """Stage 2 from random weights, or with no limit at all, is almost always a forgotten flag: ask for it."""
    if args.from_scratch and (args.init or args.resume):
        raise TasmError("--from-scratch starts from random weights: leave out --init and --resume")
    if not (args.init or args.resume or args.from_scratch):
        raise TasmError("stage 2 fine-tunes a trained policy: pass --init OUT/stage1.safetensors (or --resume, or "
                        "--from-scratch for random initial weights)")
    if not args.resume and args.minutes is None and args.iterations is None:
        raise TasmError("stage 2 needs a limit: pass --minutes M and/or --iterations N")


def cmd_evaluate(args) -> int:
    from . import pipeline

    labels = args.labels.split(",") if args.labels else [Path(c).parent.name or Path(c).stem for c in args.checkpoints]
    if len(labels) != len(args.checkpoints):
        raise TasmError(f"--labels names {len(labels)} checkpoints, {len(args.checkpoints)} were given")
    reports = {}
    for label, checkpoint in zip(labels, args.checkpoints):
        if checkpoint == "pretrained":
            from .shipped import pretrained_path
            checkpoint = str(pretrained_path(args.suite))
        report = pipeline.evaluate_checkpoint(checkpoint, suite=args.suite, split=args.split,
                                              tiers=_tiers(args.tiers), samples=args.samples, seed=args.seed,
                                              temperature=args.temperature, progress=not args.no_progress,
                                              device=args.device, decode=args.decode, width=args.width,
                                              masking=args.decode_masking, progress_weight=args.progress_weight,
                                              beam_completion=None if args.beam_completion is None
                                              else args.beam_completion == "on",
                                              baseline_completion=None if args.baseline_completion is None
                                              else args.baseline_completion == "on")
        how = f"best of {args.samples}" + {"beam": f" from a beam of {args.width}",
                                           "complete": " completed samples"}.get(args.decode, " samples")
        print(f"\n== {label} ({checkpoint}): {args.suite} {args.split}, {how}, "
              f"{report.settings['decode_ms_per_task']:.0f} ms per task\n{report.to_text()}")
        reports[label] = report
        several = len(args.checkpoints) > 1
        if args.json:
            report.to_json(Path(args.json) / f"{label}.json" if several else args.json)
        if args.csv:
            report.to_csv(Path(args.csv) / f"{label}.csv" if several else args.csv)
    if args.markdown:
        from tasm_env.atomic import atomic_write_text
        atomic_write_text(args.markdown, "\n".join(f"### {label}\n\n{r.to_markdown()}\n" for label, r in reports.items()))
    if args.plot:
        from .evaluate import plot_improvement
        plot_improvement(reports, args.plot)
    return 0


def cmd_compare(args) -> int:
    from . import pipeline

    if args.list_agents:
        from .compare.interface import agent_names

        print("\n".join(agent_names()))
        return 0
    if args.check:
        from .compare.sweep import check_results

        problems = check_results(Path(args.check))
        if problems:
            from .compare.interface import CompareError

            raise CompareError(f"{len(problems)} mismatches in {Path(args.check) / 'results.json'}:\n  "
                               + "\n  ".join(problems))
        print(f"{Path(args.check) / 'results.json'}: every program re-verified, every cycle count recomputed: OK")
        return 0
    if args.report:
        from .compare.sweep import render_results

        text, plots, left_out = render_results(Path(args.report))
        print(text)
        for path in plots:
            print(f"plot: {path}")
        return 0
    agents = tuple(a.strip() for a in args.agents.split(",") if a.strip())
    pipeline.compare(Path(args.out), agents=agents, suite=args.suite, split=args.split, tiers=_tiers(args.tiers),
                     tasks=args.tasks, budget=args.budget, batch=args.batch, seeds=args.seeds,
                     checkpoint=args.checkpoint, backend=args.backend, workers=args.workers,
                     progress=not args.no_progress, device=args.device, decode=args.decode)
    return 0


def _pair(text: str, flag: str) -> tuple[float, float]:
    try:
        start, end = (float(p) for p in text.split(","))
    except ValueError:
        raise TasmError(f"{flag}: expected START,END (two numbers), got {text!r}") from None
    if start <= 0 or end <= 0:
        raise TasmError(f"{flag}: temperatures must be positive, got {text!r}")
    return start, end


def _counts(text: str, flag: str, per_tier: bool = False) -> int | dict[str, int]:
    try:
        parts = [int(p) for p in text.split(",")]
    except ValueError:
        raise TasmError(f"{flag}: expected N or E,M,H (integers), got {text!r}") from None
    if len(parts) not in (1, 3):
        raise TasmError(f"{flag}: expected N or E,M,H, got {len(parts)} numbers in {text!r}")
    if min(parts) < 0:
        raise TasmError(f"{flag}: expected N or E,M,H (counts of at least 0), got {text!r}")
    if len(parts) == 1:
        return {t: parts[0] for t in ("easy", "medium", "hard")} if per_tier else parts[0]
    return dict(zip(("easy", "medium", "hard"), parts))


def _tiers(text: str | None, default: tuple[str, ...] | None = None) -> tuple[str, ...] | None:
    if text is None:
        return default
    tiers = tuple(t.strip() for t in text.split(",") if t.strip())
    unknown = [t for t in tiers if t not in ("easy", "medium", "hard", "idiom")]
    if unknown:
        raise TasmError(f"unknown tiers {unknown}; expected easy, medium, hard or idiom")
    return tiers


__all__ = ["add_commands"]
