"""The reference VM: every instruction's result and operand order, every crash kind and the check order,
control flow, RAM, I/O, the 16-element floor and the cycle bound.

Expected values come from triton-vm v7.0.0's ``vm.rs`` (summarised in shared/docs/triton-vm.md), worked out by
hand in the comments; hashing is checked against :mod:`tasm_env.tip5` and extension-field arithmetic against
:mod:`tasm_env.field`.
"""

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tasm_env as te
from tasm_env import field as ff
from tasm_env import testing as tst
from tasm_env import tip5, vm, vm_decode
from tasm_env.asm import Instruction, Program
from tasm_env.errors import InputError, VMError
from tasm_env.vm import initial_floor, run

P = ff.P
ZEROS = (0,) * 16
COUNTING = tuple(range(16))  # top last: st0 = 15, st15 = 0


def top(program, n, **kwargs):
    """The top ``n`` stack elements (top last) after running ``program``."""
    return run(program, **kwargs).stack[-n:]


def crash(program, **kwargs) -> VMError:
    with pytest.raises(VMError) as info:
        run(program, **kwargs)
    return info.value


# ------------------------------------------------------------------------------------- initial state


def test_initial_stack_is_the_program_digest_then_zeros():
    program = Program.parse("push 1 halt")
    digest = tip5.program_digest(program.to_words())
    ex = run(program)
    # OpStack::new: the bottom 5 words are the reversed digest, so st11 = digest[0] ... st15 = digest[4]
    assert ex.stack == tuple(reversed(digest)) + (0,) * 11 + (1,)
    assert initial_floor(program) == tuple(reversed(digest)) + (0,) * 11
    floor = initial_floor(program)
    assert floor[-1 - 11] == digest[0] and floor[-1 - 15] == digest[4]


def test_stack_values_go_on_top_of_the_floor_in_order():
    ex = run("nop", stack=(5, 9))
    assert ex.stack[:16] == initial_floor("nop")
    assert ex.stack[16:] == (5, 9)


def test_floor_replaces_the_initial_stack():
    ex = run("", stack=(7,), floor=COUNTING)
    assert ex.stack == COUNTING + (7,)
    assert ex.cycles == 0 and not ex.halted


@pytest.mark.parametrize("kwargs, needle", [
    ({"stack": (-1,)}, "[0, p)"),
    ({"stack": (P,)}, "[0, p)"),
    ({"stack": (True,)}, "bool"),
    ({"stack": (1.0,)}, "float"),
    ({"stack": ("3",)}, "str"),
    ({"stack": 5}, "sequence"),
    ({"public_input": (P + 3,)}, "public_input[0]"),
    ({"secret_input": (1, -5)}, "secret_input[1]"),
    ({"secret_digests": ((1, 2, 3, 4),)}, "5 words"),
    ({"secret_digests": ((1, 2, 3, 4, P),)}, "secret_digests[0]"),
    ({"ram": {-1: 0}}, "ram address"),
    ({"ram": {3: P}}, "ram[3]"),
    ({"ram": [(1, 2)]}, "mapping"),
    ({"floor": (0,) * 15}, "exactly 16"),
    ({"max_cycles": -1}, "max_cycles"),
    ({"ram_seed": -2}, "ram_seed"),
])
def test_bad_values_are_rejected_with_a_clear_message(kwargs, needle):
    with pytest.raises(InputError) as info:
        run("nop", **kwargs)
    assert needle in str(info.value)
    assert isinstance(info.value, te.TasmError)


def test_numpy_integers_are_accepted():
    np = pytest.importorskip("numpy")
    ex = run("add", stack=np.array([2, 3], dtype=np.uint64), floor=ZEROS)
    assert ex.stack[-1] == 5 and type(ex.stack[-1]) is int


def test_text_and_programs_give_the_same_run():
    assert run("push 1 push 2 add") == run(Program.parse("push 1 push 2 add"))


