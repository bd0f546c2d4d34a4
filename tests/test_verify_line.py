"""Tests solved along lines (:mod:`tasm_env.solve_line`), run in the escalation round: a survivor's own
sensitive value read as a rational function of one source, its numerator's roots as tests."""

import numpy as np
import pytest

import tasm_env as te
from tasm_env import escalation
from tasm_env.field import P
from tasm_env.solve import poly_roots
from tasm_env.solve_line import POINTS, fits, rational_roots
from tasm_env.verify import Verifier


def _poly(roots, lead=1):
    f = [lead % P]
    for r in roots:  # f *= (x - r)
        f = [((f[k - 1] if k else 0) - r * (f[k] if k < len(f) else 0)) % P for k in range(len(f) + 1)]
    return f


def _at(f, x):
    return sum(c * pow(x, i, P) for i, c in enumerate(f)) % P


def test_rational_roots_are_the_numerators_roots_off_the_poles():
    rng = np.random.default_rng(3)
    for numerator_degree, denominator_degree in ((1, 0), (2, 3), (3, 1), (4, 3), (5, 2)):
        for _ in range(5):
            roots = sorted({int(r) for r in rng.integers(100, 1 << 62, size=numerator_degree)})
            numerator = _poly(roots, int(rng.integers(1, 1 << 62)))
            denominator = [int(c) for c in rng.integers(1, 1 << 62, size=denominator_degree + 1)]
            ys = [_at(numerator, k) * pow(_at(denominator, k), P - 2, P) % P for k in range(POINTS)]
            assert rational_roots(ys) == roots, (numerator_degree, denominator_degree)


def test_values_that_are_not_rational_of_low_degree_give_no_roots():
    assert rational_roots([pow(k + 2, 1 << 40, P) for k in range(POINTS)]) == []
    assert rational_roots([7] * POINTS) == []  # a value the source does not move


def test_many_lines_are_fitted_at_once_like_one():
    rng = np.random.default_rng(5)
    lines = []
    for _ in range(6):
        a, b, c = (int(x) for x in rng.integers(1, 1 << 62, size=3))
        lines.append([(a * k * k + b) * pow(k + c, P - 2, P) % P for k in range(POINTS)])
    lines.append([pow(k + 3, 1 << 33, P) for k in range(POINTS)])  # not rational of degree 3: no fit
    numerators, denominators, ok = fits(np.array(lines, dtype=np.uint64), 3)
    assert ok.tolist() == [True] * 6 + [False]
    for ys, numerator, denominator in list(zip(lines, numerators.tolist(), denominators.tolist()))[:6]:
        for k, y in enumerate(ys):
            assert _at(numerator, k) == y * _at(denominator, k) % P


def test_polynomial_roots_of_higher_degree_with_repeated_and_missing_roots():
    f, g = _poly([3, 3, 11, 1 << 40, P - 2], lead=7), [1, P - 1, 0, 1]  # g = x^3 - x + 1 has no root
    product = [sum(f[i] * g[k - i] for i in range(len(f)) if 0 <= k - i < len(g)) % P
               for k in range(len(f) + len(g) - 1)]
    assert poly_roots(product) == sorted({3, 11, 1 << 40, P - 2})


def _task(name):
    return next(t for t in te.load_suite("tasm-basic-v0") if t.name == name)


def _mutant(task, snippet, after):
    text = str(task.baseline).replace("\n", " ")
    assert text.count(after) == 1
    at = text.index(after) + len(after)
    return text[:at] + " " + snippet + text[at:]


# seed-7 adversarial mutant of benchmarks/verify_soundness.py (mutant 8871) that every earlier round and the
# escalation's two extra test sets accept: st0 += [st0 == p - 1] where st0 = 2^32 * (y0^e + y1) * y1 with
# y = x_invert(x3 - c, x0 + x4, x2) and e the high half of x1; it is p - 1 only where e = 1 (x1 in
# [2^32, 2^33)) and x3 is a root of a degree-6 rational function
HARD_012 = ("basic-hard-012", "dup 0 push 18446744069414584320 eq add", "pop 2 dup 4 write_io 1")


def test_a_masked_eq_behind_an_extension_field_inverse_is_refuted(monkeypatch):
    task = _task(HARD_012[0])
    mutant = _mutant(task, *HARD_012[1:])
    verdict = Verifier(task).check([mutant])[0]
    assert not verdict.ok and "line-solved" in verdict.reason, verdict.reason
    assert verdict.counterexample is not None
    monkeypatch.setattr(escalation, "LINE_BASES", 0)  # without the line-solved tests: accepted (wrongly)
    assert Verifier(task).check([mutant])[0].ok


EQUIVALENT_SNIPPETS = [
    "dup 0 push 1 add dup 1 eq add",             # st0 += [st0 + 1 == st0]: an eq that never holds
    "dup 0 dup 0 eq add push -1 add",            # st0 += [st0 == st0] - 1: one that always holds
    "dup 0 dup 0 mul push 0 eq push 0 mul add",  # an eq against 0 whose result is multiplied away
]


@pytest.mark.parametrize("task_name", ["basic-hard-012", "basic-hard-007", "basic-hard-050", "basic-hard-003"])
def test_equivalent_candidates_with_new_sensitive_operations_are_accepted(task_name):
    task = _task(task_name)
    verdicts = Verifier(task).check([str(task.baseline) + "\n" + snippet for snippet in EQUIVALENT_SNIPPETS])
    for snippet, verdict in zip(EQUIVALENT_SNIPPETS, verdicts):
        assert verdict.ok, (snippet, verdict.reason)
        assert "in the escalation round" in verdict.bound
