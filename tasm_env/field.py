"""Arithmetic in F_p, p = 2^64 - 2^32 + 1, and in its cubic extension F_p[x] / (x^3 - x + 1).

Two flavours of every operation:

* scalar functions (``add``, ``mul``, ``inv``, ...) on Python ``int`` values in ``[0, p)``;
* vectorised functions (``vadd``, ``vmul``, ``vinv``, ...) on numpy ``uint64`` arrays of canonical values,
  elementwise, with 64x64-bit products computed through 32-bit limbs (no object arrays, no floats).

Extension-field elements (XFE) are tuples ``(c0, c1, c2)`` meaning ``c0 + c1*x + c2*x^2``; the vectorised
versions take and return a tuple of three arrays.
"""

from __future__ import annotations

import numpy as np

P: int = (1 << 64) - (1 << 32) + 1
"""The field modulus."""
U32_LIMIT: int = 1 << 32

_U64 = np.uint64
_P = _U64(P)
_EPS = _U64((1 << 32) - 1)  # 2^64 mod p
_LO32 = _U64(0xFFFFFFFF)
_S32 = _U64(32)
_ONE = _U64(1)
_ZERO = _U64(0)

# --------------------------------------------------------------------------------------------- scalars


def canon(x: int) -> int:
    """Canonical representative of any integer (negative ones too) in ``[0, p)``."""
    return x % P


def add(a: int, b: int) -> int:
    return (a + b) % P


def sub(a: int, b: int) -> int:
    return (a - b) % P


def neg(a: int) -> int:
    return (-a) % P


def mul(a: int, b: int) -> int:
    return (a * b) % P


def power(base: int, exponent: int) -> int:
    """``base ** exponent`` in F_p for any non-negative integer exponent (``0 ** 0 == 1``)."""
    if exponent < 0:
        raise ValueError(f"expected a non-negative exponent, got {exponent}")
    return pow(base, exponent, P)


def inv(a: int) -> int:
    """Multiplicative inverse; raises ``ZeroDivisionError`` for 0."""
    if a % P == 0:
        raise ZeroDivisionError("0 has no inverse in F_p")
    return pow(a, P - 2, P)


# ------------------------------------------------------------------------------- extension field F_p^3
# x^3 = x - 1 in F_p[x] / (x^3 - x + 1).

XFE = tuple[int, int, int]


def xadd(a: XFE, b: XFE) -> XFE:
    return ((a[0] + b[0]) % P, (a[1] + b[1]) % P, (a[2] + b[2]) % P)


def xmul(a: XFE, b: XFE) -> XFE:
    a0, a1, a2 = a
    b0, b1, b2 = b
    # schoolbook product, degree 4, then x^3 = x - 1 and x^4 = x^2 - x
    d0 = a0 * b0
    d1 = a0 * b1 + a1 * b0
    d2 = a0 * b2 + a1 * b1 + a2 * b0
    d3 = a1 * b2 + a2 * b1
    d4 = a2 * b2
    return ((d0 - d3) % P, (d1 + d3 - d4) % P, (d2 + d4) % P)


def xbmul(scalar: int, a: XFE) -> XFE:
    return ((scalar * a[0]) % P, (scalar * a[1]) % P, (scalar * a[2]) % P)


def xpow(a: XFE, exponent: int) -> XFE:
    result: XFE = (1, 0, 0)
    base = a
    while exponent:
        if exponent & 1:
            result = xmul(result, base)
        base = xmul(base, base)
        exponent >>= 1
    return result


def _xinv_cofactors(a0, a1, a2, products, add, sub):
    """Inverse of a = a0 + a1 x + a2 x^2 as (numerators, determinant), from the matrix of multiplication by a
    on the basis (1, x, x^2) with x^3 = x - 1:  [[a0, -a2, -a1], [a1, a0 + a2, a1 - a2], [a2, a1, a0 + a2]].
    The inverse is its adjugate's first column over its determinant. ``products(xs, ys)`` multiplies pairwise
    (the vectorised flavour stacks each round's products into one multiplication)."""
    s02, d12 = add(a0, a2), sub(a1, a2)
    p = products((s02, d12, d12, a1, a1, s02), (s02, a1, a2, s02, a1, a2))
    c0, c1, c2 = sub(p[0], p[1]), sub(p[2], p[3]), sub(p[4], p[5])  # s02^2 - d12 a1, d12 a2 - a1 s02, a1^2 - s02 a2
    q = products((a0, a2, a1), (c0, c1, c2))
    return (c0, c1, c2), sub(sub(q[0], q[1]), q[2])


def _products(xs, ys) -> list[int]:
    return [mul(x, y) for x, y in zip(xs, ys)]


