"""Agents for tasm-env: the graph-conditioned policy (:mod:`agents.policy`), the three training stages
(:mod:`agents.pretrain`, :mod:`agents.gflownet` on torchgfn's TB / LPV / RTB / SubTB / DB / TrustPCL,
:mod:`agents.online`), inference that never returns an unverified program (:mod:`agents.best`) and
evaluation (:mod:`agents.evaluate`). The ``tasm-env train / evaluate / compare`` commands live in
:mod:`agents.commands` (a ``tasm_env.commands`` entry point); see ``docs/agents.md``. A trained policy ships
with the package: ``agents.pretrained("tasm-basic-v1")`` (:mod:`agents.shipped`). Importing this package
imports nothing heavy."""

from tasm_env.moved import alias_moved

alias_moved({"agents.compile": "agents.best", "agents.cli": "agents.commands"})  # old names, deprecated


def pretrained(suite: str = "tasm-basic-v1", *, split: str = "test", tiers=None, device=None):
    """The policy shipped for ``suite``, bound to its ``split``, on ``device`` (see :func:`agents.shipped.pretrained`);
    an unknown suite raises a TasmError listing the known ones."""
    from .shipped import pretrained as load

    return load(suite, split=split, tiers=tiers, device=device)
