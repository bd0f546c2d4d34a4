"""What the policy reads from a state, as one long tensor per state: :class:`StateFeatures` (torchgfn's
preprocessor), :func:`pack_state` (the packing, shared with the samplers) and :func:`unpack` (back to named
parts, :class:`Unpacked`). The layout's sizes (:data:`SLOTS`, :data:`SLOT_CLASSES`, :data:`ORIGINS`,
:data:`N_NUMBERS`) live here."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from gfn.preprocessors import Preprocessor
from gfn.states import DiscreteStates

from tasm_env.envs.gfn import TasmGFNEnv
from tasm_env.emission.state import CONTEXT, ORIGIN, PAD, EmissionState

from .policy_config import PolicyError, has_value_state

SLOTS = 16  # stack slots whose types the policy sees
SLOT_CLASSES = 4  # field, u32, bool, context
ORIGINS = SLOTS + 1  # which input a slot still holds untouched (0..15), or none
N_NUMBERS = 7  # budget left, live depth, four I/O counters, sponge flag


class StateFeatures(Preprocessor):
    """Packs what the policy reads from a state into one long tensor (..., max_len + 8 + 64): the prefix
    (padding -1), its length, live depth, budget left, the four I/O counters, the sponge flag, the top 16
    slot types and, for each of those slots, which of the block's inputs it holds untouched (copied or moved
    by dup / swap / pick / place, not computed), if any: what a compiler needs to know to fetch an operand;
    then the value state (:func:`value_columns`): the task-graph node each top slot holds on the probes and
    which outputs are ready. Robust to torchgfn's sink rows (garbage in, clamped values out)."""

    def __init__(self, env: TasmGFNEnv):
        self.env = env
        super().__init__(output_dim=None)

    def preprocess(self, states: DiscreteStates) -> torch.Tensor:
        packed = pack_state(self.env, self.env.emission_state(states))
        return packed.reshape(*states.batch_shape, packed.shape[-1])


def value_columns(env: TasmGFNEnv, state: EmissionState) -> torch.Tensor:
    """(B, 32) long: ``slot_nodes`` (the task-graph node index each of the top 16 slots holds on the probes,
    st0 first, -1 for none) then ``outputs_ready`` (0/1 per output position); -1 and 0 throughout when the env
    carries no value state (a policy built with ``value_features`` refuses such an env)."""
    if not has_value_state(env):
        return torch.cat([torch.full((len(state), SLOTS), -1, dtype=torch.long),
                          torch.zeros(len(state), SLOTS, dtype=torch.long)], dim=1)
    machine = env.machine
    return torch.cat([machine.slot_nodes(state).long(), machine.outputs_ready(state).long()], dim=1)


def pack_state(env: TasmGFNEnv, state: EmissionState) -> torch.Tensor:
    """The (B, max_len + 8 + 64) long features of :class:`StateFeatures` for a batch of emission states."""
    return torch.cat(_columns(env, state), dim=1)


def state_features(env: TasmGFNEnv, state: EmissionState) -> "Unpacked":
    """``unpack(pack_state(env, state), env.max_len)`` without the packing: the same values, for a caller that
    reads them at once (the beam's cached steps)."""
    tokens, numbers, types, origin, values = _columns(env, state)
    return _unpacked(tokens, numbers, types, origin, values)


def _columns(env: TasmGFNEnv, state: EmissionState) -> list[torch.Tensor]:
    """pack_state's blocks of columns: tokens (B, max_len), the 8 numbers, slot types, origins, value columns."""
    machine = env.machine
    tokens = state.tokens.long().clamp(PAD, env.n_actions - 1)
    numbers = torch.stack([state.length.long().clamp(0, env.max_len), machine.live_depth(state).long(),
                           machine.remaining(state).long(), *state.counters.long().T, state.sponge_on.long()], dim=1)
    types = machine.slot_types(state).long().clamp(0, SLOT_CLASSES - 1)
    codes = state.types[:, :SLOTS].long()
    n_inputs = machine.n_inputs(state).long()
    # ORIGIN + j is "position j of the initial stack", counted from the top: input k (deepest first) is
    # at n_inputs - 1 - k; positions at or beyond n_inputs are context
    position = codes - ORIGIN
    holds = (codes >= ORIGIN) & (position < n_inputs[:, None]) & (types != CONTEXT)
    origin = torch.where(holds, (n_inputs[:, None] - 1 - position).clamp(0, SLOTS - 1), SLOTS)
    return [tokens, numbers, types, origin, value_columns(env, state)]


@dataclass
class Unpacked:
    tokens: torch.Tensor  # (N, max_len)
    length: torch.Tensor
    numbers: torch.Tensor  # (N, N_NUMBERS) float, scaled
    types: torch.Tensor  # (N, SLOTS)
    origins: torch.Tensor  # (N, SLOTS)
    slot_nodes: torch.Tensor  # (N, SLOTS) graph node index per slot, -1 none
    outputs_ready: torch.Tensor  # (N, SLOTS) float 0/1

    def to(self, device: torch.device) -> "Unpacked":
        if self.numbers.device == device:  # made together (by unpack): all on one device
            return self
        return Unpacked(*(t.to(device) for t in (self.tokens, self.length, self.numbers, self.types, self.origins,
                                                 self.slot_nodes, self.outputs_ready)))


def unpack(packed: torch.Tensor, max_len: int) -> Unpacked:
    packed = packed.reshape(-1, packed.shape[-1])
    rest = packed[:, max_len + 8:]
    if rest.shape[1] != 4 * SLOTS:
        raise PolicyError(f"packed states have {packed.shape[1]} columns, expected max_len + 8 + {4 * SLOTS} = "
                          f"{max_len + 8 + 4 * SLOTS} (made by pack_state for an env with max_len {max_len}?)")
    return _unpacked(packed[:, :max_len], packed[:, max_len: max_len + 8], rest[:, :SLOTS], rest[:, SLOTS:2 * SLOTS],
                     rest[:, 2 * SLOTS:])


_SCALE = torch.tensor([32.0, 16.0, 8.0, 8.0, 8.0, 8.0, 1.0])  # of the numbers after the length


def _unpacked(tokens: torch.Tensor, raw: torch.Tensor, types: torch.Tensor, origins: torch.Tensor,
              values: torch.Tensor) -> Unpacked:
    """The named parts from pack_state's blocks (raw: the 8 numbers; values: the 32 value columns)."""
    numbers = raw[:, 1:].float().clamp(-64, 256) / _SCALE.to(raw.device)
    return Unpacked(tokens, raw[:, 0], numbers, types, origins, values[:, :SLOTS], values[:, SLOTS:].float())


__all__ = ["N_NUMBERS", "ORIGINS", "SLOTS", "SLOT_CLASSES", "StateFeatures", "Unpacked", "pack_state",
           "state_features", "unpack", "value_columns"]
