"""The equivalence verifier: accepts what is equivalent, rejects what is not, and says why."""

import pytest
from hypothesis import HealthCheck, given, settings

import tasm_env as te
from tasm_env import testing as tst
from tasm_env.verify import make_tests, verify, verify_many


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tst.straight_line_programs(max_length=16, mnemonics=tst.STRAIGHT_LINE_MNEMONICS))
def test_a_program_is_equivalent_to_itself(program):
    try:
        verdict = verify(program, program, inputs=("u32", "u32"), n_tests=12)
    except te.TaskError:
        return  # the program crashes on valid inputs: no verdict to give
    assert verdict.ok, verdict.reason


@pytest.mark.parametrize("baseline, candidate, inputs, says", [
    ("lt", "swap 1 lt", ("u32", "u32"), "final stack st0"),                 # swapped lt operands
    ("invert", "push -1 mul", ("nonzero",), "final stack st0"),               # invert is not negation
    ("hash", "pop 5 pop 5 push 0 push 0 push 0 push 0 push 0", ("field",) * 10, "final stack"),  # dropped hash
    ("pow", "swap 1 pow", ("u32", "u32"), "st0"),                              # base is st0, exponent st1
    ("div_mod", "swap 1 div_mod", ("u32_nonzero", "u32_nonzero"), ""),        # numerator is st0
    ("read_io 1 read_io 1 swap 1", "read_io 2", (), "final stack"),            # the first token ends deepest
    ("push 5 write_mem 1 pop 1", "push 6 write_mem 1 pop 1", ("field",), "RAM"),
    ("dup 0 write_io 1", "dup 1 write_io 1", ("field", "field"), "public output"),
    ("add", "add add", ("field", "field"), "depth"),
    ("read_io 1", "divine 1", (), "consumed"),
])
def test_known_non_equivalent_pairs_are_rejected(baseline, candidate, inputs, says):
    verdict = verify(baseline, candidate, inputs=inputs)
    assert not verdict.ok
    assert says in verdict.reason


@pytest.mark.parametrize("baseline, candidate, inputs", [
    ("dup 1 dup 1 add", "dup 0 dup 2 add", ("field", "field")),
    ("push 0 add", "nop", ("field",)),
    ("swap 1 swap 1", "", ("field", "field")),
    ("dup 0 mul", "dup 0 mul", ("field",)),
    ("push 1 mul", "", ("u32",)),
    ("dup 0 add", "push 2 mul", ("field",)),
    ("swap 1 add", "add", ("field", "field")),
    ("read_io 1 read_io 1", "read_io 2", ()),
    ("div_mod pop 1", "div_mod pop 1", ("u32_nonzero", "u32")),
])
def test_equivalent_rewrites_are_accepted(baseline, candidate, inputs):
    verdict = verify(baseline, candidate, inputs=inputs)
    assert verdict.ok, verdict.reason


def test_div_mod_with_possible_zero_denominator_is_a_partial_baseline():
    assert verify("div_mod", "div_mod", inputs=("u32", "u32")).ok
    # a candidate that never divides by zero differs where the baseline crashes
    verdict = verify("div_mod", "swap 1 dup 0 push 0 eq add swap 1 div_mod", inputs=("u32", "u32"))
    assert not verdict.ok and verdict.part == "crash"


def test_counterexample_names_the_failing_test():
    verdict = verify("lt", "swap 1 lt", inputs=("u32", "u32"))
    c = verdict.counterexample
    assert c is not None and len(c.stack) == 18
    a, b = c.stack[-1], c.stack[-2]
    assert (a < b) != (b < a)  # the operands really tell the two programs apart
    assert f"test {c.test}" in verdict.reason


def test_candidate_crash_is_a_rejection_not_an_error():
    verdict = verify("pop 1", "invert pop 1", inputs=("bool",))
    assert not verdict.ok and "inverse_of_zero" in verdict.reason


def test_verify_many_gives_one_verdict_per_candidate_in_order():
    candidates = ["dup 0 dup 2 add", "dup 0 dup 2 mul", "dup 1 dup 1 add", "bogus", "dup 0 dup 2 add"]
    verdicts = verify_many("dup 1 dup 1 add", candidates, inputs=("field", "field"))
    assert [v.ok for v in verdicts] == [True, False, True, False, True]
    assert "not a straight-line program" in verdicts[3].reason


