"""The bundled agents of the comparison, registered by name (imported on first use of the registry).

Search: ``random``, ``mcmc``, ``exact``, ``beam`` (:mod:`agents.compare.search`); GFlowNets: ``tb, lpv, rtb, rlpv,
subtb, db, trustpcl`` (:mod:`agents.compare.gfn`); RL: whatever ``agents.rl.AGENTS`` offers (``reinforce``,
``ppo``, ``maskable_ppo``), when that package is installed. Nothing heavy is imported until an agent is made."""

from __future__ import annotations

import importlib

from .interface import AgentContext, register


def _search(kind: str):
    def make(context: AgentContext):
        from . import search

        return getattr(search, kind)(context)

    return make


def _gflownet(objective: str):
    def make(context: AgentContext):
        from .gfn import GFlowNetAgent

        return GFlowNetAgent(context, objective)

    return make


for _name, _kind in (("random", "RandomLegal"), ("mcmc", "Mcmc"), ("exact", "Exact"), ("beam", "Beam")):
    register(_name, _search(_kind))
for _objective in ("tb", "lpv", "rtb", "rlpv", "subtb", "db", "trustpcl"):  # agents.gflownet.AGENTS (not imported: torch)
    register(_objective, _gflownet(_objective))

try:
    _rl = importlib.import_module("agents.rl")
except ImportError:  # the RL agents are not part of this installation
    _rl = None
for _name, _factory in (getattr(_rl, "AGENTS", None) or {}).items():
    register(_name, _factory)
