"""Agents for tasm-env: the graph-conditioned policy (:mod:`agents.policy`), the three training stages
(:mod:`agents.pretrain`, :mod:`agents.gflownet` on torchgfn's TB / LPV / RTB / SubTB / DB / TrustPCL,
:mod:`agents.online`), inference that never returns an unverified program (:mod:`agents.best`) and
evaluation (:mod:`agents.evaluate`). The ``tasm-env train / evaluate / compare`` commands live in
:mod:`agents.commands` (a ``tasm_env.commands`` entry point); see ``docs/agents.md``. Importing this package
imports nothing heavy."""

from tasm_env.moved import alias_moved

alias_moved({"agents.compile": "agents.best", "agents.cli": "agents.commands"})  # old names, deprecated
