"""``probe_runs.extend_many`` evaluates the ``mem_read`` operations of prefixes of different tasks in one group,
each row reading its own task's initial RAM: its runs equal ``probe_runs.evaluate`` (the reference, one plan at a
time) on random memory-heavy blocks of random suite tasks mixed in one call, from scratch and extending parents."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tasm_env as te
from tasm_env import batch
from tasm_env.emission.probe_runs import evaluate, extend_many
from tasm_env.emission.values import TaskProbes

SUITE = te.load_suite("tasm-basic-v1")
TASKS = list(SUITE.train)[::9]
PROBES: dict[int, TaskProbes] = {}

# straight-line pieces that read memory at pushed and at input addresses (reads of never-written cells are the
# task's seeded RAM), write some of it back and read again
PIECES = ("push {a}", "read_mem {n}", "write_mem {n}", "dup {s}", "pop {n}", "swap {s1}", "add", "mul")


def _probes(n: int) -> TaskProbes:
    if n not in PROBES:
        PROBES[n] = TaskProbes(TASKS[n])
    return PROBES[n]


def _block(rng: np.random.Generator, length: int) -> list[str]:
    words = []
    for _ in range(length):
        piece = PIECES[int(rng.integers(len(PIECES)))]
        words.append(piece.format(a=int(rng.integers(0, 40)), n=int(rng.integers(1, 4)), s=int(rng.integers(0, 4)),
                                  s1=int(rng.integers(1, 4))))
    return ["push 3", "read_mem 1", *words, "read_mem 2"]


def _same(a, b) -> bool:
    return np.array_equal(a.V, b.V) and np.array_equal(a.crash, b.crash)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.integers(0, len(TASKS) - 1), min_size=2, max_size=6), st.integers(0, 2**31))
def test_mixed_task_reads_equal_the_reference(tasks, seed):
    rng = np.random.default_rng(seed)
    items, parents = [], []
    for n in tasks:
        probes = _probes(n)
        block = _block(rng, int(rng.integers(0, 8)))
        plan = batch.compile_block(" ".join(block), probes.shape)
        cut = batch.compile_block(" ".join(block[:int(rng.integers(0, len(block)))]), probes.shape)
        parent = evaluate(cut, probes.inputs) if rng.random() < 0.5 else None
        items.append((plan, probes.inputs, parent))
        parents.append(parent)
    for got, (plan, inputs, parent) in zip(extend_many(items), items):
        assert _same(got, evaluate(plan, inputs, parent))
        assert _same(got, evaluate(plan, inputs))


def test_the_tasks_read_different_ram():
    """The guard of the test above: the probes of different tasks read different initial RAM, so that a group
    reading one task's RAM for every row would be seen."""
    address = np.arange(5, dtype=np.uint64)[:, None].repeat(_probes(0).k, 1)
    rams = {_probes(n).inputs.initial_ram(address).tobytes() for n in range(len(TASKS))}
    assert len(rams) > 1
