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

How it is fast: a program is decoded once (cached per :class:`~tasm_env.asm.Program` object) into *blocks*,
maximal runs of instructions that end at the first control-flow instruction. A block's stack-depth
requirement, cycle count and op-stack/RAM/hash rows are static, so the hot loop checks the depth and the cycle
budget once per block and then calls one small handler per instruction; only the value-dependent bookkeeping
(u32 entries, Tip5 limbs, RAM contents) happens inside handlers. A block that might crash on depth or run out
of cycles runs instruction by instruction with both checks before each (same handlers), which gives the exact
crash location. A block that has run :data:`COMPILE_AFTER` times is compiled into one Python function
(instructions that cannot crash pasted inline from the same templates their handlers are made from).
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, NamedTuple, Sequence, Union

from . import cost, isa, tip5
from . import field as ff
from .asm import Instruction, Program
from .cost import TableHeights, U32Entry
from .errors import InputError, TasmError, VMError

P = ff.P
U32_LIMIT = 1 << 32
MIN_STACK = 16
"""Triton's op stack never holds fewer than 16 elements (``OpStackElement::COUNT``)."""
_DIGEST_LEN = tip5.DIGEST_LEN
_RATE = tip5.RATE
_FIXED_LENGTH_CAPACITY = [1] * tip5.CAPACITY  # `Tip5::new(Domain::FixedLength)`: hash and merkle_step*


# ============================================================================================ results


@dataclass(frozen=True)
class Execution:
    """The outcome of a run that did not crash.

    ``stack`` is the whole op stack, top last. ``ram`` holds every cell the run read or wrote, with its final
    value. The table heights are computed on first access (the Cascade height needs the program's
    attestation hash, which costs Tip5 permutations).
    """

    program: Program = field(repr=False)
    stack: tuple[int, ...]
    output: tuple[int, ...]
    ram: dict[int, int]
    cycles: int
    halted: bool
    public_input_consumed: int
    secret_input_consumed: int
    secret_digests_consumed: int
    jump_stack: tuple[tuple[int, int], ...]
    """(origin, destination) word addresses of the calls still open, innermost last."""
    sponge: tip5.Sponge | None = field(repr=False)
    """The sponge as the run left it, None if ``sponge_init`` never ran."""
    u32_entries: frozenset[U32Entry] = field(repr=False)
    """The distinct (instruction, lhs, rhs) entries of the U32 table (``xor`` records ``and`` entries)."""
    op_stack_rows: int = field(repr=False)
    ram_rows: int = field(repr=False)
    permutations: int = field(repr=False)
    """Tip5 permutations run by the program's own instructions (attestation excluded)."""
    sponge_inits: int = field(repr=False)
    cascade_limbs: frozenset[int] = field(repr=False)
    """Distinct 16-bit limbs looked up by the program's own permutations (attestation excluded)."""

    @functools.cached_property
    def heights(self) -> TableHeights:
        """The nine AET heights, as ``triton-vm``'s ``AlgebraicExecutionTrace::height_of_table``."""
        attestation = _decoded(self.program).attestation()
        return cost.table_heights(
            program_words=self.program.words,
            cycles=self.cycles,
            op_stack_rows=self.op_stack_rows,
            ram_rows=self.ram_rows,
            permutations=self.permutations,
            sponge_inits=self.sponge_inits,
            u32_entries=self.u32_entries,
            cascade_limbs=attestation.limbs | self.cascade_limbs,
        )

    @property
    def padded_height(self) -> int:
        """The next power of two of the tallest table."""
        return self.heights.padded_height

    @classmethod
    def _from_fields(cls, **fields: Any) -> Execution:
        """Construct without the generated frozen ``__init__``, which sets the fields one ``object.__setattr__``
        at a time and would be the slowest step of a short run."""
        execution = object.__new__(cls)
        execution.__dict__.update(fields)
        return execution


# ====================================================================================== machine state


class _Crash(Exception):
    """Raised by a handler; the interpreter adds the cycle and the instruction pointer (a :class:`VMError`)."""

    def __init__(self, kind: str, message: str):
        super().__init__(kind, message)
        self.kind = kind
        self.message = message
        self.index: int | None = None  # the crashing instruction, set by compiled blocks


