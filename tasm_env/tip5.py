"""The Tip5 permutation and the ways Triton VM (v7.0.0) uses it.

Facts (not code) taken from Neptune-Crypto/twenty-first v1.1.0, ``twenty-first/src/tip5/mod.rs`` (the version
triton-vm v7.0.0 depends on) and its test-only ``naive.rs``:

* state of 16 words, rate 10 (words 0..9), capacity 6 (words 10..15), 5 rounds, digests of 5 words;
* one round = S-box layer, then multiplication by a 16x16 circulant MDS matrix, then adding 16 round
  constants (``Tip5::round``);
* S-box layer: words 0..3 go through the split-and-lookup map, words 4..15 are raised to the 7th power;
* split-and-lookup works on the *Montgomery* representation that twenty-first stores: ``raw = x * 2^64 mod p``.
  The 8 little-endian bytes of ``raw`` are each replaced by ``LOOKUP_TABLE[byte]`` and the result is read back
  as a raw Montgomery value, i.e. the new element is ``raw' * 2^-64 mod p`` (``split_and_lookup`` uses
  ``raw_bytes`` / ``from_raw_bytes``). For a canonical ``raw < p`` the result is again ``< p``: the table fixes
  0 and 255, so a high half ``0xffffffff`` stays as is and its zero low half stays zero;
* the MDS matrix is circulant, ``new[r] = sum_c MDS_MATRIX_FIRST_COLUMN[(r - c) mod 16] * old[c]``
  (``NaiveTip5::mds_matrix_mul``);
* ``Tip5::new(Domain::FixedLength)`` sets the 6 capacity words to 1, ``Domain::VariableLength`` (=
  ``Sponge::init``) leaves all 16 words 0; ``absorb`` overwrites (does not add to) the rate, then permutes;
  ``squeeze`` returns the rate, then permutes; ``pad_and_absorb_all`` appends ``1`` and zeros up to a
  multiple of the rate (always at least the single ``1``); ``hash_varlen`` = init, pad and absorb all, digest =
  ``state[0..5]``; ``hash_10`` = fixed-length state, ``state[0..10] = input``, permute, digest = ``state[0..5]``.
* ``Tip5::trace`` returns ``1 + NUM_ROUNDS = 6`` states: the state before round 0, then the state after each
  round; the last one is the permutation's output.

How triton-vm v7.0.0 uses the permutation (``triton-vm/src/vm.rs``, ``triton-vm/src/aet.rs``,
``triton-vm/src/table/hash.rs``, ``triton-isa/src/program.rs``):

* ``hash`` (``VM::hash``) pops st0..st9 into ``state[0..10]`` of a fixed-length-domain state and pushes
  ``digest[4] .. digest[0]`` (``digest[0]`` on top); ``merkle_step*`` also use a fixed-length-domain state.
  ``sponge_init`` makes ``Tip5::init()`` (all zero); ``sponge_absorb`` / ``sponge_absorb_mem`` overwrite the
  rate and record ``sponge.trace()``; ``sponge_squeeze`` pushes ``state[9] .. state[0]`` then records
  ``sponge.trace()``. Every such permutation adds ``1 + NUM_ROUNDS = 6`` Hash-table rows
  (``table::hash::trace_to_table_rows``); ``sponge_init`` adds one row (``append_initial_sponge_state``) and
  performs **no** lookups.
* Program attestation: ``Program::hash`` is ``Tip5::hash_varlen(program.to_bwords())`` (instruction words,
  arguments included, no length prefix). ``AlgebraicExecutionTrace::fill_program_hash_trace`` pads the words
  with ``[1, 0, ...]`` to ``(len + 1).next_multiple_of(10)`` words (``hash_input_pad_program``), starts from
  ``Tip5::init()`` (all zero), and for each chunk of 10 overwrites the rate and records ``trace()``.
* Cascade table (``AlgebraicExecutionTrace::increase_lookup_multiplicities``,
  ``increase_lookup_multiplicities_for_row``, ``increase_lookup_multiplicities_for_state_element``): for every
  recorded permutation trace (program hashing, ``hash``, ``merkle_step*``, ``sponge_absorb*``,
  ``sponge_squeeze``), for each of the first 5 of its 6 rows (``trace.iter().dropping_back(1)``: the output
  row is not looked up) and each of state words 0..3 (``NUM_SPLIT_AND_LOOKUP``), the word is split by
  ``table::hash::base_field_element_into_16_bit_limbs`` into the four little-endian 16-bit limbs of the
  canonical value of ``R * x`` with ``R = 2^64 mod p`` (``MONTGOMERY_MODULUS``), i.e. of the Montgomery
  representation. Each limb is a key of the ``IndexMap`` ``cascade_table_lookup_multiplicities``;
  ``height_of_table(TableId::Cascade)`` is that map's length, so the Cascade height is the number of
  **distinct** limbs over the whole run (at most 5 * 4 * 4 = 80 new ones per permutation, at most 65536).

Scalar functions take and return Python ints (inputs are reduced mod p); the vectorised ones work on numpy
``uint64`` arrays of canonical values with one column per lane.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from .field import P, vadd, vmul

STATE_SIZE: int = 16
RATE: int = 10
CAPACITY: int = 6
NUM_ROUNDS: int = 5
DIGEST_LEN: int = 5
NUM_SPLIT_AND_LOOKUP: int = 4
"""State words 0..3 use the split-and-lookup S-box; the others use x^7."""
PERMUTATION_TRACE_LENGTH: int = NUM_ROUNDS + 1
HASH_TABLE_ROWS_PER_PERMUTATION: int = PERMUTATION_TRACE_LENGTH

MONTGOMERY_R: int = (1 << 64) % P
"""2^64 mod p = 2^32 - 1: twenty-first stores x as x * R mod p."""
MONTGOMERY_R_INV: int = pow(MONTGOMERY_R, -1, P)

# (x + 1)^3 mod 257, minus 1 (the "offset Fermat cube map"); twenty-first's `LOOKUP_TABLE`.
LOOKUP_TABLE: tuple[int, ...] = (
    0, 7, 26, 63, 124, 215, 85, 254, 214, 228, 45, 185, 140, 173, 33, 240, 29, 177, 176, 32, 8, 110, 87,
    202, 204, 99, 150, 106, 230, 14, 235, 128, 213, 239, 212, 138, 23, 130, 208, 6, 44, 71, 93, 116,
    146, 189, 251, 81, 199, 97, 38, 28, 73, 179, 95, 84, 152, 48, 35, 119, 49, 88, 242, 3, 148, 169, 72,
    120, 62, 161, 166, 83, 175, 191, 137, 19, 100, 129, 112, 55, 221, 102, 218, 61, 151, 237, 68, 164,
    17, 147, 46, 234, 203, 216, 22, 141, 65, 57, 123, 12, 244, 54, 219, 231, 96, 77, 180, 154, 5, 253,
    133, 165, 98, 195, 205, 134, 245, 30, 9, 188, 59, 142, 186, 197, 181, 144, 92, 31, 224, 163, 111,
    74, 58, 69, 113, 196, 67, 246, 225, 10, 121, 50, 60, 157, 90, 122, 2, 250, 101, 75, 178, 159, 24,
    36, 201, 11, 243, 132, 198, 190, 114, 233, 39, 52, 21, 209, 108, 238, 91, 187, 18, 104, 194, 37,
    153, 34, 200, 143, 126, 155, 236, 118, 64, 80, 172, 89, 94, 193, 135, 183, 86, 107, 252, 13, 167,
    206, 136, 220, 207, 103, 171, 160, 76, 182, 227, 217, 158, 56, 174, 4, 66, 109, 139, 162, 184, 211,
    249, 47, 125, 232, 117, 43, 16, 42, 127, 20, 241, 25, 149, 105, 156, 51, 53, 168, 145, 247, 223, 79,
    78, 226, 15, 222, 82, 115, 70, 210, 27, 41, 1, 170, 40, 131, 192, 229, 248, 255,
)  # fmt: skip

# First column of the circulant MDS matrix: SHA-256("Tip5") read as 16 little-endian 16-bit chunks.
MDS_MATRIX_FIRST_COLUMN: tuple[int, ...] = (
    61402, 1108, 28750, 33823, 7454, 43244, 53865, 12034,
    56951, 27521, 41351, 40901, 12021, 59689, 26798, 17845,
)  # fmt: skip

MDS_MATRIX: tuple[tuple[int, ...], ...] = tuple(
    tuple(MDS_MATRIX_FIRST_COLUMN[(row - col) % STATE_SIZE] for col in range(STATE_SIZE))
    for row in range(STATE_SIZE)
)
"""``MDS_MATRIX[r][c]``; circulant, so row r is the first column rotated."""

# Canonical values, NUM_ROUNDS * STATE_SIZE of them, round-major (twenty-first's `ROUND_CONSTANTS`).
ROUND_CONSTANTS: tuple[int, ...] = (
    13630775303355457758, 16896927574093233874, 10379449653650130495, 1965408364413093495,
    15232538947090185111, 15892634398091747074, 3989134140024871768, 2851411912127730865,
    8709136439293758776, 3694858669662939734, 12692440244315327141, 10722316166358076749,
    12745429320441639448, 17932424223723990421, 7558102534867937463, 15551047435855531404,
    17532528648579384106, 5216785850422679555, 15418071332095031847, 11921929762955146258,
    9738718993677019874, 3464580399432997147, 13408434769117164050, 264428218649616431,
    4436247869008081381, 4063129435850804221, 2865073155741120117, 5749834437609765994,
    6804196764189408435, 17060469201292988508, 9475383556737206708, 12876344085611465020,
    13835756199368269249, 1648753455944344172, 9836124473569258483, 12867641597107932229,
    11254152636692960595, 16550832737139861108, 11861573970480733262, 1256660473588673495,
    13879506000676455136, 10564103842682358721, 16142842524796397521, 3287098591948630584,
    685911471061284805, 5285298776918878023, 18310953571768047354, 3142266350630002035,
    549990724933663297, 4901984846118077401, 11458643033696775769, 8706785264119212710,
    12521758138015724072, 11877914062416978196, 11333318251134523752, 3933899631278608623,
    16635128972021157924, 10291337173108950450, 4142107155024199350, 16973934533787743537,
    11068111539125175221, 17546769694830203606, 5315217744825068993, 4609594252909613081,
    3350107164315270407, 17715942834299349177, 9600609149219873996, 12894357635820003949,
    4597649658040514631, 7735563950920491847, 1663379455870887181, 13889298103638829706,
    7375530351220884434, 3502022433285269151, 9231805330431056952, 9252272755288523725,
    10014268662326746219, 15565031632950843234, 1209725273521819323, 6024642864597845108,
)  # fmt: skip

# The byte map applied to both bytes of a 16-bit limb at once: what Triton's Cascade table computes
# (`table::cascade::lookup_16_bit_limb`). Two lookups per word instead of eight.
LOOKUP_TABLE_16: tuple[int, ...] = tuple(
    LOOKUP_TABLE[v & 0xFF] | (LOOKUP_TABLE[v >> 8] << 8) for v in range(1 << 16)
)

Trace = list[list[int]]
Digest = tuple[int, ...]

# ---------------------------------------------------------------------------------------------- scalar


def to_montgomery(x: int) -> int:
    """The raw value twenty-first stores for the field element ``x``: ``x * 2^64 mod p`` (canonical)."""
    return (x * MONTGOMERY_R) % P


def from_montgomery(raw: int) -> int:
    """The field element a raw Montgomery value (any u64, also ``>= p``) stands for."""
    return (raw * MONTGOMERY_R_INV) % P


def limbs16(x: int) -> tuple[int, int, int, int]:
    """The four little-endian 16-bit limbs of the Montgomery form of ``x``, as Triton's Hash and Cascade
    tables see them (``base_field_element_into_16_bit_limbs``)."""
    raw = to_montgomery(x)
    return (raw & 0xFFFF, (raw >> 16) & 0xFFFF, (raw >> 32) & 0xFFFF, raw >> 48)


def split_and_lookup(x: int) -> int:
    """Tip5's split-and-lookup S-box on one field element (bytewise on the Montgomery form)."""
    raw = to_montgomery(x)
    out = 0
    for shift in (0, 16, 32, 48):
        out |= LOOKUP_TABLE_16[(raw >> shift) & 0xFFFF] << shift
    return from_montgomery(out)


