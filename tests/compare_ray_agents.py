"""Agents for tests/test_compare_ray.py, imported only by its Ray workers (``imports=("compare_ray_agents",)``),
so that the test process's registry keeps just the bundled agents. Both are the random agent under another
name; they append "seed task" to the file named by $TASM_TEST_RAY_LOG when they start a unit, so the test
sees what the Ray workers ran."""

from __future__ import annotations

import os
from pathlib import Path

from agents.compare.interface import register
from agents.compare.registry import RandomLegal

LOG_ENV, CRASH_ENV = "TASM_TEST_RAY_LOG", "TASM_TEST_RAY_CRASH"
CRASH_TASK = "basic-easy-014"  # the crash-once agent fails on (seed 0, this task), the first time only


class LoggedRandom(RandomLegal):
    def __init__(self, context):
        super().__init__(context)
        self.seed, self.logged = context.seed, False

    def propose(self, task, n):
        if not self.logged:
            self.logged = True
            with open(os.environ[LOG_ENV], "a", encoding="utf-8") as log:
                log.write(f"{self.seed} {task.name}\n")
            self.crash_if_first(task)
        return super().propose(task, n)

    def crash_if_first(self, task) -> None:
        pass


class CrashOnceRandom(LoggedRandom):
    """Crashes on (seed 0, CRASH_TASK) the first time under its name in a marker folder ($TASM_TEST_RAY_CRASH),
    as a lost node would, mid-shard."""

    def __init__(self, context, name: str):
        super().__init__(context)
        self.name = name

    def crash_if_first(self, task) -> None:
        marker = Path(os.environ[CRASH_ENV], f"{self.name}-{self.seed}-{task.name}")
        if self.seed == 0 and task.name == CRASH_TASK and not marker.exists():
            marker.write_text("crashed\n", encoding="utf-8")
            raise RuntimeError("a deliberate crash, once")


for _name in ("crash-once-random", "crash-once-random-2"):  # one per test: each crashes once
    register(_name, lambda context, name=_name: CrashOnceRandom(context, name))