def test_execution_is_frozen():
    ex = run("push 1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ex.cycles = 5


# ------------------------------------------------------------------- worked examples (triton-vm.md §2)


@pytest.mark.parametrize("program, expected", [
    ("push 7 push 3 lt", (1,)),  # st0 = 3 < st1 = 7
    ("push 3 push 7 lt", (0,)),
    ("push 3 push 3 lt", (0,)),
    ("push 2 push 10 pow", (100,)),  # base st0 = 10, exponent st1 = 2
    ("push 7 push 31 div_mod", (4, 3)),  # numerator st0 = 31, denominator st1 = 7: q = 4, r = 3 on top
    ("push -1 split", (4294967295, 0)),  # p - 1 = (2^32 - 1) * 2^32: hi then lo
    ("push 4294967301 split", (1, 5)),  # 2^32 + 5
])
def test_worked_examples(program, expected):
    assert top(program, len(expected), floor=ZEROS) == expected


def test_write_io_emits_st0_first():
    assert run("push 5 push 6 write_io 2").output == (6, 5)


def test_write_mem_one_word():
    ex = run("push 10 push 20 write_mem 1")
    assert ex.ram == {20: 10}
    assert ex.stack[-1] == 21 and len(ex.stack) == 17


# ------------------------------------------------------------------------------- stack manipulation


def test_push_reduces_negative_literals():
    assert top("push -1 push -5", 2) == (P - 1, P - 5)


def test_pop():
    assert run("push 1 push 2 push 3 pop 2", floor=ZEROS).stack == ZEROS + (1,)


@pytest.mark.parametrize("program, expected", [
    ("dup 0", COUNTING + (15,)),
    ("dup 15", COUNTING + (0,)),
    ("swap 0", COUNTING),
    ("swap 1", COUNTING[:14] + (15, 14)),
    ("swap 15", (15,) + COUNTING[1:15] + (0,)),
    ("pick 0", COUNTING),
    ("pick 2", COUNTING[:13] + (14, 15, 13)),  # st2 = 13 moves to the top
    ("pick 15", COUNTING[1:] + (0,)),
    ("place 0", COUNTING),
    ("place 2", COUNTING[:13] + (15, 13, 14)),  # st0 = 15 moves to position 2
    ("place 15", (15,) + COUNTING[:15]),
    ("nop", COUNTING),
])
def test_stack_moves(program, expected):
    assert run(program, floor=COUNTING).stack == expected


def test_divine_pushes_the_first_token_deepest():
    ex = run("divine 2", secret_input=(7, 8, 9))
    assert ex.stack[-2:] == (7, 8)
    assert ex.secret_input_consumed == 2


def test_read_io_pushes_the_first_token_deepest():
    ex = run("read_io 2 read_io 1", public_input=(1, 2, 3))
    assert ex.stack[-3:] == (1, 2, 3)
    assert ex.public_input_consumed == 3


def test_write_io_five():
    ex = run("push 1 push 2 push 3 push 4 push 5 write_io 5 write_io 1", stack=(99,), floor=COUNTING)
    assert ex.output == (5, 4, 3, 2, 1, 99)


# ---------------------------------------------------------------------------------- field arithmetic


@pytest.mark.parametrize("program, expected", [
    ("push -1 push 2 add", 1),
    ("push 5 push 6 add", 11),
    ("push -1 addi 1", 0),
    ("push 5 addi -7", P - 2),
    ("push -1 push -1 mul", 1),
    ("push 4294967296 push 4294967296 mul", (1 << 64) % P),  # 2^64 = 2^32 - 1 (mod p)
    ("push 2 invert", (P + 1) // 2),
    ("push 3 push 3 eq", 1),
    ("push 3 push 4 eq", 0),
])
def test_base_field(program, expected):
    assert top(program, 1)[0] == expected


# ---------------------------------------------------------------------------------------- u32 family


@pytest.mark.parametrize("program, expected", [
    ("push 10 push 12 and", 8),
    ("push 10 push 12 xor", 6),
    ("push 4294967295 push 0 and", 0),
    ("push 1 log_2_floor", 0),
    ("push 8 log_2_floor", 3),
    ("push 4294967295 log_2_floor", 31),
    ("push 0 pop_count", 0),
    ("push 11 pop_count", 3),
    ("push 4294967295 pop_count", 32),
    ("push 0 push 0 pow", 1),  # 0^0 = 1
    ("push 3 push -1 pow", P - 1),  # base p - 1 is no u32, but only the exponent must be: (-1)^3
    ("push 64 push 2 pow", (1 << 64) % P),
    ("push 1 push 0 div_mod", 0),  # 0 / 1: remainder 0 on top
])
def test_u32_family(program, expected):
    assert top(program, 1)[0] == expected


def test_u32_entries_are_recorded_and_deduplicated():
    ex = run("push 6 push 3 and push 6 push 3 xor push 3 push 5 lt push 3 push 5 lt")
    # xor proves its result through an `and` entry, so the first two share one entry
    assert ex.u32_entries == {("and", 3, 6), ("lt", 5, 3)}


def test_u32_entries_of_split_pow_div_mod_log_pop_count():
    ex = run("push 4294967301 split pop 2 push 2 push 10 pow pop 1 push 7 push 31 div_mod pop 2 "
             "push 8 log_2_floor pop 1 push 8 pop_count")
    assert ex.u32_entries == {
        ("split", 5, 1),  # (Split, lo, hi)
        ("pow", 10, 2),  # (Pow, base, exponent)
        ("lt", 3, 7),  # div_mod: remainder < denominator
        ("split", 31, 4),  # div_mod: (Split, numerator, quotient)
        ("log_2_floor", 8, 0),
        ("pop_count", 8, 0),
    }


# ---------------------------------------------------------------------------------- extension field


def xfe_push(x):
    """TASM that pushes the XFE x so that coefficient 0 ends in st0."""
    return f"push {x[2]} push {x[1]} push {x[0]}"


def xfe_top(stack):
    return (stack[-1], stack[-2], stack[-3])


A, B = (3, P - 5, 1 << 40), (7, 11, P - 2)


def test_xx_add_and_xx_mul():
    assert xfe_top(run(f"{xfe_push(A)} {xfe_push(B)} xx_add").stack) == ff.xadd(A, B)
    assert xfe_top(run(f"{xfe_push(A)} {xfe_push(B)} xx_mul").stack) == ff.xmul(A, B)


def test_xx_mul_reduces_by_the_extension_polynomial():
    # X * X^2 = X^3 = X - 1 in F_p[X] / (X^3 - X + 1)
    assert xfe_top(run(f"{xfe_push((0, 1, 0))} {xfe_push((0, 0, 1))} xx_mul").stack) == (P - 1, 1, 0)


def test_x_invert():
    inverse = xfe_top(run(f"{xfe_push(A)} x_invert").stack)
    assert ff.xmul(inverse, A) == (1, 0, 0)


def test_xb_mul_pops_the_base_element_then_the_extension_element():
    ex = run(f"{xfe_push(A)} push 9 xb_mul")
    assert xfe_top(ex.stack) == ff.xbmul(9, A)
    assert len(ex.stack) == 19


# ------------------------------------------------------------------------------------------------ RAM


def test_write_mem_then_read_mem_round_trip():
    # write_mem 3: m[100] = old st1 = 3, m[101] = 2, m[102] = 1; leaves 103
    ex = run("push 1 push 2 push 3 push 100 write_mem 3", floor=ZEROS)
    assert ex.ram == {100: 3, 101: 2, 102: 1}
    assert ex.stack == ZEROS + (103,)
    # read_mem 3 at 102 pushes m[102], m[101], m[100], then 99: the written order comes back
    ex = run("push 1 push 2 push 3 push 100 write_mem 3 pop 1 push 102 read_mem 3", floor=ZEROS)
    assert ex.stack == ZEROS + (1, 2, 3, 99)


def test_read_mem_pointer_wraps_around():
    ex = run("push 1 read_mem 3", ram={1: 11, 0: 10, P - 1: 9})
    assert ex.stack[-4:] == (11, 10, 9, P - 2)
    assert ex.ram == {1: 11, 0: 10, P - 1: 9}


def test_unwritten_ram_reads_zero_and_only_touched_cells_are_reported():
    ex = run("push 5 read_mem 1 pop 1 push 7 read_mem 1", ram={5: 42, 6: 43})
    assert ex.stack[-2:] == (0, 6)
    assert ex.ram == {5: 42, 7: 0}


def test_ram_seed_gives_pseudo_random_unwritten_cells():
    ex = run("push 5 read_mem 1 push 5 read_mem 1", ram_seed=7, ram={6: 1})
    value = int(ff.mix(5, 7))
    assert ex.stack[-4:] == (value, 4, value, 4)
    assert ex.ram == {5: value}
    assert run("push 6 read_mem 1", ram_seed=7, ram={6: 1}).stack[-2] == 1  # given cells win


# -------------------------------------------------------------------------------------------- hashing


TEN = "push 1 push 2 push 3 push 4 push 5 push 6 push 7 push 8 push 9 push 10"  # st_i = 10 - i


def test_hash_uses_st0_first_and_leaves_digest_0_on_top():
    ex = run(f"{TEN} hash", floor=ZEROS)
    digest = tip5.hash_10(list(range(10, 0, -1)))
    assert ex.stack == ZEROS + tuple(reversed(digest))
    assert ex.permutations == 1 and ex.sponge is None


def test_sponge_absorb_then_squeeze():
    ex = run(f"sponge_init {TEN} sponge_absorb sponge_squeeze", floor=ZEROS)
    sponge = tip5.Sponge()
    sponge.absorb(list(range(10, 0, -1)))
    squeezed = sponge.squeeze()
    assert ex.stack == ZEROS + tuple(reversed(squeezed))  # state[0] on top
    assert ex.sponge == sponge
    assert ex.permutations == 2 and ex.sponge_inits == 1


def test_sponge_absorb_mem_overwrites_st1_to_st4():
    ram = {100 + k: 1000 + k for k in range(10)}
    ex = run("sponge_init push 4 push 3 push 2 push 1 push 100 sponge_absorb_mem", ram=ram, floor=ZEROS)
    # `_ dcba p` -> st0 = p + 10, st1..st4 = m[p], m[p+1], m[p+2], m[p+3]
    assert ex.stack == ZEROS + (1003, 1002, 1001, 1000, 110)
    sponge = tip5.Sponge()
    sponge.absorb([1000 + k for k in range(10)])
    assert ex.sponge == sponge
    assert ex.ram == ram


def test_sponge_init_resets():
    ex = run(f"sponge_init {TEN} sponge_absorb sponge_init")
    assert ex.sponge == tip5.Sponge()


def test_assert_vector_compares_st_i_with_st_i_plus_5():
    ex = run("push 1 push 2 push 3 push 4 push 5 push 1 push 2 push 3 push 4 push 5 assert_vector", floor=ZEROS)
    assert ex.stack == ZEROS + (1, 2, 3, 4, 5)
    err = crash("push 1 push 2 push 3 push 4 push 5 push 1 push 2 push 3 push 9 push 5 assert_vector")
    assert err.kind == "assertion_failed" and "st1" in err.message


DIGEST = (11, 12, 13, 14, 15)


@pytest.mark.parametrize("node_index, left_is_current", [(6, True), (7, False)])
def test_merkle_step(node_index, left_is_current):
    # `_ i edcba` with st0 = a = 1 ... st4 = e = 5
    ex = run(f"push {node_index} push 5 push 4 push 3 push 2 push 1 merkle_step", secret_digests=[DIGEST],
             floor=ZEROS)
    current = [1, 2, 3, 4, 5]
    pair = current + list(DIGEST) if left_is_current else list(DIGEST) + current
    parent = tip5.hash_10(pair)
    assert ex.stack == ZEROS + (node_index // 2,) + tuple(reversed(parent))
    assert ex.secret_digests_consumed == 1
    assert ex.u32_entries == {("split", node_index, node_index // 2)}


def test_merkle_step_mem_reads_the_sibling_from_ram():
    ram = {50 + k: DIGEST[k] for k in range(5)}
    ex = run("push 50 push 99 push 6 push 5 push 4 push 3 push 2 push 1 merkle_step_mem", ram=ram, floor=ZEROS)
    parent = tip5.hash_10([1, 2, 3, 4, 5] + list(DIGEST))
    # `_ p f i edcba` -> `_ (p+5) f (i div 2) zyxwv`
    assert ex.stack == ZEROS + (55, 99, 3) + tuple(reversed(parent))
    assert ex.ram == ram


def test_xx_dot_step():
    ram = {10: 1, 11: 2, 12: 3, 20: 4, 21: 5, 22: 6}
    acc = (7, 8, 9)
    ex = run(f"{xfe_push(acc)} push 20 push 10 xx_dot_step", ram=ram, floor=ZEROS)
    # `_ acc *b *a` -> `_ acc + m[*a]·m[*b] (*b+3) (*a+3)`
    expected = ff.xadd(acc, ff.xmul((1, 2, 3), (4, 5, 6)))
    assert ex.stack[-2:] == (23, 13)
    assert xfe_top(ex.stack[:-2]) == expected
    assert len(ex.stack) == 21


def test_xb_dot_step():
    ram = {10: 3, 20: 4, 21: 5, 22: 6}
    acc = (7, 8, 9)
    ex = run(f"{xfe_push(acc)} push 20 push 10 xb_dot_step", ram=ram, floor=ZEROS)
    # the base-field element is at *a = st0, which advances by 1
    assert ex.stack[-2:] == (23, 11)
    assert xfe_top(ex.stack[:-2]) == ff.xadd(acc, ff.xbmul(3, (4, 5, 6)))


# ----------------------------------------------------------------------------------------- control flow


def test_halt_counts_and_stops():
    ex = run("push 1 halt push 2")
    assert ex.stack[-1] == 1 and ex.cycles == 2 and ex.halted


def test_a_block_without_halt_runs_off_the_end():
    ex = run("push 1 push 2")
    assert ex.cycles == 2 and not ex.halted


def test_empty_program():
    ex = run("")
    assert ex.cycles == 0 and ex.stack == initial_floor("")


@pytest.mark.parametrize("program, expected, cycles", [
    ("push 0 skiz push 5 push 6", (0, 6), 3),  # skips a two-word instruction
    ("push 1 skiz push 5 push 6", (5, 6), 4),
    ("push 9 skiz push 5 push 6", (5, 6), 4),  # any non-zero value runs the next instruction
    ("push 3 push 4 push 0 skiz add", (3, 4), 4),  # skips a one-word instruction
    ("push 3 push 4 push 1 skiz add", (0, 7), 5),
    ("push 0 skiz call f push 9 halt f: push 8 return", (0, 9), 4),  # skips a call
    ("push 0 skiz", (0, 0), 2),  # nothing to skip: the run ends
])
def test_skiz(program, expected, cycles):
    ex = run(program, floor=ZEROS)
    assert ex.stack[-2:] == expected and ex.cycles == cycles


def test_nested_call_and_return():
    ex = run("call a halt a: call b push 1 return b: push 2 return", floor=ZEROS)
    assert ex.stack == ZEROS + (2, 1)
    assert ex.cycles == 7 and ex.jump_stack == ()


def test_call_pushes_origin_and_destination_addresses():
    ex = run("push 1 call f f: push 2")
    # call at address 2 (push 1 takes two words): origin 4 = address after the call, destination 4 = f
    assert ex.jump_stack == ((4, 4),)


def test_recurse_loop_with_skiz_return():
    program = "push 3 call loop halt loop: dup 0 push 0 eq skiz return addi -1 recurse"
    ex = run(program, floor=ZEROS)
    # push, call; 3 passes of dup push eq skiz addi recurse (the skipped return does not run); the exit pass
    # dup push eq skiz return; halt
    assert ex.stack == ZEROS + (0,)
    assert ex.cycles == 2 + 3 * 6 + 5 + 1


def test_recurse_or_return_loops_until_st5_equals_st6():
    # `_ end i p p p p acc`: st6 = end = 4, st5 = i; the body does i += 1, acc += i
    program = """
        push 4 push 0 push 0 push 0 push 0 push 0 push 0
        call loop halt
        loop: pick 5 addi 1 dup 0 pick 2 add swap 1 place 5 recurse_or_return
    """
    ex = run(program, floor=ZEROS)
    assert ex.stack == ZEROS + (4, 4, 0, 0, 0, 0, 10)
    assert ex.cycles == 7 + 1 + 4 * 8 + 1


@pytest.mark.parametrize("program", ["return", "recurse", "recurse_or_return", "call f return f: return"])
def test_jump_stack_empty(program):
    err = crash(program)
    assert err.kind == "jump_stack_empty"


def test_call_to_an_address_inside_an_instruction_is_refused():
    with pytest.raises(te.TasmError, match="not the start of an instruction"):
        run(Program([Instruction("push", 1), Instruction("call", 1)]))


# ------------------------------------------------------------------------------------------ max_cycles


def test_max_cycles_allows_exactly_that_many():
    assert run("push 1 push 2 push 3", max_cycles=3).cycles == 3
    err = crash("push 1 push 2 push 3", max_cycles=2)
    assert (err.kind, err.cycle, err.ip, err.instruction) == ("max_cycles", 2, 4, "push 3")


def test_max_cycles_stops_an_endless_loop():
    err = crash("call f f: recurse", max_cycles=1000)
    assert err.kind == "max_cycles" and err.cycle == 1000


def test_max_cycles_is_checked_before_the_instruction_would_crash():
    assert crash("push 1 pop 1 pop 1", max_cycles=2).kind == "max_cycles"
    assert crash("push 1 pop 1 pop 1", max_cycles=3).kind == "stack_too_shallow"


def test_max_cycles_zero():
    assert run("", max_cycles=0).cycles == 0
    assert crash("nop", max_cycles=0).cycle == 0


# ------------------------------------------------------------------------------------ crashes, in order


def test_crash_reports_cycle_ip_and_instruction():
    err = crash("push 1 push 2 push -1 lt")
    assert (err.kind, err.cycle, err.ip, err.instruction) == ("u32_operand", 3, 6, "lt")
    assert "st0" in err.message


def test_the_floor_pop_on_a_fresh_stack():
    err = crash("pop 1")
    assert (err.kind, err.cycle, err.ip) == ("stack_too_shallow", 0, 0)
    assert crash("push 1 pop 2").kind == "stack_too_shallow"
    assert run("push 1 pop 1").cycles == 2


@pytest.mark.parametrize("program, floor, kind", [
    # the depth check comes first: these would also fail their own check
    ("assert", ZEROS, "stack_too_shallow"),
    ("lt", (P - 1,) * 16, "stack_too_shallow"),
    ("skiz", ZEROS, "stack_too_shallow"),
    ("write_io 1", ZEROS, "stack_too_shallow"),
    ("push 0 push 0 push 0 push 0 assert_vector", COUNTING, "stack_too_shallow"),  # 20 - 5 < 16
    (" ".join(["push 1"] * 9) + " sponge_absorb", ZEROS, "stack_too_shallow"),  # 25 - 10 < 16
    (" ".join(["push 1"] * 10) + " sponge_absorb", ZEROS, "sponge_not_initialised"),
    ("push 1 push 2 hash", ZEROS, "stack_too_shallow"),
    # u32 checks before division by zero and log of zero
    ("push 0 push -1 div_mod", ZEROS, "u32_operand"),
    ("push -1 push 0 div_mod", ZEROS, "u32_operand"),
    ("push 0 push 5 div_mod", ZEROS, "division_by_zero"),
    ("push -1 log_2_floor", ZEROS, "u32_operand"),
    ("push 0 log_2_floor", ZEROS, "log_of_zero"),
    ("push -1 push 2 pow", ZEROS, "u32_operand"),  # exponent st1 = p - 1
    ("push 1 push 4294967296 and", ZEROS, "u32_operand"),
    ("push 4294967296 push 1 xor", ZEROS, "u32_operand"),
    ("push -1 pop_count", ZEROS, "u32_operand"),
    # merkle_step: u32 node index before the digest queue
    ("push -1 push 0 push 0 push 0 push 0 push 0 merkle_step", ZEROS, "u32_operand"),
    ("push 1 push 0 push 0 push 0 push 0 push 0 merkle_step", ZEROS, "secret_digests_exhausted"),
    ("push -1 push 0 push 0 push 0 push 0 push 0 merkle_step_mem", ZEROS, "u32_operand"),
    ("push 0 invert", ZEROS, "inverse_of_zero"),
    ("push 0 push 0 push 0 x_invert", ZEROS, "inverse_of_zero"),
    ("push 2 assert", ZEROS, "assertion_failed"),
    ("sponge_squeeze", ZEROS, "sponge_not_initialised"),
    ("push 0 sponge_absorb_mem", ZEROS, "sponge_not_initialised"),
    ("read_io 1", ZEROS, "public_input_exhausted"),
    ("divine 1", ZEROS, "secret_input_exhausted"),
])
def test_crash_kinds_and_check_order(program, floor, kind):
    assert crash(program, floor=floor).kind == kind


def test_u32_checks_st0_before_st1():
    assert "st0" in crash("push -1 push -1 lt").message
    assert "st1" in crash("push -1 push 1 lt").message


def test_input_exhaustion_reports_what_is_left():
    err = crash("read_io 3", public_input=(1, 2))
    assert "2 left" in err.message
    err = crash("divine 2", secret_input=(1,))
    assert "1 left" in err.message


def test_every_crash_kind_is_reachable():
    programs = ["pop 1", "push -1 push 0 lt", "push 0 invert", "push 0 push 1 div_mod", "push 0 log_2_floor",
                "push 0 assert", "read_io 1", "divine 1", "push 0 " * 6 + "merkle_step", "sponge_squeeze", "return"]
    kinds = {crash(program, floor=ZEROS).kind for program in programs}
    kinds.add(crash("call f f: recurse", max_cycles=5).kind)
    assert kinds == set(te.errors.VM_ERROR_KINDS)


# ------------------------------------------------------------------------------ interpreter vs compiled


def _observable(program, **kwargs):
    try:
        ex = run(program, **kwargs)
    except VMError as err:
        return ("crash", err.kind, err.cycle, err.ip)
    return ("ok", ex.stack, ex.output, ex.ram, ex.cycles, ex.halted, ex.jump_stack, ex.u32_entries,
            ex.public_input_consumed, ex.secret_input_consumed, ex.secret_digests_consumed, ex.heights)


def _interpreted_then_compiled(program, **kwargs):
    vm_decode.clear_cache()
    interpreted = _observable(program, **kwargs)
    decoded = vm_decode.decoded(program)
    for start in list(decoded.blocks):
        decoded.compile(start)
    compiled = _observable(program, **kwargs)
    vm_decode.clear_cache()
    return interpreted, compiled


_CONTROL = ["skiz", "return", "recurse", "recurse_or_return", "halt", "call"]


@st.composite
def programs_with_control_flow(draw):
    """Random instructions, some of them control flow, with two labels to call."""
    body = draw(st.lists(st.one_of(tst.instructions(), st.sampled_from(_CONTROL)), max_size=14))
    labels = {"f": draw(st.integers(0, len(body))), "g": draw(st.integers(0, len(body)))}
    instructions = []
    for item in body:
        if item == "call":
            instructions.append(Instruction("call", draw(st.sampled_from(["f", "g"]))))
        elif isinstance(item, str):
            instructions.append(Instruction(item))
        else:
            instructions.append(item)
    return Program(instructions, labels)


_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(tst.straight_line_programs(max_length=20), tst.stacks(16, 24), tst.input_tokens(), tst.input_tokens(),
       tst.digests(), st.sampled_from([0, 3]))
def test_compiled_blocks_behave_as_interpreted(program, stack, public, secret, digests, seed):
    interpreted, compiled = _interpreted_then_compiled(
        program, stack=stack[16:], floor=stack[:16], public_input=public, secret_input=secret,
        secret_digests=digests, ram_seed=seed)
    assert interpreted == compiled


@_SETTINGS
@given(programs_with_control_flow(), tst.stacks(16, 22), st.integers(0, 60))
def test_compiled_control_flow_behaves_as_interpreted(program, stack, max_cycles):
    interpreted, compiled = _interpreted_then_compiled(program, stack=stack[16:], floor=stack[:16],
                                                       max_cycles=max_cycles)
    assert interpreted == compiled


def test_a_hot_program_gets_compiled_and_agrees():
    program = Program.parse("push 30 call loop halt loop: dup 0 push 0 eq skiz return addi -1 recurse")
    vm_decode.clear_cache()
    first = run(program)  # the loop body runs 31 times
    for _ in range(vm.COMPILE_AFTER // 30 + 1):
        run(program)
    decoded = vm_decode.decoded(program)
    assert any(decoded.is_compiled(start) for start in decoded.blocks), "nothing compiled"
    assert run(program) == first


# --------------------------------------------------------------------------- the lazily written digest


def _everything(ex):
    """Every observable part of an Execution, the table heights included."""
    return (ex.stack, ex.output, ex.ram, ex.cycles, ex.halted, ex.jump_stack, ex.u32_entries, ex.sponge,
            ex.public_input_consumed, ex.secret_input_consumed, ex.secret_digests_consumed, ex.op_stack_rows,
            ex.ram_rows, ex.permutations, ex.sponge_inits, ex.cascade_limbs, ex.heights, ex.padded_height)


def _lazy_and_eager(program, stack, **kwargs):
    """The default run (digest slots written only when reached) and the same run on the eagerly computed
    initial stack given as the floor."""
    def outcome(**extra):
        vm_decode.clear_cache()
        try:
            return ("ok", _everything(run(program, stack=stack, **kwargs, **extra)))
        except VMError as err:
            return ("crash", err.kind, err.cycle, err.ip, err.message)
    return outcome(), outcome(floor=initial_floor(program))


# programs that reach deep: often stack indices next to the digest slots, and instructions that read 10 slots
_DEEP = st.one_of(
    st.builds(Instruction, st.sampled_from(["dup", "swap", "pick", "place"]), st.integers(9, 15)),
    tst.instructions(("dup", "swap", "pick", "place", "pop", "add", "hash", "assert_vector", "eq", "split",
                      "push", "sponge_init", "sponge_absorb", "xx_add", "write_io", "divine")))


@_SETTINGS
@given(st.lists(_DEEP, max_size=16).map(Program), st.lists(tst.stack_values(), max_size=4).map(tuple),
       tst.input_tokens())
def test_the_lazy_digest_gives_the_eager_execution(program, stack, secret):
    lazy, eager = _lazy_and_eager(program, stack, secret_input=secret)
    assert lazy == eager


@_SETTINGS
@given(programs_with_control_flow(), st.lists(tst.stack_values(), max_size=6).map(tuple), st.integers(0, 60))
def test_the_lazy_digest_gives_the_eager_execution_with_control_flow(program, stack, max_cycles):
    lazy, eager = _lazy_and_eager(program, stack, max_cycles=max_cycles)
    assert lazy == eager


@_SETTINGS
@given(st.lists(_DEEP, max_size=16).map(Program), st.lists(tst.stack_values(), max_size=4).map(tuple))
def test_compiled_blocks_write_the_pending_digest_as_the_interpreter_does(program, stack):
    """Compiled code has no per-instruction checks: the block's depth and reach, computed at compilation,
    decide the digest and the depth crash, as the interpreted handlers' own checks do (and as the eager
    digest gives)."""
    interpreted, compiled = _interpreted_then_compiled(program, stack=stack)
    assert interpreted == compiled
    assert interpreted == _observable(program, stack=stack, floor=initial_floor(program))


@pytest.mark.parametrize("text, reads_digest", [
    ("dup 10", False), ("dup 11", True), ("swap 11", True), ("pick 15", True), ("place 11", True),
    ("push 0 dup 11", False), ("push 0 dup 12", True), ("dup 0 dup 0 dup 0 dup 0 dup 0 hash dup 10", False),
    ("dup 0 dup 0 dup 0 dup 0 dup 0 hash dup 11", True), ("add", False),  # crashes before it reads anything
])
def test_the_digest_is_computed_exactly_when_the_program_reaches_it(text, reads_digest, monkeypatch):
    from tasm_env import vm_handlers
    calls = []
    real = vm_handlers.program_digest_slots
    monkeypatch.setattr(vm_handlers, "program_digest_slots", lambda p: calls.append(p) or real(p))
    vm_decode.clear_cache()
    try:
        ex = run(text)
    except VMError:
        ex = None
    assert bool(calls) == reads_digest
    if ex is not None:  # filled in on access either way
        assert ex.stack == run(text, floor=initial_floor(text)).stack


def test_reading_the_digest_words_sees_the_digest():
    program = Program.parse("dup 11 dup 15")  # digest[0], then digest[3] (one deeper after the first dup)
    digest = tip5.program_digest(program.to_words())
    assert run(program).stack[-2:] == (digest[0], digest[3])
