"""The static pass over straight-line blocks: what a block does regardless of values (:class:`Summary`).

How deep the stack ends, how much input it consumes and output it writes, whether it initialises the sponge or
halts, and the first crash that depends only on the shape (stack too shallow, input exhausted, sponge not
initialised). :func:`summarize` walks one program (cached); :func:`static_rows` does a whole batch of
candidates at once (the verifier's first look at every candidate: most are told apart here), vectorised over
the batch for the blocks that only move and compute on the stack, program by program for the others. The
plan compiler (:mod:`tasm_env.plan`) makes the same checks in its own walk.
"""

from __future__ import annotations

import itertools
import operator
from dataclasses import astuple, dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

from . import isa
from .asm import Instruction, Program
from .errors import VM_ERROR_KINDS, BatchError

KINDS_PER_CYCLE = 16
"""Crash code = cycle * 16 + index into VM_ERROR_KINDS: the smallest code is the first crash, and within one
instruction Triton's check order is the order of VM_ERROR_KINDS."""
NO_CRASH = (1 << 63) - 1
_KIND_INDEX = {kind: i for i, kind in enumerate(VM_ERROR_KINDS)}


def crash_code(cycle: int, kind: str) -> int:
    return cycle * KINDS_PER_CYCLE + _KIND_INDEX[kind]


@dataclass(frozen=True)
class Summary:
    """What a straight-line program does regardless of values: how far it runs before a static crash (if any),
    how deep the stack ends, and how much input it consumes and output it writes."""

    cycles: int  # instructions executed, including a final `halt`; up to (not including) a static crash
    final_depth: int
    outputs: int
    public_consumed: int
    secret_consumed: int
    digests_consumed: int
    static_crash: int  # crash code, or NO_CRASH
    sponge_initialised: bool = False  # the block ran `sponge_init` (before any static crash)
    halts: bool = False  # the block ends in `halt` (a program end, not a fall-through)


def _effects(name: str) -> tuple:
    """(net stack change, change per COUNT argument, what the instruction consumes or needs)."""
    spec = isa.BY_NAME[name]
    per_arg = spec.pushes_per_arg - spec.pops_per_arg if spec.arg is isa.Arg.COUNT else 0
    # what it consumes or needs: the ISA's stream and sponge facts
    need = {"public_input": "public", "secret_input": "secret", "secret_digests": "digest",
            "public_output": "output", None: None}[spec.stream]
    if spec.sponge is not None:
        need = "sponge_init" if spec.sponge == "starts" else "sponge"
    return spec.base_pushes - spec.base_pops, per_arg, need


EFFECTS: dict[str, tuple] = {name: _effects(name) for name in isa.STRAIGHT_LINE}
"""Per straight-line mnemonic: (net stack change, change per COUNT argument, what it consumes or needs: None,
``public``, ``secret``, ``digest``, ``output``, ``sponge_init`` or ``sponge``)."""


def static_summary(program: Program, shape) -> Summary:
    """The static pass of one program for inputs of ``shape`` (a :class:`tasm_env.plan.Shape`), not cached: for
    a program seen once (the screen's new candidates: kept, they would only churn :func:`summarize`'s LRU).
    Raises BatchError on control flow."""
    depth, cycle = shape.stack_depth, 0
    public = secret = digests = outputs = 0
    sponge = False
    crash = None
    for instruction in program.instructions:
        name = instruction.name
        if name == "halt":
            return Summary(cycle + 1, depth, outputs, public, secret, digests, NO_CRASH, sponge, True)
        effect = EFFECTS.get(name)
        if effect is None:
            raise BatchError(f"the batched executor runs straight-line blocks only; found `{name}`")
        fixed, per_arg, need = effect
        arg = instruction.arg
        depth += fixed + per_arg * arg if per_arg else fixed
        if depth < 16:
            crash = "stack_too_shallow"
        elif need is not None:
            if need == "public":
                public += arg
                crash = "public_input_exhausted" if public > shape.public_inputs else None
            elif need == "secret":
                secret += arg
                crash = "secret_input_exhausted" if secret > shape.secret_inputs else None
            elif need == "digest":
                digests += 1
                crash = "secret_digests_exhausted" if digests > shape.secret_digests else None
            elif need == "output":
                outputs += arg
            elif need == "sponge_init":
                sponge = True
            elif not sponge:
                crash = "sponge_not_initialised"
        if crash:
            return Summary(cycle, depth, outputs, public, secret, digests, crash_code(cycle, crash), sponge)
        cycle += 1
    return Summary(cycle, depth, outputs, public, secret, digests, NO_CRASH, sponge)


