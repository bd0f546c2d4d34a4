"""The graph-conditioned policy: a torch-geometric encoder over the task's TIR graph and a causal transformer
decoder over the emitted prefix that cross-attends to the graph's node embeddings.

    from agents.policy import PolicyConfig, TasmPolicy
    env = TasmGFNEnv(suite="tasm-basic-v1", split="train", masking="dataflow")
    pf = TasmPolicy(env, PolicyConfig())                      # a torchgfn ConditionalDiscretePolicyEstimator
    gflownet = TBGFlowNet(pf=pf, pb=None, logZ=graph_logz(env), constant_pb=True)

This module holds the torchgfn estimators (:class:`TasmPolicy`, :class:`TasmFlow`, :func:`graph_logz`), their
binding to envs (:func:`bound_to`, :func:`rebind_all`) and devices (:func:`resolve_device`), and gives every
name of the policy's parts, each of which has its own module:

* :mod:`agents.policy_config`: the sizes (:class:`PolicyConfig`), :class:`PolicyError`, :func:`has_value_state`;
* :mod:`agents.policy_states`: what the policy reads from a state (:class:`StateFeatures`, :func:`pack_state`,
  :func:`unpack`);
* :mod:`agents.policy_encoder`: the graph encoder and the per-task node memory (:class:`TaskGraphs`);
* :mod:`agents.policy_decoder`: the causal prefix decoder and its key/value caches;
* :mod:`agents.policy_network`: encoder + decoder + state features + value readout + head
  (:class:`PolicyNetwork`).

**Outputs** are logits in torchgfn's action order (token ``i + 1`` is action ``i``, exit last). Task-specific
tables (graphs, input counts) are *bound* to an env, parameters are not: :meth:`TasmPolicy.rebind` moves a
trained policy to another env (say the test split) without touching its weights.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from gfn.estimators import ConditionalDiscretePolicyEstimator, ConditionalLogZEstimator, ConditionalScalarEstimator
from gfn.states import DiscreteStates
from torch import nn

from tasm_env.envs.gfn import TasmGFNEnv

from .policy_config import PolicyConfig, PolicyError, has_value_state
from .policy_decoder import MAX_DEPTH, DecoderLayer, PrefixDecoder, select_cache_rows
from .policy_encoder import GraphEncoder, Memory, TaskGraphs
from .policy_network import PolicyNetwork, ValueReadout
from .policy_states import (N_NUMBERS, ORIGINS, SLOT_CLASSES, SLOTS, StateFeatures, Unpacked, pack_state,
                            state_features, unpack, value_columns)


def condition_task_ids(conditions: torch.Tensor) -> torch.Tensor:
    """Task ids (N,) from torchgfn conditions (..., 1): the float task id, rounded."""
    return conditions.reshape(-1, conditions.shape[-1])[:, 0].round().long()


class _BoundEstimator:
    """What the policy and the flow estimator share: binding to an env, the per-iteration encoding cache."""

    module: PolicyNetwork

    def _forward_trunk(self, states: DiscreteStates, conditions: torch.Tensor) -> torch.Tensor:
        packed = self.preprocessor(states)
        out = self.module(packed, condition_task_ids(conditions))
        # torchgfn combines the outputs with the states' masks: hand them back where the states live
        return out.reshape(*states.batch_shape, out.shape[-1]).to(states.device)

    def rebind(self, env: TasmGFNEnv) -> None:
        """Use the same weights on another env's tasks (its vocabulary must be the same)."""
        self.module.bind(env)
        self.preprocessor = StateFeatures(env)

    @property
    def env(self) -> TasmGFNEnv:
        return self.module.env

    @property
    def device(self) -> torch.device:
        """Where the network runs (move it with ``.to(device)``)."""
        return self.module.device

    def encoding_cache(self):
        """Context manager: embed each task's graph at most once inside (one training iteration)."""
        return self.module.graphs.cached()


class TasmPolicy(_BoundEstimator, ConditionalDiscretePolicyEstimator):
    """The forward policy as a torchgfn ``ConditionalDiscretePolicyEstimator`` (the condition is the task id).
    ``device``: where the network runs (default the CPU; see :func:`resolve_device`)."""

    def __init__(self, env: TasmGFNEnv, config: PolicyConfig | None = None,
                 device: torch.device | str | None = None):
        self.config = (config or PolicyConfig()).resolved(env)
        network = PolicyNetwork(env, self.config, out_dim=env.n_actions)
        super().__init__(network, nn.Identity(), nn.Identity(), env.n_actions, preprocessor=StateFeatures(env))
        self.to(resolve_device(device))


