"""Potentials for the Gymnasium env's dense credit (potential-based shaping, Ng, Harada and Russell 1999).

    phi = potential("progress", task)          # a Potential: phi(facts, depth) in [0, 1]
    credit = gamma * phi(facts', depth') - phi(facts, depth)     # per step; Phi = 0 once the episode is over

A potential is a function of the state only: of the prefix's value facts
(:class:`~tasm_env.emission.values.ValueFacts`, themselves a function of (task, prefix)) and the live depth.
With the shaping ``F = gamma * Phi(s') - Phi(s)`` and ``Phi = 0`` after the last step, an episode's discounted
return changes by ``-Phi(s0)``, a constant per task, whatever the actions: a policy optimal for the shaped
reward is optimal for the plain one, provided ``gamma`` is the learner's discount.

* ``"ready"``: the share of output positions ready (``ValueFacts.ready_share``).
* ``"progress"``: 0 on a ``lost`` prefix (no continuation can verify); else the mean of three parts in [0, 1]:
  how far the stack has got towards each output through the task graph (for each TIR output, 1 if it is
  ready, else the best of the top slots' nodes (``slot_nodes``): 1 for the output's own node,
  ``level(n) / level(output)`` for one of its ancestors, with ``level`` the longest path from a node without
  arguments, 0 otherwise; averaged over the outputs), the share of output positions ready,
  and how close the live depth is to the final arity (``1 - |depth - arity| / max(arity, depth, 1)``). It is 1
  exactly when every output is ready and the depth is the arity.
* ``"reach"``: ``"progress"`` without its live-depth part: the mean of the graph progress and the share ready
  (0 on a lost prefix).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import ConfigError
from ..emission.values import ValueFacts
from ..tasks.task import Task

POTENTIALS = ("ready", "progress", "reach")

Potential = Callable[[ValueFacts, int], float]
"""``phi(facts, live_depth)`` in [0, 1]."""


def output_progress(task: Task) -> np.ndarray:
    """(nodes, outputs) float: entry [n, j] is how far node n is along the way to TIR output j: 1 for the
    output's own node, ``level(n) / level(output)`` for one of its ancestors, 0 otherwise."""
    nodes = task.tir.nodes
    level = np.zeros(len(nodes), dtype=np.int64)
    ancestors: list[set[int]] = []
    for i, node in enumerate(nodes):  # arguments refer to earlier nodes
        parents = {ref.node for ref in node.args}
        level[i] = 1 + max((level[p] for p in parents), default=-1)
        ancestors.append(set().union(parents, *(ancestors[p] for p in parents)))
    table = np.zeros((len(nodes), len(task.tir.outputs)), dtype=np.float64)
    for j, ref in enumerate(task.tir.outputs):
        o = ref.node
        for n in ancestors[o]:
            table[n, j] = level[n] / max(level[o], 1)
        table[o, j] = 1.0
    return table


def progress_potential(task: Task, shape: bool = True) -> Potential:
    """The ``"progress"`` potential of ``task`` (see the module docstring). ``shape=False``: the mean of the
    first two parts only (graph progress and share ready; the live depth left out), what
    :mod:`tasm_env.envs.lookahead`'s ``reach`` feature differences."""
    table = output_progress(task)

    def phi(facts: ValueFacts, depth: int) -> float:
        if facts.lost:
            return 0.0
        arity = len(facts.outputs_ready)
        if not table.shape[1]:
            reach = 1.0
        else:
            held = facts.slot_nodes[facts.slot_nodes >= 0]
            best = table[held].max(0) if len(held) else np.zeros(table.shape[1])
            if arity == table.shape[1]:  # output j (deepest first) is st_(arity - 1 - j): ready counts as reached
                best = np.maximum(best, facts.outputs_ready[::-1])
            reach = float(best.mean())
        if not shape:
            return (reach + facts.ready_share) / 2.0
        closeness = 1.0 - min(abs(depth - arity) / max(arity, depth, 1), 1.0)
        return (reach + facts.ready_share + closeness) / 3.0

    return phi


def ready_potential(facts: ValueFacts, depth: int) -> float:
    """The ``"ready"`` potential: the share of output positions ready."""
    return facts.ready_share


def potential(kind: str, task: Task) -> Potential:
    """The potential named ``kind`` (one of :data:`POTENTIALS`) for ``task``."""
    if kind == "ready":
        return ready_potential
    if kind == "progress":
        return progress_potential(task)
    if kind == "reach":
        return progress_potential(task, shape=False)
    raise ConfigError(f"dense_credit must be False, True (= 'ready') or one of {POTENTIALS}, got {kind!r}")


__all__ = ["POTENTIALS", "Potential", "output_progress", "potential", "progress_potential", "ready_potential"]
