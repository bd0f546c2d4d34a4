"""What the learned agents (GFlowNet and RL) share: one instance works on one task (the harness makes one agent per (seed, task)),
and its networks and env are built on the first call, when the task is known."""

from __future__ import annotations

from tasm_env.tasks.task import Task

import torch

from .interface import AgentContext, CompareError


class SingleTaskAgent:
    """Calls ``self._build(task)`` on first use; refuses another task afterwards."""

    name: str
    task: Task | None = None

    def _begin(self, context: AgentContext) -> None:
        """The state every learned agent starts with: its context, its sampling generator (from the seed), no
        task yet and no proposals awaiting verdicts."""
        self.context = context
        self.generator = torch.Generator().manual_seed(context.seed)
        self.task = None
        self.pending = None

    def _build(self, task: Task) -> None:
        raise NotImplementedError

    def _check_task(self, task: Task) -> None:
        if self.task is None:
            self._build(task)
            self.task = task
        elif task is not self.task and task.name != self.task.name:
            raise CompareError(f"this {self.name} agent works on task {self.task.name!r}, not {task.name!r}: "
                               "the harness makes one agent per (seed, task)")


__all__ = ["SingleTaskAgent"]
