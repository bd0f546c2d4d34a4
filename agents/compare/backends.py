"""Where the units of a comparison run: ``local`` (a ``spawn`` process pool sized to the cores; one worker runs
in this process) or ``ray`` (Ray Tune, :mod:`agents.compare.ray_backend`, imported only when asked for).

Both call the same pure :func:`~agents.compare.interface.run_unit` on the same JSON units, so the records are
the same whichever backend ran them (up to ``seconds``). ``on_record`` is called in the driver as each unit
finishes (in completion order), which is where the sweep saves its results file."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from typing import Callable, Sequence

from .interface import CompareError, RunRecord, RunUnit, run_unit

BACKENDS = ("local", "ray")
OnRecord = Callable[[RunRecord], None]


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def _run_json(unit: dict) -> dict:
    """A worker's job: JSON in, JSON out (nothing pickled but plain data crosses the process boundary)."""
    return run_unit(RunUnit(**unit)).to_json()


def run_units(units: Sequence[RunUnit], backend: str = "local", workers: int | None = None,
              on_record: OnRecord | None = None, progress: bool = True, **options) -> list[RunRecord]:
    """Run every unit on ``backend`` and return the records in the order of ``units``. ``workers``: local
    processes (default: the cores this process may use; 1 runs in-process, with a progress bar per unit).
    ``options`` go to the Ray backend (``run_units_ray``'s keywords)."""
    if backend not in BACKENDS:
        raise CompareError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if backend == "ray":
        try:
            from .ray_backend import run_units_ray
        except ImportError as err:
            raise CompareError(f"--backend ray needs Ray Tune and agents/compare/ray_backend.py "
                               f"(pip install 'tasm-env[ray]'): {err}") from None
        return run_units_ray(units, on_record, **options)
    if options:
        raise CompareError(f"the local backend takes no options, got {sorted(options)}")
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise CompareError(f"workers must be at least 1, got {workers}")
    from tqdm.auto import tqdm

    records: dict[int, RunRecord] = {}
    bar = tqdm(total=len(units), desc="units", unit="run", disable=not progress)

    def done(i: int, record: RunRecord) -> None:
        records[i] = record
        bar.update(1)
        bar.set_postfix_str(f"{record.agent} seed {record.seed} {record.task}: {record.best_cycles}/"
                            f"{record.baseline_cycles} cycles")
        if on_record is not None:
            on_record(record)

    if workers == 1 or len(units) <= 1:
        for i, unit in enumerate(units):
            done(i, run_unit(unit, progress=progress))
    else:
        import multiprocessing

        with ProcessPoolExecutor(max_workers=min(workers, len(units)),
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(_run_json, asdict(unit)): i for i, unit in enumerate(units)}
            for future in as_completed(futures):
                done(futures[future], RunRecord(**future.result()))
    bar.close()
    return [records[i] for i in range(len(units))]


__all__ = ["BACKENDS", "default_workers", "run_units"]
