"""Drawing blocks from a :class:`~agents.policy.TasmPolicy` fast, and scoring whole trajectories in one pass.

torchgfn's sampler calls the estimator once per step on every active prefix, re-encoding each prefix from the
start (cost grows with the square of the length). The policy's decoder is causal, so two shortcuts are exact:

* :func:`rollout` samples with a key/value cache, one new position per step, under the env's masks;
* :func:`trajectory_log_probs` scores every step of a batch of ``Trajectories`` (sampled by anyone: this
  module, torchgfn's sampler, a replay buffer, a corpus) in one teacher-forced pass, with gradients.

:func:`to_trajectories` turns a :class:`Rollout` into torchgfn ``Trajectories`` (the layout torchgfn's own
sampler produces), so torchgfn's TB / LPV / RTB / SubTB / DB / TrustPCL losses run on them unchanged. Tests check
that the three ways of evaluating the policy (torchgfn's per-state calls, the cache, teacher forcing) agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from gfn.containers import Trajectories

from tasm_env.asm import Program
from tasm_env.envs.gfn import TasmGFNEnv, tokens_to_actions
from tasm_env.emission.state import PAD, EmissionState
from tasm_env.emission.vocab import EOS

from .policy import PolicyError, TasmPolicy, condition_task_ids, pack_state, unpack


@dataclass
class Rollout:
    """Blocks for ``task`` (B,): ``tokens`` (B, T) padded with PAD, ``lengths`` (B,), and ``states``
    (T + 1, B, width): the state before each step (a finished row repeats its final state)."""

    env: TasmGFNEnv
    task: torch.Tensor
    tokens: torch.Tensor
    lengths: torch.Tensor
    states: torch.Tensor

    def __len__(self) -> int:
        return len(self.task)

    def final_state(self) -> EmissionState:
        return EmissionState(self.states[-1], self.task, self.env.layout)

    def programs(self) -> list[Program]:
        return self.env.machine.decode(self.final_state())

    def tasks(self) -> list:
        return [self.env.tasks[i] for i in self.task.tolist()]


def _choose(logits: torch.Tensor, mask: torch.Tensor, temperature: float, epsilon: float, greedy: bool,
            generator: torch.Generator | None) -> torch.Tensor:
    logits = logits.masked_fill(~mask, float("-inf"))
    if greedy:
        return logits.argmax(1)
    probs = torch.softmax(logits / temperature, dim=1)
    if epsilon > 0:
        uniform = mask.float() / mask.sum(1, keepdim=True).clamp(min=1)
        probs = (1 - epsilon) * probs + epsilon * uniform
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


@torch.no_grad()
def rollout(policy: TasmPolicy, task: torch.Tensor | Sequence[int], *, temperature: float = 1.0,
            epsilon: float = 0.0, greedy: bool = False, generator: torch.Generator | None = None) -> Rollout:
    """Sample one block per row for the task ids ``task`` under the env's masks.

    ``temperature`` divides the logits, ``epsilon`` mixes in the uniform distribution over legal tokens,
    ``greedy`` takes the most likely token. (The log-probabilities used in training come from
    :func:`trajectory_log_probs`, always of the untempered policy.) The network runs on its own device; the
    emission states, masks and the draw (with ``generator``) stay with the env, on the host, so a seed gives
    the same blocks whatever the device."""
    if temperature <= 0 or not 0 <= epsilon <= 1:
        raise PolicyError(f"need temperature > 0 and 0 <= epsilon <= 1, got {temperature} and {epsilon}")
    net, env = policy.module, policy.env
    machine, device = env.machine, net.device
    task = torch.as_tensor(task, dtype=torch.long).reshape(-1)
    state = machine.initial(task)
    memory, memory_kv = net.memory(task)
    caches: list[dict] = [{} for _ in net.decoder.layers]
    B = len(task)
    previous = torch.full((B,), -1, dtype=torch.long, device=device)  # BOS
    depth = net.n_inputs[task.to(device)].clone()
    done = torch.zeros(B, dtype=torch.bool)
    history, emitted = [state.data.clone()], []
    for t in range(env.max_len + 1):
        features = unpack(pack_state(env, state), env.max_len)
        logits = net.next_outputs(previous, depth, t, memory, memory_kv, caches, features).to(state.data.device)
        mask = machine.forward_masks(state, env.masking)
        token = _choose(logits, mask, temperature, epsilon, greedy, generator)
        token = torch.where(done, EOS, token)
        done = done | (token == EOS)
        emitted.append(torch.where(token == EOS, PAD, token))
        state = machine.step(state, token)
        history.append(state.data.clone())
        if bool(done.all()):
            break
        previous = token.to(device)
        depth = depth + torch.where(previous > 0, net.delta[previous], 0)
    tokens = torch.stack(emitted, 1)
    lengths = (tokens != PAD).sum(1)
    width = int(lengths.max()) if B else 0
    return Rollout(env, task, tokens[:, :width], lengths, torch.stack(history)[: width + 1])


def replay(env: TasmGFNEnv, task: torch.Tensor | Sequence[int], programs: Sequence[Program | str]) -> Rollout:
    """The :class:`Rollout` that emits the given programs (one per row), e.g. a corpus for teacher forcing."""
    task = torch.as_tensor(task, dtype=torch.long).reshape(-1)
    if len(task) != len(programs):
        raise PolicyError(f"{len(task)} task ids for {len(programs)} programs")
    rows = [env.specs[int(n)].bound.encode(p) for p, n in zip(programs, task.tolist())]
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
    width = int(lengths.max()) if len(rows) else 0
    for row, n in zip(rows, task.tolist()):
        if len(row) > env.specs[n].budget:
            raise PolicyError(f"a program of {len(row)} tokens exceeds task {env.tasks[n].name!r}'s budget of "
                              f"{env.specs[n].budget}")
    tokens = torch.full((len(rows), width), PAD, dtype=torch.long)
    for b, row in enumerate(rows):
        tokens[b, : len(row)] = torch.tensor(row, dtype=torch.long)
    machine = env.machine
    state = machine.initial(task)
    history = [state.data.clone()]
    for t in range(width):
        state = machine.step(state, torch.where(t < lengths, tokens[:, t], EOS))
        history.append(state.data.clone())
    return Rollout(env, task, tokens, lengths, torch.stack(history))


def to_trajectories(rollout: Rollout, log_rewards: torch.Tensor | None = None) -> Trajectories:
    """torchgfn ``Trajectories``: states (T + 2, B) with ``sf`` after each row's last state, actions (T + 1, B)
    ending in exit and then padded with the dummy action, ``terminating_idx`` = length + 1, conditions = task id;
    ``log_rewards`` (B,) if given (else torchgfn asks the env when it needs them)."""
    env, B = rollout.env, len(rollout)
    T = rollout.tokens.shape[1]
    steps = torch.arange(T + 2)[:, None]
    states = torch.cat([rollout.states, rollout.states[-1:]], 0)
    states = torch.where((steps <= rollout.lengths[None, :])[..., None], states, env.sf.to(states.dtype))
    actions = torch.full((T + 1, B), -1, dtype=torch.long)
    actions[:T] = tokens_to_actions(rollout.tokens.T, env.n_actions)
    actions[rollout.lengths, torch.arange(B)] = env.n_actions - 1
    actions = torch.where(steps[: T + 1] <= rollout.lengths[None, :], actions, -1)
    conditions = rollout.task.to(torch.get_default_dtype())[None, :, None].expand(T + 2, B, 1).clone()
    return Trajectories(env=env, states=env.states_from_tensor(states, conditions=conditions),
                        actions=env.actions_from_tensor(actions[..., None]), terminating_idx=rollout.lengths + 1,
                        log_rewards=log_rewards)


def trajectory_log_probs(policy: TasmPolicy, trajectories: Trajectories) -> torch.Tensor:
    """(T, B) log P_F of every action of every trajectory (0 after its exit), in one teacher-forced pass of the
    policy, with gradients. Equal to what torchgfn computes state by state (``recalculate_all_logprobs``). The
    pass runs on the policy's device; the result is on the trajectories' device, where torchgfn's losses
    combine it with the log-rewards."""
    actions = trajectories.actions.tensor[..., 0]  # (T, B)
    states = trajectories.states[: actions.shape[0]]
    return masked_log_probs(trajectory_logits(policy, trajectories), states.forward_masks.transpose(0, 1),
                            actions.T, trajectories.terminating_idx).T.to(actions.device)


def trajectory_logits(policy: TasmPolicy, trajectories: Trajectories) -> torch.Tensor:
    """(B, T, V) logits, in torchgfn's action order, at every state of every trajectory before its last action:
    one teacher-forced pass on the policy's device."""
    env = policy.env
    actions = trajectories.actions.tensor[..., 0]  # (T, B)
    T, B = actions.shape
    task = condition_task_ids(trajectories.states.conditions[0])
    tokens = torch.where(actions[:-1] >= 0, actions[:-1] + 1, PAD).T  # inputs: every action but the last
    tokens = torch.where(tokens == env.n_actions, PAD, tokens)  # exit is no input
    states = env.emission_state(trajectories.states[:T])
    packed = pack_state(env, states).reshape(T, B, -1).transpose(0, 1).reshape(T * B, -1)
    return policy.module.sequence(tokens, task, unpack(packed, env.max_len))


