"""Triton VM's cost model: the heights of the nine Algebraic Execution Tables (AETs) and the padded height.

Everything here mirrors ``triton-vm/src/aet.rs`` (``AlgebraicExecutionTrace::height_of_table``) and
``triton-vm/src/table/u32.rs`` (``U32TableEntry::table_height_contribution``) at v7.0.0:

=============  ======================================================================================
Program        program length in words, plus 1, rounded up to a multiple of 10 (the Tip5 rate)
Processor      executed instructions (``halt`` included)
OpStack        underflow reads/writes: ``|delta|`` per executed instruction (see :mod:`tasm_env.isa`)
RAM            one row per RAM word read or written
JumpStack      equal to the Processor height
Hash           6 rows per Tip5 permutation (program attestation included), 1 per ``sponge_init``
Cascade        distinct 16-bit limbs looked up by all permutations (program attestation included)
Lookup         always 256
U32            per *distinct* (instruction, lhs, rhs) entry: 1 row if the dominant operand is 0, else
               ``2 + floor(log2(dominant))``; dominant = ``max(lhs, rhs)``, or the exponent for ``pow``
=============  ======================================================================================

The padded height (what a prover pays for) is the next power of two of the tallest table.

Per-instruction table contributions that do not depend on operand values come from :mod:`tasm_env.isa`
(:func:`static_rows`); the u32 entries and the Cascade limbs depend on values and are recorded by the VM.
"""

from __future__ import annotations

import functools
from typing import Iterable, NamedTuple, Sequence

from . import isa, tip5

LOOKUP_HEIGHT: int = 256
"""The Lookup table always has 2^8 rows (``AlgebraicExecutionTrace::LOOKUP_TABLE_HEIGHT``)."""
HASH_ROWS_PER_PERMUTATION: int = tip5.NUM_ROUNDS + 1
"""A Tip5 permutation trace is the input state plus one state per round (``trace_to_table_rows``)."""

U32Entry = tuple[str, int, int]
"""A U32-table entry: (u32 instruction, left operand, right operand). ``xor`` records ``and`` entries;
``div_mod`` records one ``lt`` and one ``split`` entry; ``merkle_step*`` record a ``split`` entry."""


class TableHeights(NamedTuple):
    """The unpadded height of each of Triton VM's nine tables, in ``TableId`` order."""

    program: int
    processor: int
    op_stack: int
    ram: int
    jump_stack: int
    hash: int
    cascade: int
    lookup: int
    u32: int

    @property
    def max(self) -> int:
        """The tallest table's height (``AlgebraicExecutionTrace::height``)."""
        return max(tuple(self))

    @property
    def tallest(self) -> str:
        """The name of the tallest table (the first one in ``TableId`` order on a tie)."""
        heights = tuple(self)
        return self._fields[heights.index(max(heights))]

    @property
    def padded_height(self) -> int:
        """The next power of two of the tallest table: the height every table is padded to."""
        return next_power_of_two(self.max)

    def as_dict(self) -> dict[str, int]:
        return dict(zip(self._fields, self))


class StaticRows(NamedTuple):
    """Table rows one execution of an instruction adds regardless of operand values."""

    op_stack: int
    ram: int
    permutations: int
    sponge_inits: int


def next_power_of_two(n: int) -> int:
    """The smallest power of two >= n (Rust's ``usize::next_power_of_two``: 0 and 1 give 1)."""
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


def program_height(words: int) -> int:
    """Program table height: ``(words + 1)`` rounded up to a multiple of 10 (``padded_program_length``; the
    ``+ 1`` is the hash-input padding's 1, which also gives the processor's last ``nia`` a row)."""
    return tip5.padded_program_length(words)


def attestation_permutations(words: int) -> int:
    """Tip5 permutations spent hashing the padded program (one per 10 words of it)."""
    return program_height(words) // tip5.RATE


def static_rows(name: str, arg: int | str | None = None) -> StaticRows:
    """Op-stack, RAM, permutation and sponge-init counts of one execution of ``name arg`` (from the ISA
    table; the op-stack rows are ``|delta|`` because read/write pairs cancel, see ``UnderflowIO``)."""
    spec = isa.spec(name)
    return StaticRows(spec.op_stack_rows(arg), spec.ram_rows_for(arg), spec.hash_permutations,
                      spec.hash_rows_extra)


def u32_entry_rows(instruction: str, lhs: int, rhs: int) -> int:
    """U32-table rows of one distinct entry (``table_height_contribution``): the section halves the operands
    until both are 0, so it is 1 + bit length of the dominant operand. For ``pow`` the left operand (the base,
    any field element) stays fixed across the section, so only the exponent counts."""
    dominant = rhs if instruction == "pow" else max(lhs, rhs)
    return 1 if dominant == 0 else 2 + (dominant.bit_length() - 1)


def u32_height(entries: Iterable[U32Entry]) -> int:
    """U32-table height: the sum over *distinct* entries (repeats only raise a lookup multiplicity)."""
    return sum(u32_entry_rows(*entry) for entry in set(entries))


def hash_height(program_words: int, permutations: int, sponge_inits: int) -> int:
    """Hash-table height: program attestation plus the run's own permutations, 6 rows each, plus 1 row per
    ``sponge_init`` (``append_initial_sponge_state``)."""
    return HASH_ROWS_PER_PERMUTATION * (attestation_permutations(program_words) + permutations) + sponge_inits


class Attestation(NamedTuple):
    """What hashing a program costs and yields: its digest and the Cascade limbs the hashing looks up."""

    digest: tuple[int, ...]
    limbs: frozenset[int]
    permutations: int


@functools.lru_cache(maxsize=1024)
def program_attestation(words: tuple[int, ...]) -> Attestation:
    """Hash the program words as Triton does for attestation (``fill_program_hash_trace``) and keep the digest
    (``Program::hash``: the first 5 state words after absorbing the padded program) and the Cascade limbs."""
    traces = tip5.program_attestation_traces(list(words))
    digest = tuple(traces[-1][-1][: tip5.DIGEST_LEN])
    limbs: set[int] = set()
    for trace in traces:
        limbs |= tip5.lookup_limbs(trace)
    return Attestation(digest, frozenset(limbs), len(traces))


def table_heights(
    *,
    program_words: int,
    cycles: int,
    op_stack_rows: int,
    ram_rows: int,
    permutations: int,
    sponge_inits: int,
    u32_entries: Iterable[U32Entry],
    cascade_limbs: Sequence[int] | frozenset[int] | set[int],
) -> TableHeights:
    """All nine heights from what a run recorded. ``permutations`` and ``cascade_limbs`` are the run's own
    (``cascade_limbs`` must already include the program attestation's limbs, see :func:`program_attestation`;
    the attestation's permutations are added here)."""
    return TableHeights(
        program=program_height(program_words),
        processor=cycles,
        op_stack=op_stack_rows,
        ram=ram_rows,
        jump_stack=cycles,  # the jump-stack table has one row per processor row
        hash=hash_height(program_words, permutations, sponge_inits),
        cascade=len(set(cascade_limbs)),
        lookup=LOOKUP_HEIGHT,
        u32=u32_height(u32_entries),
    )
