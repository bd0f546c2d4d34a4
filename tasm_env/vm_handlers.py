"""The reference VM's machine state and one handler per instruction (Triton VM v7.0.0 semantics).

Part of the reference interpreter (:mod:`tasm_env.vm` runs programs; :mod:`tasm_env.vm_decode` prepares them).
A handler is ``handler(stack, arg, machine)``: ``stack`` is a plain list, top last; ``machine`` holds the rest
of the state. Handlers raise :class:`Crash` for instruction-specific failures, in Triton's check order.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

from . import cost
from . import field as ff
from . import isa, tip5
from .cost import U32Entry

P = ff.P
MIN_STACK = 16
"""Triton's op stack never holds fewer than 16 elements (``OpStackElement::COUNT``)."""
_DIGEST_LEN = tip5.DIGEST_LEN
DIGEST_TOP_INDEX = _DIGEST_LEN - 1
"""List index (deepest = 0) of the topmost initial-stack slot that holds a program digest word (st11)."""
U32_LIMIT = ff.U32_LIMIT
_RATE = tip5.RATE
_FIXED_LENGTH_CAPACITY = [1] * tip5.CAPACITY  # `Tip5::new(Domain::FixedLength)`: hash and merkle_step*

# ====================================================================================== machine state


def program_digest_slots(program) -> list[int]:
    """The 5 deepest initial-stack values, deepest first: ``digest[4] .. digest[0]`` (``OpStack::new``)."""
    return list(reversed(cost.program_attestation(tuple(program.to_words())).digest))


class Crash(Exception):
    """Raised by a handler; the interpreter adds the cycle and the instruction pointer (a :class:`VMError`)."""

    def __init__(self, kind: str, message: str):
        super().__init__(kind, message)
        self.kind = kind
        self.message = message
        self.index: int | None = None  # the crashing instruction, set by compiled blocks


class Machine:
    """Everything a run changes besides the op stack (which handlers get as a plain list, top last)."""

    __slots__ = (
        "ram", "initial_ram", "ram_seed", "public_input", "public_read", "secret_input", "secret_read",
        "secret_digests", "digests_read", "output", "jump_stack", "sponge", "u32", "limbs", "jump_to",
        "halted", "index_of_address", "pending",
    )  # fmt: skip

    def __init__(self, public_input, secret_input, secret_digests, initial_ram, ram_seed, index_of_address,
                 pending=None):
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
        # the program whose digest the 5 deepest stack slots wait for (they hold placeholders), or None
        self.pending = pending

    def write_digest(self, s: list[int]) -> None:
        """Write the pending program digest into the 5 deepest slots (still where the run started: the
        stack never holds fewer than 16, and nothing reached them yet)."""
        s[:_DIGEST_LEN] = program_digest_slots(self.pending)
        self.pending = None

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
            raise Crash("sponge_not_initialised", f"`{name}` needs a sponge: run `sponge_init` first")
        return self.sponge

    def record_sponge_permutation(self) -> None:
        """Look up the Cascade limbs of the permutation the sponge just ran."""
        self.limbs |= tip5.lookup_limbs(self.sponge.last_trace)


# ============================================================================================ handlers
# One handler per mnemonic: handler(stack, arg, machine). `stack` is a list, top last (st_i is stack[-1 - i]);
# `arg` is the instruction's argument (control flow: instruction indices, see vm_decode.Decoded._control_op). Handlers run after the depth check, so every slot they touch exists. They raise
# Crash for the instruction-specific failures, in Triton's check order. The templates use the local names
# s, a, m, x, x0..x2 and lo; compiled blocks keep k for the crash location.
#
# Instructions that cannot crash are written once, as source templates: the interpreter's handler is made
# from the template, and the compiler pastes it inline into hot blocks (see vm_decode.compile_block). The
# templates are HANDLERS' `Template` entries, below, so that the one handler table covers every instruction.


class Template(str):
    """A handler written as source: the handler table's entry for an instruction that is inlined."""


