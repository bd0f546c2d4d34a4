"""The policy's sizes (:class:`PolicyConfig`) and its error (:class:`PolicyError`), and whether an env carries
the value state the policy can read (:func:`has_value_state`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from tasm_env.envs.gfn import TasmGFNEnv
from tasm_env.errors import TasmError


class PolicyError(TasmError):
    """A policy was configured or used wrongly (sizes, envs, checkpoints)."""


@dataclass(frozen=True)
class PolicyConfig:
    """Sizes of :class:`~agents.policy.TasmPolicy`. The default (about 150k parameters) trains on a 2-core CPU."""

    d_model: int = 64
    heads: int = 4
    gnn_layers: int = 3
    decoder_layers: int = 2
    d_ff: int = 128
    edge_dim: int = 16
    dropout: float = 0.0
    value_features: bool | None = None
    """Read the env's value state (``slot_nodes``, ``outputs_ready``): ``None`` = yes iff the env carries one
    (``masking="dataflow"``); resolved to a bool when a network is built, and recorded so in checkpoints."""

    def __post_init__(self):
        if self.d_model % self.heads:
            raise PolicyError(f"d_model ({self.d_model}) must be a multiple of heads ({self.heads})")
        for name in ("d_model", "heads", "gnn_layers", "decoder_layers", "d_ff", "edge_dim"):
            if getattr(self, name) < 1:
                raise PolicyError(f"{name} must be a positive integer, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "PolicyConfig":
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise PolicyError(f"unknown policy config keys {sorted(unknown)}; expected {sorted(cls.__dataclass_fields__)}")
        # a config written before the value features existed describes a network without them
        return cls(**{"value_features": False, **data})

    def resolved(self, env: TasmGFNEnv) -> "PolicyConfig":
        """This config with ``value_features`` decided for ``env`` (on iff the env carries a value state)."""
        if self.value_features is None:
            return replace(self, value_features=has_value_state(env))
        return self


def has_value_state(env: TasmGFNEnv) -> bool:
    """Does the env's machine carry the value state (``masking="dataflow"`` or ``value_state=True``)?"""
    return env.machine.values is not None


__all__ = ["PolicyConfig", "PolicyError", "has_value_state"]