class _Machine:
    """Everything a run changes besides the op stack (which handlers get as a plain list, top last)."""

    __slots__ = (
        "ram", "initial_ram", "ram_seed", "public_input", "public_read", "secret_input", "secret_read",
        "secret_digests", "digests_read", "output", "jump_stack", "sponge", "u32", "limbs", "jump_to",
        "halted", "index_of_address",
    )  # fmt: skip

    def __init__(self, public_input, secret_input, secret_digests, initial_ram, ram_seed, index_of_address):
        self.ram: dict[int, int] = {}  # cells touched so far, final values
        self.initial_ram: Mapping[int, int] = initial_ram
        self.ram_seed: int = ram_seed
        self.public_input: tuple[int, ...] = public_input
        self.public_read = 0
        self.secret_input: tuple[int, ...] = secret_input
        self.secret_read = 0
        self.secret_digests: tuple[tuple[int, ...], ...] = secret_digests
        self.digests_read = 0
        self.output: list[int] = []
        self.jump_stack: list[tuple[int, int]] = []
        self.sponge: tip5.Sponge | None = None
        self.u32: set[U32Entry] = set()
        self.limbs: set[int] = set()
        self.jump_to = -1  # instruction index a control-flow handler chose
        self.halted = False
        self.index_of_address: dict[int, int] = index_of_address

    def read(self, address: int) -> int:
        value = self.ram.get(address)
        if value is None:
            value = self.initial_ram.get(address)
            if value is None:
                value = int(ff.mix(address, self.ram_seed)) if self.ram_seed else 0
            self.ram[address] = value
        return value

    def permute(self, state: list[int]) -> list[int]:
        """One Tip5 permutation whose trace the Hash and Cascade tables see; returns the output state."""
        trace = tip5.permutation_trace(state)
        self.limbs |= tip5.lookup_limbs(trace)
        return trace[-1]

    def sponge_or_crash(self, name: str) -> tip5.Sponge:
        if self.sponge is None:
            raise _Crash("sponge_not_initialised", f"`{name}` needs a sponge: run `sponge_init` first")
        return self.sponge

    def record_sponge_permutation(self) -> None:
        """Look up the Cascade limbs of the permutation the sponge just ran."""
        self.limbs |= tip5.lookup_limbs(self.sponge.last_trace)


# ============================================================================================ handlers
# One handler per mnemonic: handler(stack, arg, machine). `stack` is a list, top last (st_i is stack[-1 - i]);
# `arg` is the decoded argument (see _Decoded.block: the list index -1 - i for dup/swap/pick, instruction
# indices for control flow). Handlers run after the depth check, so every slot they touch exists. They raise
# _Crash for the instruction-specific failures, in Triton's check order. The templates use the local names
# s, a, m, x, x0..x2 and lo; compiled blocks keep k for the crash location.
#
# Instructions that cannot crash are written once, as source templates: the interpreter's handler is made
# from the template, and the compiler pastes it inline into hot blocks (see _compile_block).

_INLINE_TEMPLATES: dict[str, str] = {
    "push": "s.append(a)",
    "pop": "del s[-a:]",
    "pick": "s.append(s.pop(a))",
    "place": "x = s.pop()\ns.insert(len(s) - a, x)",  # a = i: st0 moves to position i
    "dup": "s.append(s[a])",
    "swap": "s[-1], s[a] = s[a], s[-1]",
    "nop": "pass",
    "add": "x = s.pop()\ns[-1] = (s[-1] + x) % P",
    "addi": "s[-1] = (s[-1] + a) % P",
    "mul": "x = s.pop()\ns[-1] = s[-1] * x % P",
    "eq": "x = s.pop()\ns[-1] = 1 if s[-1] == x else 0",
    # `_ a` -> `_ hi lo`; the u32 table checks (split, lo, hi)
    "split": "x = s[-1]\nlo = x & 0xFFFFFFFF\ns[-1] = x >> 32\ns.append(lo)\nm.u32.add(('split', lo, x >> 32))",
    # XFEs have coefficient 0 in st0: st0..st2 + st3..st5
    "xx_add": "x0 = s.pop()\nx1 = s.pop()\nx2 = s.pop()\n"
              "s[-1] = (s[-1] + x0) % P\ns[-2] = (s[-2] + x1) % P\ns[-3] = (s[-3] + x2) % P",
    # `_ z y x b` -> `_ b·(x + y·X + z·X^2)`
    "xb_mul": "x = s.pop()\ns[-1] = s[-1] * x % P\ns[-2] = s[-2] * x % P\ns[-3] = s[-3] * x % P",
    "write_io": "m.output.extend(s[-1:-a - 1:-1])\ndel s[-a:]",  # st0 is output first
}