# The circulant MDS product as one big-integer multiplication: with the state packed as the digits of
# sum_c s[c] 2^(W c) and the first column as sum_j m[j] 2^(W j), digit k of the product is
# sum_{c + j = k} s[c] m[j] < 16 * 2^16 * 2^64 < 2^W, so digits do not overlap, and
# new[r] = digit r + digit r + 16 (j = r - c mod 16). About five times faster than 256 Python products.
_MDS_DIGIT_BITS = 88
_MDS_DIGIT_MASK = (1 << _MDS_DIGIT_BITS) - 1
_MDS_PACKED = sum(m << (_MDS_DIGIT_BITS * j) for j, m in enumerate(MDS_MATRIX_FIRST_COLUMN))
_DIGIT_SHIFTS = tuple(_MDS_DIGIT_BITS * r for r in range(STATE_SIZE))
_HIGH_DIGIT_SHIFTS = tuple(_MDS_DIGIT_BITS * (r + STATE_SIZE) for r in range(STATE_SIZE))
_ROUND_CONSTANT_ROWS = tuple(ROUND_CONSTANTS[r * STATE_SIZE:(r + 1) * STATE_SIZE] for r in range(NUM_ROUNDS))


def _mds_plus(s: list[int], constants: Sequence[int]) -> list[int]:
    """``MDS_MATRIX @ s + constants`` mod p."""
    packed = 0
    for x in reversed(s):
        packed = (packed << _MDS_DIGIT_BITS) | x
    product = packed * _MDS_PACKED
    mask = _MDS_DIGIT_MASK
    return [(((product >> low) & mask) + ((product >> high) & mask) + c) % P
            for low, high, c in zip(_DIGIT_SHIFTS, _HIGH_DIGIT_SHIFTS, constants)]