def _handler_from_template(name: str, template: str):
    body = "\n".join("    " + line for line in template.splitlines())
    namespace = {"P": P}
    exec(compile(f"def _{name}(s, a, m):\n{body}\n", f"<tasm_env.vm template {name}>", "exec"), namespace)
    return namespace[f"_{name}"]


def _u32_or_crash(value: int, position: int, name: str) -> None:
    if value >= U32_LIMIT:
        raise Crash("u32_operand", f"`{name}` needs st{position} to be a u32 value, got {value}")


def _take_tokens(s, n: int, tokens, start: int, kind: str, instruction: str) -> int:
    """Push tokens[start:start+n] (the first read ends deepest); returns the new read position."""
    end = start + n
    if end > len(tokens):
        raise Crash(kind, f"`{instruction} {n}` needs {n} tokens, {len(tokens) - start} left")
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
        raise Crash("jump_stack_empty", f"`{name}` needs a call on the jump stack, it is empty")
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
        raise Crash("assertion_failed", f"`assert` needs st0 = 1, got {s[-1]}")
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
            raise Crash("assertion_failed",
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
        raise Crash("inverse_of_zero", "`invert` needs a non-zero st0")
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
        raise Crash("log_of_zero", "`log_2_floor` needs a non-zero st0")
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
        raise Crash("division_by_zero", "`div_mod` needs a non-zero denominator st1")
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
        raise Crash("inverse_of_zero", "`x_invert` needs a non-zero extension element in st0..st2")
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
        raise Crash("secret_digests_exhausted", "`merkle_step` needs a secret digest, none left")
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


Handler = Callable[[list, Any, Machine], None]

HANDLERS: dict[str, Handler] = {
    "push": Template("s.append(a)"),
    "pop": Template("del s[-a:]"),
    "pick": Template("s.append(s.pop(~a))"),  # ~i = -1 - i: st_i
    "place": Template("x = s.pop()\ns.insert(len(s) - a, x)"),  # a = i: st0 moves to position i
    "dup": Template("s.append(s[~a])"),
    "swap": Template("s[-1], s[~a] = s[~a], s[-1]"),
    "nop": Template("pass"),
    "add": Template("x = s.pop()\ns[-1] = (s[-1] + x) % P"),
    "addi": Template("s[-1] = (s[-1] + a) % P"),
    "mul": Template("x = s.pop()\ns[-1] = s[-1] * x % P"),
    "eq": Template("x = s.pop()\ns[-1] = 1 if s[-1] == x else 0"),
    # `_ a` -> `_ hi lo`; the u32 table checks (split, lo, hi)
    "split": Template("x = s[-1]\nlo = x & 0xFFFFFFFF\ns[-1] = x >> 32\ns.append(lo)\n"
                      "m.u32.add(('split', lo, x >> 32))"),
    # XFEs have coefficient 0 in st0: st0..st2 + st3..st5
    "xx_add": Template("x0 = s.pop()\nx1 = s.pop()\nx2 = s.pop()\n"
                       "s[-1] = (s[-1] + x0) % P\ns[-2] = (s[-2] + x1) % P\ns[-3] = (s[-3] + x2) % P"),
    # `_ z y x b` -> `_ b·(x + y·X + z·X^2)`
    "xb_mul": Template("x = s.pop()\ns[-1] = s[-1] * x % P\ns[-2] = s[-2] * x % P\ns[-3] = s[-3] * x % P"),
    "write_io": Template("m.output.extend(s[-1:-a - 1:-1])\ndel s[-a:]"),  # st0 is output first
    "divine": _divine, "halt": _halt, "skiz": _skiz, "call": _call, "return": _return, "recurse": _recurse,
    "recurse_or_return": _recurse_or_return, "assert": _assert, "read_mem": _read_mem, "write_mem": _write_mem,
    "hash": _hash, "assert_vector": _assert_vector, "sponge_init": _sponge_init, "sponge_absorb": _sponge_absorb,
    "sponge_absorb_mem": _sponge_absorb_mem, "sponge_squeeze": _sponge_squeeze, "invert": _invert, "lt": _lt,
    "and": _and, "xor": _xor, "log_2_floor": _log_2_floor, "pow": _pow, "div_mod": _div_mod,
    "pop_count": _pop_count, "xx_mul": _xx_mul, "x_invert": _x_invert, "read_io": _read_io,
    "merkle_step": _merkle_step, "merkle_step_mem": _merkle_step_mem, "xx_dot_step": _xx_dot_step,
    "xb_dot_step": _xb_dot_step,
}  # fmt: skip
INLINE_TEMPLATES: dict[str, str] = {name: str(h) for name, h in HANDLERS.items() if isinstance(h, Template)}
"""The instructions written as source templates, which the block compiler pastes inline."""


def inline_source(name: str, index: int | None = None) -> str:
    """``name``'s template, with a known stack index ``index`` written in as the list index it selects
    (``~a`` becomes ``-1 - index``), so that the code need not compute it."""
    template = INLINE_TEMPLATES[name]
    return template if index is None else template.replace("~a", f"({~index})")
HANDLERS.update({name: _handler_from_template(name, t) for name, t in INLINE_TEMPLATES.items()})
assert set(HANDLERS) == set(isa.MNEMONICS) and len(HANDLERS) == len(isa.MNEMONICS), \
    "every ISA instruction needs exactly one handler"
assert not any(isa.spec(name).crashes or isa.spec(name).control_flow for name in INLINE_TEMPLATES), \
    "only instructions that never crash nor jump may be inlined"


def _too_shallow(has: int, need: int) -> Crash:
    return Crash("stack_too_shallow", f"needs {need} stack elements, has {has} (the op stack never holds fewer "
                 f"than {MIN_STACK})")


@functools.lru_cache(maxsize=None)
def interpreted(name: str, need: int | tuple[int, ...] = MIN_STACK, guard: int | tuple[int, ...] = 0,
                index: int | None = None) -> Handler:
    """The handler the interpreter runs for ``name``, with the checks a block-level pass would otherwise make:
    with ``need > MIN_STACK`` it first crashes (``stack_too_shallow``) on a stack of fewer than ``need``
    elements (Triton's check before any instruction-specific one); with ``guard`` it first writes the pending
    program digest when the stack holds at most ``guard`` elements (the instruction reaches a digest slot).
    ``need`` and ``guard`` may also be tuples indexed by the argument (a word count or stack index), for a
    handler that serves every argument of ``name``. With ``index``, a templated handler for that stack index
    only (:func:`inline_source`). Templated instructions get the checks inline; the others a wrapper. At most
    a few hundred different ones."""
    by_arg = isinstance(need, tuple) or isinstance(guard, tuple)
    if not by_arg and need <= MIN_STACK and not guard and (index is None or name not in INLINE_TEMPLATES):
        return HANDLERS[name]
    checks = []
    if isinstance(guard, tuple):
        checks.append("if len(s) <= G[a] and m.pending is not None:\n    m.write_digest(s)")
    elif guard:
        checks.append(f"if m.pending is not None and len(s) <= {guard}:\n    m.write_digest(s)")
    if isinstance(need, tuple):
        checks.append("if len(s) < N[a]:\n    raise _too_shallow(len(s), N[a])")
    elif need > MIN_STACK:
        checks.append(f"if len(s) < {need}:\n    raise _too_shallow(len(s), {need})")
    body = "\n".join(checks) + "\n" + (inline_source(name, index) if name in INLINE_TEMPLATES else "h(s, a, m)")
    body = "\n".join("    " + line for line in body.splitlines())
    namespace = {"P": P, "_too_shallow": _too_shallow, "h": HANDLERS[name], "N": need, "G": guard}
    source = f"def _{name}_checked(s, a, m):\n{body}\n"
    exec(compile(source, f"<tasm_env.vm checked {name}>", "exec"), namespace)
    return namespace[f"_{name}_checked"]