def _handler_from_template(name: str, template: str):
    body = "\n".join("    " + line for line in template.splitlines())
    namespace = {"P": P}
    exec(compile(f"def _{name}(s, a, m):\n{body}\n", f"<tasm_env.vm template {name}>", "exec"), namespace)
    return namespace[f"_{name}"]


_TEMPLATE_HANDLERS = {name: _handler_from_template(name, t) for name, t in _INLINE_TEMPLATES.items()}


def _u32_or_crash(value: int, position: int, name: str) -> None:
    if value >= U32_LIMIT:
        raise _Crash("u32_operand", f"`{name}` needs st{position} to be a u32 value, got {value}")


def _take_tokens(s, n: int, tokens, start: int, kind: str, instruction: str) -> int:
    """Push tokens[start:start+n] (the first read ends deepest); returns the new read position."""
    end = start + n
    if end > len(tokens):
        raise _Crash(kind, f"`{instruction} {n}` needs {n} tokens, {len(tokens) - start} left")
    s.extend(tokens[start:end])
    return end


def _divine(s, a, m):
    m.secret_read = _take_tokens(s, a, m.secret_input, m.secret_read, "secret_input_exhausted", "divine")


def _halt(s, a, m):  # a = index past the last instruction
    m.halted = True
    m.jump_to = a


def _skiz(s, a, m):  # a = (next index, index after the skipped instruction)
    m.jump_to = a[0] if s.pop() else a[1]


def _call(s, a, m):  # a = ((origin address, destination address), destination index)
    m.jump_stack.append(a[0])
    m.jump_to = a[1]


def _jump_stack_or_crash(m, name: str) -> list[tuple[int, int]]:
    if not m.jump_stack:
        raise _Crash("jump_stack_empty", f"`{name}` needs a call on the jump stack, it is empty")
    return m.jump_stack


def _return(s, a, m):
    origin, _ = _jump_stack_or_crash(m, "return").pop()
    m.jump_to = m.index_of_address[origin]


def _recurse(s, a, m):
    _, destination = _jump_stack_or_crash(m, "recurse")[-1]
    m.jump_to = m.index_of_address[destination]


def _recurse_or_return(s, a, m):
    jump_stack = _jump_stack_or_crash(m, "recurse_or_return")
    if s[-6] == s[-7]:  # st5 == st6: the loop is done
        m.jump_to = m.index_of_address[jump_stack.pop()[0]]
    else:
        m.jump_to = m.index_of_address[jump_stack[-1][1]]


def _assert(s, a, m):
    if s[-1] != 1:
        raise _Crash("assertion_failed", f"`assert` needs st0 = 1, got {s[-1]}")
    s.pop()


def _read_mem(s, a, m):  # `_ p` -> `_ m[p] m[p-1] ... m[p-n+1] (p-n)`
    pointer = s.pop()
    for k in range(a):
        s.append(m.read((pointer - k) % P))
    s.append((pointer - a) % P)


def _write_mem(s, a, m):  # `_ v_n .. v_1 p` -> `_ (p+n)` with m[p] = v_1 (old st1), m[p+1] = v_2, ...
    pointer = s.pop()
    ram = m.ram
    for k in range(a):
        ram[(pointer + k) % P] = s.pop()
    s.append((pointer + a) % P)


def _top_ten(s) -> list[int]:
    """Pop st0..st9, in that order (Triton's ``pop_multiple::<10>``)."""
    ten = s[-1:-11:-1]
    del s[-10:]
    return ten


def _hash(s, a, m):
    digest = m.permute(_top_ten(s) + _FIXED_LENGTH_CAPACITY)[:_DIGEST_LEN]
    s.extend(reversed(digest))  # digest[0] on top


def _assert_vector(s, a, m):
    for i in range(_DIGEST_LEN):
        if s[-1 - i] != s[-6 - i]:
            raise _Crash("assertion_failed",
                         f"`assert_vector` needs st{i} = st{i + 5}, got {s[-1 - i]} and {s[-6 - i]}")
    del s[-5:]


def _sponge_init(s, a, m):
    m.sponge = tip5.Sponge()


def _sponge_absorb(s, a, m):
    sponge = m.sponge_or_crash("sponge_absorb")
    sponge.absorb(_top_ten(s))  # state[i] = st_i, overwriting the rate
    m.record_sponge_permutation()


