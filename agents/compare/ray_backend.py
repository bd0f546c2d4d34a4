"""The comparison on Ray Tune: one trial per (agent, seed, suite shard), on one machine or a Ray cluster.

A *shard* is a list of tasks; its trial runs :func:`~agents.compare.interface.run_unit` for each of them in turn
and, after each, reports the record with a Tune checkpoint holding every record of the shard so far. So a trial
that Tune retries after a failure (``FailureConfig(max_failures=...)``), and a trial of a restored experiment
(``Tuner.restore`` on the same ``storage_path``), starts from its checkpoint and reruns no finished unit. Every
trial asks for ``cpus_per_trial`` CPUs (``tune.with_resources``); Ray places as many side by side as the machine
or the cluster holds.

    from agents.compare.interface import RunUnit
    from agents.compare.ray_backend import run_units_ray

    units = [RunUnit("random", seed, task, budget=32) for seed in range(3) for task in ("basic-easy-001",)]
    records = run_units_ray(units, print, storage_path="/shared/sweeps", address="auto")

Since ``run_unit`` is a pure function of its unit, the records are those of the local backend for the same
units (up to ``seconds``). The agents must be importable on every node: the bundled ones are; a module that
registers more is named in ``imports``. Paths in units (``checkpoint``) must exist on every node.
``docs/scale-out.md`` shows a multi-node run.
"""

from __future__ import annotations

import importlib
import json
import os
import tempfile
import threading
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable, Sequence

from tasm_env.atomic import atomic_write

from .interface import CompareError, RunRecord, RunUnit, run_unit

RECORDS_FILE = "records.json"  # in every trial checkpoint: {unit id: record}, the shard's finished units
SWEEP_FILE = "sweep.json"  # beside Tune's state: the units the experiment holds (checked before a restore)
INSTALL_HINT = "pip install tasm-env[ray]"
DEFAULT_NAME = "compare"

_sink_lock = threading.Lock()  # one sweep at a time per driver: the callback delivers to the current sink
_sink: Callable[[dict], None] | None = None


def import_ray():
    """Ray and Ray Tune, or a CompareError saying how to install them."""
    try:
        import ray
        from ray import tune
    except ImportError as error:
        raise CompareError(f"the Ray backend needs Ray Tune, which is not installed ({error}); "
                           f"install it with `{INSTALL_HINT}`, or use --backend local") from error
    return ray, tune


LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": Ray's node address is 127.0.0.1 (its one-machine mode)


def ray_init_kwargs(address: str | None) -> dict:
    """How to reach Ray: ``address`` (or $RAY_ADDRESS) names a cluster; with neither, a new Ray of this
    machine's cores, on the loopback address when Ray is imported after this call: it needs no network, never
    joins a Ray that someone else started here, and its processes talk over 127.0.0.1 only. (That setting
    holds for the rest of the process: connect to a cluster from a fresh process.)"""
    if address is not None or os.environ.get("RAY_ADDRESS"):
        return {"address": address}
    os.environ.setdefault(LOOPBACK_ENV, "0")  # read when Ray is first imported, and by the processes it starts
    return {"address": "local"}


def unit_id(unit: RunUnit) -> str:
    """A unit's identity across processes and runs: its fields as canonical JSON."""
    return json.dumps(asdict(unit), sort_keys=True)


def shard_units(units: Sequence[RunUnit], shard_size: int) -> dict[str, list[dict]]:
    """Trials of the sweep: units grouped by everything but the task (agent, seed, suite, budget...), in order
    of first appearance, each group cut into shards of at most ``shard_size`` tasks. Maps trial id -> units."""
    if shard_size < 1:
        raise CompareError(f"shard_size must be at least 1 task, got {shard_size}")
    groups: dict[str, list[RunUnit]] = {}
    for unit in units:
        groups.setdefault(json.dumps({**asdict(unit), "task": None}, sort_keys=True), []).append(unit)
    shards: dict[str, list[dict]] = {}
    for number, group in enumerate(groups.values()):
        head = group[0]
        for start in range(0, len(group), shard_size):
            trial = f"{head.agent}-s{head.seed}-g{number}-{start // shard_size}"
            shards[trial] = [asdict(u) for u in group[start:start + shard_size]]
    return shards


