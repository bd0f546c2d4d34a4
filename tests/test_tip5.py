"""Tests for tasm_env.tip5: known answers from the reference implementations, scalar vs vectorised, sponge
semantics and Triton's Cascade-limb rule."""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasm_env import tip5
from tasm_env.field import P
from tasm_env.tip5 import (
    CAPACITY,
    DIGEST_LEN,
    LOOKUP_TABLE,
    MDS_MATRIX_FIRST_COLUMN,
    NUM_ROUNDS,
    RATE,
    ROUND_CONSTANTS,
    STATE_SIZE,
    Sponge,
    from_montgomery,
    hash_10,
    hash_pair,
    hash_varlen,
    lookup_limbs,
    permutation,
    permutation_trace,
    program_attestation_traces,
    program_digest,
    to_montgomery,
    vhash_10,
    vlookup_limbs,
    vpermutation,
    vpermutation_trace,
)

EDGE_VALUES = [0, 1, 2, P - 1, P - 2, (1 << 32) - 1, 1 << 32, (1 << 63), P - (1 << 32)]
felt = st.one_of(st.sampled_from(EDGE_VALUES), st.integers(0, P - 1))
state_strategy = st.lists(felt, min_size=STATE_SIZE, max_size=STATE_SIZE)


def hex_digest(hex_string: str) -> tuple[int, ...]:
    """twenty-first's `Digest::to_hex`: 5 canonical values, each as 8 little-endian bytes."""
    return struct.unpack("<5Q", bytes.fromhex(hex_string))


def columns(states: list[list[int]]) -> np.ndarray:
    return np.array(states, dtype=np.uint64).T.copy()


# --------------------------------------------------------------------------------------- constants


def test_parameters() -> None:
    assert (STATE_SIZE, RATE, CAPACITY, NUM_ROUNDS, DIGEST_LEN) == (16, 10, 6, 5, 5)
    assert len(ROUND_CONSTANTS) == NUM_ROUNDS * STATE_SIZE
    assert all(0 <= c < P for c in ROUND_CONSTANTS)


def test_lookup_table_is_offset_fermat_cube_map() -> None:
    # twenty-first v1.1.0 src/tip5/mod.rs, tests `lookup_table_is_correct` and
    # `test_fermat_cube_map_is_permutation`: LOOKUP_TABLE[i] = ((i + 1)^3 mod 257) - 1, a permutation of 0..255
    # fixing 0 and 255.
    assert list(LOOKUP_TABLE) == [((i + 1) ** 3 % 257 + 256) % 257 for i in range(256)]
    assert sorted(LOOKUP_TABLE) == list(range(256))
    assert LOOKUP_TABLE[0] == 0 and LOOKUP_TABLE[255] == 255


def test_mds_first_column_comes_from_sha256_of_tip5() -> None:
    # twenty-first v1.1.0 src/tip5/mod.rs, doc of MDS_MATRIX_FIRST_COLUMN: "SHA-256 hash of the ASCII string
    # 'Tip5' divided into 16-bit chunks" (little-endian chunks, as this check shows).
    digest = hashlib.sha256(b"Tip5").digest()
    assert list(MDS_MATRIX_FIRST_COLUMN) == [int.from_bytes(digest[i : i + 2], "little") for i in range(0, 32, 2)]


def test_round_constants_come_from_blake3() -> None:
    # twenty-first v1.1.0 src/tip5/mod.rs, test `round_constants_are_correct`: constant i is the raw (Montgomery)
    # value (first 16 bytes of blake3("Tip5" || i) as a little-endian u128) mod p.
    import blake3
    for i, constant in enumerate(ROUND_CONSTANTS):
        raw = int.from_bytes(blake3.blake3(b"Tip5" + bytes([i])).digest()[:16], "little") % P
        assert from_montgomery(raw) == constant


