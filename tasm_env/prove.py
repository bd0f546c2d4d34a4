"""Certainty for what is published: exact proofs of equivalence where they are cheap, stated bounds elsewhere.

Both programs are taken as their dataflow plans (:mod:`tasm_env.plan`: stack moves compiled away), over the
same sources (context, inputs, input tokens, digest words: one variable each).

* **Polynomial identity** (no solver). A block of ``add``, ``mul``, constants and stack moves (also ``addi``,
  ``xx_add``, ``xx_mul``, ``xb_mul``, ``read_io``, ``divine``, ``write_io``) computes polynomials over F_p.
  Expanded to canonical form (a dict from monomials to coefficients; ``bool`` inputs reduced with
  ``x^2 = x``), two blocks are equivalent on all typed inputs exactly when their final stacks and outputs are
  the same polynomials: a nonzero polynomial whose degree in each variable is below the size of that
  variable's domain (p, p - 1 or 2^32) is nonzero somewhere on the domain. Forms over
  :data:`MAX_TERMS` terms are not expanded.
* **Bit-vector SMT** (z3, the optional extra ``tasm-env[prove]``) for small blocks mixing u32 operations,
  comparisons, ``eq``, ``invert``, assertions and RAM: field elements as 64-bit vectors below p, RAM's initial
  contents an uninterpreted function. The query: some typed input on which one crashes and the other does not,
  or neither crashes and the stack, output or RAM differ. Unsatisfiable is a proof; a model is a
  counterexample the tests missed (the verdict becomes ``refuted``).
* **Bounds** otherwise. For a polynomial block of degree ``d`` too large to expand, each uniformly random test
  misses a difference with probability at most ``d / |S|`` (Schwartz-Zippel; ``|S|`` the smallest input
  domain), so ``R`` independent random tests miss it with probability at most ``(d / |S|)^R``. Otherwise the
  verdict states its coverage: the edge, pair and solved tests of :mod:`tasm_env.coverage` and
  :mod:`tasm_env.solve`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from . import field as F
from . import isa
from .asm import Program
from .batch import compile_block
from .coverage import CONTEXT_DEPTH
from .field import P
from .plan import OPERATIONS, Plan

if TYPE_CHECKING:
    from .verify import Verdict, Verifier

MAX_TERMS = 4096  # a polynomial form larger than this is not expanded (the bound is used instead)
SMT_MAX_OPERATIONS = 48  # blocks (both together) larger than this are not given to the solver
SMT_TIMEOUT_MS = 3000
_POLYNOMIAL = isa.POLYNOMIAL & set(OPERATIONS)  # plan operations whose results are polynomials
_DOMAIN = {"field": P, "nonzero": P - 1, "u32": 1 << 32, "u32_nonzero": (1 << 32) - 1, "bool": 2}


class _TooLarge(Exception):
    pass


class Poly:
    """A polynomial over F_p in canonical form: {monomial: coefficient}, a monomial a sorted tuple of
    (variable, exponent). ``boolean`` variables are kept multilinear (x^2 = x on {0, 1})."""

    __slots__ = ("terms", "boolean")

    def __init__(self, terms: dict, boolean: frozenset):
        self.terms = terms
        self.boolean = boolean

    @classmethod
    def const(cls, c: int, boolean: frozenset) -> "Poly":
        c %= P
        return cls({(): c} if c else {}, boolean)

    @classmethod
    def var(cls, v: int, boolean: frozenset) -> "Poly":
        return cls({((v, 1),): 1}, boolean)

    def __add__(self, other: "Poly | int") -> "Poly":
        other = other if isinstance(other, Poly) else Poly.const(other, self.boolean)
        terms = dict(self.terms)
        for m, c in other.terms.items():
            s = (terms.get(m, 0) + c) % P
            if s:
                terms[m] = s
            else:
                terms.pop(m, None)
        return Poly(terms, self.boolean)

    __radd__ = __add__

    def __neg__(self) -> "Poly":
        return Poly({m: (P - c) % P for m, c in self.terms.items()}, self.boolean)

    def __sub__(self, other: "Poly | int") -> "Poly":
        other = other if isinstance(other, Poly) else Poly.const(other, self.boolean)
        return self + (-other)

    def __rsub__(self, other: int) -> "Poly":
        return Poly.const(other, self.boolean) - self

    def __mul__(self, other: "Poly | int") -> "Poly":
        other = other if isinstance(other, Poly) else Poly.const(other, self.boolean)
        if len(self.terms) * len(other.terms) > 16 * MAX_TERMS:
            raise _TooLarge
        terms: dict = {}
        for m1, c1 in self.terms.items():
            for m2, c2 in other.terms.items():
                m = self._times(m1, m2)
                s = (terms.get(m, 0) + c1 * c2) % P
                if s:
                    terms[m] = s
                else:
                    terms.pop(m, None)
        if len(terms) > MAX_TERMS:
            raise _TooLarge
        return Poly(terms, self.boolean)

    __rmul__ = __mul__

    def __mod__(self, modulus: int) -> "Poly":  # lets field.xmul run on polynomials (coefficients are reduced)
        return self

    def _times(self, m1: tuple, m2: tuple) -> tuple:
        exponents = dict(m1)
        for v, e in m2:
            exponents[v] = 1 if v in self.boolean else exponents.get(v, 0) + e
        return tuple(sorted(exponents.items()))

    def __eq__(self, other) -> bool:
        return isinstance(other, Poly) and self.terms == other.terms

    def __hash__(self) -> int:
        return hash(frozenset(self.terms.items()))


# ---------------------------------------------------------------------------------- shared helpers


def _kinds(plan: Plan) -> set[str]:
    return {OPERATIONS[k] for k in plan.kind}


def _operation_inputs(plan: Plan):
    start = 0
    for j, code in enumerate(plan.kind):
        yield j, OPERATIONS[code], plan.inputs[start:start + plan.n_in[j]], plan.out[j]
        start += plan.n_in[j]


def _boolean_sources(verifier: "Verifier") -> frozenset:
    return frozenset(CONTEXT_DEPTH + i for i, t in enumerate(verifier.input_types) if t == "bool")


# ------------------------------------------------------------------------------------ polynomials


def _polynomials(plan: Plan, boolean: frozenset) -> dict[int, Poly]:
    values: dict[int, Poly] = {i: Poly.var(i, boolean) for i in range(plan.shape.shared)}
    for i, c in zip(plan.const_ids, plan.const_values):
        values[i] = Poly.const(c, boolean)
    for _, name, ins, out in _operation_inputs(plan):
        x = [values[i] for i in ins]
        if name == "add":
            results = [x[0] + x[1]]
        elif name == "mul":
            results = [x[0] * x[1]]
        elif name == "xx_add":
            results = list(F.xadd(tuple(x[0:3]), tuple(x[3:6])))
        elif name == "xx_mul":
            results = list(F.xmul(tuple(x[0:3]), tuple(x[3:6])))
        else:  # xb_mul
            results = list(F.xbmul(x[0], tuple(x[1:4])))
        for k, r in enumerate(results):
            values[out + k] = r
    return values


def _degree(plan: Plan) -> int:
    """An upper bound on the total degree of every value of a polynomial plan (no expansion)."""
    degree = {i: 1 for i in range(plan.shape.shared)}
    degree.update({i: 0 for i in plan.const_ids})
    for _, name, ins, out in _operation_inputs(plan):
        d = [degree[i] for i in ins]
        if name == "add":
            results = [max(d)]
        elif name == "mul":
            results = [d[0] + d[1]]
        elif name == "xx_add":
            results = [max(d)] * 3
        elif name == "xx_mul":
            results = [max(d[0:3]) + max(d[3:6])] * 3
        else:
            results = [d[0] + max(d[1:4])] * 3
        for k, r in enumerate(results):
            degree[out + k] = r
    return max([degree[i] for i in plan.stack + plan.output] or [0])


def polynomial_identity(verifier: "Verifier", candidate: Program) -> bool | None:
    """True if the candidate's final stack and output are the baseline's polynomials, False if they are
    different polynomials (then some typed input tells them apart), None if it does not apply (or is too
    large to expand)."""
    base, cand = verifier.plan, compile_block(candidate, verifier.shape)
    for plan in (base, cand):
        if not _kinds(plan) <= _POLYNOMIAL or plan.touched or plan.sponge is not None:
            return None
    if len(base.stack) != len(cand.stack) or len(base.output) != len(cand.output):
        return False
    boolean = _boolean_sources(verifier)
    try:
        b, c = _polynomials(base, boolean), _polynomials(cand, boolean)
    except _TooLarge:
        return None
    pairs = list(zip(base.stack + base.output, cand.stack + cand.output))
    if all(b[i] == c[j] for i, j in pairs):
        return True
    types = verifier.tests.column_types
    for i, j in pairs:  # a difference is visible on the domain if every degree is below the domain's size
        for monomial in (b[i] - c[j]).terms:
            if any(e >= _DOMAIN[types[v]] for v, e in monomial):
                return None
    return False


def schwartz_zippel(verifier: "Verifier", candidate: Program) -> str | None:
    """The Schwartz-Zippel bound of the random tests, for two polynomial blocks without ``bool`` inputs."""
    base, cand = verifier.plan, compile_block(candidate, verifier.shape)
    for plan in (base, cand):
        if not _kinds(plan) <= _POLYNOMIAL or plan.touched or plan.sponge is not None:
            return None
    if "bool" in verifier.input_types:
        return None
    d = max(_degree(base), _degree(cand), 1)
    smallest = min([_DOMAIN[t] for t in verifier.input_types] + [P])
    flavours = verifier.tests.flavour
    from .coverage import RANDOM

    random_tests = int((flavours == RANDOM).sum()) // 2  # half of the random flavours draw every input uniformly
    return (f"Schwartz-Zippel: degree <= {d}, each uniform random test misses a difference with probability "
            f"<= {d}/{smallest}, {random_tests} such tests: <= ({d}/{smallest})^{random_tests}")


# -------------------------------------------------------------------------------------------- SMT


def smt_available() -> bool:
    try:
        import z3  # noqa: F401
    except ImportError:
        return False
    return True


def smt_equivalence(verifier: "Verifier", candidate: Program) -> tuple[bool, dict[int, int]] | None:
    """(True, {}) if z3 proves the two blocks equivalent on all typed inputs, (False, model) with source
    values of a counterexample, None if it does not apply, z3 is not installed or the solver gave up."""
    base, cand = verifier.plan, compile_block(candidate, verifier.shape)
    if len(base.kind) + len(cand.kind) > SMT_MAX_OPERATIONS or not smt_available():
        return None
    import z3

    from .smt import ENCODED, encode

    for plan in (base, cand):
        if not _kinds(plan) <= ENCODED or plan.sponge is not None:
            return None

    solver = z3.Solver()
    solver.set("timeout", SMT_TIMEOUT_MS)
    sources = {i: z3.BitVec(f"s{i}", 64) for i in range(verifier.shape.shared)}
    ram = z3.Function("ram", z3.BitVecSort(64), z3.BitVecSort(64))
    types = verifier.tests.column_types
    for i, v in sources.items():
        solver.add(*_domain(z3, types[i], v))
    b = encode(base, sources, ram, solver)
    c = encode(cand, sources, ram, solver)
    if len(b.stack) != len(c.stack) or len(b.output) != len(c.output):
        return None
    same_state = z3.And(*[x == y for x, y in zip(b.stack + b.output, c.stack + c.output)],
                        *[b.final_ram(a) == c.final_ram(a) for a in b.touched + c.touched])
    solver.add(z3.Or(b.crash != c.crash, z3.And(z3.Not(b.crash), z3.Not(same_state))))
    result = solver.check()
    if result == z3.unsat:
        return True, {}
    if result == z3.sat:
        model = solver.model()
        return False, {i: model.eval(v, model_completion=True).as_long() for i, v in sources.items()}
    return None


def _domain(z3, kind: str, v) -> list:
    limit = {"u32": 1 << 32, "u32_nonzero": 1 << 32, "bool": 2}.get(kind, P)
    constraints = [z3.ULT(v, limit)]
    if kind in ("nonzero", "u32_nonzero"):
        constraints.append(v != 0)
    return constraints


# ------------------------------------------------------------------------------------------ verdicts


def prove(verifier: "Verifier", candidate: Program, verdict: "Verdict") -> "Verdict":
    """A tested verdict made as certain as is cheap: ``proved`` by polynomial identity or SMT, ``refuted`` if
    the solver finds a counterexample, else ``tested`` with the Schwartz-Zippel bound where it applies."""
    identical = polynomial_identity(verifier, candidate)
    if identical:
        return replace(verdict, status="proved", bound="polynomial identity over F_p (canonical forms equal)")
    if identical is False:
        return replace(verdict, ok=False, status="refuted", part="op stack",
                       reason="different polynomials: some typed input tells them apart (no test found one)")
    smt = smt_equivalence(verifier, candidate)
    if smt is not None and smt[0]:
        return replace(verdict, status="proved", bound="bit-vector SMT (z3): no typed input tells them apart")
    if smt is not None:
        stack = [smt[1][i] for i in range(verifier.shape.stack_depth)]
        return replace(verdict, ok=False, status="refuted", part="state",
                       reason=f"differs on inputs found by the SMT solver: initial stack (top last) {stack}")
    bound = schwartz_zippel(verifier, candidate)
    return replace(verdict, bound=verdict.bound + (f"; {bound}" if bound else ""))