def shard_trainable(config: dict) -> None:
    """One Tune trial: run the units of shard ``config["shard"]`` not already in the trial's checkpoint,
    reporting each record with a checkpoint of all the shard's records so far."""
    from ray import tune

    for module in config.get("imports", ()):
        importlib.import_module(module)  # where custom agents register themselves
    done: dict[str, dict] = {}
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            done = json.loads(Path(folder, RECORDS_FILE).read_text(encoding="utf-8"))
    units = config["shards"][config["shard"]]
    for fields in units:
        unit = RunUnit(**fields)
        key = unit_id(unit)
        if key in done:
            continue
        record = run_unit(unit).to_json()
        done[key] = record
        with tempfile.TemporaryDirectory() as folder:
            atomic_write(Path(folder, RECORDS_FILE), lambda handle: json.dump(done, handle))
            tune.report({"units_done": len(done), "units": len(units), "unit": key, "record": json.dumps(record)},
                        checkpoint=tune.Checkpoint.from_directory(folder))


def deliver_result(result: dict) -> None:
    """Hand a trial's reported result to the running sweep's sink (if any): called by the Tune callback."""
    if "record" in result and _sink is not None:
        _sink(result)


def _delivery_callback(tune):
    """A Tune callback that hands each reported record to the current sweep's sink. Tune pickles it into the
    experiment's state and a restored Tuner unpickles it (by value: a copy of this module's globals), so it
    looks the module up afresh at every call rather than keep a reference."""

    class DeliverRecords(tune.Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):
            importlib.import_module(__name__).deliver_result(result)

    return DeliverRecords()


def _read_checkpoint(result) -> dict[str, dict]:
    if result.checkpoint is None:
        return {}
    with result.checkpoint.as_directory() as folder:
        return json.loads(Path(folder, RECORDS_FILE).read_text(encoding="utf-8"))


def _storage(storage_path: str | None):
    """(pyarrow filesystem, path in it) of the storage root; a local path is made absolute (Tune needs that)."""
    import pyarrow.fs

    root = storage_path or os.path.expanduser("~/ray_results")
    if "://" not in root:
        root = os.path.abspath(root)
    fs, path = pyarrow.fs.FileSystem.from_uri(root)
    return root, fs, path


def _stored_units(fs, experiment: str) -> set[str] | None:
    import pyarrow.fs

    path = f"{experiment}/{SWEEP_FILE}"
    if fs.get_file_info(path).type == pyarrow.fs.FileType.NotFound:
        return None
    with fs.open_input_stream(path) as handle:
        return set(json.loads(handle.read().decode("utf-8"))["units"])


def _store_units(fs, experiment: str, keys: list[str]) -> None:
    fs.create_dir(experiment, recursive=True)
    tmp = f"{experiment}/.{SWEEP_FILE}.tmp"
    with fs.open_output_stream(tmp) as handle:
        handle.write(json.dumps({"units": keys}).encode("utf-8"))
    fs.move(tmp, f"{experiment}/{SWEEP_FILE}")  # a rename where the filesystem has one: never half a file


