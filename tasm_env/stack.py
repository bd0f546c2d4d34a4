"""Deprecated: the stack state machine moved to :mod:`tasm_env.emission` (``machine``, ``state``, ``spec``).

This module re-exports the old names for this version and warns on import.
"""

import warnings

from .emission.machine import StackMachine
from .emission.spec import TaskSpec, default_budget
from .emission.state import (CONTEXT, LEVELS, NO_VIOLATION, ORIGIN, PAD, STATE_DTYPE, TYPE_CHECK_EXEMPT,
                             EmissionState, Layout)

warnings.warn("tasm_env.stack is deprecated: import StackMachine from tasm_env.emission.machine, TaskSpec and "
              "default_budget from tasm_env.emission.spec, and LEVELS, Layout, EmissionState, PAD, ... from "
              "tasm_env.emission.state", DeprecationWarning, stacklevel=2)

__all__ = ["CONTEXT", "EmissionState", "LEVELS", "Layout", "NO_VIOLATION", "ORIGIN", "PAD", "STATE_DTYPE",
           "StackMachine", "TYPE_CHECK_EXEMPT", "TaskSpec", "default_budget"]
