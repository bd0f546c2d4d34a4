"""The reference interpreter: Triton VM v7.0.0 semantics for the full ISA, with its crashes and table costs.

>>> run("push 7 push 3 lt").stack[-1]
1

Semantics follow ``triton-vm/src/vm.rs`` (``VMState::step`` and one method per instruction); the facts are
summarised in the project's ``shared/docs/triton-vm.md``. In brief:

* The op stack always holds at least 16 elements. Before any instruction-specific check, an instruction whose
  net size change ``delta`` would leave fewer than 16 crashes (``would_be_too_shallow``), so ``assert`` on a
  16-element stack is ``stack_too_shallow``. u32-operand checks come before division-by-zero and log-of-zero.
* The initial stack is Triton's: 16 elements with the program digest's 5 words deepest (``OpStack::new``):
  top last, ``[d4, d3, d2, d1, d0] + [0] * 11``. ``floor=`` replaces it (blocks run in a random context).
* A run ends at ``halt`` (which counts as a cycle) or when the instruction pointer passes the program's end
  (a block without ``halt``; Triton would report an instruction-pointer overflow there). A ``skiz`` that would
  skip past the end also just ends the run.

The modules: :mod:`tasm_env.vm_handlers` (machine state, one handler per instruction),
:mod:`tasm_env.vm_decode` (programs as blocks of ops), :mod:`tasm_env.vm_execution` (the result), and this
one (input checks and the hot loop).

How it is fast: the first run of a straight-line program (no control flow but ``halt``, within the cycle
budget; most fresh programs) decodes nothing: it calls one handler per mnemonic with each instruction's own
argument (:data:`~tasm_env.vm_decode.ANY_ARG_HANDLERS`, every check included). Otherwise, and from a
program's second use on, a program is decoded in one pass (cached per :class:`~tasm_env.asm.Program` object
from its second use) into *blocks*, maximal runs of instructions that end at the first control-flow instruction,
each a list of (handler, argument) ops. The hot loop checks the cycle budget once per block and then calls one
small handler per instruction; a handler that pops checks the stack depth itself, and only the value-dependent
bookkeeping (u32 entries, Tip5 limbs, RAM contents) happens inside handlers. A block that might run out of
cycles runs instruction by instruction with the budget checked before each (same handlers), which gives the
exact crash location. A block that has run :data:`COMPILE_AFTER` times is compiled into one Python function
(instructions that cannot crash pasted inline from the same templates their handlers are made from); its depth
requirement and reach are then checked once per block, here. Table rows are summed when a caller reads them.

The program digest in the initial stack costs Tip5 work (hashing every program word), which most runs never
need: the 5 digest slots start as placeholders, and the digest is written into them just before an
instruction (or a compiled block) that can reach them runs, or when :attr:`Execution.stack` is first read.
"""

from __future__ import annotations

import functools
import operator
from typing import Any, Mapping, Sequence, Union

from . import field as ff
from .asm import Instruction, Program
from .errors import InputError, VMError
from .vm_decode import ANY_ARG_HANDLERS, MIN_STACK, Decoded, Halted, kept
from .vm_execution import Execution
from .vm_handlers import Crash, Machine, program_digest_slots

__all__ = ["COMPILE_AFTER", "MIN_STACK", "Execution", "initial_floor", "run"]

P = ff.P
_DIGEST_LEN = 5
_NONE: tuple = ()  # the defaults of `run`, recognised by identity
_NO_RAM: Mapping[int, int] = {}  # shared and never written: a run's RAM is `Machine.ram`
_NO_ENTRIES: frozenset = frozenset()
_NO_ADDRESSES: Mapping[int, int] = {}  # a straight-line program has no jumps
_RAN_ONCE: Mapping[int, int] = {0: 1}  # block 0 ran once (shared and never written: the Execution only reads it)

COMPILE_AFTER: int = 200
"""A block is compiled to Python code once it has run this many times (over all runs of its program): its
compilation costs about as much as interpreting it a couple of hundred times."""


@functools.lru_cache(maxsize=512)
def _parsed(text: str) -> Program:
    return Program.parse(text)


def initial_floor(program: Program | str) -> tuple[int, ...]:
    """Triton's initial op stack for ``program`` (top last): the program digest's 5 words deepest, digest[0]
    in st11 and digest[4] in st15, then 11 zeros (``OpStack::new``)."""
    return tuple(program_digest_slots(_coerce(program))) + (0,) * (MIN_STACK - _DIGEST_LEN)


def _coerce(program: Any) -> Program:
    if isinstance(program, Program):
        return program
    if isinstance(program, str):
        return _parsed(program)
    if isinstance(program, (bytes, bytearray)) or not hasattr(program, "__iter__"):
        raise InputError(f"program: expected a Program, TASM text (a str) or a sequence of Instructions, got "
                         f"{type(program).__name__} {program!r:.60}")
    instructions = tuple(program)
    for i, instruction in enumerate(instructions):
        if not isinstance(instruction, Instruction):
            raise InputError(f"program[{i}]: expected an Instruction, got {type(instruction).__name__} "
                             f"{instruction!r:.60}")
    return Program(instructions)