def _round(state: list[int], round_index: int) -> list[int]:
    """One round: S-box layer, MDS, round constants."""
    s = [split_and_lookup(x) for x in state[:NUM_SPLIT_AND_LOOKUP]]
    s += [pow(x, 7, P) for x in state[NUM_SPLIT_AND_LOOKUP:]]
    return _mds_plus(s, _ROUND_CONSTANT_ROWS[round_index])


def _check_state(state: Sequence[int]) -> list[int]:
    if len(state) != STATE_SIZE:
        raise ValueError(f"a Tip5 state has {STATE_SIZE} words, got {len(state)}")
    return [int(x) % P for x in state]


def permutation(state: Sequence[int]) -> list[int]:
    """The Tip5 permutation of a 16-word state (canonical ints in, canonical ints out)."""
    s = _check_state(state)
    for r in range(NUM_ROUNDS):
        s = _round(s, r)
    return s


def permutation_trace(state: Sequence[int]) -> Trace:
    """The ``NUM_ROUNDS + 1 = 6`` states Triton records for one permutation (``Tip5::trace``): the input state,
    then the state after each round; ``trace[-1]`` is the permutation's output."""
    s = _check_state(state)
    trace = [s]
    for r in range(NUM_ROUNDS):
        s = _round(s, r)
        trace.append(s)
    return trace


