"""The Ray Tune backend of the comparison (agents/compare/ray_backend.py): the same records as a sequential run
of the same units, no finished unit run twice by a retried or a restored trial, and a clear error without Ray.

The slow tests need Ray (CI installs the ``ray`` extra). Their logging and crash-once agents live in
tests/compare_ray_agents.py, which only the Ray workers import (this folder is on their PYTHONPATH)."""

from __future__ import annotations

import os
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from agents.compare.interface import CompareError, RunUnit, run_unit
from agents.compare.ray_backend import ray_init_kwargs, run_units_ray, shard_units
from tasm_env import TasmError

TASKS = ("basic-easy-003", "basic-easy-014")  # two tasks of tasm-basic-v1's test split
LOG_ENV, CRASH_ENV, CRASH_TASK = "TASM_TEST_RAY_LOG", "TASM_TEST_RAY_CRASH", TASKS[1]  # as compare_ray_agents
AGENTS = ("compare_ray_agents",)  # imported by the Ray workers only: the test process registers nothing
pytestmark = pytest.mark.xdist_group("ray")  # under `pytest -n --dist loadgroup`: one test process, one Ray


def units_of(agent: str) -> list[RunUnit]:
    return [RunUnit(agent, seed, task, budget=24, batch=8) for seed in (0, 1) for task in TASKS]


def without_seconds(record, agent: str = "random") -> dict:
    data = record.to_json()
    data.pop("seconds")
    data["agent"] = agent  # the logging agents are the random agent under other names
    return data


def started(log: Path) -> Counter:
    return Counter(tuple(line.split()) for line in log.read_text().splitlines()) if log.exists() else Counter()


@pytest.fixture(scope="module")
def ray_session(tmp_path_factory):
    """One local Ray of 2 CPUs for the module (starting Ray is the slow part); workers see this folder."""
    connect = ray_init_kwargs(None)  # before Ray is imported: a Ray of its own, on 127.0.0.1
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.tune")
    folder = tmp_path_factory.mktemp("ray")
    log, crashes = folder / "started.log", folder / "crashes"
    crashes.mkdir()
    here = Path(__file__).resolve().parent
    path = os.pathsep.join([str(here), str(here.parent), os.environ.get("PYTHONPATH", "")])
    ray.init(num_cpus=2, logging_level="WARNING", log_to_driver=False, **connect,
             runtime_env={"env_vars": {"PYTHONPATH": path, LOG_ENV: str(log), CRASH_ENV: str(crashes)}})
    yield folder, log
    ray.shutdown()


@pytest.mark.slow
def test_ray_gives_the_records_of_a_sequential_run(ray_session, tmp_path):
    s0t0, s0t1, s1t0, s1t1 = units_of("random")
    units = [s1t0, s0t0, s0t1, s1t1]  # in no trial's order: the records must come back in this one
    sequential = [run_unit(u) for u in units]  # the reference: the very function, in this process, in order
    delivered = []
    got = run_units_ray(units, delivered.append, shard_size=2, storage_path=str(tmp_path), resume=False)
    assert [without_seconds(r) for r in got] == [without_seconds(r) for r in sequential]
    assert sorted(map(without_seconds, delivered), key=str) == sorted(map(without_seconds, got), key=str)
    assert {r.seed for r in got} == {0, 1} and {r.task for r in got} == set(TASKS)


@pytest.mark.slow
def test_a_retried_trial_reruns_no_finished_unit(ray_session, tmp_path):
    _, log = ray_session
    before = started(log)
    units = units_of("crash-once-random")
    got = run_units_ray(units, None, shard_size=2, max_failures=1, storage_path=str(tmp_path), resume=False,
                        imports=AGENTS)
    ran = started(log) - before
    # seed 0's trial crashed on its second unit and was retried from its checkpoint: its first unit ran once
    assert ran == Counter({("0", TASKS[0]): 1, ("0", CRASH_TASK): 2, ("1", TASKS[0]): 1, ("1", TASKS[1]): 1})
    assert [without_seconds(r) for r in got] == [without_seconds(run_unit(u)) for u in units_of("random")]


@pytest.mark.slow
def test_a_restored_sweep_reruns_no_finished_unit(ray_session, tmp_path):
    _, log = ray_session
    before = started(log)
    units = units_of("crash-once-random-2")
    first = []
    with pytest.raises(CompareError, match="run again to resume"):  # no retries: seed 0's trial fails
        run_units_ray(units, first.append, shard_size=2, max_failures=0, storage_path=str(tmp_path),
                      imports=AGENTS)
    assert sorted((r.seed, r.task) for r in first) == [(0, TASKS[0]), (1, TASKS[0]), (1, TASKS[1])]
    second = []
    got = run_units_ray(units, second.append, shard_size=2, storage_path=str(tmp_path))  # Tuner.restore
    ran = started(log) - before
    assert ran == Counter({("0", TASKS[0]): 1, ("0", CRASH_TASK): 2, ("1", TASKS[0]): 1, ("1", TASKS[1]): 1})
    assert len(second) == 4  # every record once per call: the three finished ones come from checkpoints
    assert (second[0].seed, second[0].task) == (0, CRASH_TASK)  # the new one streamed, before fit() returned
    assert [without_seconds(r) for r in got] == [without_seconds(run_unit(u)) for u in units_of("random")]
    with pytest.raises(CompareError, match="another sweep"):  # a unit the stored sweep does not hold
        run_units_ray(units + [replace(units[0], seed=2)], None, storage_path=str(tmp_path))


def test_missing_ray_is_a_clear_compare_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` finds when Ray is not installed
    monkeypatch.setitem(sys.modules, "ray.tune", None)
    with pytest.raises(CompareError, match=r"pip install tasm-env\[ray\]") as caught:
        run_units_ray(units_of("random"), None)
    assert isinstance(caught.value, TasmError)


def test_shards_group_units_by_agent_and_seed():
    units = [RunUnit(a, s, f"t{i}") for a in ("x", "y") for s in (0, 1) for i in range(5)]
    shards = shard_units(units, shard_size=2)
    assert len(shards) == 2 * 2 * 3  # 5 tasks in shards of 2, 2, 1 per (agent, seed)
    flat = [u for shard in shards.values() for u in shard]
    assert [RunUnit(**u) for u in flat] == units  # every unit once, in order
    assert all(len({(u["agent"], u["seed"]) for u in shard}) == 1 for shard in shards.values())
    with pytest.raises(CompareError, match="at least 1"):
        shard_units(units, 0)
