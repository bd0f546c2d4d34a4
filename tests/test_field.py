"""F_p and F_p^3 arithmetic against Python's big integers, scalar and vectorised."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasm_env import field as ff
from tasm_env.field import P

EDGES = [0, 1, 2, P - 1, P - 2, 1 << 32, (1 << 32) - 1, (1 << 32) + 1, 1 << 63, (1 << 64) - (1 << 32)]
elements = st.one_of(st.sampled_from(EDGES), st.integers(0, P - 1))
xfes = st.tuples(elements, elements, elements)


def test_modulus():
    assert P == 2**64 - 2**32 + 1 == 18446744069414584321


# -------------------------------------------------------------------------------------------- scalars


@given(elements, elements)
def test_scalar_ops_match_big_ints(a, b):
    assert ff.add(a, b) == (a + b) % P
    assert ff.sub(a, b) == (a - b) % P
    assert ff.mul(a, b) == (a * b) % P
    assert ff.neg(a) == (-a) % P
    assert ff.power(a, b % 1000) == pow(a, b % 1000, P)


@given(elements)
def test_inverse(a):
    if a == 0:
        with pytest.raises(ZeroDivisionError):
            ff.inv(a)
    else:
        assert ff.inv(a) * a % P == 1


@pytest.mark.parametrize("x", [-1, -P, P, 2 * P + 3, 1 << 64, -(1 << 70)])
def test_canon(x):
    assert ff.canon(x) == x % P and 0 <= ff.canon(x) < P


def test_edge_values():
    assert ff.mul(1 << 32, 1 << 32) == (1 << 32) - 1  # 2^64 = 2^32 - 1 (mod p)
    assert ff.mul(1 << 63, 2) == (1 << 32) - 1
    assert ff.add(P - 1, 1) == 0
    assert ff.mul(P - 1, P - 1) == 1
    assert ff.inv(P - 1) == P - 1
    assert ff.power(0, 0) == 1


# ---------------------------------------------------------------------------------------- vectorised


arrays = st.lists(st.tuples(elements, elements), min_size=1, max_size=40)


def as_array(values):
    return np.array(values, dtype=np.uint64)


@settings(max_examples=200)
@given(arrays)
def test_vectorised_ops_match_big_ints(pairs):
    a_list, b_list = [a for a, _ in pairs], [b for _, b in pairs]
    a, b = as_array(a_list), as_array(b_list)
    for vector_op, exact in [(ff.vadd, lambda x, y: (x + y) % P), (ff.vsub, lambda x, y: (x - y) % P),
                             (ff.vmul, lambda x, y: (x * y) % P)]:
        result = vector_op(a, b)
        assert result.dtype == np.uint64
        assert [int(v) for v in result] == [exact(x, y) for x, y in zip(a_list, b_list)]
    assert [int(v) for v in ff.vneg(a)] == [(-x) % P for x in a_list]
    assert [int(v) for v in ff.vsquare(a)] == [x * x % P for x in a_list]


@settings(max_examples=50)
@given(st.lists(elements, min_size=1, max_size=10), st.lists(st.integers(0, (1 << 64) - 1), min_size=1,
                                                            max_size=10))
def test_vpow_and_vinv(bases, exponents):
    n = min(len(bases), len(exponents))
    bases, exponents = bases[:n], exponents[:n]
    got = ff.vpow(as_array(bases), np.array(exponents, dtype=np.uint64))
    assert [int(v) for v in got] == [pow(b, e, P) for b, e in zip(bases, exponents)]
    inverses = ff.vinv(as_array(bases))
    assert [int(v) for v in inverses] == [pow(b, P - 2, P) for b in bases]  # 0 maps to 0


_U64_EDGES = EDGES + [P, P + 1, (1 << 64) - 1]  # non-canonical words too: both ways of vmul agree on them


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 3), st.integers(1, 90), st.integers(1, 3), st.booleans(), st.integers(0, 2 ** 32))
def test_vmul_is_the_product_mod_p_small_and_large_and_broadcast(lead, n, m, column, seed):
    """Sizes on both sides of the small-array path, 2-D shapes, broadcasting a row or a column, 0-d arrays."""
    rng = np.random.default_rng(seed)

    def words(shape):
        values = rng.integers(0, 1 << 64, size=shape, dtype=np.uint64, endpoint=False)
        edges = np.array(_U64_EDGES, dtype=np.uint64)
        return np.where(rng.random(shape) < 0.3, edges[rng.integers(0, len(edges), size=shape)], values)

    shape = (n, m) if lead else (n,)
    a = words(shape)
    b = words((n, 1) if column and lead else (1, m) if lead else (1,) if column else shape)
    if lead == 3:
        b = np.uint64(int(b.ravel()[0]))  # a numpy scalar
    elif not column and seed % 3 == 0:
        b = b.ravel()[:1].reshape((1,) * (1 + seed % 4))  # one factor, as many or more dimensions than a
    got = ff.vmul(a, b)
    want = np.array([int(x) * int(y) % P for x, y in zip(*(arr.ravel() for arr in np.broadcast_arrays(a, b)))],
                    dtype=np.uint64).reshape(np.broadcast(a, b).shape)
    assert got.dtype == np.uint64 and got.shape == want.shape and np.array_equal(got, want)
    assert np.array_equal(ff.vmul(b, a), want)


def test_vcanon_and_to_array():
    raw = np.array([P, P + 5, (1 << 64) - 1, 0, P - 1], dtype=np.uint64)
    assert [int(v) for v in ff.vcanon(raw)] == [0, 5, (1 << 64) - 1 - P, 0, P - 1]
    assert [int(v) for v in ff.to_array([-1, P, 3])] == [P - 1, 0, 3]


def test_vectorised_edges():
    a = as_array(EDGES)
    for b_value in EDGES:
        b = np.full(len(EDGES), b_value, dtype=np.uint64)
        assert [int(v) for v in ff.vmul(a, b)] == [x * b_value % P for x in EDGES]
        assert [int(v) for v in ff.vadd(a, b)] == [(x + b_value) % P for x in EDGES]
        assert [int(v) for v in ff.vsub(a, b)] == [(x - b_value) % P for x in EDGES]


# ------------------------------------------------------------------------------------- extension field


def xmul_reference(a, b):
    """Schoolbook product of polynomials, then reduce by X^3 = X - 1, all in big integers."""
    prod = [0] * 5
    for i in range(3):
        for j in range(3):
            prod[i + j] += a[i] * b[j]
    for k in (4, 3):  # X^k = X^(k-2) - X^(k-3)
        c, prod[k] = prod[k], 0
        prod[k - 2] += c
        prod[k - 3] -= c
    return tuple(c % P for c in prod[:3])


@given(xfes, xfes)
def test_xfe_product_and_sum(a, b):
    assert ff.xmul(a, b) == xmul_reference(a, b)
    assert ff.xadd(a, b) == tuple((x + y) % P for x, y in zip(a, b))


@settings(max_examples=30, deadline=None)
@given(xfes)
def test_xfe_inverse(a):
    if a == (0, 0, 0):
        with pytest.raises(ZeroDivisionError):
            ff.xinv(a)
    else:
        assert ff.xmul(ff.xinv(a), a) == (1, 0, 0)


def test_xfe_reduction_polynomial():
    x = (0, 1, 0)
    assert ff.xmul(x, ff.xmul(x, x)) == (P - 1, 1, 0)  # X^3 = X - 1
    assert ff.xinv((1, 0, 0)) == (1, 0, 0)
    assert ff.xbmul(3, (1, 2, P - 1)) == (3, 6, P - 3)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(xfes, xfes), min_size=1, max_size=8))
def test_vectorised_xfe_ops(pairs):
    a = tuple(as_array([p[0][i] for p in pairs]) for i in range(3))
    b = tuple(as_array([p[1][i] for p in pairs]) for i in range(3))
    product = ff.vxmul(a, b)
    total = ff.vxadd(a, b)
    scaled = ff.vxbmul(b[0], a)
    for lane, (x, y) in enumerate(pairs):
        assert tuple(int(c[lane]) for c in product) == xmul_reference(x, y)
        assert tuple(int(c[lane]) for c in total) == ff.xadd(x, y)
        assert tuple(int(c[lane]) for c in scaled) == ff.xbmul(y[0], x)


def test_vectorised_xfe_inverse():
    values = [(1, 0, 0), (3, P - 5, 1 << 40), (0, 0, 1), (P - 1, P - 1, P - 1)]
    a = tuple(as_array([v[i] for v in values]) for i in range(3))
    inverses = ff.vxinv(a)
    for lane, v in enumerate(values):
        assert tuple(int(c[lane]) for c in inverses) == ff.xinv(v)


def test_mix_is_deterministic_canonical_and_vectorised():
    addresses = np.array([0, 1, 2, P - 1], dtype=np.uint64)
    values = ff.mix(addresses, 7)
    assert values.dtype == np.uint64 and all(int(v) < P for v in values)
    assert [int(v) for v in values] == [int(ff.mix(int(a), 7)) for a in addresses]
    assert int(ff.mix(5, 7)) != int(ff.mix(5, 8))


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**32), st.integers(129, 600))
def test_vpow_and_vinv_on_large_arrays(seed, n):
    """Past the size where vpow stops calling Python's pow per element (and vinv on many elements, zeros among them)."""
    rng = np.random.default_rng(seed)
    bases = [int(x) for x in rng.integers(0, P, n, dtype=np.uint64)]
    bases[:: 5] = [0] * len(bases[:: 5])
    exponents = [int(x) for x in rng.integers(0, 1 << 32, n, dtype=np.uint64)]
    got = ff.vpow(as_array(bases), np.array(exponents, dtype=np.uint64), bits=32)
    assert [int(v) for v in got] == [pow(b, e, P) for b, e in zip(bases, exponents)]
    assert [int(v) for v in ff.vinv(as_array(bases).reshape(-1, 1))[:, 0]] == [pow(b, P - 2, P) for b in bases]