def lookup_limbs(trace: Sequence[Sequence[int]]) -> set[int]:
    """The distinct 16-bit limbs one permutation looks up in Triton's Cascade table: limbs of the Montgomery
    form of state words 0..3 in every trace row but the last (see the module docstring)."""
    if len(trace) != PERMUTATION_TRACE_LENGTH:
        raise ValueError(f"a permutation trace has {PERMUTATION_TRACE_LENGTH} rows, got {len(trace)}")
    limbs: set[int] = set()
    for row in trace[:-1]:
        for x in row[:NUM_SPLIT_AND_LOOKUP]:
            limbs.update(limbs16(int(x)))
    return limbs


def _fixed_length_state(elements: Sequence[int]) -> list[int]:
    if len(elements) != RATE:
        raise ValueError(f"hash_10 takes exactly {RATE} elements, got {len(elements)}")
    return [int(x) % P for x in elements] + [1] * CAPACITY


def hash_10(elements: Sequence[int]) -> Digest:
    """Tip5 ``hash_10``, Triton's ``hash`` instruction with ``elements[i] = st_i``: capacity words 1
    (fixed-length domain), input in ``state[0..10]``, one permutation, digest ``state[0..5]``."""
    return tuple(permutation(_fixed_length_state(elements))[:DIGEST_LEN])


def hash_10_trace(elements: Sequence[int]) -> Trace:
    """The permutation trace of :func:`hash_10` (what ``hash`` / ``merkle_step`` record); digest =
    ``trace[-1][:5]``."""
    return permutation_trace(_fixed_length_state(elements))


def hash_pair(left: Sequence[int], right: Sequence[int]) -> Digest:
    """Tip5 ``hash_pair``: :func:`hash_10` of the concatenated digests (Triton's ``merkle_step`` node hash)."""
    return hash_10(list(left) + list(right))


def pad(elements: Sequence[int]) -> list[int]:
    """Sponge padding: append 1, then zeros up to a multiple of RATE (the 1 is always added)."""
    padded = [int(x) % P for x in elements] + [1]
    padded += [0] * (-len(padded) % RATE)
    return padded


