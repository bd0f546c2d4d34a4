"""Bad command lines end in one line on stderr and exit status 2, before any work starts; a closed output pipe
ends quietly; --no-progress shows no bar; stage 2 never starts from random weights or without a limit unless
asked to."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tasm_env.cli import EXAMPLE, main

WORKTREE = Path(__file__).resolve().parent.parent


def _one_line_error(capsys, *needles: str) -> str:
    captured = capsys.readouterr()
    err = captured.err
    assert err.endswith("\n") and err.count("\n") == 1, f"expected one line on stderr, got {err!r}"
    assert "Traceback" not in err and captured.out == ""
    for needle in needles:
        assert needle in err, (needle, err)
    return err


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if any stage, evaluation or comparison starts."""
    from agents import pipeline

    def started(*args, **kwargs):
        raise AssertionError("a run started")

    for name in ("run_stage1", "run_stage2", "run_stage3", "compare", "evaluate_checkpoint"):
        monkeypatch.setattr(pipeline, name, started)


BAD_NUMBERS = [
    (["compare", "--budget", "-1"], "--budget", "expected a positive integer, got '-1'"),
    (["compare", "--budget", "0"], "--budget", "expected a positive integer"),
    (["compare", "--seeds", "0"], "--seeds", "expected a positive integer, got '0'"),
    (["compare", "--workers", "0"], "--workers", "expected a positive integer"),
    (["compare", "--tasks", "two"], "--tasks", "expected a positive integer"),
    (["evaluate", "x.safetensors", "--samples", "-3"], "--samples", "expected a positive integer"),
    (["evaluate", "x.safetensors", "--temperature", "0"], "--temperature", "expected a positive number"),
    (["train", "--stage", "1", "--out", "o", "--epochs", "0"], "--epochs", "expected a positive integer"),
    (["train", "--stage", "1", "--out", "o", "--variants", "-1"], "--variants", "an integer of at least 0"),
    (["train", "--stage", "1", "--out", "o", "--search-seconds", "-0.5"], "--search-seconds", "at least 0"),
    (["train", "--stage", "2", "--out", "o", "--iterations", "-5"], "--iterations", "expected a positive integer"),
    (["train", "--stage", "2", "--out", "o", "--lr", "-0.001"], "--lr", "expected a positive number"),
    (["train", "--stage", "2", "--out", "o", "--tasks-per-batch", "0"], "--tasks-per-batch", "positive integer"),
    (["train", "--stage", "3", "--out", "o", "--build-samples", "0"], "--build-samples", "positive integer"),
    (["train", "--stage", "1", "--out", "o", "--seed", "-1"], "--seed", "an integer of at least 0"),
    (["train", "--stage", "1", "--out", "o", "--d-model", "two"], "--d-model", "expected a positive integer"),
    (["run", "f.tasm", "--max-cycles", "0"], "--max-cycles", "expected a positive integer"),
    (["verify", "a.tasm", "b.tasm", "--tests", "0"], "--tests", "expected a positive integer"),
    (["verify", "a.tasm", "b.tasm", "--seed", "-1"], "--seed", "an integer of at least 0"),
]