def test_mds_matrix_is_circulant() -> None:
    # twenty-first v1.1.0 src/tip5/naive.rs `mds_matrix_mul`: entry (row, col) = first_column[(row - col) mod 16]
    for r in range(STATE_SIZE):
        for c in range(STATE_SIZE):
            assert tip5.MDS_MATRIX[r][c] == MDS_MATRIX_FIRST_COLUMN[(r - c) % STATE_SIZE]


# ------------------------------------------------------------------------------- known answer tests


def test_hash_10_chain_decimal() -> None:
    # twenty-first v0.45.0 src/math/tip5.rs, test `hash10_test_vectors` (decimal final digest).
    preimage = [0] * RATE
    for i in range(6):
        preimage[i : i + DIGEST_LEN] = hash_10(preimage)
    assert hash_10(preimage) == (
        10869784347448351760,
        1853783032222938415,
        6856460589287344822,
        17178399545409290325,
        7650660984651717733,
    )


def test_hash_10_chain_hex_snapshot() -> None:
    # twenty-first v1.1.0 src/tip5/mod.rs, `MAGIC_SNAPSHOT_HEX` used by test `hash10_test_vectors_snapshot`.
    preimage = [0] * RATE
    for i in range(6):
        preimage[i : i + DIGEST_LEN] = hash_10(preimage)
    expected = hex_digest("109cc2fe453bd9962f754b96d8f5b919b60af030940a275f5540da195fef65ee651c1b6fa19b2c6a")
    assert hash_10(preimage) == expected


def test_hash_varlen_sum_decimal_and_hex() -> None:
    # twenty-first v0.45.0 src/math/tip5.rs, test `hash_varlen_test_vectors` (decimal sum of the digests of
    # [], [0], [0, 1], ..., [0..19]); the same sum in hex in v1.1.0 src/tip5/mod.rs `hash_varlen_test_vectors`.
    digest_sum = [0] * DIGEST_LEN
    for i in range(20):
        digest_sum = [(s + d) % P for s, d in zip(digest_sum, hash_varlen(list(range(i))))]
    expected = (
        7610004073009036015,
        5725198067541094245,
        4721320565792709122,
        1732504843634706218,
        259800783350288362,
    )
    assert tuple(digest_sum) == expected
    assert expected == hex_digest("efbafa86622a9c69652f8a1c4ffd734f021ad23a0a8085412a877de0f9170b18ea4ff69b6fff9a03")


def test_permutation_snapshot_on_raw_montgomery_state() -> None:
    # twenty-first v1.1.0 src/tip5/mod.rs, test `snapshot`: input and output are raw Montgomery u64s
    # (`BFieldElement::from_raw_u64`), output words 0..5 checked.
    raw_state = [
        0x0000_000F_FFFF_FFF0, 0x0000_0000_FFFF_FFFF, 0x0000_0000_FFFF_FFFF, 0x0000_0028_FFFF_FFD7,
        0x0000_0006_FFFF_FFF9, 0x0000_0002_FFFF_FFFD, 0x0000_0000_FFFF_FFFF, 0x0000_0030_FFFF_FFCF,
        0x0000_0397_FFFF_FC68, 0x0000_000F_FFFF_FFF0, 0x316B_FB72_3638_2123, 0x216F_521B_66EF_83F5,
        0x5689_D7B3_63F5_2DF0, 0xEB2F_59E3_AEAE_25FC, 0xB082_99D2_77CB_B4DC, 0xCBE3_D9FD_C534_9140,
    ]  # fmt: skip
    expected_raw = [0x15D3_8EA9_29F6_632A, 0xF988_E509_FF73_8BB4, 0x48BC_DFAE_88A2_E9F3, 0x8733_9E83_2DAA_C02A,
                    0x511E_4126_8150_FDAC]  # fmt: skip
    result = permutation([from_montgomery(r) for r in raw_state])
    assert [to_montgomery(x) for x in result[:5]] == expected_raw


