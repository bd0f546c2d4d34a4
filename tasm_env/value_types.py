"""The names of value types, shared by the verifier, the TIR, the graphs and the emission core.

A *value type* is what a stack element is known to be; an *input type* is what a block's caller promises about
one input, a value type possibly narrowed to non-zero (a divisor). Everything that names a type reads it here;
this module imports nothing, so any layer may.
"""

from __future__ import annotations

VALUE_TYPES: tuple[str, ...] = ("field", "u32", "bool")
"""Value types, widest first: any field element, a u32 value, 0 or 1 (a bool is also a u32 value)."""
FIELD, U32, BOOL = (VALUE_TYPES.index(name) for name in ("field", "u32", "bool"))
"""Value-type codes: the position of the name in :data:`VALUE_TYPES`."""

INPUT_TYPES: tuple[str, ...] = ("field", "nonzero", "u32", "u32_nonzero", "bool")
"""Types a block's inputs can have: any field element, a non-zero field element, a u32 value, a non-zero u32
value (a divisor), 0 or 1."""
VALUE_TYPE_OF_INPUT: dict[str, str] = {"field": "field", "nonzero": "field", "u32": "u32", "u32_nonzero": "u32",
                                       "bool": "bool"}
"""The value type an input of each input type has (the non-zero promise is not a value type)."""
INPUT_TYPE_CODES: dict[str, int] = {kind: VALUE_TYPES.index(VALUE_TYPE_OF_INPUT[kind]) for kind in INPUT_TYPES}
"""Value-type code of an input of each input type."""

__all__ = ["BOOL", "FIELD", "INPUT_TYPES", "INPUT_TYPE_CODES", "U32", "VALUE_TYPES", "VALUE_TYPE_OF_INPUT"]
