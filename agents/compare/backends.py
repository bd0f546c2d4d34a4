"""Where the units of a comparison run: ``local`` (a ``spawn`` process pool sized to the cores; one worker runs
in this process) or ``ray`` (Ray Tune, :mod:`agents.compare.ray_backend`, imported only when asked for).

Both call the same pure :func:`~agents.compare.interface.run_unit` on the same JSON units, so the records are
the same whichever backend ran them (up to ``seconds``). ``on_record`` is called in the driver as each unit
finishes (in completion order), which is where the sweep saves its results file."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from typing import Callable, Sequence

from .interface import CompareError, RunRecord, RunUnit, run_unit

BACKENDS = ("local", "ray")
OnRecord = Callable[[RunRecord], None]


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


_events = None  # a worker's queue to the driver (set by the pool's initializer); None: no progress reports


def _init_worker(events) -> None:
    global _events
    _events = events


def _run_json(unit: dict) -> dict:
    """A worker's job: JSON in, JSON out (nothing pickled but plain data crosses the process boundary); after
    every scored batch it puts (agent, seed, task, programs scored, budget, best cycles) on the driver's queue."""
    run = RunUnit(**unit)

    def report(used: int, best: int | None) -> None:
        _events.put((run.agent, run.seed, run.task, used, run.budget, best))

    return run_unit(run, on_progress=report if _events is not None else None).to_json()


class ProgressBoard:
    """The driver's bars: one per active run (programs scored of its budget) and the overall one (runs done).
    ``on_progress(key, used, budget, best)`` sees every event too."""

    def __init__(self, total: int, show: bool, on_progress: Callable | None = None):
        from tqdm.auto import tqdm

        self.tqdm, self.show, self.on_progress = tqdm, show, on_progress
        self.overall = tqdm(total=total, desc="units", unit="run", disable=not show, position=0)
        self.bars: dict[tuple, object] = {}
        self.done: set[tuple] = set()
        self.lock = threading.Lock()  # events come from the queue's thread, records from the driver's

    def event(self, key: tuple, used: int, budget: int, best: int | None) -> None:
        with self.lock:
            if self.on_progress is not None:
                self.on_progress(key, used, budget, best)
            if key not in self.done:  # a late event of a finished run (its record came by another pipe)
                self.bar(key, budget).update(used - self.bars[key].n)
                self.bars[key].set_postfix(best="-" if best is None else best)

    def bar(self, key: tuple, budget: int):
        bar = self.bars.get(key)
        if bar is None:
            bar = self.bars[key] = self.tqdm(total=budget, desc=f"{key[0]} seed {key[1]} {key[2]}", unit="prog",
                                             disable=not self.show, leave=False, position=len(self.bars) + 1)
        return bar

    def finished(self, record: RunRecord) -> None:
        key = (record.agent, record.seed, record.task)
        with self.lock:
            self.done.add(key)
            bar = self.bars.pop(key, None)
            if bar is not None:
                bar.close()
            self.overall.update(1)
            self.overall.set_postfix_str(f"{record.agent} seed {record.seed} {record.task}: "
                                         f"{record.best_cycles}/{record.baseline_cycles} cycles")

    def close(self) -> None:
        with self.lock:
            for bar in self.bars.values():
                bar.close()
            self.overall.close()


def run_units(units: Sequence[RunUnit], backend: str = "local", workers: int | None = None,
              on_record: OnRecord | None = None, progress: bool = True, on_progress: Callable | None = None,
              **options) -> list[RunRecord]:
    """Run every unit on ``backend`` and return the records in the order of ``units``. ``workers``: local
    processes (default: the cores this process may use; 1 runs in-process). ``progress``: a bar per active
    run and one for the sweep (workers report every scored batch through a queue); ``on_progress(key, used,
    budget, best)`` is called in the driver on each such report. ``options`` go to the Ray backend
    (``run_units_ray``'s keywords)."""
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
    records: dict[int, RunRecord] = {}
    board = ProgressBoard(len(units), progress, on_progress)

    def done(i: int, record: RunRecord) -> None:
        records[i] = record
        board.finished(record)
        if on_record is not None:
            on_record(record)

    if workers == 1 or len(units) <= 1:
        for i, unit in enumerate(units):
            key = unit.key()
            done(i, run_unit(unit, on_progress=lambda used, best: board.event(key, used, unit.budget, best)))
    else:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        events = context.Queue()

        def drain() -> None:  # the driver's side of the queue: every event to the board, until the sentinel
            for event in iter(events.get, None):
                board.event(tuple(event[:3]), *event[3:])

        listener = threading.Thread(target=drain, daemon=True)
        listener.start()
        try:
            with ProcessPoolExecutor(max_workers=min(workers, len(units)), mp_context=context,
                                     initializer=_init_worker, initargs=(events,)) as pool:
                futures = {pool.submit(_run_json, asdict(unit)): i for i, unit in enumerate(units)}
                for future in as_completed(futures):
                    done(futures[future], RunRecord(**future.result()))
        finally:
            events.put(None)
            listener.join()
    board.close()
    return [records[i] for i in range(len(units))]


__all__ = ["BACKENDS", "default_workers", "run_units"]
