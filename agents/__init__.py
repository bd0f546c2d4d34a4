"""Agents for tasm-env: the graph-conditioned policy (:mod:`agents.policy`), the three training stages
(:mod:`agents.pretrain`, :mod:`agents.gflownet` on torchgfn's TB / LPV / RTB / SubTB / DB / TrustPCL,
:mod:`agents.online`), inference that never returns an unverified program (:mod:`agents.compile`) and
evaluation (:mod:`agents.evaluate`). The ``tasm-env train / evaluate / compare`` commands live in
:mod:`agents.cli`; see ``docs/agents.md``. Importing this package imports nothing heavy."""
