"""Renamed modules and classes: the old names still import, as the very same objects, with a DeprecationWarning;
the new names import without one."""

import importlib
import subprocess
import sys

import pytest

import agents  # noqa: F401  (registers the agents' old names)
from tasm_env.moved import FINDER

RENAMED = {
    "tasm_env.tasks.compile": "tasm_env.tasks.compiler",
    "tasm_env.tasks.evaluate": "tasm_env.tasks.interpret",
    "tasm_env.tasks.cost": "tasm_env.tasks.measure",
    "agents.compile": "agents.best",
    "agents.cli": "agents.commands",
}


def test_every_rename_is_registered():
    assert {old: FINDER.moves[old] for old in RENAMED} == RENAMED


@pytest.mark.parametrize("old, new", sorted(RENAMED.items()))
def test_old_module_name_is_the_new_module_with_a_warning(old, new, monkeypatch):
    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(DeprecationWarning, match=f"{old} is now {new}"):
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
    assert module.__name__ == module.__spec__.name == new  # the new module keeps its own identity


def test_new_names_import_without_warnings():
    # a fresh interpreter, so that every module really runs its imports (re-importing here would make second
    # copies of classes that other tests hold)
    code = ("import warnings; warnings.filterwarnings('error', message='.* is now ', category=DeprecationWarning); "
            + "; ".join(f"import {new}" for new in RENAMED.values()))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_from_import_of_old_name():
    sys.modules.pop("tasm_env.tasks.compile", None)
    with pytest.warns(DeprecationWarning):
        from tasm_env.tasks.compile import compile_tir
    from tasm_env.tasks.compiler import compile_tir as new
    assert compile_tir is new


def test_unknown_names_are_still_missing():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("tasm_env.tasks.no_such_module")


def test_replay_buffer_is_now_build_result_buffer():
    from agents import replay

    with pytest.warns(DeprecationWarning, match="ReplayBuffer is now BuildResultBuffer"):
        from agents.replay import ReplayBuffer
    assert ReplayBuffer is replay.BuildResultBuffer
    with pytest.raises(AttributeError):
        replay.NoSuchBuffer  # noqa: B018