DEGENERATE_INPUT = [
    0x1063_C4BF_5D8B_B0DD, 0xDB62_75D3_71FE_05D0, 0xDE58_CAE3_0144_CDAE, 0xC774_E646_81D3_622E,
    0xC4A9_47D1_0A5A_A466, 0xDA55_77A0_0A91_3151, 0xE80E_978B_3836_DCD0, 0x8DD1_61F0_A3AC_00C2,
    0x6857_F251_A9C0_F693, 0x4923_A368_3046_178E, 0x6E6F_C54A_9B81_010B, 0xCB84_FA5B_B9FA_EC36,
    0x93CB_F9DB_4C5C_B1EA, 0xF215_D9B9_2DC8_7266, 0x88F0_9783_D2AE_3C57, 0x6D29_F9CE_94A9_0B71,
]  # fmt: skip
DEGENERATE_OUTPUT = [
    0xA5D3_2D62_9E60_D72E, 0x5516_EF90_D277_3D74, 0x65D3_FA1C_DE45_F6CB, 0x7BF0_E725_DFA5_906B,
    0x67A2_DB4B_141B_90E9, 0x91DB_162D_3230_9083, 0xEFEC_1D00_146A_05C9, 0xCCA0_D656_6BCA_8186,
    0x405B_AEB5_B3F8_7F02, 0xD897_0158_7027_8F76, 0xD4B2_EE48_10AA_C7D1, 0x27B4_51E7_06A5_C2FC,
    0xE9B4_177F_0A0E_FFE4, 0x0C60_DEF0_F2C5_287F, 0x703A_A06D_327C_CC34, 0x536F_2355_0EBF_98F1,
]  # fmt: skip


def test_full_state_permutation_known_answer() -> None:
    # twenty-first v1.1.0 src/tip5/mod.rs, test `tip5_recovers_from_degenerate_field_element_representations`
    # (canonical values via `BFieldElement::new`, all 16 output words).
    assert permutation(DEGENERATE_INPUT) == DEGENERATE_OUTPUT
    assert [int(x) for x in vpermutation(columns([DEGENERATE_INPUT]))[:, 0]] == DEGENERATE_OUTPUT


def test_hasher_trait_snapshot_uses_sponge_absorb() -> None:
    # twenty-first v1.1.0 src/tip5/mod.rs, test `tip5_hasher_trait_snapshot_test`: `Tip5::init()`, then
    # `Hasher::write(b"hello world")` (8-byte little-endian chunks as field elements, zero-padded chunks of 10
    # absorbed), `finish()` = state[0].
    data = b"hello world"
    elements = [int.from_bytes(data[i : i + 8].ljust(8, b"\0"), "little") % P for i in range(0, len(data), 8)]
    sponge = Sponge()
    sponge.absorb(elements + [0] * (RATE - len(elements)))
    assert sponge.state[0] == 2267905471610932299


def test_program_digest_of_halt() -> None:
    # TritonVM/triton-vm v7.0.0 triton-isa/src/program.rs, test `hash_simple_program`:
    # `triton_program!(halt)` is the single word [0] (opcode of halt).
    assert program_digest([0]) == (
        0x4338_DE79_520B_3949,
        0xE6A2_129B_2885_0DC9,
        0xFD3C_D098_6A86_0450,
        0x69FD_BA91_0CEB_A7BC,
        0x7E5B_118C_9594_C062,
    )


# ---------------------------------------------------------------------------- structure and semantics


def test_montgomery_round_trip_and_r() -> None:
    assert tip5.MONTGOMERY_R == (1 << 32) - 1 == (1 << 64) % P
    for x in EDGE_VALUES:
        assert from_montgomery(to_montgomery(x)) == x
        assert 0 <= to_montgomery(x) < P


@given(felt)
def test_split_and_lookup_is_bytewise_on_montgomery_form(x: int) -> None:
    y = tip5.split_and_lookup(x)
    assert 0 <= y < P
    raw_in, raw_out = to_montgomery(x), to_montgomery(y)
    assert raw_out == sum(LOOKUP_TABLE[(raw_in >> (8 * k)) & 0xFF] << (8 * k) for k in range(8))