def hash_varlen(elements: Sequence[int]) -> Digest:
    """Tip5 ``hash_varlen``: all-zero state, absorb the padded input chunk by chunk (overwrite the rate,
    permute), digest ``state[0..5]``."""
    sponge = Sponge()
    padded = pad(elements)
    for i in range(0, len(padded), RATE):
        sponge.absorb(padded[i : i + RATE])
    return tuple(sponge.state[:DIGEST_LEN])


def program_digest(words: Sequence[int]) -> Digest:
    """``Program::hash``: :func:`hash_varlen` of the program's instruction words (opcodes and arguments)."""
    return hash_varlen(words)


def padded_program_length(num_words: int) -> int:
    """``(len + 1)`` rounded up to a multiple of RATE: the Program table height and the attested length."""
    return -(-(num_words + 1) // RATE) * RATE


def program_attestation_traces(words: Sequence[int]) -> list[Trace]:
    """The permutation traces of hashing the padded program (``fill_program_hash_trace``): one per chunk of
    10, ``6 * len(result)`` Hash-table rows in all. The last trace's output starts with the program digest."""
    sponge = Sponge()
    padded = pad(words)
    assert len(padded) == padded_program_length(len(words))
    traces = []
    for i in range(0, len(padded), RATE):
        sponge.absorb(padded[i : i + RATE])
        traces.append(sponge.last_trace)
    return traces


class Sponge:
    """Triton's VM sponge. ``Sponge()`` is the state made by ``sponge_init`` (all 16 words zero; one Hash-table
    row, no lookups). ``absorb`` and ``squeeze`` each run one permutation and keep its trace in ``last_trace``
    (also returned by ``absorb``) so callers can count Hash rows and Cascade limbs."""

    __slots__ = ("state", "last_trace")

    def __init__(self, state: Sequence[int] | None = None) -> None:
        self.state: list[int] = [0] * STATE_SIZE if state is None else _check_state(state)
        self.last_trace: Trace | None = None

    def absorb(self, elements: Sequence[int]) -> Trace:
        """Overwrite the rate with the 10 elements (``sponge_absorb``: ``elements[i] = st_i``), then permute."""
        if len(elements) != RATE:
            raise ValueError(f"absorb takes exactly {RATE} elements, got {len(elements)}")
        self.last_trace = permutation_trace([int(x) % P for x in elements] + self.state[RATE:])
        self.state = list(self.last_trace[-1])
        return self.last_trace

    def squeeze(self) -> list[int]:
        """Return the 10 rate words as they are now, then permute (``sponge_squeeze`` pushes them so that
        ``state[0]`` ends on top)."""
        produce = self.state[:RATE]
        self.last_trace = permutation_trace(self.state)
        self.state = list(self.last_trace[-1])
        return produce

    def copy(self) -> Sponge:
        other = Sponge(self.state)
        other.last_trace = None if self.last_trace is None else [list(row) for row in self.last_trace]
        return other

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sponge) and self.state == other.state

    def __repr__(self) -> str:
        return f"Sponge({self.state})"


# ------------------------------------------------------------------------------------------ vectorised

_U64 = np.uint64
_LO16 = _U64(0xFFFF)
_LO32 = _U64(0xFFFFFFFF)
_S32 = _U64(32)
_EPS = _U64(MONTGOMERY_R)  # 2^64 mod p
_P = _U64(P)
_R = _U64(MONTGOMERY_R)
_R_INV = _U64(MONTGOMERY_R_INV)
_LOOKUP16_U16 = np.array(LOOKUP_TABLE_16, dtype=np.uint16)
_MDS_F64 = np.array(MDS_MATRIX, dtype=np.float64)
_RC = np.array(ROUND_CONSTANTS, dtype=_U64).reshape(NUM_ROUNDS, STATE_SIZE, 1)


def _vlookup(raw: np.ndarray) -> np.ndarray:
    """The byte-wise lookup of words already in Montgomery form (``raw``); the result is < p (see the module
    docstring), so it is a valid canonical input to vmul. Each word's four 16-bit limbs are looked up in place
    through a uint16 view (one gather, not four: the same limbs at the same places, whatever the byte order)."""
    return _LOOKUP16_U16[np.ascontiguousarray(raw).view(np.uint16)].view(_U64)


