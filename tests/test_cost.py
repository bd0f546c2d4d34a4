"""Table heights, worked out by hand from triton-vm v7.0.0's ``aet.rs`` and ``table/u32.rs``.

Reminders for reading the comments: Program = (words + 1) rounded up to a multiple of 10; Hash = 6 rows per
permutation (program attestation: Program / 10 of them) + 1 per ``sponge_init``; OpStack = sum of |delta|;
JumpStack = Processor; U32 = per distinct entry, 1 row if the dominant operand is 0 else 2 + floor(log2);
Lookup = 256; Cascade = distinct 16-bit limbs (computed here with tip5 directly).
"""

import pytest

from tasm_env import cost, tip5
from tasm_env.cost import TableHeights, next_power_of_two, program_height, u32_entry_rows
from tasm_env.field import P
from tasm_env.vm import run


def attestation_limbs(program_text: str) -> set[int]:
    from tasm_env.asm import Program

    limbs: set[int] = set()
    for trace in tip5.program_attestation_traces(Program.parse(program_text).to_words()):
        limbs |= tip5.lookup_limbs(trace)
    return limbs


def heights(program_text: str, **kwargs) -> TableHeights:
    return run(program_text, **kwargs).heights


# --------------------------------------------------------------------------------------------- helpers


@pytest.mark.parametrize("n, expected", [(0, 1), (1, 1), (2, 2), (3, 4), (256, 256), (257, 512), (1000, 1024)])
def test_next_power_of_two(n, expected):
    assert next_power_of_two(n) == expected


@pytest.mark.parametrize("words, expected", [(0, 10), (1, 10), (8, 10), (9, 10), (10, 20), (19, 20), (20, 30)])
def test_program_height_is_words_plus_one_rounded_up_to_ten(words, expected):
    assert program_height(words) == expected


@pytest.mark.parametrize("entry, rows", [
    (("lt", 0, 0), 1),  # both operands 0: the section is one row
    (("lt", 1, 0), 2),
    (("lt", 0, 1), 2),
    (("and", 5, 3), 4),  # max 5 = 0b101: 2 + 2
    (("split", 0, 1), 2),
    (("and", (1 << 32) - 1, 0), 33),  # the most any u32 entry takes
    (("pow", P - 1, 0), 1),  # pow: the base never shrinks, only the exponent counts
    (("pow", P - 1, 3), 3),
    (("pow", 2, (1 << 32) - 1), 33),
    (("log_2_floor", 8, 0), 5),
    (("pop_count", 1 << 31, 0), 33),
])
def test_u32_entry_rows(entry, rows):
    assert u32_entry_rows(*entry) == rows


def test_u32_height_counts_distinct_entries_once():
    assert cost.u32_height([("lt", 3, 5), ("lt", 3, 5), ("lt", 5, 3)]) == 8


def test_table_heights_helpers():
    h = TableHeights(program=10, processor=300, op_stack=2, ram=0, jump_stack=300, hash=6, cascade=70,
                     lookup=256, u32=0)
    assert h.max == 300 and h.tallest == "processor" and h.padded_height == 512
    assert h.as_dict() == {"program": 10, "processor": 300, "op_stack": 2, "ram": 0, "jump_stack": 300,
                           "hash": 6, "cascade": 70, "lookup": 256, "u32": 0}
    assert list(h.as_dict()) == list(TableHeights._fields)


def test_attestation_digest_is_the_program_digest():
    words = (1, 7, 1, 3, 6, 0)
    assert cost.program_attestation(words).digest == tip5.program_digest(list(words))
    assert cost.program_attestation(words).permutations == 1


# ------------------------------------------------------------------------------------- whole programs


def test_halt_alone():
    # 1 word -> Program 10, one attestation permutation -> Hash 6
    assert heights("halt") == TableHeights(program=10, processor=1, op_stack=0, ram=0, jump_stack=1, hash=6,
                                           cascade=len(attestation_limbs("halt")), lookup=256, u32=0)
    assert run("halt").padded_height == 256  # the Lookup table alone sets the floor


def test_straight_line_block_without_halt():
    # push 1 push 2 add: 5 words -> Program 10; 3 cycles; op stack +1 +1 -1 -> 3 rows
    assert heights("push 1 push 2 add") == TableHeights(
        program=10, processor=3, op_stack=3, ram=0, jump_stack=3, hash=6,
        cascade=len(attestation_limbs("push 1 push 2 add")), lookup=256, u32=0)


def test_program_length_crossing_a_multiple_of_ten():
    # 9 words: 9 + 1 = 10 fits one chunk; 10 words: 11 needs two chunks -> Program 20, Hash 12
    assert heights("push 1 push 2 push 3 push 4 nop")[:1] == (10,)
    h = heights("push 1 push 2 push 3 push 4 push 5")
    assert (h.program, h.hash, h.op_stack) == (20, 12, 5)


def test_floor_does_not_change_heights():
    assert heights("push 1 add", floor=tuple(range(16))) == heights("push 1 add")