def test_hash_10_uses_fixed_length_domain() -> None:
    elements = list(range(RATE))
    assert hash_10(elements) == tuple(permutation(elements + [1] * CAPACITY)[:DIGEST_LEN])
    assert hash_10(elements) != tuple(permutation(elements + [0] * CAPACITY)[:DIGEST_LEN])
    assert hash_pair(elements[:5], elements[5:]) == hash_10(elements)
    trace = tip5.hash_10_trace(elements)
    assert tuple(trace[-1][:DIGEST_LEN]) == hash_10(elements)


@pytest.mark.parametrize("length", range(0, 23))
def test_hash_varlen_is_padded_sponge(length: int) -> None:
    # padding [1, 0, ...] to a multiple of RATE, all-zero start, absorb = overwrite rate then permute;
    # twenty-first `hash_var_len_equivalence_edge_cases` also reads the digest from a following squeeze.
    preimage = [42] * length
    state = [0] * STATE_SIZE
    padded = preimage + [1] + [0] * (-(length + 1) % RATE)
    assert len(padded) % RATE == 0
    for i in range(0, len(padded), RATE):
        state = permutation(padded[i : i + RATE] + state[RATE:])
    assert hash_varlen(preimage) == tuple(state[:DIGEST_LEN])

    sponge = Sponge()
    for i in range(0, len(padded), RATE):
        sponge.absorb(padded[i : i + RATE])
    assert tuple(sponge.squeeze()[:DIGEST_LEN]) == hash_varlen(preimage)


@given(state_strategy)
@settings(max_examples=30, deadline=None)
def test_trace_starts_with_input_and_ends_with_permutation(state: list[int]) -> None:
    # twenty-first v1.1.0 `tip5_trace_starts_with_initial_state_and_is_equivalent_to_permutation`
    trace = permutation_trace(state)
    assert len(trace) == NUM_ROUNDS + 1 == 6
    assert trace[0] == state
    assert trace[-1] == permutation(state)


def test_sponge_absorb_and_squeeze() -> None:
    sponge = Sponge()
    assert sponge.state == [0] * STATE_SIZE and sponge.last_trace is None

    first = list(range(1, RATE + 1))
    trace = sponge.absorb(first)
    assert trace is sponge.last_trace
    assert trace[0] == first + [0] * CAPACITY  # rate overwritten, capacity untouched
    assert sponge.state == permutation(first + [0] * CAPACITY)

    # absorb overwrites, it does not add: the rate words before absorbing do not matter
    other = Sponge(list(range(100, 100 + RATE)) + sponge.state[RATE:])
    twin = sponge.copy()
    twin.absorb([7] * RATE)
    other.absorb([7] * RATE)
    assert twin == other

    before = list(sponge.state)
    squeezed = sponge.squeeze()
    assert squeezed == before[:RATE]
    assert sponge.last_trace[0] == before
    assert sponge.state == permutation(before)


def test_sponge_copy_is_independent() -> None:
    sponge = Sponge()
    sponge.absorb([5] * RATE)
    twin = sponge.copy()
    assert twin == sponge and twin.last_trace == sponge.last_trace
    twin.squeeze()
    assert twin != sponge


def test_sponge_rejects_wrong_lengths() -> None:
    with pytest.raises(ValueError):
        Sponge().absorb([1] * 9)
    with pytest.raises(ValueError):
        hash_10([1] * 11)
    with pytest.raises(ValueError):
        permutation([0] * 15)


