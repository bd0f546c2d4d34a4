"""Issue 9's pairs: the default verdict must be right on the cases a researcher meets every day."""

import numpy as np
import pytest

import tasm_env as te
from tasm_env.verify import Verifier, verify


@pytest.mark.parametrize("baseline, candidate, inputs, part", [
    ("push 0 eq", "pop 1 push 0", ("field",), "op stack"),                       # x == 0 never drawn at random
    ("dup 0 invert mul", "pop 1 push 1", ("field",), "crash"),                   # the crash at 0
    ("add sponge_init", "add", ("field", "field"), "sponge"),                    # the sponge is state
    ("push 7 eq assert", "pop 1", ("field",), "crash"),                           # dropping an assertion
    ("assert", "pop 1", ("field",), "crash"),
    ("push 1 eq", "pop 1 push 0", ("field", "field"), "op stack"),              # with a deeper input too
    ("pop 1 push 0 eq", "pop 2 push 0", ("field", "field"), "op stack"),        # the deeper input must be 0
    ("pop 1 push 1 eq", "pop 2 push 0", ("field", "field"), "op stack"),        # ... or 1
    ("push 4294967295 eq", "pop 1 push 0", ("u32",), "op stack"),               # one u32 input 2^32 - 1
    ("dup 1 dup 1 eq swap 2 pop 2", "pop 2 push 0", ("field", "field"), "op stack"),  # equal inputs
    ("dup 1 dup 1 eq swap 2 pop 2", "pop 2 push 0", ("u32", "field"), "op stack"),
    ("add push 0 eq", "pop 2 push 0", ("field", "field"), "op stack"),          # x + y == 0
    ("log_2_floor", "push 1 add log_2_floor", ("u32_nonzero",), "op stack"),     # off by one at 2^k - 1
    ("sponge_init sponge_squeeze pop 5 pop 5", "sponge_init", (), "sponge"),     # the sponge's state
    ("add", "add halt", ("field", "field"), "halt"),
])
def test_rare_differences_are_refuted(baseline, candidate, inputs, part):
    for seed in (42, 1234, 7):
        verdict = verify(baseline, candidate, inputs=inputs, seed=seed)
        assert not verdict.ok, (seed, verdict.reason)
        assert verdict.part == part, verdict.reason
        assert verdict.status == "refuted"


def test_u32_input_at_its_maximum_is_tested_with_the_seed_that_missed_it():
    assert not verify("push 4294967295 eq", "pop 1 push 0", inputs=("u32",), n_tests=64, seed=1234).ok


@pytest.mark.parametrize("baseline, candidate, inputs", [
    ("push 0 eq", "push 0 eq", ("field",)),
    ("dup 0 invert mul", "dup 0 invert mul", ("field",)),
    ("add sponge_init", "add sponge_init", ("field", "field")),
    ("push 7 eq assert", "push -7 add push 0 eq assert", ("field",)),           # the same assertion, rewritten
    ("assert", "push 1 eq assert", ("field",)),
    ("push 7 eq assert", "dup 0 push 7 eq assert pop 1", ("field",)),
    ("dup 1 dup 1 eq swap 2 pop 2", "eq", ("field", "field")),
    ("invert", "invert", ("nonzero",)),
    ("div_mod", "div_mod", ("u32", "u32")),                                        # crashes at d = 0 on both
    ("read_io 1 push 3 eq assert", "read_io 1 push -3 add push 0 eq assert", ()),
    ("assert_vector", "dup 0 pop 1 assert_vector", ("field",) * 10),
    ("dup 1 dup 1 assert_vector", "dup 1 dup 1 assert_vector", ("field",) * 5),    # reaches into the context
    ("push 10 lt assert", "push 10 lt assert", ("u32",)),
])
def test_equivalent_pairs_with_crashes_are_accepted(baseline, candidate, inputs):
    verifier = Verifier(baseline, inputs)
    verifier.same_dataflow_proves = False  # run the tests even where the dataflow is the baseline's
    verdict = verifier.check([candidate])[0]
    assert verdict.ok, verdict.reason
    assert verdict.status == "tested"
    assert verify(baseline, candidate, inputs=inputs).ok


@pytest.mark.parametrize("baseline, inputs", [
    ("assert", ("field",)),
    ("push 7 eq assert", ("field",)),
    ("push 7 eq assert push 9 eq assert", ("field", "field")),
    ("assert_vector", ("field",) * 10),
    ("read_io 1 push 3 eq assert", ()),
    ("push 10 lt assert", ("u32",)),
    ("dup 0 invert mul", ("field",)),
])
def test_partial_baselines_are_tasks_and_their_passing_region_is_tested(baseline, inputs):
    task = te.Task.from_tasm(baseline, inputs=inputs, name="partial")
    verifier = Verifier(task)
    passing = ~verifier.baseline_crashes
    assert passing.sum() >= 20, verifier.describe_tests()  # the generator reached the non-crashing region
    assert verifier.baseline_crashes.any() or baseline == "dup 0 invert mul"
    dropped = {"assert": "pop 1", "assert_vector": "pop 5 pop 5"}.get(baseline)
    if dropped:
        assert not verify(task, dropped).ok