def _sponge_absorb_mem(s, a, m):  # `_ dcba p` -> `_ m[p+3] m[p+2] m[p+1] m[p] (p+10)`
    sponge = m.sponge_or_crash("sponge_absorb_mem")
    pointer = s[-1]
    words = [m.read((pointer + k) % P) for k in range(_RATE)]
    # Triton has too few helper registers, so the first 4 words overwrite st1..st4 (st1 = m[p])
    s[-5], s[-4], s[-3], s[-2] = words[3], words[2], words[1], words[0]
    s[-1] = (pointer + _RATE) % P
    sponge.absorb(words)
    m.record_sponge_permutation()


def _sponge_squeeze(s, a, m):
    words = m.sponge_or_crash("sponge_squeeze").squeeze()  # the rate before permuting
    s.extend(reversed(words))  # state[0] on top
    m.record_sponge_permutation()


def _invert(s, a, m):
    x = s[-1]
    if x == 0:
        raise _Crash("inverse_of_zero", "`invert` needs a non-zero st0")
    s[-1] = pow(x, P - 2, P)


def _two_u32(s, name: str) -> tuple[int, int]:
    lhs, rhs = s[-1], s[-2]
    _u32_or_crash(lhs, 0, name)
    _u32_or_crash(rhs, 1, name)
    return lhs, rhs


def _lt(s, a, m):  # pushes st0 < st1
    lhs, rhs = _two_u32(s, "lt")
    s.pop()
    s[-1] = 1 if lhs < rhs else 0
    m.u32.add(("lt", lhs, rhs))


def _and(s, a, m):
    lhs, rhs = _two_u32(s, "and")
    s.pop()
    s[-1] = lhs & rhs
    m.u32.add(("and", lhs, rhs))


def _xor(s, a, m):
    lhs, rhs = _two_u32(s, "xor")
    s.pop()
    s[-1] = lhs ^ rhs
    m.u32.add(("and", lhs, rhs))  # a ^ b = a + b - 2 (a & b): the u32 table only proves the `and`


def _log_2_floor(s, a, m):
    x = s[-1]
    _u32_or_crash(x, 0, "log_2_floor")
    if x == 0:
        raise _Crash("log_of_zero", "`log_2_floor` needs a non-zero st0")
    s[-1] = x.bit_length() - 1
    m.u32.add(("log_2_floor", x, 0))


def _pow(s, a, m):  # base = st0 (any field element), exponent = st1 (u32)
    base, exponent = s[-1], s[-2]
    _u32_or_crash(exponent, 1, "pow")
    s.pop()
    s[-1] = pow(base, exponent, P)
    m.u32.add(("pow", base, exponent))


def _div_mod(s, a, m):  # numerator = st0, denominator = st1; `_ d n` -> `_ q r`
    numerator, denominator = _two_u32(s, "div_mod")
    if denominator == 0:
        raise _Crash("division_by_zero", "`div_mod` needs a non-zero denominator st1")
    quotient, remainder = divmod(numerator, denominator)
    s[-2] = quotient
    s[-1] = remainder
    m.u32.add(("lt", remainder, denominator))
    m.u32.add(("split", numerator, quotient))


def _pop_count(s, a, m):
    x = s[-1]
    _u32_or_crash(x, 0, "pop_count")
    s[-1] = x.bit_count()
    m.u32.add(("pop_count", x, 0))


def _xfe_top(s) -> tuple[int, int, int]:
    """The XFE in st0..st2, coefficient 0 = st0."""
    return (s[-1], s[-2], s[-3])


def _set_xfe_top(s, x) -> None:
    s[-1], s[-2], s[-3] = x


def _xx_mul(s, a, m):
    lhs = _xfe_top(s)
    del s[-3:]
    _set_xfe_top(s, ff.xmul(lhs, _xfe_top(s)))


def _x_invert(s, a, m):
    x = _xfe_top(s)
    if x == (0, 0, 0):
        raise _Crash("inverse_of_zero", "`x_invert` needs a non-zero extension element in st0..st2")
    _set_xfe_top(s, ff.xinv(x))


def _read_io(s, a, m):
    m.public_read = _take_tokens(s, a, m.public_input, m.public_read, "public_input_exhausted", "read_io")


