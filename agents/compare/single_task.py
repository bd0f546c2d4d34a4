"""What the learned agents (GFlowNet and RL) share: one instance works on one task (the harness makes one agent per (seed, task)),
and its networks and env are built on the first call, when the task is known; and how their draws become
proposals (``options["decode"]``):

* ``"sample"`` (default): the sampled blocks themselves;
* ``"complete"``: each draw finished by stack moves (:func:`agents.complete.complete_each`: the draw's shortest
  legal completion of any of its prefixes, or the draw itself when none exists), one proposal per draw. The
  agent then learns from the completed blocks (replayed into a rollout, :func:`agents.sampling.replay`), since
  those are what the harness scored; every one still goes through the run's ``ScoringBudget`` and counts."""

from __future__ import annotations

from tasm_env.tasks.task import Task

import torch

from .interface import AgentContext, CompareError

DECODES = ("sample", "complete")


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
        self.decode = decode_option(context)

    def _decoded(self, drawn):
        """The rollout whose blocks are proposed and learned from: ``drawn`` itself, or under
        ``decode="complete"`` its blocks completed (see the module docstring)."""
        if self.decode == "sample":
            return drawn
        from ..complete import complete_each
        from ..sampling import replay

        return replay(drawn.env, drawn.task, complete_each(drawn.env, 0, drawn.programs()))

    def _build(self, task: Task) -> None:
        raise NotImplementedError

    def _check_task(self, task: Task) -> None:
        if self.task is None:
            self._build(task)
            self.task = task
        elif task is not self.task and task.name != self.task.name:
            raise CompareError(f"this {self.name} agent works on task {self.task.name!r}, not {task.name!r}: "
                               "the harness makes one agent per (seed, task)")


def decode_option(context: AgentContext) -> str:
    """``context.options["decode"]`` (default ``"sample"``), checked."""
    decode = str(context.options.get("decode", "sample"))
    if decode not in DECODES:
        raise CompareError(f"unknown decode {decode!r}; expected one of {', '.join(DECODES)}")
    return decode


__all__ = ["DECODES", "SingleTaskAgent", "decode_option"]
