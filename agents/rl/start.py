"""Where a learned RL agent's policy starts: ``AgentContext.checkpoint`` if given, else the package's shipped
pretrained policy for the suite (``agents.pretrained(suite)``, where the installed version has one), else a fresh
:class:`~agents.policy.TasmPolicy` initialised from the seed (sizes: ``options["policy_config"]``, a
:class:`~agents.policy.PolicyConfig` dict, default the default config). The weights do not depend on the env: the policy
is built for (bound to) the single task the agent works on."""

from __future__ import annotations

from pathlib import Path

import torch

from tasm_env.envs.gfn import TasmGFNEnv
from tasm_env.errors import TasmError

from ..checkpoint import load_module, read_checkpoint
from ..compare.interface import AgentContext
from ..policy import PolicyConfig, TasmPolicy


def pretrained_checkpoint(suite: str) -> Path | None:
    """The shipped checkpoint for ``suite``, or None when this version of the package has none."""
    import agents

    finder = getattr(agents, "pretrained", None)
    if finder is None:
        return None
    try:
        found = finder(suite)
    except TasmError:  # no pretrained policy for this suite
        return None
    return None if found is None else Path(found)


def initial_policy(env: TasmGFNEnv, context: AgentContext) -> tuple[TasmPolicy, str]:
    """The starting policy on ``env`` and where it came from (a path, or ``"fresh"``)."""
    path = Path(context.checkpoint) if context.checkpoint is not None else pretrained_checkpoint(context.suite)
    if path is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(context.seed)
            config = PolicyConfig.from_dict(context.options.get("policy_config", {}))
            return TasmPolicy(env, config, device=context.device), "fresh"
    checkpoint = read_checkpoint(path)
    policy = TasmPolicy(env, PolicyConfig.from_dict(checkpoint.meta["policy_config"]), device=context.device)
    load_module(checkpoint, "policy", policy)
    return policy, str(path)


__all__ = ["initial_policy", "pretrained_checkpoint"]
