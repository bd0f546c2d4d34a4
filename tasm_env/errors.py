"""The exceptions a user of tasm-env can see. All derive from :class:`TasmError`."""

from __future__ import annotations


class TasmError(Exception):
    """Base class of every error tasm-env raises on purpose."""


class ParseError(TasmError):
    """Malformed TASM text. ``line`` and ``column`` are 1-based."""

    def __init__(self, message: str, line: int, column: int):
        super().__init__(f"line {line}, column {column}: {message}")
        self.message = message
        self.line = line
        self.column = column


VM_ERROR_KINDS = (
    "stack_too_shallow",
    "u32_operand",
    "inverse_of_zero",
    "division_by_zero",
    "log_of_zero",
    "assertion_failed",
    "public_input_exhausted",
    "secret_input_exhausted",
    "secret_digests_exhausted",
    "sponge_not_initialised",
    "jump_stack_empty",
    "max_cycles",
)
"""Every crash kind, in a fixed order (the batch executor codes crashes by index into this tuple)."""


class VMError(TasmError):
    """The Triton VM crashed. ``kind`` is one of :data:`VM_ERROR_KINDS`; ``cycle`` counts the instructions
    executed before the crashing one; ``ip`` is the crashing instruction's address in words."""

    def __init__(self, kind: str, message: str, cycle: int, ip: int, instruction: str | None = None):
        where = f"cycle {cycle}, ip {ip}" + (f" (`{instruction}`)" if instruction else "")
        super().__init__(f"{kind} at {where}: {message}")
        if kind not in VM_ERROR_KINDS:
            raise ValueError(f"unknown VM error kind {kind!r}")
        self.kind = kind
        self.message = message
        self.cycle = cycle
        self.ip = ip
        self.instruction = instruction


class TaskError(TasmError):
    """A task (or suite, or baseline) is malformed or unusable."""


class BatchError(TasmError):
    """A program cannot run on the batched executor (for example, it has control flow)."""


class InputError(TasmError, ValueError):
    """A value handed to the VM (stack, inputs, RAM, floor, a limit) is not what it must be, e.g. not an int
    in ``[0, p)``. Also a ``ValueError``, so generic callers can catch it as one."""


class ConfigError(TasmError, ValueError):
    """An argument or option of an env, a machine or a reward (a masking level, a reward weight, a budget, an
    option key, an action) is not one of the values it accepts; the message names what it accepts. Also a
    ``ValueError``, so generic callers can catch it as one."""


class ConditionError(ConfigError):
    """A torchgfn condition is not a task id of the env: conditions are float tensors ``(..., 1)`` holding
    integers in ``0..n_tasks - 1``; the message names the range."""