def _merkle_step_with(s, m, sibling, node_index: int) -> None:
    """`_ i edcba` -> `_ (i div 2) zyxwv`: hash the current digest (st0..st4) with its sibling; an even node
    index makes the current digest the left child."""
    current = [s[-1], s[-2], s[-3], s[-4], s[-5]]
    left, right = (current, list(sibling)) if node_index % 2 == 0 else (list(sibling), current)
    parent = m.permute(left + right + _FIXED_LENGTH_CAPACITY)
    s[-1], s[-2], s[-3], s[-4], s[-5] = parent[:_DIGEST_LEN]
    s[-6] = node_index >> 1
    m.u32.add(("split", node_index, node_index >> 1))


def _merkle_step(s, a, m):
    node_index = s[-6]
    _u32_or_crash(node_index, 5, "merkle_step")
    if m.digests_read >= len(m.secret_digests):
        raise _Crash("secret_digests_exhausted", "`merkle_step` needs a secret digest, none left")
    sibling = m.secret_digests[m.digests_read]
    m.digests_read += 1
    _merkle_step_with(s, m, sibling, node_index)


def _merkle_step_mem(s, a, m):  # `_ p f i edcba` -> `_ (p+5) f (i div 2) zyxwv`, sibling = m[p..p+4]
    node_index = s[-6]
    _u32_or_crash(node_index, 5, "merkle_step_mem")
    pointer = s[-8]
    sibling = [m.read((pointer + k) % P) for k in range(_DIGEST_LEN)]
    s[-8] = (pointer + _DIGEST_LEN) % P
    _merkle_step_with(s, m, sibling, node_index)


def _xx_dot_step(s, a, m):  # `_ z y x *b *a` -> `_ acc' (*b+3) (*a+3)`, acc' = acc + m[*a]·m[*b]
    rhs_pointer, lhs_pointer = s[-1], s[-2]
    rhs, lhs = [], []
    for k in range(3):  # Triton reads the two operands interleaved
        rhs.append(m.read((rhs_pointer + k) % P))
        lhs.append(m.read((lhs_pointer + k) % P))
    accumulator = (s[-3], s[-4], s[-5])
    s[-3], s[-4], s[-5] = ff.xadd(accumulator, ff.xmul(tuple(rhs), tuple(lhs)))
    s[-2] = (lhs_pointer + 3) % P
    s[-1] = (rhs_pointer + 3) % P


def _xb_dot_step(s, a, m):  # `_ z y x *b *a` -> `_ acc' (*b+3) (*a+1)`, m[*a] a base-field element
    rhs_pointer, lhs_pointer = s[-1], s[-2]
    rhs = m.read(rhs_pointer)
    lhs = tuple(m.read((lhs_pointer + k) % P) for k in range(3))
    accumulator = (s[-3], s[-4], s[-5])
    s[-3], s[-4], s[-5] = ff.xadd(accumulator, ff.xbmul(rhs, lhs))
    s[-2] = (lhs_pointer + 3) % P
    s[-1] = (rhs_pointer + 1) % P


Handler = Callable[[list, Any, _Machine], None]

_HANDLERS: dict[str, Handler] = {
    **_TEMPLATE_HANDLERS,
    "divine": _divine, "halt": _halt, "skiz": _skiz, "call": _call, "return": _return, "recurse": _recurse,
    "recurse_or_return": _recurse_or_return, "assert": _assert, "read_mem": _read_mem, "write_mem": _write_mem,
    "hash": _hash, "assert_vector": _assert_vector, "sponge_init": _sponge_init, "sponge_absorb": _sponge_absorb,
    "sponge_absorb_mem": _sponge_absorb_mem, "sponge_squeeze": _sponge_squeeze, "invert": _invert, "lt": _lt,
    "and": _and, "xor": _xor, "log_2_floor": _log_2_floor, "pow": _pow, "div_mod": _div_mod,
    "pop_count": _pop_count, "xx_mul": _xx_mul, "x_invert": _x_invert, "read_io": _read_io,
    "merkle_step": _merkle_step, "merkle_step_mem": _merkle_step_mem, "xx_dot_step": _xx_dot_step,
    "xb_dot_step": _xb_dot_step,
}  # fmt: skip
assert set(_HANDLERS) == set(isa.MNEMONICS) and len(_HANDLERS) == len(isa.MNEMONICS), \
    "every ISA instruction needs exactly one handler"
assert not any(isa.spec(name).crashes or isa.spec(name).control_flow for name in _INLINE_TEMPLATES), \
    "only instructions that never crash nor jump may be inlined"

# ============================================================================================ decoding

