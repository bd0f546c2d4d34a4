"""te.optimize, `tasm-env optimize` and `tasm-env tasks show FILE --inputs ...` (issue 14 item 5)."""

import pytest

import tasm_env as te
from tasm_env.cli import main
from tasm_env.verify import verify


def test_optimize_returns_a_verified_proved_program_and_what_it_is_relative_to():
    result = te.optimize("dup 0 add dup 0 add dup 0 add", inputs=("field",), seconds=30)
    assert result.proved and result.cycles == 2 and str(result.program) == "push 8\nmul"
    assert verify("dup 0 add dup 0 add dup 0 add", result.program, inputs=("field",), n_tests=100).ok
    assert 8 in result.relative_to.push and "mul" in result.relative_to.instructions


def test_optimize_within_the_time_returns_the_best_so_far_unproved():
    block = "dup 5 dup 3 mul dup 5 dup 3 mul add dup 4 dup 2 mul add swap 6 pop 5 pop 1"  # a dot product of 3
    result = te.optimize(block, inputs=("field",) * 6, seconds=0.5)
    assert not result.proved and result.lower_bound <= result.cycles <= 14


@pytest.mark.parametrize("kwargs, needle", [
    (dict(inputs="field"), "sequence of input type names"),
    (dict(inputs=("float",)), "unknown input type 'float'"),
    (dict(inputs=("field",), seconds=0), "positive number of seconds"),
    (dict(inputs=("field",), seconds="10"), "positive number of seconds"),
])
def test_optimize_says_what_is_wrong(kwargs, needle):
    with pytest.raises(te.TasmError, match=needle):
        te.optimize("dup 0 add", **kwargs)
    with pytest.raises(te.TasmError, match="straight-line"):
        te.optimize("call f halt f: return", inputs=())


def test_cli_optimize(tmp_path, capsys):
    block = tmp_path / "block.tasm"
    block.write_text("dup 0 add\ndup 0 add\n")
    assert main(["optimize", str(block), "--inputs", "field", "--seconds", "20"]) == 0
    out = capsys.readouterr().out
    assert "2 cycles (proven optimal" in out and "push 4" in out and "relative to:" in out
    assert "push constants:" in out and "scope:" in out
    assert main(["optimize", str(block), "--inputs", "flot"]) == 2
    assert "unknown input type 'flot'" in capsys.readouterr().err
    assert main(["optimize", str(block), "--inputs", "field", "--seconds", "-1"]) == 2
    assert main(["optimize", str(tmp_path / "missing.tasm"), "--inputs", "field"]) == 2


def test_cli_tasks_show_of_ones_own_block(tmp_path, capsys):
    block = tmp_path / "mine.tasm"
    block.write_text("dup 1 dup 1 mul\n")
    assert main(["tasks", "show", str(block), "--inputs", "field", "field"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("mine (your block from") and "TIR:" in out and "baseline (3 cycles)" in out
    assert main(["tasks", "show", str(block), "--inputs", "field"]) == 2  # mul needs two inputs
    assert "mine" in capsys.readouterr().err
    assert main(["tasks", "show", "add-keep"]) == 0  # a shipped task still works
    assert "relative to:" in capsys.readouterr().out