def xinv(a: XFE) -> XFE:
    """Inverse in F_p^3; ZeroDivisionError for 0."""
    if not any(c % P for c in a):
        raise ZeroDivisionError("0 has no inverse in F_p^3")
    (c0, c1, c2), det = _xinv_cofactors(*a, _products, add, sub)
    d = inv(det)
    return (c0 * d % P, c1 * d % P, c2 * d % P)


# ------------------------------------------------------------------------------------------ vectorised


def to_array(values) -> np.ndarray:
    """A ``uint64`` array of canonical field elements from Python ints (negative ones reduced mod p)."""
    return np.array([int(v) % P for v in np.asarray(values, dtype=object).ravel()], dtype=_U64).reshape(
        np.shape(values)
    )


def vcanon(a: np.ndarray) -> np.ndarray:
    """Canonical form of arbitrary ``uint64`` values (subtract p once where needed)."""
    a = np.asarray(a, dtype=_U64)
    return np.where(a >= _P, a - _P, a)


def vadd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    s = a + b
    # overflow past 2^64 is worth 2^64 mod p = 2^32 - 1; the sum then stays below p
    return np.where(s < a, s + _EPS, np.where(s >= _P, s - _P, s))


def vsub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = a - b
    # a borrow wrapped by 2^64; adding p instead means subtracting 2^32 - 1
    return np.where(a < b, d - _EPS, d)


def vneg(a: np.ndarray) -> np.ndarray:
    return np.where(a == _ZERO, a, _P - a)


_SMALL_MUL = 64
"""Up to this many elements, :func:`vmul` multiplies Python ints per element (well under a microsecond each)
instead of running its twenty-odd vectorised operations (tens of microseconds whatever the size): the
batched executor's screens multiply a few rows of 8 lanes at a time."""


def vmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise product of canonical ``uint64`` arrays (broadcasting), reduced mod p.

    Schoolbook on 32-bit limbs, ordered so that no partial sum can overflow 64 bits; then
    hi * 2^64 + lo = lo - hi_hi + hi_lo * (2^32 - 1) (mod p), since 2^64 = 2^32 - 1 and 2^96 = -1.
    Small arrays (:data:`_SMALL_MUL`) take ``x * y % p`` on Python ints instead (the same value for any
    ``uint64`` inputs)."""
    a = np.asarray(a, dtype=_U64)
    b = np.asarray(b, dtype=_U64)
    if a.size <= _SMALL_MUL and b.size <= _SMALL_MUL:
        if a.size == 1 and a.ndim <= b.ndim:  # the product commutes: the single factor goes second
            a, b = b, a
        if b.size == 1 and b.ndim <= a.ndim:  # one factor for all (the result has a's shape)
            y = b.item()
            return np.array([x * y % P for x in a.ravel().tolist()], dtype=_U64).reshape(a.shape)
        if a.shape != b.shape:
            a, b = np.broadcast_arrays(a, b)
        if a.size <= _SMALL_MUL:
            return np.array([x * y % P for x, y in zip(a.ravel().tolist(), b.ravel().tolist())],
                            dtype=_U64).reshape(a.shape)
    a0, a1 = a & _LO32, a >> _S32
    b0, b1 = b & _LO32, b >> _S32
    ll = a0 * b0
    t = a0 * b1
    t += ll >> _S32  # < 2^64: (2^32-1)^2 + 2^32 - 1
    u = a1 * b0
    u += t & _LO32
    hi = a1 * b1
    hi += t >> _S32
    hi += u >> _S32
    u <<= _S32
    ll &= _LO32
    u |= ll  # the low 64 bits
    hi_hi = hi >> _S32
    hi &= _LO32
    r = u - hi_hi
    r = np.where(u < hi_hi, r - _EPS, r)  # borrow: add p, i.e. subtract 2^32 - 1 modulo 2^64
    hi *= _EPS  # hi_lo * (2^32 - 1) < 2^64
    r += hi
    r = np.where(r < hi, r + _EPS, r)  # carry: 2^64 = 2^32 - 1
    return np.where(r >= _P, r - _P, r)


def vsquare(a: np.ndarray) -> np.ndarray:
    return vmul(a, a)


_SMALL_POW = 128
"""Up to this many elements, :func:`vpow` calls Python's ``pow`` per element (a few microseconds each) instead
of ``bits`` rounds of vectorised multiplication (about 20 microseconds each whatever the size)."""


def vpow(base: np.ndarray, exponent: np.ndarray, bits: int = 64) -> np.ndarray:
    """Elementwise ``base ** exponent`` for exponents below ``2**bits`` (square and multiply)."""
    base = np.asarray(base, dtype=_U64)
    exponent = np.asarray(exponent, dtype=_U64)
    if np.broadcast(base, exponent).size <= _SMALL_POW:  # Python's pow per element is faster here
        base, exponent = np.broadcast_arrays(base, exponent)
        low = (1 << bits) - 1
        out = [pow(b, e & low, P) for b, e in zip(base.ravel().tolist(), exponent.ravel().tolist())]
        return np.array(out, dtype=_U64).reshape(base.shape)
    result = np.ones(np.broadcast(base, exponent).shape, dtype=_U64)
    for bit in range(bits - 1, -1, -1):
        result = vmul(result, result)
        take = ((exponent >> _U64(bit)) & _ONE).astype(bool)
        if take.any():
            result = np.where(take, vmul(result, base), result)
    return result


def vinv(a: np.ndarray) -> np.ndarray:
    """Elementwise inverse a^(p-2); 0 maps to 0 (callers flag the zero lanes themselves).

    Montgomery's trick on Python ints: one exponentiation for the whole array and three products per element
    (an exponentiation per element in numpy costs about a hundred vectorised multiplications, each a dozen
    array passes: 5 to 50 times slower at every size measured, 8 to 16,384 elements)."""
    a = np.asarray(a, dtype=_U64)
    values = [x % P for x in a.ravel().tolist()]
    prefix = []  # prefix[i]: the product of the nonzero values before i
    product = 1
    for x in values:
        prefix.append(product)
        if x:
            product = product * x % P
    inverse = pow(product, P - 2, P)  # of the product of all nonzero values
    out = [0] * len(values)
    for i in range(len(values) - 1, -1, -1):
        x = values[i]
        if x:
            out[i] = inverse * prefix[i] % P
            inverse = inverse * x % P
    return np.array(out, dtype=_U64).reshape(a.shape)


def vxmul(a: tuple, b: tuple) -> tuple:
    """Vectorised XFE product; ``a`` and ``b`` are triples of arrays (coefficient 0 first). The nine limb
    products run as one vectorised multiplication."""
    a0, a1, a2 = (np.asarray(c, dtype=_U64) for c in a)
    b0, b1, b2 = (np.asarray(c, dtype=_U64) for c in b)
    shape = np.broadcast(a0, b0).shape
    left = np.stack([np.broadcast_to(x, shape) for x in (a0, a0, a0, a1, a1, a1, a2, a2, a2)])
    right = np.stack([np.broadcast_to(x, shape) for x in (b0, b1, b2, b0, b1, b2, b0, b1, b2)])
    m = vmul(left, right)  # m[3i + j] = a_i * b_j
    d0 = m[0]
    d1 = vadd(m[1], m[3])
    d2 = vadd(vadd(m[2], m[4]), m[6])
    d3 = vadd(m[5], m[7])
    d4 = m[8]
    return (vsub(d0, d3), vsub(vadd(d1, d3), d4), vadd(d2, d4))


def vxadd(a: tuple, b: tuple) -> tuple:
    return (vadd(a[0], b[0]), vadd(a[1], b[1]), vadd(a[2], b[2]))


def vxbmul(scalar: np.ndarray, a: tuple) -> tuple:
    product = vmul(np.asarray(scalar, dtype=_U64)[None], np.stack([np.asarray(c, dtype=_U64) for c in a]))
    return (product[0], product[1], product[2])


def vxinv(a: tuple) -> tuple:
    """Vectorised XFE inverse; the zero element maps to zero."""
    a = [np.asarray(c, dtype=_U64) for c in a]
    if not a[0].shape == a[1].shape == a[2].shape:  # stacked products need one shape
        a = np.broadcast_arrays(*a)
    (c0, c1, c2), det = _xinv_cofactors(*a, _vproducts, vadd, vsub)
    out = _vproducts((c0, c1, c2), (vinv(det),) * 3)
    return (out[0], out[1], out[2])


_STACK_PRODUCTS = 32
"""From this many elements a factor, :func:`_vproducts` stacks its products into one :func:`vmul` (numpy's
cost is per call); below, one :func:`vmul` per pair, each on Python ints (:data:`_SMALL_MUL`), is faster
(x_invert groups of 1-4 operations on 8 lanes)."""


def _vproducts(xs, ys) -> list[np.ndarray] | np.ndarray:
    """Pairwise products of equally shaped arrays."""
    if xs[0].size < _STACK_PRODUCTS:
        return [vmul(x, y) for x, y in zip(xs, ys)]
    return vmul(np.stack(xs), np.stack(ys))


# ------------------------------------------------------------------------ pseudo-random cell contents


def mix(address, seed) -> np.ndarray:
    """A fixed pseudo-random field element for each (address, seed): the contents of never-written RAM cells
    in randomised tests (seed 0 is reserved for all-zero RAM by the callers). Works on scalars and arrays."""
    with np.errstate(over="ignore"):
        z = np.asarray(address, dtype=_U64) * _U64(0x9E3779B97F4A7C15) + np.asarray(seed, dtype=_U64)
        z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
        z = z ^ (z >> _U64(31))
    return vcanon(z)
