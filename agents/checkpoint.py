"""Checkpoints in safetensors: named tensors plus a JSON header, written atomically, never pickle.

A checkpoint holds the weights of each module it was given under a prefix (``policy.``, ``logz.``, ``flow.``,
``prior.``), optionally an optimizer's state (``optim.``; its param groups in the header) and a JSON-able
``meta`` dict (agent, stage, iteration, configs, scores). :func:`load_checkpoint` checks every piece against what
it is loaded into and says what differs. Tensors are saved from any device and read onto the host; loading
copies them onto the device of the module (and optimizer) they go into.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from tasm_env.atomic import atomic_produce
from tasm_env.errors import TasmError

FORMAT = "tasm-env-checkpoint/1"


class CheckpointError(TasmError):
    """A checkpoint could not be written or read, or does not fit what it is loaded into."""


@dataclass
class Checkpoint:
    tensors: dict[str, torch.Tensor]
    meta: dict
    optimizer_groups: list | None

    def module_state(self, prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix) + 1:]: v for k, v in self.tensors.items() if k.startswith(prefix + ".")}

    def has(self, prefix: str) -> bool:
        return any(k.startswith(prefix + ".") for k in self.tensors)


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list]:
    state = optimizer.state_dict()
    tensors = {}
    for index, entries in state["state"].items():
        for name, value in entries.items():
            tensors[f"optim.{index}.{name}"] = torch.as_tensor(value).detach().cpu().clone()
    return tensors, state["param_groups"]


def save_checkpoint(path: str | Path, modules: dict[str, nn.Module | None], meta: dict,
                    optimizer: torch.optim.Optimizer | None = None) -> Path:
    """Write ``modules`` (prefix -> module; None skipped), the optimizer's state and ``meta`` to ``path``
    atomically (temporary file in the same directory, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for prefix, module in modules.items():
        if module is not None:
            for name, value in module.state_dict().items():
                tensors[f"{prefix}.{name}"] = value.detach().cpu().contiguous().clone()  # any device in, host out
    groups = None
    if optimizer is not None:
        optim_tensors, groups = _optimizer_tensors(optimizer)
        tensors.update(optim_tensors)
    header = {"format": FORMAT, "meta": json.dumps(meta), "optimizer_groups": json.dumps(groups)}
    atomic_produce(path, lambda tmp: save_file(tensors, tmp, metadata=header))
    return path


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint file (no code runs: safetensors and JSON only)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        tensors = load_file(str(path))
        from safetensors import safe_open
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is not a safetensors checkpoint: {err}") from None
    if header.get("format") != FORMAT:
        raise CheckpointError(f"{path}: expected format {FORMAT!r}, found {header.get('format')!r}")
    try:
        return Checkpoint(tensors, json.loads(header["meta"]), json.loads(header.get("optimizer_groups", "null")))
    except (KeyError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: its header is damaged ({err})") from None


def load_module(checkpoint: Checkpoint, prefix: str, module: nn.Module) -> None:
    """Load the weights stored under ``prefix`` into ``module``; every name and shape must match."""
    state = checkpoint.module_state(prefix)
    if not state:
        raise CheckpointError(f"the checkpoint holds no {prefix!r} weights (it has: "
                              f"{sorted({k.split('.')[0] for k in checkpoint.tensors})})")
    expected = module.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise CheckpointError(f"the {prefix!r} weights do not fit: missing {missing[:5]}, unexpected "
                              f"{unexpected[:5]}, other shapes {wrong[:5]} (was it saved with another config?)")
    module.load_state_dict(state)


def load_optimizer(checkpoint: Checkpoint, optimizer: torch.optim.Optimizer) -> None:
    """Restore an optimizer saved with :func:`save_checkpoint` (same parameter groups)."""
    if checkpoint.optimizer_groups is None:
        raise CheckpointError("the checkpoint holds no optimizer state")
    state: dict[int, dict] = {}
    for key, value in checkpoint.tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    try:
        optimizer.load_state_dict({"state": state, "param_groups": checkpoint.optimizer_groups})
    except (ValueError, KeyError) as err:
        raise CheckpointError(f"the optimizer state does not fit: {err}") from None


__all__ = ["Checkpoint", "CheckpointError", "load_module", "load_optimizer", "read_checkpoint", "save_checkpoint"]