def test_a_baseline_that_always_crashes_is_a_task_error_naming_the_task():
    with pytest.raises(te.TaskError, match=r"'never'.*crashes on every generated test"):
        te.Task.from_tasm("push 0 assert", inputs=("field",), name="never")


def test_crash_kind_need_not_match():
    # both crash exactly when x == 0 (one by invert, one by an assertion): no proof exists for either
    verdict = verify("dup 0 invert pop 1", "dup 0 push 0 eq push 0 eq assert", inputs=("field",))
    assert verdict.ok, verdict.reason


def test_inputs_given_as_a_string_is_a_clear_error():
    with pytest.raises(te.TasmError, match="sequence of input type names"):
        verify("add", "add", inputs="field")
    with pytest.raises(te.TasmError, match="sequence of input type names"):
        te.Task.from_tasm("add", inputs="field")


@pytest.mark.parametrize("n", [0, -3, 2.5, True])
def test_n_tests_must_be_a_positive_integer_at_construction(n):
    with pytest.raises(te.TasmError, match="n_tests"):
        Verifier("add", ("field", "field"), n_tests=n)


def test_counterexample_replays_on_the_reference_vm():
    verdict = verify("push 5 write_mem 1 pop 1 dup 0 push 0 eq add", "push 5 write_mem 1 pop 1",
                     inputs=("field", "field"))
    c = verdict.counterexample
    assert c is not None
    stack = list(c.stack)
    base = te.run("push 5 write_mem 1 pop 1 dup 0 push 0 eq add", stack=stack[16:], floor=stack[:16], ram=c.ram,
                  public_input=c.public_input, secret_input=c.secret_input)
    cand = te.run("push 5 write_mem 1 pop 1", stack=stack[16:], floor=stack[:16], ram=c.ram,
                  public_input=c.public_input, secret_input=c.secret_input)
    assert base.stack != cand.stack


def test_first_lane_is_one_the_baseline_passes():
    verifier = Verifier("push 7 eq assert", ("field",), n_tests=1, seed=0)
    assert not verifier.baseline_crashes[0]
    assert np.count_nonzero(~verifier.baseline_crashes) >= 1


@pytest.mark.parametrize("baseline, inputs, equivalent, wrong", [
    ("push 7 eq assert", ("field",), "push -7 add push 0 eq assert", "pop 1"),
    ("dup 0 invert mul", ("field",), "dup 0 invert mul", "pop 1 push 1"),
    ("div_mod", ("u32", "u32"), "div_mod", "pop 2 push 0 push 0"),
])
def test_partial_credit_counts_a_shared_crash_as_the_same_outcome(baseline, inputs, equivalent, wrong):
    from tasm_env.emission.reward import partial_credit

    verifier = Verifier(te.Task.from_tasm(baseline, inputs=inputs, name="partial"))
    assert verifier.baseline_crashes.any()
    shares = partial_credit(verifier, [equivalent, wrong])
    assert shares[0] == 1.0  # crashing exactly where the baseline does costs nothing
    assert shares[1] < 1.0


# RAM contents are a source the solver drives: a value compared after a read of never-written RAM
@pytest.mark.parametrize("baseline, candidate, inputs", [
    ("dup 0 read_mem 1 pop 1 add", "dup 0 read_mem 1 pop 1 dup 1 dup 1 add push 0 eq add add", ("field",)),
    ("read_mem 1 pop 1 push 7 mul", "read_mem 1 pop 1 dup 0 push 3 add push 0 eq add push 7 mul", ("field",)),
    ("dup 0 read_mem 1 pop 1 addi 1 swap 1 write_mem 1 pop 1",                     # RAM[x] + 1 + x == 0
     "dup 0 read_mem 1 pop 1 addi 1 dup 1 dup 1 add push 0 eq add swap 1 write_mem 1 pop 1", ("field",)),
])
def test_differences_behind_ram_contents_are_refuted(baseline, candidate, inputs):
    for seed in (42, 1, 2, 3):
        verdict = verify(baseline, candidate, inputs=inputs, seed=seed)
        assert not verdict.ok, (seed, verdict.reason)
        cell = verdict.counterexample.ram if verdict.counterexample else {}
        assert cell, verdict.reason  # the counterexample names the RAM contents it needs