def test_u32_heavy_program_deduplicates_entries():
    program = """
        push 5 push 3 lt                // (lt, 3, 5): max 5 -> 2 + 2 = 4 rows
        push 5 push 3 lt                // the same entry again: no new rows
        push 3 push 5 lt                // (lt, 5, 3): 4 rows
        push 6 push 3 and               // (and, 3, 6): 2 + 2 = 4 rows
        push 6 push 3 xor               // xor records (and, 3, 6) too: no new rows
        push 0 push 0 and               // (and, 0, 0): 1 row
        push 4294967295 pop_count       // (pop_count, 2^32 - 1, 0): 2 + 31 = 33 rows
        halt
    """
    h = heights(program)
    assert h.u32 == 4 + 4 + 4 + 1 + 33
    # 13 pushes (+1 each), 6 binary u32 ops (-1 each), pop_count and halt (0)
    assert h.op_stack == 13 + 6
    assert h.processor == h.jump_stack == 13 + 6 + 1 + 1
    # 13 two-word + 8 one-word instructions = 34 words; 35 -> Program 40, 4 attestation permutations
    assert (h.program, h.hash) == (40, 24)


def test_pow_div_mod_split_entries():
    program = """
        push 10 push 2 pow              // (pow, 2, 10): exponent 10 -> 2 + 3 = 5 rows
        push 3 push -1 pow              // (pow, p - 1, 3): 2 + 1 = 3 rows, the base does not count
        push 7 push 31 div_mod          // (lt, 3, 7): 4 rows; (split, 31, 4): 2 + 4 = 6 rows
        push 0 split                    // (split, 0, 0): 1 row
        push 4294967296 split           // (split, lo 0, hi 1): 2 rows
    """
    ex = run(program)
    assert ex.heights.u32 == 5 + 3 + 4 + 6 + 1 + 2
    assert ex.stack[-8:] == (1024, P - 1, 4, 3, 0, 0, 1, 0)


def test_hash_and_sponge_rows_and_cascade():
    program = """
        push 0 push 1 push 2 push 3 push 4 push 5 push 6 push 7 push 8 push 9
        hash                            // 1 permutation: 6 rows
        sponge_init                     // 1 row, no permutation, no lookups
        sponge_squeeze                  // 1 permutation: 6 rows
        halt
    """
    h = heights(program)
    # 10 two-word + 4 one-word instructions = 24 words; 25 -> Program 30: 3 attestation permutations
    assert h.program == 30
    assert h.hash == 6 * 3 + 6 + 1 + 6
    assert h.op_stack == 10 + 5 + 10  # pushes, hash (-5), squeeze (+10)
    hash_trace = tip5.permutation_trace(list(range(9, -1, -1)) + [1] * 6)  # st_i = 9 - i, capacity 1s
    squeeze_trace = tip5.permutation_trace([0] * 16)  # a fresh sponge squeezes, then permutes
    limbs = attestation_limbs(program) | tip5.lookup_limbs(hash_trace) | tip5.lookup_limbs(squeeze_trace)
    assert h.cascade == len(limbs)


@pytest.mark.parametrize("program, ram_rows, op_stack_rows", [
    ("push 10 push 20 write_mem 1", 1, 2 + 1),
    ("push 1 push 2 push 3 push 20 write_mem 3", 3, 4 + 3),
    ("push 20 read_mem 5", 5, 1 + 5),
    ("push 0 push 0 push 0 push 30 push 40 xx_dot_step", 6, 5),
    ("push 0 push 0 push 0 push 30 push 40 xb_dot_step", 4, 5),
    ("sponge_init push 0 sponge_absorb_mem", 10, 1),
    ("push 0 push 0 push 0 push 0 push 0 push 0 push 0 push 0 merkle_step_mem", 5, 8),
])
def test_ram_rows(program, ram_rows, op_stack_rows):
    h = heights(program)
    assert (h.ram, h.op_stack) == (ram_rows, op_stack_rows)


def test_op_stack_rows_are_abs_delta():
    # moves and in-place operations touch no underflow memory; divine n and hash move n and 5 words
    assert heights("pick 3 place 3 swap 3 dup 3 nop addi 1 invert").op_stack == 1
    assert heights("divine 3", secret_input=(1, 2, 3)).op_stack == 3
    assert heights("push 1 push 2 push 3 write_io 3").op_stack == 6


def test_merkle_step_rows():
    ex = run("push 6 push 0 push 0 push 0 push 0 push 0 merkle_step", secret_digests=[(1, 2, 3, 4, 5)])
    # 7 instructions, 14 - 1 = 13 words -> Program 20: 2 attestation permutations + 1
    assert ex.heights.hash == 6 * 2 + 6
    assert ex.heights.u32 == u32_entry_rows("split", 6, 3) == 2 + 2
    assert ex.heights.ram == 0 and ex.heights.op_stack == 6


def test_a_long_loop_sets_the_padded_height():
    program = "push 100 call l halt l: addi -1 dup 0 push 0 eq skiz return recurse"
    ex = run(program)
    # each of the 100 passes runs 6 instructions (addi dup push eq skiz, then recurse or return)
    assert ex.cycles == 2 + 100 * 6 + 1
    h = ex.heights
    assert h.processor == h.jump_stack == 603
    assert h.op_stack == 1 + 100 * 4  # push; per pass dup +1, push +1, eq -1, skiz -1
    assert h.tallest == "processor" and ex.padded_height == 1024