def _vmds(s: np.ndarray) -> np.ndarray:
    """Circulant MDS on (16, lanes): split words into 32-bit halves so the matrix products are exact, then
    reduce lo + hi * 2^32 mod p."""
    lanes = s.shape[1]
    halves = np.concatenate((s & _LO32, s >> _S32), axis=1).astype(np.float64)
    # float64 BLAS is exact here: every product (< 2^48) and every partial sum of these non-negative
    # integers (< 16 * 2^16 * 2^32 = 2^52) is an integer below 2^53; ~10x faster than a uint64 matmul
    prod = (_MDS_F64 @ halves).astype(_U64)
    s_lo, s_hi = prod[:, :lanes], prod[:, lanes:]
    lo = s_lo + (s_hi << _S32)  # may wrap past 2^64
    hi = (s_hi >> _S32) + (lo < s_lo).astype(_U64)  # < 2^21
    r = lo + hi * _EPS  # hi * 2^64 = hi * (2^32 - 1) mod p; may wrap once more
    r = np.where(r < lo, r + _EPS, r)  # after a wrap r is tiny, so adding 2^32 - 1 cannot wrap again
    return np.where(r >= _P, r - _P, r)


def _vround(s: np.ndarray, round_index: int) -> np.ndarray:
    """One round on (16, lanes): the S-box layer in three products of all 16 rows (a product's cost is about
    the same for 4 rows as for 16: numpy's per-call overhead), then the MDS and the round constants.

    Rows 0-3 are split and looked up (to Montgomery form, look up, back: ``x * R``, ``lookup``, ``* R^-1``),
    rows 4-15 raised to the 7th power (``x^2``, then ``x^3`` and ``x^4`` together, then ``x^4 * x^3``); the
    products of both kinds of row share each call."""
    k, lanes = NUM_SPLIT_AND_LOOKUP, s.shape[1]
    x = s[k:]
    m = vmul(s, np.concatenate((np.full((k, lanes), _R), x)))  # rows 0-3: x * R; rows 4-15: x^2
    looked, x2 = _vlookup(m[:k]), m[k:]
    m = vmul(np.concatenate((x2, x2)), np.concatenate((x, x2)))  # x^3 and x^4
    x3, x4 = m[:STATE_SIZE - k], m[STATE_SIZE - k:]
    out = vmul(np.concatenate((looked, x4)), np.concatenate((np.full((k, lanes), _R_INV), x3)))  # * R^-1; x^7
    return vadd(_vmds(out), _RC[round_index])


def _as_state_array(state: np.ndarray, rows: int) -> np.ndarray:
    s = np.asarray(state, dtype=_U64)
    if s.ndim != 2 or s.shape[0] != rows:
        raise ValueError(f"expected shape ({rows}, lanes), got {s.shape}")
    return s


def vpermutation(state: np.ndarray) -> np.ndarray:
    """The permutation of every lane of a (16, lanes) ``uint64`` array of canonical values."""
    s = _as_state_array(state, STATE_SIZE)
    for r in range(NUM_ROUNDS):
        s = _vround(s, r)
    return s


def vpermutation_trace(state: np.ndarray) -> np.ndarray:
    """Vectorised :func:`permutation_trace`: shape (6, 16, lanes)."""
    s = _as_state_array(state, STATE_SIZE)
    trace = np.empty((PERMUTATION_TRACE_LENGTH,) + s.shape, dtype=_U64)
    trace[0] = s
    for r in range(NUM_ROUNDS):
        trace[r + 1] = s = _vround(s, r)
    return trace


def vlookup_limbs(trace: np.ndarray) -> np.ndarray:
    """The sorted distinct Cascade limbs of all permutations in a (6, 16, lanes) trace array."""
    words = np.asarray(trace, dtype=_U64)[:-1, :NUM_SPLIT_AND_LOOKUP]
    raw = vmul(words, _R).ravel()
    limbs = np.concatenate([(raw >> _U64(shift)) & _LO16 for shift in (0, 16, 32, 48)])
    return np.unique(limbs)


def _vfixed_length_state(rows: np.ndarray) -> np.ndarray:
    r = _as_state_array(rows, RATE)
    return np.concatenate((r, np.ones((CAPACITY, r.shape[1]), dtype=_U64)))


def vhash_10(rows: np.ndarray) -> np.ndarray:
    """:func:`hash_10` per lane: (10, lanes) ``uint64`` in, (5, lanes) digests out."""
    return vpermutation(_vfixed_length_state(rows))[:DIGEST_LEN]


def union_limbs(traces: Iterable[Sequence[Sequence[int]]]) -> set[int]:
    """Distinct Cascade limbs over many permutation traces (the Cascade table height is ``len`` of this,
    taken over every permutation of a run, program attestation included)."""
    limbs: set[int] = set()
    for trace in traces:
        limbs |= lookup_limbs(trace)
    return limbs