def masked_log_probs(logits: torch.Tensor, masks: torch.Tensor, actions: torch.Tensor,
                     terminating_idx: torch.Tensor) -> torch.Tensor:
    """(B, T) log-probability of ``actions`` (B, T) under ``logits`` (B, T, V) restricted to ``masks``, 0 at and
    after each row's end (``terminating_idx`` (B,)); computed on the logits' device."""
    device = logits.device
    T = actions.shape[1]
    valid = torch.arange(T, device=device)[None, :] < terminating_idx.to(device)[:, None]  # (B, T)
    mask = masks.to(device) | ~valid[..., None]  # sink rows: any mask, never read
    log_probs = logits.masked_fill(~mask, float("-inf")).log_softmax(-1)
    chosen = log_probs.gather(-1, actions.to(device).clamp(min=0)[..., None])[..., 0]
    return torch.where(valid, chosen, torch.zeros_like(chosen))


def sample_programs(policy: TasmPolicy, task_ids: Sequence[int], n: int, *, chunk: int = 256,
                    temperature: float = 1.0, generator: torch.Generator | None = None) -> list[list[Program]]:
    """``n`` sampled programs for each task id (in draw order), drawn ``chunk`` rows at a time."""
    rows = torch.tensor([t for t in task_ids for _ in range(n)], dtype=torch.long)
    programs: list[Program] = []
    with policy.encoding_cache():
        for start in range(0, len(rows), chunk):
            programs += rollout(policy, rows[start:start + chunk], temperature=temperature,
                                generator=generator).programs()
    return [programs[i * n:(i + 1) * n] for i in range(len(task_ids))]


__all__ = ["Rollout", "masked_log_probs", "replay", "rollout", "sample_programs", "to_trajectories", "trajectory_log_probs",
           "trajectory_logits"]
