"""The environments, both thin over the emission core (:mod:`tasm_env.emission`):

* :class:`tasm_env.envs.gfn.TasmGFNEnv`: a torchgfn ``DiscreteEnv`` (batched tensors, conditioned on the task);
* :class:`tasm_env.envs.gym.TasmEmitEnv`: a Gymnasium env (one episode per task, ``action_masks()``),
  registered as ``tasm_env/TasmEmit-v0``;
* :class:`tasm_env.envs.vector.TasmEmitVectorEnv`: its natively batched vector env (the id's
  ``vector_entry_point``: ``gymnasium.make_vec(GYM_ID, num_envs=N)``).

Importing this package (``import tasm_env`` does) only registers the Gymnasium env: the env modules import
torch, torchgfn and gymnasium when first used (``from tasm_env.envs.gfn import TasmGFNEnv``, or an attribute of
this package: ``tasm_env.envs.TasmGFNEnv``).
"""

from __future__ import annotations

from typing import Any

from . import fork

fork.install()  # AsyncVectorEnv's forked workers: one torch thread, so they cannot hang (see envs/fork.py)

GYM_ID = "tasm_env/TasmEmit-v0"
"""The Gymnasium id of :class:`~tasm_env.envs.gym.TasmEmitEnv`."""
GYM_ENTRY_POINT = "tasm_env.envs.gym:TasmEmitEnv"
GYM_VECTOR_ENTRY_POINT = "tasm_env.envs.vector:TasmEmitVectorEnv"

_LAZY = {
    "TasmGFNEnv": "gfn", "TasmFeatures": "preprocess", "TaskEncoder": "estimators", "mlp_policy": "estimators",
    "logz_estimator": "estimators", "tokens_to_actions": "gfn", "actions_to_tokens": "gfn",
    "TasmEmitEnv": "gym", "IllegalActionError": "gym", "TasmEmitVectorEnv": "vector",
    "TasmStatePreprocessor": "preprocess",
}


def register_envs() -> None:
    """Register ``tasm_env/TasmEmit-v0`` with Gymnasium (once; a no-op without gymnasium). Also the
    ``gymnasium.envs`` entry point of the distribution, for Gymnasium versions that load plugins."""
    try:
        import gymnasium
    except ImportError:  # gymnasium is a dependency; stay importable without it all the same
        return
    if GYM_ID not in gymnasium.registry:
        gymnasium.register(id=GYM_ID, entry_point=GYM_ENTRY_POINT, vector_entry_point=GYM_VECTOR_ENTRY_POINT)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tasm_env.envs' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = ["GYM_ID", "register_envs", *_LAZY]
