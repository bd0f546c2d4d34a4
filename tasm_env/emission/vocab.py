"""The token vocabulary agents emit TASM blocks in: EOS, then one token per (mnemonic, argument) pair.

Token 0 is EOS. Every other token is one straight-line instruction with its argument, a *constant slot*
(``push <slot k>``, ``addi <slot k>``) or, in the ``trident`` preset only, a reserved id that is never legal
and never decodes. Which instructions exist, their arguments and their stack effects all come from
:mod:`tasm_env.isa`; this module lists no instruction facts of its own beyond the few the ISA table does not
record (which instructions write public output or start the sponge, and which results are u32 or bool).

Constants: a fixed set of small ones plus ``n_slots`` slots. :meth:`Vocabulary.bind` binds the slots to one
task's own constants (the distinct ``push``/``addi`` arguments of its baseline that are not fixed tokens, in
order of first appearance; then, in the slots left free, folds of them: negations, sums, differences,
products), so the action space is the same for every task while every constant the baseline uses, and the
folded constants many optima use, stay reachable::

    vocab = Vocabulary.default()            # EOS, fixed constants, 4 slots, every straight-line instruction
    bound = vocab.bind(task)                 # slots hold task's constants
    ids = bound.encode(task.baseline)        # list[int]; TasmError names an unencodable instruction
    bound.decode(ids) == task.baseline       # stops at EOS

Per-token numpy arrays (``pops``, ``pushes``, ``reads``, ``delta``, ``u32_operands``, ``result_types``, input
and output use) feed the emission tables (:mod:`tasm_env.emission.tables`).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from importlib import resources
from typing import Iterable, Iterator, Sequence

import numpy as np

from .. import isa
from ..asm import Instruction, Program
from ..errors import TaskError, TasmError
from ..field import P
from ..tasks.search.constants import ADDI_CONSTANTS as DEFAULT_ADDI_CONSTANTS  # the one home: the search
from ..tasks.search.constants import PUSH_CONSTANTS as DEFAULT_PUSH_CONSTANTS  # proves optimality over these
from ..tasks.search.constants import slot_candidates
from ..tasks.tir import OPS as TIR_OPS
from ..value_types import BOOL, FIELD, INPUT_TYPE_CODES, U32  # value-type codes, re-exported
from ..value_types import VALUE_TYPES as TYPE_NAMES

EOS = 0
"""Token id of end-of-sequence in every vocabulary."""

# ---- value types the state machine tracks (also the result types of tokens)
SLOT_TYPE = -1
"""Result-type code of ``push <slot k>`` in an unbound vocabulary: the bound constant decides."""

MAX_PUSHES = max(spec.pushes(5 if spec.arg is isa.Arg.COUNT else None) for spec in isa.INSTRUCTIONS)

# Streams, sponge use and results known to be u32 are the ISA table's `stream`, `sponge` and `u32_results`;
# the other result types come from the TIR op of the same name.

_NO_OPS = frozenset({"nop"})  # never worth a token (index no-ops: see _is_index_no_op)


def constant_type(value: int) -> int:
    """Value type of a pushed constant: BOOL for 0 and 1, U32 below 2^32, else FIELD (as TIR types ``const``)."""
    value %= P
    return BOOL if value < 2 else U32 if value < (1 << 32) else FIELD


def _is_index_no_op(spec: isa.InstructionSpec, arg) -> bool:
    """``swap 0``, ``pick 0`` and ``place 0`` do nothing: an index instruction that moves (not copies) slot 0."""
    return spec.arg is isa.Arg.INDEX and arg == 0 and spec.delta(arg) == 0


def _result_types(spec: isa.InstructionSpec, arg) -> list[int]:
    """Types of the ``pushes`` new top slots, st0 first (stack moves are handled by the state machine)."""
    n = spec.pushes(arg)
    if spec.name == "push":
        return [constant_type(arg)] if arg is not None else [SLOT_TYPE]
    op = TIR_OPS.get(spec.name)
    kinds = {r for r in op.results} if op is not None else set()
    base = {"u32": U32, "bool": BOOL}.get(kinds.pop(), FIELD) if len(kinds) == 1 else FIELD
    types = [base] * n
    for position in spec.u32_results:  # e.g. a Merkle step's st5, the parent's node index i div 2
        types[position] = U32
    return types


# ------------------------------------------------------------------------------------------------ tokens


@dataclass(frozen=True)
class Slot:
    """A constant-slot token: ``push`` or ``addi`` of the constant a task binds to slot ``index``."""

    mnemonic: str
    index: int

    def __str__(self) -> str:
        return f"{self.mnemonic} <slot {self.index}>"


@dataclass(frozen=True)
class Reserved:
    """A token id kept only for layout compatibility (the ``trident`` preset's ``or`` and control flow): never
    legal in an episode and never decodes."""

    text: str

    def __str__(self) -> str:
        return f"<reserved: {self.text}>"


class EndOfSequence:
    """The EOS token (id 0)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "EOS"


class Kind(enum.IntEnum):
    """What a token id is."""

    EOS = 0
    INSTRUCTION = 1
    SLOT = 2
    RESERVED = 3


def _key(instruction: Instruction) -> tuple[str, int | str | None]:
    """Encoding key: mnemonic and argument (an ``assert``'s error_id has no effect on execution)."""
    return instruction.name, instruction.arg


# ------------------------------------------------------------------------------------------- vocabulary


TRIDENT_PUSH_CONSTANTS: tuple[int, ...] = (-1, *range(11), 16, 32)
TRIDENT_LAYOUT_FILE = "data/vocabularies/trident.json"
"""The Trident seed's token layout (package data): a mnemonic and its arguments per entry, in id order."""


def _trident_layout() -> list[tuple[str, Sequence[int] | None]]:
    """The seed's layout, read from :data:`TRIDENT_LAYOUT_FILE` (data, not instruction facts: which mnemonics
    the seed had and in what order)."""
    data = json.loads(resources.files("tasm_env").joinpath(TRIDENT_LAYOUT_FILE).read_text())
    return [(name, args) for name, args in data["layout"]]


class Vocabulary:
    """A fixed token layout: id 0 = EOS, then instructions, constant slots and (trident only) reserved ids.

    Build one with :meth:`default` or :meth:`trident`, or pass your own token list. Per-token arrays (numpy,
    one entry per id; EOS, slots and reserved ids have a zero stack effect unless noted):

    * ``kind`` (:class:`Kind`), ``slot`` (slot index or -1)
    * ``pops``, ``pushes``, ``delta`` and ``reads`` (top slots that must exist: ``pick 3`` reads 4)
    * ``u32_operands`` (V, 16) bool: stack positions that must hold u32 values
    * ``result_types`` (V, MAX_PUSHES): types of the new top slots, st0 first (:data:`SLOT_TYPE` for
      ``push <slot>``)
    * ``public_reads``, ``secret_reads``, ``digests``, ``outputs``: words of public input, secret input,
      secret digests consumed and public output words written
    * ``needs_sponge``, ``starts_sponge`` (bool)
    """

    def __init__(self, tokens: Sequence, name: str = "custom"):
        tokens = list(tokens)
        if not tokens or not isinstance(tokens[0], EndOfSequence):
            raise TasmError("a vocabulary starts with EOS (token 0)")
        self.name = name
        self.tokens: tuple = tuple(tokens)
        self._ids: dict[tuple, int] = {}
        self._slot_ids: dict[tuple[str, int], int] = {}
        for i, token in enumerate(self.tokens[1:], start=1):
            if isinstance(token, Instruction):
                if token.name in isa.CONTROL_FLOW:
                    raise TasmError(f"token {i}: `{token}` is control flow; straight-line blocks only")
                key = _key(token)
            elif isinstance(token, Slot):
                if isa.BY_NAME[token.mnemonic].arg is not isa.Arg.FIELD:
                    raise TasmError(f"token {i}: slots are for push/addi, got {token.mnemonic}")
                key = ("slot", token.mnemonic, token.index)
                self._slot_ids[(token.mnemonic, token.index)] = i
            elif isinstance(token, Reserved):
                key = ("reserved", token.text)
            else:
                raise TasmError(f"token {i}: expected an Instruction, Slot or Reserved, got {token!r}")
            if key in self._ids:
                raise TasmError(f"token {i} duplicates token {self._ids[key]} ({token})")
            self._ids[key] = i
        self.n_slots = 1 + max((t.index for t in self.tokens if isinstance(t, Slot)), default=-1)
        self._constant_takers = tuple(dict.fromkeys(t.mnemonic for t in self.tokens if isinstance(t, Slot)))
        self._build_arrays()

    # ---- presets
    @classmethod
    def default(cls, n_slots: int = 4, push_constants: Iterable[int] = DEFAULT_PUSH_CONSTANTS,
                addi_constants: Iterable[int] = DEFAULT_ADDI_CONSTANTS) -> "Vocabulary":
        """EOS, then every straight-line instruction of the ISA table in its order, each with every argument:
        fixed ``push``/``addi`` constants followed by ``n_slots`` slots each, ``pop``/I/O/memory counts 1..5,
        ``dup 0..15``, ``swap``/``pick``/``place 1..15``. No control flow, no ``nop``, no index no-ops."""
        if n_slots < 0:
            raise TasmError(f"n_slots must be >= 0, got {n_slots}")
        fixed = {"push": tuple(push_constants), "addi": tuple(addi_constants)}
        tokens: list = [EndOfSequence()]
        for spec in isa.INSTRUCTIONS:
            if spec.control_flow or spec.name in _NO_OPS:
                continue
            if spec.arg is isa.Arg.NONE:
                tokens.append(Instruction(spec.name))
            elif spec.arg is isa.Arg.FIELD:
                constants = list(dict.fromkeys(c % P for c in fixed.get(spec.name, ())))
                tokens += [Instruction(spec.name, c) for c in constants]
                tokens += [Slot(spec.name, k) for k in range(n_slots)]
            else:
                tokens += [Instruction(spec.name, a) for a in spec.arg.range() if not _is_index_no_op(spec, a)]
        return cls(tokens, name=f"default-{n_slots}")

    @classmethod
    def trident(cls) -> "Vocabulary":
        """The Trident seed's 140-token layout, ids exactly as its ``vocab.rs`` (prior-art §4(a)): EOS 0,
        ``push -1`` 1, ``pop 1`` 15, ``dup 0`` 20, ``swap 1`` 36, ``pick 0`` 51, ``place 0`` 67, ``add`` 83, ...

        Reserved (never legal, never decode): ``or`` (id 95, not a Triton VM instruction) and the control-flow
        tokens ``halt``, ``skiz``, ``return``, ``recurse``, ``recurse_or_return`` (blocks are straight-line).
        ``nop``, ``pick 0`` and ``place 0`` stay ordinary tokens, as in the seed. No ``addi`` and no slots:
        binding a task whose baseline needs another constant raises TaskError."""
        tokens: list = [EndOfSequence()]
        for name, args in _trident_layout():
            for arg in (args if args is not None else (None,)):
                spec = isa.BY_NAME.get(name)
                if spec is None or spec.control_flow:
                    tokens.append(Reserved(name if arg is None else f"{name} {arg}"))
                else:
                    tokens.append(Instruction(name, arg))
        vocab = cls(tokens, name="trident")
        assert len(vocab) == 140
        return vocab

    # ---- views
    def __len__(self) -> int:
        return len(self.tokens)

    def __iter__(self) -> Iterator:
        return iter(self.tokens)

    def __repr__(self) -> str:
        return f"Vocabulary({self.name!r}, {len(self)} tokens, {self.n_slots} slots)"

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.tokens == other.tokens

    def __hash__(self) -> int:
        return hash(self.tokens)

    def token(self, i: int):
        """The token with id ``i``: an :class:`Instruction`, a :class:`Slot`, a :class:`Reserved` id or EOS."""
        if not 0 <= i < len(self.tokens):
            raise TasmError(f"token id {i} is outside the vocabulary (0..{len(self.tokens) - 1})")
        return self.tokens[i]

    def id_of(self, token) -> int | None:
        """Id of an instruction (fixed constants only), a :class:`Slot` or a :class:`Reserved`, or None."""
        if isinstance(token, EndOfSequence):
            return EOS
        if isinstance(token, Instruction):
            return self._ids.get(_key(token))
        if isinstance(token, Slot):
            return self._slot_ids.get((token.mnemonic, token.index))
        if isinstance(token, Reserved):
            return self._ids.get(("reserved", token.text))
        return None

    def slot_id(self, mnemonic: str, index: int) -> int | None:
        return self._slot_ids.get((mnemonic, index))

    def has_fixed(self, name: str, arg) -> bool:
        """Is ``name arg`` a fixed token (``push 3``)?"""
        return (name, arg % P if isinstance(arg, int) else arg) in self._ids

    # ---- binding
    def slot_constants(self, program: Program | str) -> tuple[int, ...]:
        """The constants a program needs in slots: distinct ``push``/``addi`` arguments that are not fixed tokens,
        in order of first appearance."""
        program = Program.coerce(program)
        needed: dict[int, None] = {}
        for instruction in program:
            if instruction.spec.arg is isa.Arg.FIELD and (instruction.name, instruction.arg) not in self._ids:
                needed.setdefault(instruction.arg, None)
        return tuple(needed)

    def bind(self, task, name: str | None = None, fold: bool = True) -> "BoundVocabulary":
        """Bind the slots to the constants of ``task``'s baseline (a Task, or a Program / TASM text): first the
        ones its baseline needs (:meth:`slot_constants`, in order), then, with ``fold``, the free slots to
        the first :func:`~tasm_env.tasks.search.constants.slot_candidates` (the baseline's literals, their
        negations, pairwise sums, differences and products) that some ``push`` or ``addi`` cannot spell with a
        fixed token: so a program that adds ``-c`` where the baseline pushes ``c`` and subtracts, as many
        proven optima do, is spellable. Every folded constant is in the exact search's constant set.

        Raises TaskError when the baseline needs more constants than there are slots."""
        program = task.baseline if hasattr(task, "baseline") else Program.coerce(task)
        name = name or getattr(task, "name", "program")
        constants = self.slot_constants(program)
        if len(constants) > self.n_slots:
            shown = ", ".join(str(c) for c in constants)
            raise TaskError(f"task {name!r}: its baseline needs {len(constants)} constants outside the fixed set "
                            f"({shown}) but the vocabulary {self.name!r} has {self.n_slots} slots; use "
                            f"Vocabulary.default(n_slots={len(constants)}) or more")
        if fold:
            free = [c for c in slot_candidates(program) if c not in constants and not self._spelt_fixed(c)]
            constants += tuple(free[:self.n_slots - len(constants)])
        return BoundVocabulary(self, constants, name)

    def _spelt_fixed(self, constant: int) -> bool:
        """Whether every instruction that takes a constant (``push``, ``addi``) has a fixed token for it, or
        it is 0 (``addi 0`` is a no-op, ``push 0`` a fixed token of every preset with slots)."""
        return constant == 0 or all((name, constant) in self._ids for name in self._constant_takers)

    def bind_constants(self, constants: Sequence[int], name: str = "constants") -> "BoundVocabulary":
        """Bind the slots to explicit constants (slot k holds ``constants[k]``)."""
        constants = tuple(int(c) % P for c in constants)
        if len(constants) > self.n_slots:
            raise TaskError(f"{name!r}: {len(constants)} constants for {self.n_slots} slots")
        if len(set(constants)) != len(constants):
            raise TaskError(f"{name!r}: slot constants must be distinct, got {constants}")
        return BoundVocabulary(self, constants, name)

    # ---- per-token arrays
    def _build_arrays(self) -> None:
        V = len(self.tokens)
        self.kind = np.zeros(V, dtype=np.int64)
        self.slot = np.full(V, -1, dtype=np.int64)
        self.mnemonic: list[str | None] = [None] * V
        self.arg: list[int | None] = [None] * V
        for name in ("pops", "pushes", "delta", "reads", "public_reads", "secret_reads", "digests", "outputs"):
            setattr(self, name, np.zeros(V, dtype=np.int64))
        self.u32_operands = np.zeros((V, 16), dtype=bool)
        self.result_types = np.full((V, MAX_PUSHES), FIELD, dtype=np.int64)
        self.needs_sponge = np.zeros(V, dtype=bool)
        self.starts_sponge = np.zeros(V, dtype=bool)
        for i, token in enumerate(self.tokens):
            if isinstance(token, EndOfSequence):
                self.kind[i] = Kind.EOS
                continue
            if isinstance(token, Reserved):
                self.kind[i] = Kind.RESERVED
                continue
            if isinstance(token, Slot):
                self.kind[i] = Kind.SLOT
                self.slot[i] = token.index
                name, arg = token.mnemonic, None
            else:
                self.kind[i] = Kind.INSTRUCTION
                name, arg = token.name, token.arg
            spec = isa.BY_NAME[name]
            self.mnemonic[i], self.arg[i] = name, arg
            self.pops[i], self.pushes[i] = spec.pops(arg), spec.pushes(arg)
            self.delta[i], self.reads[i] = spec.delta(arg), spec.reads(arg)
            self.u32_operands[i, list(spec.u32_operands)] = True
            types = _result_types(spec, arg)
            self.result_types[i, : len(types)] = types
            count = arg if spec.arg is isa.Arg.COUNT else 0
            self.public_reads[i] = count if spec.stream == "public_input" else 0
            self.secret_reads[i] = count if spec.stream == "secret_input" else 0
            self.digests[i] = 1 if spec.stream == "secret_digests" else 0
            self.outputs[i] = count if spec.stream == "public_output" else 0
            self.needs_sponge[i] = spec.sponge == "needs"
            self.starts_sponge[i] = spec.sponge == "starts"
        for array in (self.kind, self.slot, self.pops, self.pushes, self.delta, self.reads, self.u32_operands,
                      self.result_types, self.public_reads, self.secret_reads, self.digests, self.outputs,
                      self.needs_sponge, self.starts_sponge):
            array.flags.writeable = False

    def describe(self) -> str:
        """One line per token: ``id  text``."""
        return "\n".join(f"{i:4d}  {t}" for i, t in enumerate(self.tokens))


class BoundVocabulary:
    """A vocabulary whose slots hold one task's constants: encodes and decodes programs for that task.

    ``emittable`` (V,) bool: the ids that decode to an instruction here (not EOS, not reserved, not an unbound
    slot). ``result_types`` (V, MAX_PUSHES): the vocabulary's, with ``push <slot k>`` typed by its constant.
    """

    def __init__(self, vocab: Vocabulary, constants: Sequence[int], name: str = "task"):
        self.vocab = vocab
        self.constants: tuple[int, ...] = tuple(int(c) % P for c in constants)
        self.name = name
        kind = vocab.kind
        self.emittable = (kind == Kind.INSTRUCTION) | ((kind == Kind.SLOT) & (vocab.slot < len(self.constants)))
        self.slot_types = np.array([constant_type(c) for c in self.constants], dtype=np.int64)
        types = vocab.result_types.copy()
        slot_push = (kind == Kind.SLOT) & (types[:, 0] == SLOT_TYPE)
        for i in np.flatnonzero(slot_push):
            k = vocab.slot[i]
            types[i, 0] = self.slot_types[k] if k < len(self.constants) else FIELD
        self.result_types = types
        for array in (self.emittable, self.slot_types, self.result_types):
            array.flags.writeable = False
        self._decoded: tuple = tuple(token if emittable else None for token, emittable in
                                     zip(map(self.token, range(len(vocab))), self.emittable.tolist()))
        """Per id, the instruction it decodes to (:meth:`token`), None where it does not decode (EOS, reserved,
        unbound slots): :meth:`decode` is one lookup per id."""

    def __len__(self) -> int:
        return len(self.vocab)

    def __repr__(self) -> str:
        return f"BoundVocabulary({self.vocab.name!r}, {self.name!r}, constants={self.constants})"

    def token(self, i: int):
        """The token with id ``i``, a bound slot resolved to its instruction (``push 12345``)."""
        token = self.vocab.token(i)
        if isinstance(token, Slot) and token.index < len(self.constants):
            return Instruction(token.mnemonic, self.constants[token.index])
        return token

    def encode(self, program: Program | str | Iterable[Instruction], eos: bool = False) -> list[int]:
        """Token ids of a straight-line program (plus EOS when ``eos``). An instruction with no token here raises
        TasmError naming it; nothing is dropped. Labels are not part of a block and are rejected."""
        program = Program.coerce(program) if not isinstance(program, (list, tuple)) else Program(program)
        if program.labels:
            raise TasmError(f"cannot encode labels ({', '.join(program.labels)}): blocks are straight-line")
        ids = []
        for position, instruction in enumerate(program):
            i = self.vocab._ids.get(_key(instruction))
            if i is None and instruction.name in ("push", "addi") and instruction.arg in self.constants:
                i = self.vocab.slot_id(instruction.name, self.constants.index(instruction.arg))
            if i is None:
                raise TasmError(self._why_not(instruction, position))
            if self.vocab.kind[i] == Kind.RESERVED:
                raise TasmError(f"instruction {position} `{instruction}`: reserved in vocabulary "
                                f"{self.vocab.name!r} (never emitted: blocks are straight-line)")
            ids.append(i)
        if eos:
            ids.append(EOS)
        return ids

    def _why_not(self, instruction: Instruction, position: int) -> str:
        where = f"instruction {position} `{instruction}` has no token in vocabulary {self.vocab.name!r}"
        spec = instruction.spec
        if spec.control_flow:
            return f"{where}: control flow is not part of a straight-line block"
        if spec.arg is isa.Arg.FIELD:
            bound = ", ".join(str(c) for c in self.constants) or "none"
            return f"{where}: its constant is neither a fixed {instruction.name} token nor bound to a slot ({bound})"
        return where

    def decode(self, tokens: Iterable[int]) -> Program:
        """The program spelled by ``tokens`` up to the first EOS (or a negative pad id). Reserved ids and unbound
        slots raise TasmError."""
        return self.decode_ids(map(int, tokens))

    def decode_ids(self, ids: Iterable[int]) -> Program:
        """:meth:`decode` of ids that are Python ints already (a tensor's ``tolist()``: no ``int`` per id, which
        was a quarter of decoding a batch)."""
        table, n = self._decoded, len(self._decoded)
        instructions = []
        for i in ids:
            if i == EOS or i < 0:
                break
            instruction = table[i] if i < n else None
            if instruction is None:
                token = self.token(i)  # raises for an id outside the vocabulary
                raise TasmError(f"token {len(instructions)} (id {i}, {token}) does not decode in {self!r}")
            instructions.append(instruction)
        return Program(instructions)