Op = tuple[Handler, Any, int]  # (handler, decoded argument, instruction index)
Block = tuple[tuple[Op, ...], int, int, int]  # (ops, size, depth needed at entry, fall-through index or -1)

COMPILE_AFTER: int = 200
"""A block is compiled to Python code once it has run this many times (over all runs of its program): its
compilation costs about as much as interpreting it a couple of hundred times."""


class _Facts(NamedTuple):
    """What decoding needs to know about one mnemonic with one word count (from the ISA table)."""

    handler: Handler
    delta: int
    rows: cost.StaticRows
    control_flow: bool
    index_arg: bool  # dup/swap/pick take their argument as the list index -1 - i


@functools.lru_cache(maxsize=None)
def _facts(name: str, count: int | None) -> _Facts:
    """Facts for ``name`` whose COUNT argument is ``count`` (None for other arguments, which do not change any
    fact: at most 46 * 5 entries)."""
    spec = isa.spec(name)
    return _Facts(_HANDLERS[name], spec.delta(count), cost.static_rows(name, count), spec.control_flow,
                  spec.arg is isa.Arg.INDEX and name != "place")


for _name in isa.STACK_MOVES:  # the inlined stack moves must act as the ISA defines them
    for _i in range(1, 6):
        _s, _f = list(range(20)), _facts(_name, _i if _name == "pop" else None)
        _f.handler(_s, -1 - _i if _f.index_arg else _i, None)
        assert _s == isa.move_stack(_name, _i, list(range(20))), f"vm.py's `{_name}` differs from isa.move_stack"


def _instruction_facts(instruction: Instruction) -> _Facts:
    arg = instruction.arg
    return _facts(instruction.name, arg if type(arg) is int and 1 <= arg <= 5 else None)


class _Decoded:
    """A program prepared for execution: per-instruction facts, and blocks built lazily per start index.

    ``blocks[i]`` is what the hot loop runs for the block starting at instruction ``i``: the interpreted ops
    (``plain_ops[i]``) at first, a single compiled op once the block is hot.
    """

    __slots__ = ("program", "n", "facts", "deltas", "addresses", "index_of_address", "blocks", "plain_ops",
                 "block_rows", "starts", "runs", "_attestation")

    def __init__(self, program: Program):
        self.program = program
        self.n = len(program)
        self.facts = [_instruction_facts(i) for i in program.instructions]
        self.deltas = [f.delta for f in self.facts]
        self.addresses = list(itertools.accumulate((i.size for i in program.instructions), initial=0))
        self.index_of_address = {address: k for k, address in enumerate(self.addresses)}
        self.blocks: list[Block | None] = [None] * self.n
        self.plain_ops: list[tuple[Op, ...] | None] = [None] * self.n
        self.block_rows: list[cost.StaticRows | None] = [None] * self.n
        self.starts: list[int] = []  # where the blocks built so far start
        self.runs = [0] * self.n  # successful executions of each block over all runs, until compiled
        self._attestation: cost.Attestation | None = None

    def attestation(self) -> cost.Attestation:
        """The program's digest and attestation limbs (Tip5 work, so computed once, on demand)."""
        if self._attestation is None:
            self._attestation = cost.program_attestation(tuple(self.program.to_words()))
        return self._attestation

    def initial_floor(self) -> list[int]:
        return list(reversed(self.attestation().digest)) + [0] * (MIN_STACK - _DIGEST_LEN)

    def block(self, start: int) -> Block:
        """The block starting at instruction ``start``: up to and including the first control-flow
        instruction, or to the end of the program."""
        ops: list[Op] = []
        depth = lowest = 0
        op_stack = ram = permutations = sponge_inits = 0
        fall_through = self.n
        for k in range(start, self.n):
            facts = self.facts[k]
            depth += facts.delta
            if depth < lowest:
                lowest = depth
            rows = facts.rows
            op_stack += rows.op_stack
            ram += rows.ram
            permutations += rows.permutations
            sponge_inits += rows.sponge_inits
            arg = self.program.instructions[k].arg
            ops.append((facts.handler, -1 - arg if facts.index_arg else self._control_arg(k, arg), k))
            if facts.control_flow:
                fall_through = -1  # the handler sets machine.jump_to
                break
        block = (tuple(ops), len(ops), MIN_STACK - lowest, fall_through)
        self.blocks[start] = block
        self.plain_ops[start] = block[0]
        self.starts.append(start)
        self.block_rows[start] = cost.StaticRows(op_stack, ram, permutations, sponge_inits)
        return block

    def _control_arg(self, k: int, arg: Any) -> Any:
        """The decoded argument of control-flow instructions (instruction indices to go to); others keep
        theirs."""
        name = self.program.instructions[k].name
        if name == "call":
            destination = self.program.label_address(arg) if isinstance(arg, str) else arg
            if destination not in self.index_of_address:
                raise TasmError(f"`call {arg}` at instruction {k}: address {destination} is not the start of an "
                                "instruction")
            return ((self.addresses[k] + 2, destination), self.index_of_address[destination])
        if name == "skiz":
            after_next = k + 2 if k + 1 < self.n else k + 1
            return (k + 1, after_next)
        if name == "halt":
            return self.n
        return arg

    def count_runs(self, runs: list[int]) -> None:
        """Add one run's block executions; compile the blocks that have become hot."""
        for start in self.starts:
            count = runs[start]
            if count and self.runs[start] < COMPILE_AFTER:
                self.runs[start] += count
                if self.runs[start] >= COMPILE_AFTER:
                    self.compile(start)

    def compile(self, start: int) -> None:
        """Replace the block's interpreted ops by one op that runs the whole block as compiled Python."""
        ops, size, need, fall_through = self.blocks[start] or self.block(start)
        compiled = _compile_block(self.program.instructions, self.plain_ops[start])
        self.blocks[start] = (((compiled, None, start),), size, need, fall_through)

    def error(self, crash: _Crash, cycle: int, k: int) -> VMError:
        return VMError(crash.kind, crash.message, cycle, self.addresses[k], str(self.program.instructions[k]))