# ========================================================================================= the hot loop


def _execute(decoded: Decoded, s: list[int], m: Machine, max_cycles: int) -> tuple[int, dict]:
    """Run from instruction 0 until ``halt`` or the end of the program; return the cycles and how often each
    block (by start index) ran. Interpreted ops check the depth (and write a pending digest) themselves; a
    compiled block is checked here, once."""
    blocks = decoded.blocks
    n = decoded.n
    runs: dict[int, int] = {}
    cycles = 0
    i = 0
    while i < n:
        ops, size, need, fall_through, touch, plain = blocks.get(i) or decoded.block(i)
        if len(s) < touch and m.pending is not None:
            m.write_digest(s)
        if cycles + size > max_cycles or len(s) < need:
            _execute_block_carefully(decoded, i, plain, s, m, cycles, max_cycles)
        else:
            remaining = iter(ops)
            try:
                for handler, arg in remaining:
                    handler(s, arg, m)
            except Crash as crash:
                k = crash.index if crash.index is not None else i + size - 1 - operator.length_hint(remaining)
                raise _error(decoded.program, crash, cycles + k - i, k) from None
        cycles += size
        runs[i] = runs.get(i, 0) + 1
        i = fall_through if fall_through >= 0 else m.jump_to
    return cycles, runs


def _execute_block_carefully(decoded: Decoded, start: int, plain, s: list[int], m, cycles: int,
                             max_cycles: int) -> None:
    """Run a block one instruction at a time with the cycle budget checked before each (the interpreted
    handlers check the depth)."""
    for k, (handler, arg) in enumerate(plain, start):
        if cycles >= max_cycles:
            crash = Crash("max_cycles", f"the run did not end within max_cycles = {max_cycles} instructions")
            raise _error(decoded.program, crash, cycles, k)
        try:
            handler(s, arg, m)
        except Crash as crash:
            raise _error(decoded.program, crash, cycles, k) from None
        cycles += 1


def _error(program: Program, crash: Crash, cycle: int, k: int) -> VMError:
    return VMError(crash.kind, crash.message, cycle, program.address_of(k), str(program.instructions[k]))


def _execute_straight(program: Program, s: list[int], m: Machine) -> int:
    """Run a straight-line program (no control flow but ``halt``) that cannot run out of cycles straight from
    its instructions, one handler per mnemonic that takes the instruction's own argument (nothing decoded);
    return the cycles."""
    handlers = ANY_ARG_HANDLERS
    instructions = program.instructions
    remaining = iter(instructions)
    try:
        for instruction in remaining:
            handlers[instruction.name](s, instruction.arg, m)
    except Crash as crash:
        k = len(instructions) - 1 - operator.length_hint(remaining)
        raise _error(program, crash, k, k) from None
    except Halted:
        return len(instructions) - operator.length_hint(remaining)
    return len(instructions)


def _count_runs(decoded: Decoded, runs: dict[int, int]) -> None:
    """Add one run's block executions; compile the blocks that have become hot."""
    totals = decoded.runs
    for start, count in runs.items():
        total = totals.get(start, 0)
        if total < COMPILE_AFTER:
            totals[start] = total = total + count
            if total >= COMPILE_AFTER:
                decoded.compile(start)


# ========================================================================================== validation


def _field_element(value: Any, what: str) -> int:
    if type(value) is int and 0 <= value < P:  # the common case, fast
        return value
    if isinstance(value, bool) or not _is_integer(value):
        raise InputError(f"{what}: expected an int field element in [0, p), got {type(value).__name__} "
                         f"{value!r}")
    value = operator.index(value)
    if not 0 <= value < P:
        raise InputError(f"{what}: expected an int in [0, p) with p = {P}, got {value} (reduce it mod p "
                         "yourself if that is what you mean)")
    return value


def _is_integer(value: Any) -> bool:
    try:
        operator.index(value)
    except TypeError:
        return False
    return True


def _field_elements(values: Any, what: str) -> tuple[int, ...]:
    if values.__class__ is tuple and len(values) <= 8:  # the common case, a few values: checked one by one
        for value in values:
            if value.__class__ is not int or not 0 <= value < P:
                break
        else:
            return values
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise InputError(f"{what}: expected a sequence of field elements, got {type(values).__name__}")
    values = tuple(values)
    if not values or (set(map(type, values)) <= _JUST_INT and min(values) >= 0 and max(values) < P):
        return values  # the common case, checked in bulk
    return tuple(_field_element(v, f"{what}[{i}]") for i, v in enumerate(values))


_JUST_INT = {int}


def _digests(values: Any) -> tuple[tuple[int, ...], ...]:
    digests = []
    for i, digest in enumerate(_sequence(values, "secret_digests")):
        words = _field_elements(digest, f"secret_digests[{i}]")
        if len(words) != _DIGEST_LEN:
            raise InputError(f"secret_digests[{i}]: expected {_DIGEST_LEN} words, got {len(words)}")
        digests.append(words)
    return tuple(digests)


