"""RL baselines for the comparison (:mod:`agents.compare`), each an ``Agent`` built from an ``AgentContext``:

* ``reinforce``, ``ppo``: torchrl's ``ReinforceLoss`` / ``ClipPPOLoss`` with torchrl's GAE on the GFlowNets'
  own policy network (:mod:`agents.rl.objectives`);
* ``maskable_ppo``: sb3-contrib's ``MaskablePPO`` on the Gymnasium env with the project's graph encoder as its
  features extractor (:mod:`agents.rl.maskable`, :mod:`agents.rl.features`); :mod:`agents.rl.prior` adds the
  shipped pretrained policy as a fixed residual prior of its logits (``benchmarks/maskable_ppo.py --prior``).

``AGENTS`` maps each name to its factory; importing this package imports neither torchrl nor sb3 (the
factories do, when called).
"""

from __future__ import annotations

from typing import Callable

from ..compare.interface import Agent, AgentContext


def _reinforce(context: AgentContext) -> Agent:
    from .objectives import reinforce

    return reinforce(context)


def _ppo(context: AgentContext) -> Agent:
    from .objectives import ppo

    return ppo(context)


def _maskable_ppo(context: AgentContext) -> Agent:
    from .maskable import MaskablePPOAgent

    return MaskablePPOAgent(context)


AGENTS: dict[str, Callable[[AgentContext], Agent]] = {"reinforce": _reinforce, "ppo": _ppo,
                                                      "maskable_ppo": _maskable_ppo}

__all__ = ["AGENTS"]