class TasmFlow(_BoundEstimator, ConditionalScalarEstimator):
    """A state flow log F(s | task) for DB and SubTB, with the policy's architecture and one output."""

    def __init__(self, env: TasmGFNEnv, config: PolicyConfig | None = None,
                 device: torch.device | str | None = None):
        self.config = (config or PolicyConfig()).resolved(env)
        network = PolicyNetwork(env, self.config, out_dim=1)
        super().__init__(network, nn.Identity(), nn.Identity(), preprocessor=StateFeatures(env))
        self.to(resolve_device(device))


def resolve_device(device: torch.device | str | None) -> torch.device:
    """``None`` -> the CPU; ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"meta"``, ... -> that device, checked: CUDA
    must be present. The networks run there; the env's states, masks and rewards stay on the host."""
    if device is None:
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise PolicyError(f"device must be a torch device such as 'cpu' or 'cuda:0', got {device!r}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise PolicyError(f"device {device!r}: CUDA is not available here (torch {torch.__version__}); use 'cpu'")
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise PolicyError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) here")
    return resolved


class GraphLogZ(nn.Module):
    """log Z(task): a small graph encoder, mean/max pooled, then a linear map."""

    def __init__(self, env: TasmGFNEnv, config: PolicyConfig | None = None):
        super().__init__()
        config = config or PolicyConfig()
        small = PolicyConfig(d_model=config.d_model // 2 if config.d_model >= 2 * config.heads else config.d_model,
                             heads=config.heads, gnn_layers=2, decoder_layers=1, d_ff=config.d_ff,
                             edge_dim=config.edge_dim)
        self.graphs = TaskGraphs(small)
        self.out = nn.Linear(small.d_model, 1)
        self.input_dim = 1  # torchgfn's ConditionalLogZEstimator checks it
        self.bind(env)

    def bind(self, env: TasmGFNEnv) -> None:
        self.env = env
        self.graphs.bind(env.tasks)

    def forward(self, conditions: torch.Tensor) -> torch.Tensor:
        return self.out(self.graphs.memory(condition_task_ids(conditions)).pooled).to(conditions.device)


def graph_logz(env: TasmGFNEnv, config: PolicyConfig | None = None) -> ConditionalLogZEstimator:
    """The conditional log Z estimator (its own small graph encoder)."""
    return ConditionalLogZEstimator(GraphLogZ(env, config))


def rebind_all(env: TasmGFNEnv, *modules) -> None:
    """Bind every given estimator (policy, flow, log Z; None is skipped) to ``env``'s tasks."""
    for module in modules:
        if module is None:
            continue
        if isinstance(module, _BoundEstimator):
            module.rebind(env)
        elif isinstance(module, ConditionalLogZEstimator) and isinstance(module.module, GraphLogZ):
            module.module.bind(env)
        else:
            raise PolicyError(f"cannot bind a {type(module).__name__} to an env")


@contextlib.contextmanager
def bound_to(env: TasmGFNEnv, *modules) -> Iterator[None]:
    """Inside, the given estimators (policy, flow, log Z) work on ``env``'s tasks; afterwards on their own again."""
    previous = [_env_of(m) for m in modules]
    rebind_all(env, *modules)
    try:
        yield
    finally:
        for module, old in zip(modules, previous):
            if module is not None and old is not None:
                rebind_all(old, module)


def _env_of(module) -> TasmGFNEnv | None:
    if isinstance(module, _BoundEstimator):
        return module.env
    if isinstance(module, ConditionalLogZEstimator) and isinstance(module.module, GraphLogZ):
        return module.module.env
    return None


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)



__all__ = ["MAX_DEPTH", "N_NUMBERS", "ORIGINS", "SLOTS", "SLOT_CLASSES", "DecoderLayer", "GraphEncoder", "GraphLogZ",
           "Memory", "PolicyConfig", "PolicyError", "PolicyNetwork", "PrefixDecoder", "StateFeatures",
           "TaskGraphs", "TasmFlow", "TasmPolicy", "Unpacked", "ValueReadout", "bound_to", "condition_task_ids",
           "count_parameters", "graph_logz", "has_value_state", "pack_state", "rebind_all", "resolve_device",
           "select_cache_rows", "state_features", "unpack", "value_columns"]
