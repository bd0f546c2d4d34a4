"""Deprecated: the token vocabulary moved to :mod:`tasm_env.emission.vocab`.

This module re-exports its names for this version and warns on import.
"""

import warnings

from .emission.vocab import (BOOL, DEFAULT_ADDI_CONSTANTS, DEFAULT_PUSH_CONSTANTS, EOS, FIELD, INPUT_TYPE_CODES,
                             MAX_PUSHES, SLOT_TYPE, TRIDENT_PUSH_CONSTANTS, TYPE_NAMES, U32, BoundVocabulary,
                             EndOfSequence, Kind, Reserved, Slot, Vocabulary, constant_type)

warnings.warn("tasm_env.vocab is deprecated: import from tasm_env.emission.vocab", DeprecationWarning, stacklevel=2)

__all__ = ["BOOL", "BoundVocabulary", "DEFAULT_ADDI_CONSTANTS", "DEFAULT_PUSH_CONSTANTS", "EOS", "EndOfSequence",
           "FIELD", "INPUT_TYPE_CODES", "Kind", "MAX_PUSHES", "Reserved", "SLOT_TYPE", "Slot",
           "TRIDENT_PUSH_CONSTANTS", "TYPE_NAMES", "U32", "Vocabulary", "constant_type"]
