"""The RL agents' terminal reward, from the harness's verdict on a program (:class:`agents.compare.interface.Scored`).

| verdict | reward |
|---|---|
| valid, ``c`` cycles, baseline ``b`` | ``equal + scale * max(0, (b - c) / b)`` (``equal`` for a block no cheaper than the baseline) |
| invalid | ``-distance`` (the share of test lanes x output slots that disagree, in (0, 1]) |

Defaults ``equal = 0.1``, ``scale = 10``: a 10% cycle saving earns 1.1, ten times a correct copy of the baseline,
and any valid block beats any invalid one. Every step before the last earns 0 (no shaping: the agents learn
from the harness's verdicts alone).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from ..compare.interface import CompareError, Scored

EQUAL = 0.1
SCALE = 10.0


@dataclass(frozen=True)
class RewardConfig:
    equal: float = EQUAL
    scale: float = SCALE

    @classmethod
    def from_options(cls, options: dict) -> "RewardConfig":
        config = cls(equal=float(options.get("reward_equal", EQUAL)), scale=float(options.get("reward_scale", SCALE)))
        if config.equal < 0 or config.scale <= 0:
            raise CompareError(f"need reward_equal >= 0 and reward_scale > 0, got {config.equal} and {config.scale}")
        return config


def terminal_rewards(scored: Sequence[Scored], baseline_cycles: int, config: RewardConfig = RewardConfig()
                     ) -> torch.Tensor:
    """(len(scored),) float32 terminal rewards (see the module docstring)."""
    out = []
    for verdict in scored:
        if verdict.valid:
            saving = max(0.0, (baseline_cycles - verdict.cycles) / baseline_cycles)
            out.append(config.equal + config.scale * saving)
        else:
            out.append(-float(verdict.distance))
    return torch.tensor(out, dtype=torch.float32)


__all__ = ["RewardConfig", "terminal_rewards"]