summarize = lru_cache(maxsize=1 << 14)(static_summary)
"""``summarize(program, shape)``: :func:`static_summary`, cached (programs and shapes that come again)."""


# ---- the batch: one row of Summary fields per program, numpy over the instructions of all programs at once
# per opcode (``Instruction.opcode``; no instruction has the gaps' opcodes)
_MNEMONICS = [None] * (1 + max(s.opcode for s in isa.INSTRUCTIONS))
for _spec in isa.INSTRUCTIONS:
    _MNEMONICS[_spec.opcode] = _spec.name
del _spec
_FIXED = np.array([EFFECTS.get(name, (0,))[0] for name in _MNEMONICS], dtype=np.int64)
_PER_ARG = np.array([EFFECTS[name][1] if name in EFFECTS else 0 for name in _MNEMONICS], dtype=np.int64)
_PLAIN = np.array([name in EFFECTS and EFFECTS[name][2] is None for name in _MNEMONICS])
"""Straight-line mnemonics that consume and need nothing: such a block can only crash by a too shallow stack."""
_OPCODE, _ARG = operator.attrgetter("opcode"), operator.attrgetter("arg")
_SHALLOW = _KIND_INDEX["stack_too_shallow"]


def static_rows(programs: Sequence[Program | Sequence[Instruction]], shape) -> tuple[np.ndarray, dict[int, BatchError]]:
    """The static pass of many programs (each a Program or its sequence of instructions): an int64 array with
    one row per program, the fields of its :class:`Summary` in order (booleans as 0 and 1), and the programs
    that are not straight-line blocks (index -> the error :func:`summarize` raises; their rows are
    meaningless). Equal to :func:`summarize` row by row."""
    n = len(programs)
    rows = np.zeros((n, 9), dtype=np.int64)
    errors: dict[int, BatchError] = {}
    counts = np.fromiter(map(len, programs), dtype=np.int64, count=n)
    flat = list(itertools.chain.from_iterable([p.instructions if p.__class__ is Program else p for p in programs]))
    codes = np.fromiter(map(_OPCODE, flat), dtype=np.int64, count=len(flat))
    starts = np.concatenate(([0], np.cumsum(counts)))
    owner = np.repeat(np.arange(n), counts)
    other = np.concatenate(([0], np.cumsum(~_PLAIN[codes])))
    plain = other[starts[1:]] == other[starts[:-1]]
    for i in np.flatnonzero(~plain).tolist():  # I/O, sponge, halt, control flow: one by one
        try:
            program = programs[i]
            rows[i] = astuple(summarize(program if program.__class__ is Program else Program(program), shape))
        except BatchError as err:
            errors[i] = err
    delta = _FIXED[codes]
    counted = np.flatnonzero(_PER_ARG[codes] != 0)  # `pop n` and the like
    if len(counted):
        args = np.fromiter(map(_ARG, map(flat.__getitem__, counted.tolist())), dtype=np.int64, count=len(counted))
        delta[counted] += _PER_ARG[codes[counted]] * args
    total = np.concatenate(([0], np.cumsum(delta)))
    depth = shape.stack_depth + total[1:] - total[starts[:-1]][owner]  # after each instruction
    position = np.arange(len(flat)) - starts[:-1][owner]
    rows[plain, 0] = counts[plain]
    rows[plain, 1] = shape.stack_depth + total[starts[1:]][plain] - total[starts[:-1]][plain]
    rows[plain, 6] = NO_CRASH
    shallow = np.flatnonzero((depth < 16) & plain[owner])
    if len(shallow):
        crashed, first = np.unique(owner[shallow], return_index=True)  # the first too shallow instruction
        at = shallow[first]
        rows[crashed, 0] = position[at]
        rows[crashed, 1] = depth[at]
        rows[crashed, 6] = position[at] * KINDS_PER_CYCLE + _SHALLOW
    return rows, errors