@pytest.mark.parametrize("baseline, candidate, inputs", [
    ("dup 0 read_mem 1 pop 1 add", "dup 0 read_mem 1 pop 1 swap 1 add", ("field",)),
    ("dup 0 read_mem 1 pop 1 addi 1 swap 1 write_mem 1 pop 1",
     "dup 0 read_mem 1 pop 1 push 1 add swap 1 write_mem 1 pop 1", ("field",)),
    ("push 64 read_mem 1 pop 1 dup 1 lt", "push 64 read_mem 1 pop 1 dup 1 lt", ("u32",)),
])
def test_equivalent_pairs_reading_ram_are_accepted(baseline, candidate, inputs):
    verdict = verify(baseline, candidate, inputs=inputs)
    assert verdict.ok, verdict.reason


# stepped tests: a snippet's rare point combined with the other inputs at their edge values, where the probe
# bases' values make a later u32 operation of the baseline crash or hide the difference (mutants of
# benchmarks/verify_soundness.py that the default verdict accepted before)
@pytest.mark.parametrize("task_name, candidate", [
    ("basic-medium-087", "dup 1 dup 1 add dup 1 dup 1 push 18446744069414584320 mul add pick 1 pop 1 dup 0 dup 4 add pick 1 pick 4 pop 2 dup 0 push 18446744069414584320 add push 0 eq add dup 2 dup 1 add pick 1 pick 3 pop 2 push 3 dup 0 dup 2 mul pick 1 pick 2 pop 2 dup 1 dup 1 add pick 1 pick 2 pop 2 dup 0 split pick 2 pop 1 dup 1 dup 1 lt pick 1 pick 2 pop 2 push 18446744069414584320 dup 1 dup 1 pow pick 1 pick 2 pop 2 dup 0 invert pick 1 pop 1"),
    ("basic-medium-006", "dup 1 dup 1 add push 0 eq add dup 1 split dup 2 dup 1 div_mod pick 2 pick 4 pop 2 dup 1 dup 3 mul pick 2 pick 3 pop 2 push 4294967296 dup 0 dup 2 mul pick 1 pick 2 pop 2 dup 0 split pick 2 pop 1 dup 0 dup 2 lt pick 1 pick 2 pop 2 dup 3 dup 2 eq pick 2 pick 4 pop 2 dup 2 split pick 4 pop 1 dup 2 dup 1 add pick 1 pick 3 pop 2 dup 1 dup 1 dup 4 pick 3 pick 4 pick 5 pop 3"),
    ("basic-medium-017", "pick 2 pop 1 dup 0 dup 2 div_mod pick 1 pick 3 pop 2 dup 1 invert dup 0 split pop 1 dup 1 split pick 3 pop 1 dup 4 log_2_floor pick 5 pop 1 dup 1 dup 5 push 18446744069414584320 mul add pick 2 pick 5 pop 2 dup 0 dup 4 dup 1 dup 1 eq add dup 4 dup 4 pick 4 pick 5 pick 6 pick 7 pop 4"),
    ("basic-hard-041", "dup 4 pop_count push 16 dup 2 dup 1 push 18446744069414584320 mul add pick 1 pop 1 dup 3 dup 2 mul pick 4 pop 1 push 64 dup 0 read_mem 1 pop 1 pick 1 pop 1 dup 5 invert dup 0 write_io 1 pop 1 dup 4 dup 2 dup 8 write_io 3 pick 1 pop 1 dup 1 dup 1 push 18446744069414584320 mul add pick 1 pop 1 dup 6 dup 2 dup 5 dup 3 dup 1 dup 1 add push 0 eq add dup 9 dup 7 xx_mul pick 3 pick 4 pick 5 pick 6 pick 8 pop 5 dup 3 dup 5 dup 4 x_invert pick 5 pick 6 pick 7 pop 3 dup 3 dup 5 push 18446744069414584320 mul add pick 4 pick 5 pop 2 dup 1 dup 1 dup 4 dup 6 pick 4 pick 5 pick 6 pick 7 pop 4"),
])
def test_rare_points_deep_in_u32_blocks_are_refuted(task_name, candidate):
    task = next(t for t in te.load_suite("tasm-basic-v0") if t.name == task_name)
    verdict = Verifier(task).check([candidate])[0]
    assert not verdict.ok, verdict.reason
    # positive control: the baseline with the same position holding a no-op is accepted
    assert Verifier(task).check([str(task.baseline) + "\ndup 0 pop 1"])[0].ok



