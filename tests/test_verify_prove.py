"""Certainty: exact proofs where cheap (polynomial identity, z3), stated bounds elsewhere."""

import pytest

import tasm_env as te
from tasm_env import prove
from tasm_env.asm import Program
from tasm_env.verify import Verifier


def verify(baseline, candidate, inputs, prove=False):
    """The default verdict with every test and the prover run, even on a candidate of the baseline's own
    dataflow (which the verifier would accept as such): these tests are about the tests and the prover."""
    verifier = Verifier(baseline, inputs)
    verifier.same_dataflow_proves = False
    return verifier.check([candidate], prove=prove)[0]


@pytest.mark.parametrize("baseline, candidate, inputs", [
    ("dup 1 dup 1 add", "dup 0 dup 2 add", ("field", "field")),
    ("dup 0 add", "push 2 mul", ("field",)),
    ("dup 0 mul", "", ("bool",)),                                   # x^2 = x on {0, 1}
    ("push 3 add push 4 mul", "push 4 mul push 12 add", ("u32",)),
    ("xx_add", "pick 5 pick 5 pick 5 xx_add", ("field",) * 6),    # extension-field addition commutes
    ("read_io 2 add", "read_io 1 read_io 1 add", ()),
])
def test_polynomial_blocks_are_proved_by_identity(baseline, candidate, inputs):
    verdict = verify(baseline, candidate, inputs=inputs, prove=True)
    assert verdict.ok and verdict.status == "proved", verdict
    assert "polynomial identity" in verdict.bound


def test_different_polynomials_are_refuted_even_if_no_test_saw_it():
    verifier = Verifier("dup 0 mul", ("field",))
    # a candidate equal to the baseline on every test but a different polynomial: forge a tested verdict
    tested = te.Verdict(True, "forged", status="tested")
    refuted = prove.prove(verifier, Program.parse("dup 0 dup 0 mul mul"), tested)
    assert refuted.status == "refuted" and not refuted.ok
    assert prove.polynomial_identity(verifier, Program.parse("push 2 mul")) is False


def test_bool_inputs_are_reduced_multilinear_only_for_bools():
    assert prove.polynomial_identity(Verifier("dup 0 mul", ("bool",)), Program.parse("")) is True
    assert prove.polynomial_identity(Verifier("dup 0 mul", ("field",)), Program.parse("")) is False


@pytest.mark.skipif(not prove.smt_available(), reason="z3 is the optional extra tasm-env[prove]")
@pytest.mark.parametrize("baseline, candidate, inputs", [
    ("push 7 eq assert", "push -7 add push 0 eq assert", ("field",)),
    ("dup 0 invert mul", "dup 0 invert mul", ("field",)),
    ("and", "swap 1 and", ("u32", "u32")),
    ("lt", "dup 1 dup 1 eq push 0 eq swap 2 lt push 0 eq mul", ("u32", "u32")),
    ("push 5 write_mem 1 pop 1", "push 5 write_mem 1 pop 1", ("field",)),
    ("div_mod pop 1", "div_mod pop 1", ("u32", "u32_nonzero")),
])
def test_small_u32_and_crashing_blocks_are_proved_by_smt(baseline, candidate, inputs):
    verdict = verify(baseline, candidate, inputs=inputs, prove=True)
    assert verdict.ok and verdict.status == "proved", verdict
    assert "SMT" in verdict.bound


@pytest.mark.skipif(not prove.smt_available(), reason="z3 is the optional extra tasm-env[prove]")
def test_smt_finds_the_input_that_tells_them_apart():
    # differs only at x = 123456789 (a constant the baseline never mentions); the model says where
    verifier = Verifier("push 0 add", ("field",))
    candidate = Program.parse("dup 0 push 123456789 eq add")
    result = prove.smt_equivalence(verifier, candidate)
    assert result is not None and result[0] is False
    assert result[1][16] == 123456789  # st0 of the counterexample, found by the solver


def test_untested_verdicts_state_their_coverage_and_bound():
    verdict = verify("dup 0 mul dup 0 mul", "dup 0 mul dup 0 mul", inputs=("field",))
    assert verdict.status == "tested" and "edge" in verdict.bound and "pair" not in verdict.bound
    big = "dup 0 mul " * 12  # degree 4096: too large to expand, the Schwartz-Zippel bound instead
    verdict = verify(big, big, inputs=("field",), prove=True)
    assert verdict.ok
    assert verdict.status == "proved" or "Schwartz-Zippel: degree <= 4096" in verdict.bound


def test_cli_prints_the_status(tmp_path, capsys):
    from tasm_env.cli import main

    (tmp_path / "a.tasm").write_text("dup 0 add")
    (tmp_path / "b.tasm").write_text("push 2 mul")
    assert main(["verify", str(tmp_path / "a.tasm"), str(tmp_path / "b.tasm"), "--inputs", "field"]) == 0
    assert "status: proved" in capsys.readouterr().out
    assert main(["verify", str(tmp_path / "a.tasm"), str(tmp_path / "b.tasm"), "--inputs", "field",
                 "--no-prove"]) == 0
    assert "status: tested" in capsys.readouterr().out
