"""The core CLI finds other packages' commands through the ``tasm_env.commands`` entry point group and never
imports ``agents`` itself; a broken plug-in leaves the core commands working."""

import ast
import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint

import pytest

import tasm_env.cli as cli
from tasm_env.cli import COMMANDS_GROUP, build_parser, declared_in_source, main
from tasm_env.cli_args import UsageError

PLUGIN = textwrap.dedent('''
    def add_commands(sub):
        p = sub.add_parser("hello", help="say hello")
        p.add_argument("--name", default="world")
        p.set_defaults(func=lambda args: print(f"hello {args.name}") or 0)
''')


def _install_fake_distribution(root, entry: str, module: str | None = None) -> None:
    """A distribution found by importlib.metadata on sys.path: a dist-info folder, and its module."""
    info = root / "fake_tasm_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-tasm-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{COMMANDS_GROUP}]\n{entry}\n")
    if module is not None:
        (root / "fake_tasm_plugin.py").write_text(module)


@pytest.fixture
def fake_path(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("fake_tasm_plugin", None)


def test_an_installed_entry_point_adds_its_command(fake_path, capsys):
    _install_fake_distribution(fake_path, "hello = fake_tasm_plugin:add_commands", PLUGIN)
    assert "hello" in [ep.name for ep in cli.command_plugins()]
    assert main(["hello", "--name", "researcher"]) == 0
    assert capsys.readouterr().out == "hello researcher\n"
    assert main(["tasks", "list", "tasm-idioms-v0"]) == 0  # the core commands are still there


def test_a_broken_plugin_is_reported_and_left_out(fake_path, capsys):
    _install_fake_distribution(fake_path, "broken = no_such_module_anywhere:add_commands")
    assert main(["tasks", "list", "tasm-idioms-v0"]) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if "no_such_module_anywhere" in line]
    assert len(warnings) == 1 and warnings[0].startswith("tasm-env: warning: commands from")
    assert "tasm-idioms-v0" in captured.out


def test_agent_commands_come_from_the_declared_entry_point(monkeypatch):
    declared = {ep.name: ep.value for ep in declared_in_source(cli.SOURCE_PYPROJECT)}
    assert declared == {"agents": "agents.commands:add_commands"}
    monkeypatch.setattr(cli, "entry_points", lambda group: [])  # installed metadata without the group
    parser = build_parser()
    for command in ("train --stage 1 --out o", "evaluate c.safetensors", "compare"):
        assert parser.parse_args(command.split()).func.__module__ == "agents.commands"


def test_without_plugins_there_are_only_core_commands(monkeypatch, tmp_path):
    monkeypatch.setattr(cli, "entry_points", lambda group: [])
    monkeypatch.setattr(cli, "SOURCE_PYPROJECT", tmp_path / "pyproject.toml")  # an installed package: none
    parser = build_parser()
    assert parser.parse_args(["demo"]).func is cli.cmd_demo
    with pytest.raises(UsageError, match="invalid choice: 'train'"):
        parser.parse_args(["train", "--stage", "1", "--out", "o"])


def test_source_declarations_are_read_only_from_tasm_envs_own_pyproject(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    assert declared_in_source(pyproject) == []
    body = f'[project.entry-points."{COMMANDS_GROUP}"]\nx = "m:f"\n'
    pyproject.write_text('[project]\nname = "other"\n' + body)
    assert declared_in_source(pyproject) == []
    pyproject.write_text('[project]\nname = "tasm-env"\n' + body)
    assert declared_in_source(pyproject) == [EntryPoint("x", "m:f", COMMANDS_GROUP)]
    pyproject.write_text("[project\n")
    assert declared_in_source(pyproject) == []


def test_the_core_cli_does_not_import_agents():
    tree = ast.parse(open(cli.__file__).read())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(name == "agents" or name.startswith("agents.") for name in imported)
    done = subprocess.run([sys.executable, "-c", "import sys, tasm_env.cli; print('agents' in sys.modules)"],
                          capture_output=True, text=True, timeout=300)
    assert done.stdout.strip() == "False", done.stderr