def run_units_ray(units: Sequence[RunUnit], on_record: Callable[[RunRecord], None] | None = None, *,
                  shard_size: int = 8, cpus_per_trial: float = 1, max_failures: int = 2,
                  storage_path: str | None = None, resume: bool = True, address: str | None = None,
                  name: str = DEFAULT_NAME, imports: Sequence[str] = (), num_cpus: int | None = None,
                  verbose: int = 0) -> list[RunRecord]:
    """Run ``units`` as Ray Tune trials and return their records in the order of ``units``.

    ``on_record`` gets each record once, on the driver, as soon as its trial reports it (records that a
    restored experiment had finished before come when the restore finds them). ``shard_size``: tasks per
    trial; ``cpus_per_trial``: Ray CPUs each trial holds; ``max_failures``: retries of a failed trial (from its
    checkpoint). ``storage_path``: where Tune keeps the experiment ``name`` (local, shared filesystem, or a
    URI such as ``s3://bucket/sweeps``; every node must reach it; default ``~/ray_results``). ``resume``: when
    that experiment exists and holds every unit asked, restore it (``Tuner.restore``) instead of starting
    afresh; with ``resume=False`` an earlier experiment of that name is discarded. ``address``: an existing Ray
    cluster (``"auto"``: the one ``ray start`` began on this machine; ``"HEAD_IP:6379"``;
    ``"ray://head:10001"``); None: $RAY_ADDRESS if set, else a new Ray on this machine for this sweep only.
    A Ray already initialised in this process is used as it is, and left running. ``imports``: modules that
    register extra agents, imported in every trial. ``num_cpus``: the CPUs of a Ray this call starts (None:
    the cores; a cluster's are its own). ``verbose``: Tune's progress output (0: the least).

    Raises CompareError when Ray is missing, when the stored experiment is another sweep, or when trials still
    fail after their retries (the records they finished are delivered and kept for a resume)."""
    global _sink
    connect = ray_init_kwargs(address)  # before Ray is imported
    ray, tune = import_ray()
    import pyarrow.fs  # a dependency of Ray Tune

    # every unit checkpoints by design: Tune's warning about frequent experiment snapshots is noise here
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    units = [replace(u, checkpoint=os.path.abspath(u.checkpoint)) if u.checkpoint and "://" not in u.checkpoint
             else u for u in units]  # trials run in other folders, maybe on other nodes
    keys = [unit_id(u) for u in units]
    if len(set(keys)) != len(keys):
        raise CompareError("the same unit (agent, seed, task, budget...) is asked twice; expected each once")
    if not units:
        return []
    root, fs, base = _storage(storage_path)
    experiment, experiment_uri = f"{base}/{name}", f"{root.rstrip('/')}/{name}"
    stored = _stored_units(fs, experiment)
    restoring = resume and stored is not None and tune.Tuner.can_restore(experiment_uri)
    if restoring and not set(keys) <= stored:
        raise CompareError(f"{experiment_uri} holds another sweep ({len(set(keys) - stored)} of the {len(keys)} "
                           "units asked are not in it); pass another name or storage_path, or resume=False")
    if not restoring:
        if fs.get_file_info(experiment).type != pyarrow.fs.FileType.NotFound:
            fs.delete_dir(experiment)
        _store_units(fs, experiment, keys)

    wanted, records = set(keys), {}

    def deliver(key: str, record: dict) -> None:
        if key in wanted and key not in records:
            records[key] = RunRecord(**record)
            if on_record is not None:
                on_record(records[key])

    if not _sink_lock.acquire(blocking=False):
        raise CompareError("another Ray sweep is running in this process; run one at a time")
    started_ray = not ray.is_initialized()
    try:
        if started_ray:
            local = {"num_cpus": num_cpus} if num_cpus is not None and connect["address"] == "local" else {}
            ray.init(**connect, **local, logging_level="WARNING", log_to_driver=verbose > 0)
        _sink = lambda result: deliver(result["unit"], json.loads(result["record"]))  # noqa: E731
        trainable = tune.with_resources(shard_trainable, {"cpu": cpus_per_trial})
        if restoring:
            tuner = tune.Tuner.restore(experiment_uri, trainable, resume_unfinished=True, resume_errored=True)
        else:
            shards = shard_units(units, shard_size)
            tuner = tune.Tuner(
                trainable,
                param_space={"shard": tune.grid_search(list(shards)), "shards": shards, "imports": list(imports)},
                tune_config=tune.TuneConfig(reuse_actors=True),  # a worker's imports (torch...) serve many trials
                run_config=tune.RunConfig(
                    name=name, storage_path=root, verbose=verbose, callbacks=[_delivery_callback(tune)],
                    failure_config=tune.FailureConfig(max_failures=max_failures),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=1)))  # each holds all the shard's records
        results = tuner.fit()
        errors = []
        for result in results:
            for key, record in _read_checkpoint(result).items():
                deliver(key, record)  # units finished before a restore, or reported just before a failure
            if result.error is not None:
                errors.append(result.error)
    finally:
        _sink = None
        if started_ray and ray.is_initialized():
            ray.shutdown()
        _sink_lock.release()
    missing = [k for k in keys if k not in records]
    if missing:
        raise CompareError(f"{len(missing)} of {len(keys)} units have no record: {len(errors)} Ray trials failed "
                           f"after their retries (first: {errors[0] if errors else 'none reported'}); "
                           f"the finished units are kept in {experiment_uri}: run again to resume")
    return [records[k] for k in keys]