def _sequence(values: Any, what: str) -> Sequence:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise InputError(f"{what}: expected a sequence, got {type(values).__name__}")
    return list(values)


def _initial_ram(ram: Mapping[int, int] | None) -> Mapping[int, int]:
    if ram is None:
        return {}
    if not isinstance(ram, Mapping):
        raise InputError(f"ram: expected a mapping from addresses to values, got {type(ram).__name__}")
    return {_field_element(a, "ram address"): _field_element(v, f"ram[{a}]") for a, v in ram.items()}


def _non_negative_int(value: Any, what: str, below: int | None = None) -> int:
    if type(value) is int and 0 <= value and (below is None or value < below):
        return value
    if isinstance(value, bool) or not _is_integer(value) or operator.index(value) < 0:
        raise InputError(f"{what}: expected a non-negative int, got {value!r}")
    value = operator.index(value)
    if below is not None and value >= below:
        raise InputError(f"{what}: expected an int below {below}, got {value}")
    return value



# ============================================================================================ the API


def run(
    program: Union[Program, str, Sequence[Instruction]],
    stack: Sequence[int] = (),
    public_input: Sequence[int] = (),
    secret_input: Sequence[int] = (),
    secret_digests: Sequence[Sequence[int]] = (),
    ram: Mapping[int, int] | None = None,
    max_cycles: int = 1_000_000,
    *,
    floor: Sequence[int] | None = None,
    ram_seed: int = 0,
) -> Execution:
    """Run ``program`` on Triton VM's semantics and return the :class:`Execution`; a crash raises
    :class:`~tasm_env.errors.VMError` (``kind``, ``cycle`` = instructions executed before the crash, ``ip``).

    ``program`` is a :class:`~tasm_env.asm.Program`, TASM text or a sequence of
    :class:`~tasm_env.asm.Instruction`\\ s (anything else raises :class:`~tasm_env.errors.InputError`).
    ``stack`` values (top last) are pushed, in order, on top of the floor: Triton's initial 16-element stack
    (:func:`initial_floor`) or the 16 values of ``floor``. ``public_input`` feeds ``read_io``,
    ``secret_input`` feeds ``divine`` and ``secret_digests`` (5-word tuples) feed ``merkle_step``. RAM cells
    not in ``ram`` read 0, or ``field.mix(address, ram_seed)`` when ``ram_seed`` is not 0. Running more than
    ``max_cycles`` instructions is a ``max_cycles`` crash. Every value must be an int in ``[0, p)``; anything
    else raises :class:`~tasm_env.errors.InputError`.
    """
    program = program if program.__class__ is Program else _coerce(program)
    prepared = kept(program)  # None on a first use
    if max_cycles.__class__ is not int or max_cycles < 0:
        max_cycles = _non_negative_int(max_cycles, "max_cycles")
    counted = prepared is not None  # a kept decoded form counts its block runs (hot blocks get compiled)
    straight = not counted and program.is_straight_line and len(program.instructions) <= max_cycles
    if not counted and not straight:
        prepared = Decoded(program)  # for this run only (a first use)
    if ram_seed.__class__ is not int or not 0 <= ram_seed < 1 << 64:
        ram_seed = _non_negative_int(ram_seed, "ram_seed", below=1 << 64)
    if floor is None:
        s = [0] * MIN_STACK  # the 5 deepest are placeholders for the program digest
    else:
        s = list(_field_elements(floor, "floor"))
        if len(s) != MIN_STACK:
            raise InputError(f"floor: expected exactly {MIN_STACK} values (top last), got {len(s)}")
    s.extend(_field_elements(stack, "stack"))
    machine = Machine(
        _NONE if public_input is _NONE else _field_elements(public_input, "public_input"),
        _NONE if secret_input is _NONE else _field_elements(secret_input, "secret_input"),
        _NONE if secret_digests is _NONE else _digests(secret_digests) if secret_digests else _NONE,
        _NO_RAM if ram is None else _initial_ram(ram),
        ram_seed,
        _NO_ADDRESSES if straight else prepared.index_of_address,
        program if floor is None else None,
    )
    if straight:  # a fresh block: nothing decoded
        cycles = _execute_straight(program, s, machine)
        runs = _RAN_ONCE if cycles else {}
    else:
        cycles, runs = _execute(prepared, s, machine, max_cycles)
        if counted:
            _count_runs(prepared, runs)
    return _execution(program, s, machine, cycles, runs)


def _execution(program: Program, s: list[int], m: Machine, cycles: int, runs: dict[int, int]) -> Execution:
    return Execution.from_run(s, m.pending is not None, runs, {
        "program": program,
        "output": tuple(m.output),
        "ram": m.ram,
        "cycles": cycles,
        "halted": m.halted,
        "public_input_consumed": m.public_read,
        "secret_input_consumed": m.secret_read,
        "secret_digests_consumed": m.digests_read,
        "jump_stack": tuple(m.jump_stack),
        "sponge": m.sponge,
        "u32_entries": frozenset(m.u32) if m.u32 else _NO_ENTRIES,
        "cascade_limbs": frozenset(m.limbs) if m.limbs else _NO_ENTRIES,
    })
