"""Deprecated: rewards moved to :mod:`tasm_env.emission.reward`.

This module re-exports its names for this version and warns on import.
"""

import warnings

from .emission.reward import (COSTS, Cost, Evaluation, RewardModel, cost_of, cycle_log_reward, cycle_reward,
                              linear_anneal, partial_credit, shaped_log_reward, shaped_phase, shaped_reward,
                              task_key)

warnings.warn("tasm_env.reward is deprecated: import from tasm_env.emission.reward", DeprecationWarning,
              stacklevel=2)

__all__ = ["COSTS", "Cost", "Evaluation", "RewardModel", "cost_of", "cycle_log_reward", "cycle_reward",
           "linear_anneal", "partial_credit", "shaped_log_reward", "shaped_phase", "shaped_reward", "task_key"]
