"""One-step lookahead over the value state: the facts of every legal child of a prefix, as per-action features
and as a sound mask rule (the Gymnasium env's ``lookahead`` and ``mask_lost`` options).

    look = Lookahead(values, tasks, vocab)                       # values: the env's ValueModel
    feats = look.features(task_index, tokens, depth, mask)      # (V, len(ACTION_FEATURES)) float32
    lost = look.lost_children(task_index, tokens, mask)         # (V,) bool: the child is proven lost

For a prefix ``p`` and each legal token ``a`` (``mask[a]``), the child ``p + a`` is evaluated on the probes
(:meth:`~tasm_env.emission.values.ValueModel.facts_many`, all children of one prefix in one call). Per action
(:data:`ACTION_FEATURES`, 0 on every masked action):

* ``legal``: 1 (the action is legal);
* ``gain``: ``Phi(p + a) - Phi(p)`` with ``Phi`` the ``progress`` potential (:mod:`tasm_env.envs.potential`);
  for EOS, ``1 - Phi(p)`` if the block matches the baseline on the probes (``eos_ok``), else ``-Phi(p)``;
* ``reach``: the same difference of the ``progress`` potential without its live-depth part
  (``progress_potential(task, shape=False)``: graph progress and share ready only); EOS as for ``gain``;
* ``lost``: the child is *doomed*: ``lost`` (no continuation of it can verify, see
  :mod:`tasm_env.emission.values`), or the action starts the Tip5 sponge (``isa``'s ``sponge == "starts"``)
  while the baseline never does (no instruction un-initialises the sponge, and the verifier rejects a block
  whose sponge is initialised where the baseline's is not); never for EOS;
* ``matches``: EOS would match next: the child as a whole block matches the baseline on the probes (``eos_ok``);
  for EOS, the prefix itself does;
* ``needed``: the child's st0 holds (``slot_nodes[0]``) a task-graph node that some TIR output needs (the
  output or one of its ancestors, not an input) and that no slot of the window held before.

**The mask rule** (``mask_lost``): an action whose child is doomed is masked, unless that leaves no legal
action (then the mask is unchanged: the budget forces the end, as under ``dataflow``). It is sound exactly as
far as ``lost`` is: ``lost`` means that no continuation of the child verifies on the probes, and a block with a
sponge its baseline lacks never verifies, so a doomed child is a prefix of no program that verifies, and a
prefix of a verifying program (within the budget) is never masked.
EOS is never masked by it. It subsumes ``dataflow``'s losing-``pop`` rule (a ``pop n`` with ``pop_loses[n]``
leads to a ``lost`` child).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import isa
from ..emission.values import ValueFacts, ValueModel
from ..emission.vocab import EOS, Vocabulary
from ..tasks.task import Task
from .potential import output_progress, progress_potential

__all__ = ["ACTION_FEATURES", "Lookahead", "restrict_lost"]

ACTION_FEATURES = ("legal", "gain", "reach", "lost", "matches", "needed")
"""The per-action features' names, in column order."""


def restrict_lost(mask: np.ndarray, lost: np.ndarray) -> np.ndarray:
    """``mask`` (V,) with the actions whose child is lost (``lost`` (V,)) masked, unless none would be left."""
    narrowed = mask & ~lost
    return narrowed if narrowed.any() else mask.copy()


class Lookahead:
    """Children's facts of prefixes of ``tasks`` (in the env's task order) under ``values``."""

    def __init__(self, values: ValueModel, tasks: Sequence[Task], vocab: Vocabulary):
        self.values = values
        self.delta = np.asarray(vocab.delta, dtype=np.int64)
        self.size = len(vocab)
        self.starts_sponge = np.array([getattr(isa.BY_NAME.get(str(m)), "sponge", None) == "starts"
                                       for m in vocab.mnemonic], dtype=bool)
        self._sponge_free: dict[int, bool] = {}
        self._tasks = list(tasks)
        self._phi: dict[int, tuple] = {}
        self._needed: dict[int, np.ndarray] = {}

    def potentials(self, task: int) -> tuple:
        """Task ``task``'s ``progress`` potential with and without its live-depth part (built on first use)."""
        phi = self._phi.get(task)
        if phi is None:
            t = self._tasks[task]
            phi = self._phi[task] = (progress_potential(t), progress_potential(t, shape=False))
        return phi

    def needed_nodes(self, task: int) -> np.ndarray:
        """(nodes,) bool: the TIR nodes some output needs (an output or one of its ancestors), inputs excluded."""
        needed = self._needed.get(task)
        if needed is None:
            t = self._tasks[task]
            needed = (output_progress(t) > 0).any(1)
            needed &= np.array([node.op != "input" for node in t.tir.nodes], dtype=bool)
            self._needed[task] = needed
        return needed

    def sponge_free(self, task: int) -> bool:
        """The baseline never initialises the sponge (on the probes: its final sponge is None)."""
        free = self._sponge_free.get(task)
        if free is None:
            free = self._sponge_free[task] = self.values.probes(task).base.sponge is None
        return free

    def doomed(self, task: int, actions: np.ndarray, facts: Sequence[ValueFacts]) -> np.ndarray:
        """(len(actions),) bool: the child of each action is doomed (``lost``, or a sponge the baseline lacks)."""
        lost = np.array([f.lost for f in facts], dtype=bool)
        if self.sponge_free(task):
            lost |= self.starts_sponge[actions]
        return lost

    def children(self, task: int, tokens: Sequence[int], mask: np.ndarray) -> tuple[np.ndarray, list[ValueFacts]]:
        """The legal instruction tokens (EOS left out) and their children's facts, in one call."""
        actions = np.flatnonzero(mask)
        actions = actions[actions != EOS]
        prefix = tuple(int(t) for t in tokens)
        facts = self.values.facts_many([(task, prefix + (int(a),)) for a in actions.tolist()]) if len(actions) else []
        return actions, facts

    def lost_children(self, task: int, tokens: Sequence[int], mask: np.ndarray) -> np.ndarray:
        """(V,) bool: legal actions whose child is ``lost``."""
        actions, facts = self.children(task, tokens, mask)
        lost = np.zeros(self.size, dtype=bool)
        lost[actions] = self.doomed(task, actions, facts)
        return lost

    def features(self, task: int, tokens: Sequence[int], depth: int, mask: np.ndarray) -> np.ndarray:
        """(V, len(ACTION_FEATURES)) float32: the per-action features of the prefix (see the module docstring)."""
        out = np.zeros((self.size, len(ACTION_FEATURES)), dtype=np.float32)
        phi, reach = self.potentials(task)
        here = self.values.facts(task, [int(t) for t in tokens])
        now, near = phi(here, depth), reach(here, depth)
        if mask[EOS]:
            end = 1.0 if here.eos_ok else 0.0
            out[EOS] = (1.0, end - now, end - near, 0.0, float(here.eos_ok), 0.0)
        actions, facts = self.children(task, tokens, mask)
        if not len(actions):
            return out
        needed = self.needed_nodes(task)
        held = set(here.slot_nodes[here.slot_nodes >= 0].tolist())
        after = depth + self.delta[actions]
        doomed = self.doomed(task, actions, facts)
        for a, f, d, gone in zip(actions.tolist(), facts, after.tolist(), doomed.tolist()):
            top = int(f.slot_nodes[0])
            fresh = top >= 0 and bool(needed[top]) and top not in held
            out[a] = (1.0, phi(f, d) - now, reach(f, d) - near, float(gone), float(f.eos_ok), float(fresh))
        return out
