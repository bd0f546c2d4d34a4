"""The agent commands end to end on minimal settings: train stage 1, 2 (and resume), 3, evaluate; bad input
gives one-line errors."""

import json

import pytest

from agents.checkpoint import read_checkpoint
from agents.metrics import read_metrics
from tasm_env.cli import main

FAST = ["--tiers", "easy", "--no-progress"]


def test_bad_command_lines_are_one_line_errors(tmp_path, capsys):
    assert main(["train", "--stage", "3", "--out", str(tmp_path)] + FAST) == 2
    assert "stage 3 refines a trained policy" in capsys.readouterr().err
    assert main(["train", "--stage", "1", "--out", str(tmp_path), "--tiers", "tricky"]) == 2
    assert "unknown tiers" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "missing.safetensors")] + FAST) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert main(["train", "--stage", "2", "--agent", "rtb", "--out", str(tmp_path), "--iterations", "1"] + FAST) == 2
    assert "pass --init" in capsys.readouterr().err
    assert main(["train", "--stage", "2", "--agent", "rtb", "--out", str(tmp_path), "--iterations", "1",
                 "--from-scratch"] + FAST) == 2
    assert "prior" in capsys.readouterr().err


@pytest.mark.slow
def test_train_all_stages_then_evaluate(tmp_path, capsys):
    base, tb = tmp_path / "base", tmp_path / "tb"
    assert main(["train", "--stage", "1", "--out", str(base), "--epochs", "1", "--variants", "0",
                 "--extra-tasks", "0", "--search-seconds", "0"] + FAST) == 0
    stage1 = base / "stage1.safetensors"
    assert read_checkpoint(stage1).meta["stage"] == 1
    assert len(read_metrics(base / "stage1-metrics.csv")) == 1
    common = ["--init", str(stage1), "--out", str(tb), "--tasks-per-batch", "2", "--samples-per-task", "2",
              "--eval-every", "2"] + FAST
    assert main(["train", "--stage", "2", "--agent", "tb", "--iterations", "2"] + common) == 0
    assert read_checkpoint(tb / "stage2-last.safetensors").meta["iteration"] == 2
    assert main(["train", "--stage", "2", "--agent", "tb", "--iterations", "4", "--resume"] + common) == 0
    rows = read_metrics(tb / "stage2-metrics.csv")
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]  # resumed where it stopped, one CSV
    assert read_checkpoint(tb / "stage2-last.safetensors").meta["iteration"] == 4
    assert main(["train", "--stage", "3", "--agent", "tb", "--init", str(tb / "stage2.safetensors"), "--out",
                 str(tb), "--rounds", "1", "--build-samples", "2", "--burst", "2"] + FAST) == 0
    assert (tb / "replay.jsonl").is_file() and read_checkpoint(tb / "stage3.safetensors").meta["stage"] == 3
    capsys.readouterr()
    report = tmp_path / "report.json"
    assert main(["evaluate", str(tb / "stage2.safetensors"), "--split", "test", "--samples", "2", "--json",
                 str(report)] + FAST) == 0
    printed = capsys.readouterr().out
    assert "easy" in printed
    data = json.loads(report.read_text())
    assert len(data["tasks"]) == 18 and all(t["n_samples"] == 2 for t in data["results"])