_DECODED_CACHE_SIZE = 512
_decoded_cache: OrderedDict[int, tuple[Program, _Decoded]] = OrderedDict()


def _decoded(program: Program) -> _Decoded:
    """The decoded form of ``program``, cached by identity: hashing a long program costs more than a run, and
    while the cache holds the program, no other object can have its id."""
    entry = _decoded_cache.get(id(program))
    if entry is not None and entry[0] is program:
        _decoded_cache.move_to_end(id(program))
        return entry[1]
    decoded = _Decoded(program)
    _decoded_cache[id(program)] = (program, decoded)
    if len(_decoded_cache) > _DECODED_CACHE_SIZE:
        _decoded_cache.popitem(last=False)
    return decoded


@functools.lru_cache(maxsize=512)
def _parsed(text: str) -> Program:
    return Program.parse(text)


def initial_floor(program: Program | str) -> tuple[int, ...]:
    """Triton's initial op stack for ``program`` (top last): the program digest's 5 words deepest, digest[0]
    in st11 and digest[4] in st15, then 11 zeros (``OpStack::new``)."""
    return tuple(_decoded(_coerce(program)).initial_floor())


def _coerce(program: Program | str | Sequence[Instruction]) -> Program:
    if isinstance(program, str):
        return _parsed(program)
    return Program.coerce(program)


# ========================================================================================= the hot loop


def _compile_block(instructions: Sequence[Instruction], ops: tuple[Op, ...]) -> Handler:
    """One Python function for a whole block: templated instructions inline, the others as handler calls.
    Before each call, ``k`` holds the instruction index, so a crash can say where it happened."""
    namespace: dict[str, Any] = {"P": P, "_Crash": _Crash}
    lines = ["def block(s, _, m):", "    k = None", "    try:"]
    for j, (handler, arg, k) in enumerate(ops):
        template = _INLINE_TEMPLATES.get(instructions[k].name)
        if template is None:
            namespace[f"h{j}"], namespace[f"a{j}"] = handler, arg
            lines += [f"        k = {k}", f"        h{j}(s, a{j}, m)"]
        else:
            if arg is not None:  # the arguments of templated instructions are ints
                lines.append(f"        a = {int(arg)}")
            lines += ["        " + line for line in template.splitlines()]
    lines += ["    except _Crash as crash:", "        crash.index = k", "        raise"]
    exec(compile("\n".join(lines), "<tasm_env.vm compiled block>", "exec"), namespace)
    return namespace["block"]


