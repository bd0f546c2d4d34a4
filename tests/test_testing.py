"""The strategies of tasm_env.testing: typed inputs, whole tasks, equivalent pairs, and the documented example."""

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tasm_env as te
from tasm_env import testing as tst
from tasm_env.verify import INPUT_TYPES

_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_the_input_types_are_the_verifiers():
    assert tst.INPUT_TYPES == INPUT_TYPES


@_SETTINGS
@given(st.data())
def test_typed_inputs_have_their_types(data):
    types = data.draw(tst.input_types())
    values = data.draw(tst.typed_inputs(types))
    assert len(values) == len(types)
    for kind, value in zip(types, values):
        assert 0 <= value < te.P
        assert value != 0 or kind in ("field", "u32", "bool")
        assert value < 1 << 32 or kind in ("field", "nonzero")
        assert value in (0, 1) or kind != "bool"


def test_an_unknown_input_type_is_refused():
    with pytest.raises(ValueError, match="unknown input type"):
        tst.typed_values("float")


@_SETTINGS
@given(tst.tasks(tier=["easy", "medium"]))
def test_tasks_are_whole_generated_tasks(task):
    assert isinstance(task, te.Task) and task.tier in ("easy", "medium")
    assert te.verify(task.baseline, task.baseline, inputs=task.inputs).ok


@_SETTINGS
@given(tst.equivalent_pairs())
def test_equivalent_pairs_are_different_programs_the_verifier_accepts(pair):
    assert pair.variant != pair.baseline and len(pair.variant) > len(pair.baseline)  # every rewrite adds
    assert te.verify(pair.baseline, pair.variant, inputs=pair.task.inputs, n_tests=100, seed=7).ok
    assert pair.rewrite


def test_the_documented_example_runs_and_passes():
    text = (Path(__file__).resolve().parents[1] / "docs" / "testing.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "docs/testing.md", "exec"), namespace)
    namespace["test_the_optimiser_keeps_what_the_block_computes"]()


def test_the_documented_example_fails_on_a_broken_optimiser():
    """The example's property has teeth: an optimiser that drops a real instruction is caught."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "testing.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    broken = code.replace("    return te.Program(out)", "    return te.Program(out[:-1] + [te.Instruction('push', 5)])")
    assert broken != code
    namespace: dict = {}
    exec(compile(broken, "docs/testing.md (broken)", "exec"), namespace)
    with pytest.raises(AssertionError):
        namespace["test_the_optimiser_keeps_what_the_block_computes"]()