@pytest.mark.parametrize("num_words", [0, 1, 8, 9, 10, 19, 20, 37])
def test_program_attestation_traces(num_words: int) -> None:
    words = [(3 * i + 1) % 90 for i in range(num_words)]
    traces = program_attestation_traces(words)
    # `fill_program_hash_trace`: one permutation per chunk of the (len + 1)-rounded-to-10 padded program
    assert len(traces) == tip5.padded_program_length(num_words) // RATE == (num_words + 1 + 9) // RATE
    assert traces[0][0][RATE:] == [0] * CAPACITY  # variable-length domain: all-zero start
    for prev, cur in zip(traces, traces[1:]):
        assert cur[0][RATE:] == prev[-1][RATE:]
    assert tuple(traces[-1][-1][:DIGEST_LEN]) == program_digest(words)


# ------------------------------------------------------------------------------------- cascade limbs


def test_lookup_limbs_use_montgomery_form_of_words_0_to_3_in_first_five_rows() -> None:
    state = [1] + [0] * (STATE_SIZE - 1)
    trace = permutation_trace(state)
    limbs = lookup_limbs(trace)
    # 1 in Montgomery form is 2^32 - 1: limbs 0xffff, 0xffff, 0, 0 (not the canonical limbs 1, 0, 0, 0)
    expected = {0xFFFF, 0}
    for row in trace[1:5]:
        for x in row[:4]:
            raw = to_montgomery(x)
            expected |= {(raw >> s) & 0xFFFF for s in (0, 16, 32, 48)}
    assert limbs == expected
    # the output row (trace[5]) and words 4..15 are never looked up: changing them changes nothing
    altered = [list(row) for row in trace]
    altered[5] = [123456789] * STATE_SIZE
    for row in altered[:5]:
        row[4:] = [987654321] * (STATE_SIZE - 4)
    assert lookup_limbs(altered) == limbs
    assert len(limbs) <= 5 * 4 * 4


def test_union_limbs_over_program_attestation() -> None:
    traces = program_attestation_traces([0])
    assert tip5.union_limbs(traces) == lookup_limbs(traces[0])


# ------------------------------------------------------------------------------------- vectorised


@given(st.lists(state_strategy, min_size=1, max_size=8))
@settings(max_examples=40, deadline=None)
def test_vpermutation_matches_scalar(states: list[list[int]]) -> None:
    out = vpermutation(columns(states))
    assert out.dtype == np.uint64 and out.shape == (STATE_SIZE, len(states))
    for j, state in enumerate(states):
        assert [int(x) for x in out[:, j]] == permutation(state)


@given(st.lists(st.lists(felt, min_size=RATE, max_size=RATE), min_size=1, max_size=6))
@settings(max_examples=30, deadline=None)
def test_vhash_10_matches_scalar(inputs: list[list[int]]) -> None:
    out = vhash_10(columns(inputs))
    assert out.shape == (DIGEST_LEN, len(inputs))
    for j, elements in enumerate(inputs):
        assert tuple(int(x) for x in out[:, j]) == hash_10(elements)


@given(st.lists(state_strategy, min_size=1, max_size=4))
@settings(max_examples=20, deadline=None)
def test_vpermutation_trace_and_limbs_match_scalar(states: list[list[int]]) -> None:
    vtrace = vpermutation_trace(columns(states))
    assert vtrace.shape == (NUM_ROUNDS + 1, STATE_SIZE, len(states))
    expected_limbs: set[int] = set()
    for j, state in enumerate(states):
        trace = permutation_trace(state)
        assert [[int(x) for x in vtrace[r, :, j]] for r in range(NUM_ROUNDS + 1)] == trace
        expected_limbs |= lookup_limbs(trace)
    assert [int(x) for x in vlookup_limbs(vtrace)] == sorted(expected_limbs)


def test_vpermutation_extreme_values() -> None:
    states = [[P - 1] * STATE_SIZE, [0] * STATE_SIZE, [P - 1 - i for i in range(STATE_SIZE)], DEGENERATE_INPUT]
    out = vpermutation(columns(states))
    for j, state in enumerate(states):
        assert [int(x) for x in out[:, j]] == permutation(state)