# Rare differences behind values that are neither affine nor quadratic in one source: solved backwards through
# the dataflow (tasm_env.solve_back), on a pairwise edge grid, or two targets at once
@pytest.mark.parametrize("baseline, candidate, inputs", [
    # st0 += [1/x + 5 == 0]: a rational function of x; invert's preimage gives x = -1/5
    ("invert", "invert dup 0 push 5 add push 0 eq add", ("nonzero",)),
    # an assertion on a component of an extension-field inverse, two of the three operands u32: the
    # component is zero at a root of a polynomial in the field operand alone (the others keep their type)
    ("x_invert", "x_invert dup 0 push 0 eq push 0 eq assert", ("u32_nonzero", "u32_nonzero", "field")),
])
def test_differences_behind_rational_values_are_refuted(baseline, candidate, inputs):
    for seed in (42, 1, 2):
        verdict = verify(baseline, candidate, inputs=inputs, seed=seed)
        assert not verdict.ok, (seed, verdict.reason)



@pytest.mark.parametrize("task_name, snippet, after", [
    # st0 += [st0 == p - 1] where st0 is p - 1 only with inputs 0 and 2 at once: the pairwise edge grid
    ("basic-hard-065", "dup 0 push -18446744069414584320 add push 0 eq add", "dup 3 dup 6 write_io 2"),
    # st0 += [st0 < 3]: visible only where an eq of the baseline holds and its result is not masked later,
    # two targets at once (a solved row combined with a second target)
    ("basic-hard-070", "push 3 dup 1 lt add", "push 4294967296 dup 0 dup 4 eq pick 1 pop 1"),
])
def test_differences_needing_two_conditions_at_once_are_refuted(task_name, snippet, after):
    task = next(t for t in te.load_suite("tasm-basic-v0") if t.name == task_name)
    text = str(task.baseline).replace("\n", " ")
    assert after in text
    at = text.index(after) + len(after)
    mutant = text[:at] + " " + snippet + text[at:]
    verdict = verify(task, mutant)
    assert not verdict.ok and verdict.counterexample is not None, verdict.reason


def test_grid_rows_meet_every_pair_of_core_edge_values():
    from tasm_env.coverage import CONTEXT_DEPTH, _CORE, grid_rows

    types = ("field",) * CONTEXT_DEPTH + ("field", "u32", "bool")
    bases = np.arange(5 * len(types), dtype=np.uint64).reshape(5, len(types))
    rows = grid_rows(types, types[CONTEXT_DEPTH:], bases)
    admitted = {"field": set(_CORE), "u32": {v for v in _CORE if v < 1 << 32}, "bool": {0, 1}}
    for a in range(3):
        for b in range(a + 1, 3):
            seen = {(int(r[CONTEXT_DEPTH + a]), int(r[CONTEXT_DEPTH + b])) for r in rows}
            want = {(x, y) for x in admitted[types[CONTEXT_DEPTH + a]] for y in admitted[types[CONTEXT_DEPTH + b]]}
            assert want <= seen


def test_polynomial_roots_over_the_field():
    from tasm_env.field import P
    from tasm_env.solve import poly_roots

    rng = np.random.default_rng(0)
    for _ in range(50):
        roots = [int(r) for r in rng.integers(0, 1 << 62, size=3)]
        f = [1]
        for r in roots:  # f *= (x - r)
            f = [((f[k - 1] if k else 0) - r * (f[k] if k < len(f) else 0)) % P for k in range(len(f) + 1)]
        assert poly_roots(f) == sorted(set(roots))
    assert poly_roots([1, P - 1, 0, 1]) == []  # x^3 - x + 1: irreducible (it defines Triton's extension field)


@pytest.mark.parametrize("baseline, candidate, equivalent, inputs", [
    # st0 += [2^e == 1024]: 2 has order 192, so 2^e = 1024 iff e = 10 mod 192 (1 in 192 random u32 inputs);
    # the exponent is solved for by a discrete log over the base's few powers
    ("dup 0", "dup 0 dup 0 push 2 pow push 1024 eq add", "dup 0 dup 0 push 2 pow push 1024 mul pop 1", ("u32",)),
    # st0 += [x^7 == 5]: 7 is coprime to p - 1, so x -> x^7 is a bijection and x = 5^(1/7) is the one root
    ("dup 0", "dup 0 push 7 dup 1 pow push 5 eq add", "dup 0 push 7 dup 1 pow push 5 mul pop 1", ("field",)),
])
def test_differences_behind_a_pow_are_refuted(baseline, candidate, equivalent, inputs):
    for seed in (42, 1):
        verdict = verify(baseline, candidate, inputs=inputs, seed=seed)
        assert not verdict.ok, (seed, verdict.reason)
        assert verify(baseline, equivalent, inputs=inputs, seed=seed).ok  # positive control