def test_tests_are_reproducible_and_cover_edges():
    a = make_tests(("u32", "field"), n_tests=40, seed=3)
    b = make_tests(("u32", "field"), n_tests=40, seed=3)
    assert (a.inputs.stack == b.inputs.stack).all()
    assert (a.inputs.stack[:, -2] < 2**32).all()
    assert (a.inputs.stack[:, -1] < te.P).all()
    assert {0, (1 << 32) - 1} & set(int(v) for v in a.inputs.stack[:, -2])


def test_unknown_input_type_is_a_clear_error():
    with pytest.raises(te.TasmError, match="unknown input type"):
        verify("add", "add", inputs=("float", "field"))


def _verdict_facts(verdict) -> tuple:
    return (verdict.ok, verdict.reason, verdict.part, verdict.status, verdict.bound, str(verdict.counterexample))


def test_candidate_texts_get_the_verdicts_of_their_programs():
    """The batch intake (canonical texts looked up line by line for the whole batch, a Program made only for a
    candidate past the static pass) gives every text the verdict its Program gets in the same batch: canonical
    and other spellings, repeats, fresh literals, comments, parse errors and control flow."""
    import numpy as np

    from tasm_env.asm import Program
    from tasm_env.errors import ParseError
    from tasm_env.verify import Verifier

    rng = np.random.default_rng(11)
    baseline = Program.parse("dup 1 dup 1 mul swap 2 add push 3 mul add")
    pool = [str(i) for i in baseline.instructions] + ["push 0", "push 1", "dup 0", "swap 1", "pop 1", "add", "mul",
                                                      "push 3", "push 03", "addi 0", "xb_mul", "split", "skiz"]
    texts = []
    for _ in range(300):
        words = [str(i) for i in baseline.instructions]
        for _ in range(int(rng.integers(0, 3))):
            words[int(rng.integers(len(words)))] = pool[int(rng.integers(len(pool)))]
        if rng.random() < 0.2:
            words.insert(int(rng.integers(len(words))), f"push {int(rng.integers(1 << 62))}")  # a fresh literal
        texts.append((" ", "\n", "\n", "\n", " // c\n")[int(rng.integers(5))].join(words))
    texts += ["bogus", "push 1\n\ncall nowhere", "", texts[0], texts[1] + "\n", "dup 1\ndup 1 mul\nswap 2"]
    verifier = Verifier(baseline, ("field", "field"), 20, 42)

    def program(text):
        try:
            return Program.parse(text)
        except ParseError:
            return text  # the same error either way
    from_texts = verifier.check(texts)
    from_programs = verifier.check([program(text) for text in texts])
    assert list(map(_verdict_facts, from_texts)) == list(map(_verdict_facts, from_programs))
    assert sum(v.ok for v in from_texts) > 10 and sum(not v.ok for v in from_texts) > 100
    assert "not a straight-line program" in from_texts[300].reason


def test_the_fast_verdict_constructors_make_what_the_dataclasses_make():
    """verdict.refutation and verdict.counterexample (the verifier's per-candidate path) skip the frozen
    dataclasses' __init__: they must fill in every field, and equal, print and replace like the real thing."""
    import dataclasses

    from tasm_env import verdict as V

    example = V.counterexample(3, "final stack st0 = 1", "final stack st0 = 2", None, "op stack", ("a", "b"))
    made = V.refutation("differs on test 3", example, "op stack")
    real_example = V.Counterexample(3, "final stack st0 = 1", "final stack st0 = 2", None, "op stack", ("a", "b"))
    real = V.Verdict(False, "differs on test 3", real_example, "op stack")
    for fast, slow, cls in ((example, real_example, V.Counterexample), (made, real, V.Verdict)):
        assert type(fast) is cls and set(vars(fast)) == {f.name for f in dataclasses.fields(cls)}
        assert vars(fast) == vars(slow) and fast == slow and repr(fast) == repr(slow)
    assert dataclasses.replace(made, reason="x") == V.Verdict(False, "x", real_example, "op stack")
    assert not made and made.status == "refuted"
