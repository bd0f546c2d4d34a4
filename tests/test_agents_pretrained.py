"""The checkpoint shipped in the package: it loads bound to its suite, samples on a test task, is small and says
how it was trained; unknown suites are refused with the known ones listed; ``tasm-env evaluate pretrained``
finds it."""

import pytest
import torch

import agents
from agents.checkpoint import read_checkpoint
from agents.sampling import sample_programs
from agents.shipped import PRETRAINED, PretrainedError, pretrained_path
from tasm_env.cli import main
from tasm_env.errors import TasmError
from tasm_env.tasks.suite import load_suite
from tasm_env.verify import Verifier

torch.set_num_threads(1)


def test_every_shipped_checkpoint_is_small_and_says_how_it_was_trained():
    for suite in PRETRAINED:
        path = pretrained_path(suite)
        assert path.stat().st_size < 5_000_000
        meta = read_checkpoint(path).meta
        assert meta["suite"] == suite and meta["masking"] == "dataflow"
        assert meta["policy_config"]["value_features"] is True
        trained = meta["trained"]
        assert "tasm-env train" in trained["command"] and trained["minutes"] > 0 and trained["date"].startswith("20")


def test_pretrained_is_bound_to_the_suite_and_samples_verified_programs():
    policy = agents.pretrained("tasm-basic-v1", tiers=("easy",))
    tasks = [t for t in load_suite("tasm-basic-v1").split("test") if t.tier == "easy"]
    assert [t.name for t in policy.env.tasks] == [t.name for t in tasks]
    assert policy.env.masking == "dataflow" and policy.device == torch.device("cpu")
    drawn = sample_programs(policy, [0], 8, generator=torch.Generator().manual_seed(0))[0]
    assert len(drawn) == 8
    # trained weights write programs the verifier accepts on an unseen easy task (random weights rarely do)
    assert any(verdict.ok for verdict in Verifier(tasks[0]).check(drawn))


def test_unknown_suites_are_refused_with_the_known_ones_listed(capsys):
    with pytest.raises(PretrainedError, match="known suites: tasm-basic-v1") as err:
        agents.pretrained("tasm-basic-v9")
    assert isinstance(err.value, TasmError)
    assert main(["evaluate", "pretrained", "--suite", "tasm-basic-v9", "--no-progress"]) == 2
    assert "known suites: tasm-basic-v1" in capsys.readouterr().err


@pytest.mark.slow
def test_evaluate_pretrained_from_the_command_line(capsys):
    assert main(["evaluate", "pretrained", "--suite", "tasm-basic-v1", "--tiers", "easy", "--samples", "2",
                 "--no-progress"]) == 0
    assert "pretrained" in capsys.readouterr().out


@pytest.mark.parametrize("argv0", ["/usr/bin/tasm-env", "/somewhere/tasm_env/cli.py"])
def test_provenance_names_the_cli_however_it_was_started(monkeypatch, argv0):
    import time

    from agents.pipeline import provenance

    monkeypatch.setattr("sys.argv", [argv0, "train", "--stage", "1"])
    assert provenance(time.time())["command"] == "tasm-env train --stage 1"
    monkeypatch.setattr("sys.argv", ["/tmp/my_script.py", "--x"])
    assert provenance(time.time())["command"] == "/tmp/my_script.py --x"  # not the CLI: as given