def _execute(decoded: _Decoded, s: list[int], m: _Machine, max_cycles: int) -> tuple[int, list[int]]:
    """Run from instruction 0 until ``halt`` or the end of the program; return the cycles and how often each
    block (by start index) ran."""
    blocks = decoded.blocks
    n = decoded.n
    runs = [0] * n
    cycles = 0
    i = 0
    while i < n:
        block = blocks[i] or decoded.block(i)
        ops, size, need, fall_through = block
        if len(s) < need or cycles + size > max_cycles:
            _execute_block_carefully(decoded, decoded.plain_ops[i], s, m, cycles, max_cycles)
        else:
            try:
                for handler, arg, k in ops:
                    handler(s, arg, m)
            except _Crash as crash:
                if crash.index is not None:
                    k = crash.index
                raise decoded.error(crash, cycles + k - i, k) from None
        cycles += size
        runs[i] += 1
        i = fall_through if fall_through >= 0 else m.jump_to
    return cycles, runs


def _execute_block_carefully(decoded: _Decoded, ops, s: list[int], m: _Machine, cycles: int,
                             max_cycles: int) -> None:
    """Run a block one instruction at a time with the cycle budget and the depth checked before each."""
    deltas = decoded.deltas
    for handler, arg, k in ops:
        if cycles >= max_cycles:
            crash = _Crash("max_cycles", f"the run did not end within max_cycles = {max_cycles} instructions")
            raise decoded.error(crash, cycles, k)
        if len(s) + deltas[k] < MIN_STACK:
            crash = _Crash("stack_too_shallow", f"needs {MIN_STACK - deltas[k]} stack elements, "
                           f"has {len(s)} (the op stack never holds fewer than {MIN_STACK})")
            raise decoded.error(crash, cycles, k)
        try:
            handler(s, arg, m)
        except _Crash as crash:
            raise decoded.error(crash, cycles, k) from None
        cycles += 1


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

    ``stack`` values (top last) are pushed, in order, on top of the floor: Triton's initial 16-element stack
    (:func:`initial_floor`) or the 16 values of ``floor``. ``public_input`` feeds ``read_io``,
    ``secret_input`` feeds ``divine`` and ``secret_digests`` (5-word tuples) feed ``merkle_step``. RAM cells
    not in ``ram`` read 0, or ``field.mix(address, ram_seed)`` when ``ram_seed`` is not 0. Running more than
    ``max_cycles`` instructions is a ``max_cycles`` crash. Every value must be an int in ``[0, p)``; anything
    else raises :class:`~tasm_env.errors.InputError`.
    """
    program = _coerce(program)
    decoded = _decoded(program)
    max_cycles = _non_negative_int(max_cycles, "max_cycles")
    ram_seed = _non_negative_int(ram_seed, "ram_seed", below=1 << 64)
    if floor is None:
        s = decoded.initial_floor()
    else:
        s = list(_field_elements(floor, "floor"))
        if len(s) != MIN_STACK:
            raise InputError(f"floor: expected exactly {MIN_STACK} values (top last), got {len(s)}")
    s.extend(_field_elements(stack, "stack"))
    machine = _Machine(
        public_input=_field_elements(public_input, "public_input"),
        secret_input=_field_elements(secret_input, "secret_input"),
        secret_digests=_digests(secret_digests),
        initial_ram=_initial_ram(ram),
        ram_seed=ram_seed,
        index_of_address=decoded.index_of_address,
    )
    cycles, runs = _execute(decoded, s, machine, max_cycles)
    decoded.count_runs(runs)
    return _execution(program, decoded, s, machine, cycles, runs)


def _execution(program, decoded: _Decoded, s, m: _Machine, cycles: int, runs: list[int]) -> Execution:
    op_stack = ram = permutations = sponge_inits = 0
    for start in decoded.starts:
        count = runs[start]
        if count:
            rows = decoded.block_rows[start]
            op_stack += count * rows.op_stack
            ram += count * rows.ram
            permutations += count * rows.permutations
            sponge_inits += count * rows.sponge_inits
    return Execution._from_fields(
        program=program,
        stack=tuple(s),
        output=tuple(m.output),
        ram=m.ram,
        cycles=cycles,
        halted=m.halted,
        public_input_consumed=m.public_read,
        secret_input_consumed=m.secret_read,
        secret_digests_consumed=m.digests_read,
        jump_stack=tuple(m.jump_stack),
        sponge=m.sponge,
        u32_entries=frozenset(m.u32),
        op_stack_rows=op_stack,
        ram_rows=ram,
        permutations=permutations,
        sponge_inits=sponge_inits,
        cascade_limbs=frozenset(m.limbs),
    )
