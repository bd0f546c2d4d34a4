"""The TIR's own evaluator: what a :class:`~tasm_env.tasks.tir.TIR` program means, in plain Python integers.

This is the independent oracle for the classical compiler: it is written from the semantics table in
:mod:`tasm_env.tasks.tir` and never runs the VM or the batched executor. It uses only the scalar field
functions and :func:`tasm_env.tip5.hash_10`.

>>> from tasm_env.tasks.tir import TIR, Node, Ref
>>> tir = TIR.build(("u32", "u32"), [Node("input", (), 0), Node("input", (), 1),
...                                   Node("lt", (Ref(0), Ref(1)))], [Ref(2)])
>>> evaluate(tir, (3, 7)).outputs
(1,)

Crashes raise :class:`TirCrash` with the VM's crash kind, so a compiled program and its TIR can be compared
crash for crash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from .. import field as ff
from ..errors import TaskError
from ..tip5 import hash_10
from .tir import FUNCTIONS, TIR, Node

P = ff.P
U32_LIMIT = 1 << 32


class TirCrash(TaskError):
    """The TIR program crashed. ``kind`` is one of the VM's crash kinds (``u32_operand``, ``inverse_of_zero``,
    ``division_by_zero``, ``log_of_zero``, ``assertion_failed``, ``public_input_exhausted``,
    ``secret_input_exhausted``); ``node`` is the index of the crashing node."""

    def __init__(self, kind: str, node: int, message: str):
        super().__init__(f"{kind} at node {node}: {message}")
        self.kind = kind
        self.node = node
        self.message = message


@dataclass(frozen=True)
class Outcome:
    """What a TIR run produced.

    * ``outputs``: the output values, deepest first (as the block leaves them on the stack);
    * ``output``: the public output, in write order;
    * ``ram``: final contents of every RAM cell read or written;
    * ``public_consumed`` / ``secret_consumed``: how many public / secret input tokens were read.
    """

    outputs: tuple[int, ...]
    output: tuple[int, ...] = ()
    ram: dict[int, int] = field(default_factory=dict)
    public_consumed: int = 0
    secret_consumed: int = 0


class _State:
    """The machine state a TIR run changes besides the values: I/O queues and RAM."""

    def __init__(self, public_input, secret_input, ram, ram_seed):
        self.public_input = public_input
        self.secret_input = secret_input
        self.public_read = 0
        self.secret_read = 0
        self.output: list[int] = []
        self.initial_ram: Mapping[int, int] = ram
        self.ram_seed = ram_seed
        self.ram: dict[int, int] = {}  # touched cells, final values

    def read_ram(self, address: int) -> int:
        if address not in self.ram:
            if address in self.initial_ram:
                self.ram[address] = self.initial_ram[address]
            else:  # the VM's rule for never-written cells
                self.ram[address] = int(ff.mix(address, self.ram_seed)) if self.ram_seed else 0
        return self.ram[address]

    def take(self, n: int, secret: bool) -> list[int]:
        tokens, start = (self.secret_input, self.secret_read) if secret else (self.public_input, self.public_read)
        if start + n > len(tokens):
            kind = "secret_input_exhausted" if secret else "public_input_exhausted"
            raise _Crash(kind, f"needs {n} tokens, {len(tokens) - start} left")
        if secret:
            self.secret_read += n
        else:
            self.public_read += n
        return list(tokens[start:start + n])


class _Crash(Exception):
    """Raised by an op; :func:`evaluate` turns it into a :class:`TirCrash` naming the node."""

    def __init__(self, kind: str, message: str):
        super().__init__(kind, message)
        self.kind = kind
        self.message = message


# ------------------------------------------------------------------------------------ the operations
# Each takes (argument values, attribute, state) and returns the result values in result order.


def _u32(*values: int) -> None:
    for v in values:
        if v >= U32_LIMIT:
            raise _Crash("u32_operand", f"expected a u32 value, got {v}")


def _lt(a, b):
    _u32(a, b)
    return [1 if a < b else 0]


def _and(a, b):
    _u32(a, b)
    return [a & b]


def _xor(a, b):
    _u32(a, b)
    return [a ^ b]


def _div_mod(n, d):
    _u32(n, d)  # the VM checks u32 operands before the divisor
    if d == 0:
        raise _Crash("division_by_zero", "division by zero")
    return list(divmod(n, d))


def _pow(base, exponent):
    _u32(exponent)
    return [ff.power(base, exponent)]


def _log_2_floor(a):
    _u32(a)
    if a == 0:
        raise _Crash("log_of_zero", "log of zero")
    return [a.bit_length() - 1]


def _pop_count(a):
    _u32(a)
    return [bin(a).count("1")]


def _invert(a):
    if a == 0:
        raise _Crash("inverse_of_zero", "inverse of zero")
    return [ff.inv(a)]


def _assert(a):
    if a != 1:
        raise _Crash("assertion_failed", f"assert needs 1, got {a}")
    return []


def _x_invert(a0, a1, a2):
    if a0 == a1 == a2 == 0:
        raise _Crash("inverse_of_zero", "inverse of the zero extension element")
    return list(ff.xinv((a0, a1, a2)))


_PURE: dict[str, Callable[..., list[int]]] = {
    "add": lambda a, b: [ff.add(a, b)],
    "sub": lambda a, b: [ff.sub(a, b)],
    "mul": lambda a, b: [ff.mul(a, b)],
    "neg": lambda a: [ff.neg(a)],
    "invert": _invert,
    "eq": lambda a, b: [1 if a == b else 0],
    "lt": _lt,
    "and": _and,
    "xor": _xor,
    "split": lambda a: [a >> 32, a & (U32_LIMIT - 1)],
    "div_mod": _div_mod,
    "pow": _pow,
    "log_2_floor": _log_2_floor,
    "pop_count": _pop_count,
    "assert": _assert,
    "hash": lambda *xs: list(hash_10(xs)),
    "xx_add": lambda a0, a1, a2, b0, b1, b2: list(ff.xadd((a0, a1, a2), (b0, b1, b2))),
    "xx_mul": lambda a0, a1, a2, b0, b1, b2: list(ff.xmul((a0, a1, a2), (b0, b1, b2))),
    "xb_mul": lambda s, a0, a1, a2: list(ff.xbmul(s, (a0, a1, a2))),
    "x_invert": _x_invert,
}
"""Operations that only depend on their arguments (``assert`` included: it has no state)."""
assert set(_PURE) == FUNCTIONS, f"the evaluator's pure ops differ from TIR's FUNCTIONS: {set(_PURE) ^ FUNCTIONS}"


def _apply(node: Node, args: list[int], inputs: Sequence[int], state: _State) -> list[int]:
    op = node.op
    if op == "input":
        return [inputs[node.attr]]
    if op == "const":
        return [node.attr]
    if op in _PURE:
        return _PURE[op](*args)
    if op == "read_io":
        return state.take(node.attr, secret=False)
    if op == "divine":
        return state.take(node.attr, secret=True)
    if op == "write_io":
        state.output.extend(args)  # v_1 first
        return []
    if op == "read_mem":
        return [state.read_ram(args[0])]
    if op == "write_mem":
        address, value = args
        state.ram[address] = value
        return []
    raise TaskError(f"the evaluator has no rule for op {op!r}")  # validate() lets no such node through


# ----------------------------------------------------------------------------------------------- API


def _field_elements(values: Sequence[int], what: str) -> tuple[int, ...]:
    values = tuple(values)
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < P:
            raise TaskError(f"{what}[{i}]: expected an int field element in [0, p), got {v!r}")
    return values


def evaluate(
    tir: TIR,
    inputs: Sequence[int],
    public_input: Sequence[int] = (),
    secret_input: Sequence[int] = (),
    ram: Mapping[int, int] | None = None,
    ram_seed: int = 0,
) -> Outcome:
    """Run ``tir`` on ``inputs`` (deepest first, one value per declared input) and return its :class:`Outcome`.

    Never-written RAM cells read ``ram[address]`` when given, else ``field.mix(address, ram_seed)`` when
    ``ram_seed`` is not 0, else 0 (the VM's rule). A crash raises :class:`TirCrash`; malformed arguments raise
    :class:`~tasm_env.errors.TaskError`.
    """
    tir.validate()
    inputs = _field_elements(inputs, "inputs")
    if len(inputs) != len(tir.inputs):
        raise TaskError(f"the TIR takes {len(tir.inputs)} inputs ({', '.join(tir.inputs)}), got {len(inputs)}")
    initial_ram = {int(a): int(v) for a, v in (ram or {}).items()}
    state = _State(_field_elements(public_input, "public_input"), _field_elements(secret_input, "secret_input"),
                   initial_ram, int(ram_seed))
    results: list[list[int]] = []
    for i, node in enumerate(tir.nodes):
        args = [results[ref.node][ref.index] for ref in node.args]
        try:
            results.append(_apply(node, args, inputs, state))
        except _Crash as crash:
            raise TirCrash(crash.kind, i, f"`{node.op}`: {crash.message}") from None
    return Outcome(
        outputs=tuple(results[ref.node][ref.index] for ref in tir.outputs),
        output=tuple(state.output),
        ram=state.ram,
        public_consumed=state.public_read,
        secret_consumed=state.secret_read,
    )
