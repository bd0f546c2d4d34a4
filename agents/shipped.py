"""Checkpoints shipped inside the package (``agents/data/``), one per suite, and the policies they hold.

    import agents
    policy = agents.pretrained("tasm-basic-v1")              # bound to the suite's test split, on the CPU
    programs = agents.sampling.sample_programs(policy, [0], 8)

Each file is an ordinary stage checkpoint (:mod:`agents.checkpoint`); its meta says how it was trained
(``trained``: command, minutes, date) and under which masking. ``tasm-env evaluate pretrained --suite S``
evaluates the one for suite S.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from tasm_env.errors import TasmError

PRETRAINED = {"tasm-basic-v1": "tasm-basic-v1.safetensors"}
"""Suite name -> checkpoint file in ``agents/data/``."""


class PretrainedError(TasmError):
    """No checkpoint is shipped for the suite asked for (or its file is missing from the installation)."""


def pretrained_path(suite: str = "tasm-basic-v1") -> Path:
    """The shipped checkpoint file for ``suite``."""
    if suite not in PRETRAINED:
        raise PretrainedError(f"no pretrained checkpoint for suite {suite!r}; known suites: "
                              f"{', '.join(sorted(PRETRAINED))}")
    path = Path(str(resources.files("agents") / "data" / PRETRAINED[suite]))
    if not path.is_file():
        raise PretrainedError(f"the pretrained checkpoint for {suite!r} should be at {path}, but it is missing "
                              "(was the package installed without its data files?)")
    return path


def pretrained(suite: str = "tasm-basic-v1", *, split: str = "test", tiers=None, device=None):
    """The :class:`~agents.policy.TasmPolicy` shipped for ``suite``, bound to that suite's ``split`` (the
    tasks of ``tiers``, default all) under the masking it was trained with, on ``device`` (default the CPU).
    Rebind it to other tasks with ``policy.rebind(env)``."""
    from tasm_env.tasks.suite import load_suite

    from .pipeline import load_policy, split_tasks

    path = pretrained_path(suite)
    policy, _ = load_policy(path, split_tasks(load_suite(suite), split, tiers), device)
    policy.eval()
    return policy


__all__ = ["PRETRAINED", "PretrainedError", "pretrained", "pretrained_path"]
