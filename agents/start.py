"""Where a learned agent's policy starts (the GFlowNet and RL agents of the comparison alike):
``AgentContext.checkpoint`` if given (``"fresh"``: new weights), else the package's shipped pretrained policy for
the suite, else a fresh :class:`~agents.policy.TasmPolicy` initialised from the seed (sizes:
``options["policy_config"]``, a :class:`~agents.policy.PolicyConfig` dict)."""

from __future__ import annotations

from pathlib import Path

import torch

from tasm_env.envs.gfn import TasmGFNEnv
from tasm_env.errors import TasmError

from .checkpoint import load_module, read_checkpoint
from .compare.interface import AgentContext
from .policy import PolicyConfig, TasmPolicy

FRESH = "fresh"
MASKING = "dataflow"  # the masks every agent of the comparison works under (EOS only where the probes match)


def pretrained_checkpoint(suite: str) -> Path | None:
    """The checkpoint file shipped for ``suite`` (``agents.shipped.pretrained_path``), or None where this
    version of the package has none."""
    try:
        from agents.shipped import pretrained_path
    except ImportError:  # a version without shipped checkpoints
        return None
    try:
        return Path(pretrained_path(suite))
    except TasmError:  # none for this suite, or its file is missing
        return None


def initial_policy(env: TasmGFNEnv, context: AgentContext) -> tuple[TasmPolicy, str]:
    """The starting policy on ``env`` and where it came from (a checkpoint path, or ``"fresh"``)."""
    path = None
    if context.checkpoint != FRESH:
        path = Path(context.checkpoint) if context.checkpoint else pretrained_checkpoint(context.suite)
    if path is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(context.seed)
            config = PolicyConfig.from_dict(context.options.get("policy_config", {}))
            return TasmPolicy(env, config, device=context.device), FRESH
    checkpoint = read_checkpoint(path)
    policy = TasmPolicy(env, PolicyConfig.from_dict(checkpoint.meta["policy_config"]), device=context.device)
    load_module(checkpoint, "policy", policy)
    return policy, str(path)


def task_env(task) -> TasmGFNEnv:
    """The torchgfn env of one task under the comparison's masks (a learned agent works on one task)."""
    return TasmGFNEnv(tasks=[task], suite=None, masking=MASKING)


__all__ = ["FRESH", "MASKING", "initial_policy", "pretrained_checkpoint", "task_env"]
