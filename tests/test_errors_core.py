"""Bad input to the core reaches users as a TasmError subclass that says what was expected (issue 14)."""

import numpy as np
import pytest

import tasm_env as te
from tasm_env import batch
from tasm_env.asm import Instruction
from tasm_env.errors import InputError, TasmError


@pytest.mark.parametrize("program", [123, 4.5, None, b"push 1", object()])
def test_run_refuses_what_is_not_a_program(program):
    with pytest.raises(InputError) as info:
        te.run(program)
    assert isinstance(info.value, TasmError)
    assert "expected a Program, TASM text (a str) or a sequence of Instructions" in str(info.value)
    assert type(program).__name__ in str(info.value)


def test_run_refuses_a_sequence_of_what_is_not_instructions():
    with pytest.raises(InputError, match=r"program\[1\]: expected an Instruction, got str"):
        te.run([Instruction("push", 1), "add"])


def test_run_still_takes_a_sequence_of_instructions():
    assert te.run([Instruction("push", 1), Instruction("push", 2), Instruction("add")]).stack[-1] == 3


def test_run_batch_keeps_python_ints_of_2_to_the_63_and_more_exact():
    big = (1 << 63) + 5  # a canonical field element that float64 cannot hold
    stacks = [[1] * 15 + [big], [2] * 15 + [te.P - 1]]
    result = batch.run_batch("push 1 add", stacks)
    assert [int(v) for v in result.stack[:, -1]] == [big + 1, 0]
    for row, lane in zip(stacks, range(2)):  # the same as the reference VM
        assert int(result.stack[lane, -1]) == te.run("push 1 add", floor=row).stack[-1]


@pytest.mark.parametrize("bad, shown", [(float(1 << 63), "float"), (te.P, str(te.P)), (-1, "-1"), ("7", "str")])
def test_run_batch_refuses_values_that_are_not_field_elements(bad, shown):
    with pytest.raises(InputError) as info:
        batch.run_batch("push 1 add", [[1] * 15 + [bad]])
    assert "expected canonical field elements (ints in [0, p))" in str(info.value) and shown in str(info.value)


def test_run_batch_still_takes_uint64_arrays():
    stacks = np.full((3, 16), (1 << 63) + 1, dtype=np.uint64)
    assert int(batch.run_batch("push 1 add", stacks).stack[0, -1]) == (1 << 63) + 2