@pytest.mark.parametrize("argv, flag, expected", BAD_NUMBERS, ids=[" ".join(a) for a, _, _ in BAD_NUMBERS])
def test_bad_numbers_are_one_line_errors_before_any_run(argv, flag, expected, capsys, no_training, tmp_path,
                                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = _one_line_error(capsys, flag, expected, f"tasm-env {argv[0]}: error:")
    assert "usage:" not in err
    assert list(tmp_path.iterdir()) == []  # no run directory, no file


@pytest.mark.parametrize("flag, value", [("--extra-tasks", "-5"), ("--extra-tasks", "1,-2,3"),
                                         ("--variant-extra", "0,-1,0")])
def test_negative_task_counts_are_refused(flag, value, capsys, no_training, tmp_path):
    assert main(["train", "--stage", "1", "--out", str(tmp_path / "o"), flag, value]) == 2
    _one_line_error(capsys, flag, "counts of at least 0")


def test_other_usage_errors_are_one_line_too(capsys):
    assert main(["compare", "--no-such-flag"]) == 2
    _one_line_error(capsys, "unrecognized arguments: --no-such-flag")
    assert main(["train", "--out", "o"]) == 2
    _one_line_error(capsys, "tasm-env train: error:", "--stage")
    assert main(["no-such-command"]) == 2
    _one_line_error(capsys, "invalid choice")


# ---- stage 2 starts from a trained policy, with a limit, unless told otherwise


def test_stage2_without_init_is_refused(capsys, no_training, tmp_path):
    assert main(["train", "--stage", "2", "--out", str(tmp_path), "--minutes", "5"]) == 2
    _one_line_error(capsys, "pass --init", "--from-scratch")


def test_stage2_without_a_limit_is_refused(capsys, no_training, tmp_path):
    assert main(["train", "--stage", "2", "--out", str(tmp_path), "--from-scratch"]) == 2
    _one_line_error(capsys, "stage 2 needs a limit", "--minutes", "--iterations")
    assert main(["train", "--stage", "2", "--out", str(tmp_path), "--init", "s1.safetensors"]) == 2
    _one_line_error(capsys, "stage 2 needs a limit")


def test_from_scratch_contradicts_init(capsys, no_training, tmp_path):
    assert main(["train", "--stage", "2", "--out", str(tmp_path), "--from-scratch", "--init", "s1.safetensors",
                 "--iterations", "3"]) == 2
    _one_line_error(capsys, "--from-scratch", "leave out --init")


@pytest.fixture
def stage2_calls(monkeypatch):
    from agents import pipeline

    calls = []
    monkeypatch.setattr(pipeline, "run_stage2", lambda out, **kwargs: calls.append(kwargs) or out / "s2")
    return calls


def test_stage2_runs_when_the_start_and_a_limit_are_given(stage2_calls, tmp_path, capsys):
    assert main(["train", "--stage", "2", "--out", str(tmp_path), "--from-scratch", "--iterations", "3"]) == 0
    assert stage2_calls[-1]["init"] is None and stage2_calls[-1]["iterations"] == 3
    assert main(["train", "--stage", "2", "--out", str(tmp_path), "--init", "s1", "--minutes", "5"]) == 0
    assert stage2_calls[-1]["init"] == "s1" and stage2_calls[-1]["minutes"] == 5.0
    assert stage2_calls[-1]["iterations"] == 2000  # the old default still bounds a timed run
    assert main(["train", "--stage", "2", "--out", str(tmp_path), "--resume"]) == 0  # continues to the default
    assert stage2_calls[-1]["resume"] and stage2_calls[-1]["iterations"] == 2000


# ---- --no-progress


class _Stop(Exception):
    pass


@pytest.mark.parametrize("quiet", [True, False])
def test_no_progress_shows_no_bar_in_stage1(quiet, monkeypatch, tmp_path, capsys):
    """Stage 1 searches the generated easy tasks for optima; that search's bar ignored --no-progress. The run is
    stopped right after it (the check of the bar with progress on shows the test can see one)."""
    from agents import pipeline

    def stop(*args, **kwargs):
        raise _Stop

    monkeypatch.setattr(pipeline, "training_corpus", stop)
    argv = ["train", "--stage", "1", "--out", str(tmp_path), "--tiers", "easy", "--extra-tasks", "2,0,0",
            "--search-seconds", "0.01", "--variant-extra", "0"] + (["--no-progress"] if quiet else [])
    with pytest.raises(_Stop):
        main(argv)
    err = capsys.readouterr().err
    assert ("optimum search" in err) is not quiet, err


# ---- a closed output pipe (`tasm-env tasks list | head`)


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(WORKTREE), os.environ.get("PYTHONPATH", "")])}


@pytest.mark.parametrize("argv", [["tasks", "list"], ["demo"], ["run", str(EXAMPLE), "--public-input", "6", "4"],
                                  ["--help"], ["train", "--help"]])
def test_closed_output_pipe_ends_quietly(argv):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write, as when `head` has had its lines
    try:
        done = subprocess.run([sys.executable, "-m", "tasm_env.cli", *argv], stdout=write_end,
                              stderr=subprocess.PIPE, env=_env(), timeout=300)
    finally:
        os.close(write_end)
    assert done.stderr.decode() == ""
    assert done.returncode == 141  # 128 + SIGPIPE, what a shell reports for `yes | head`


def test_head_reads_the_first_lines():
    """The same through a real pipe: a reader that stops early gets its lines and no error."""
    proc = subprocess.Popen([sys.executable, "-m", "tasm_env.cli", "tasks", "list"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_env())
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(timeout=300)
    assert b"tasks" in first
    assert b"Traceback" not in err and b"BrokenPipe" not in err
