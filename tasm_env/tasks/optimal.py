"""Deprecated: the exact optimum search moved to :mod:`tasm_env.tasks.search` (same public names)."""

from __future__ import annotations

import warnings

from .search import (ARITHMETIC, FIXED_CONSTANTS, MAX_CONSTANTS, SearchResult, instruction_set,  # noqa: F401
                     reads_below_inputs, search, to_optimum)

warnings.warn("tasm_env.tasks.optimal is deprecated; import tasm_env.tasks.search instead", DeprecationWarning,
              stacklevel=2)

__all__ = ["MAX_CONSTANTS", "SearchResult", "search", "to_optimum", "instruction_set"]
