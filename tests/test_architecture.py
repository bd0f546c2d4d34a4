"""The package's shape, checked against docs/architecture.md and the project's rules (issue 10):

* no import runs up the layer order documented in docs/architecture.md (parsed from its layer table);
* no ``from x import _name`` and no ``obj._attr`` across modules;
* no module in ``tasm_env/`` or ``agents/`` (subpackages included) over 500 lines;
* no instruction list or stack-effect table outside ``isa.py`` (a literal set, tuple, list or dict of three or
  more mnemonics), except handler tables, which must cover exactly a set the fact's home defines: a family of
  ``isa.py`` (every instruction, the straight-line ones, ``CRASHING``, ``USES_STATE``...), of TIR's ops
  (``tasks/tir.py``: a TIR op named like an instruction is a TIR fact) or of the plan's operation kinds.

Each check collects every offence and names them all.
"""

from __future__ import annotations

import ast
import importlib
import re
import types
from functools import lru_cache
from pathlib import Path

import pytest

from tasm_env import isa

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("tasm_env", "agents")
MAX_LINES = 500
MIN_MNEMONICS = 3
NAMEDTUPLE_API = frozenset({"_fields", "_field_defaults", "_replace", "_asdict", "_make"})
"""Public API of namedtuples, underscored only to keep clear of field names."""


def module_files() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@lru_cache(maxsize=None)
def tree_of(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


# ------------------------------------------------------------------------------------------ the layers


def documented_layers(text: str) -> list[tuple[str, list[str]]]:
    """(layer, module paths) per row of the first table under ``## Layers``, in order."""
    section = text.split("\n## Layers", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    layers = []
    for line in rows[2:]:  # after the header and the rule
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        layers.append((cells[0], re.findall(r"`([^`]+)`", cells[1])))
    return layers


LAYERS = documented_layers((ROOT / "docs" / "architecture.md").read_text())


def layer_of(path: Path) -> int:
    """Index of the documented layer holding ``path`` (the longest matching module path wins)."""
    name = relative(path)
    best, where = -1, None
    for index, (_, paths) in enumerate(LAYERS):
        for entry in paths:
            if (name == entry or entry.endswith("/") and name.startswith(entry)) and len(entry) > best:
                best, where = len(entry), index
    if where is None:
        raise AssertionError(f"{name} is in no layer of docs/architecture.md")
    return where


def resolve(module: str) -> Path | None:
    """The file of a project module (a package's ``__init__.py``), or None outside the project."""
    base = ROOT / module.replace(".", "/")
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path) -> list[tuple[int, Path]]:
    """(line, file) of every project module ``path`` imports, at any depth (function-level imports too)."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = []
    for node in ast.walk(tree_of(path)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # `from pkg import sub` imports the submodule where there is one, else pkg itself
            targets = [f"{base}.{alias.name}" if resolve(f"{base}.{alias.name}") else base for alias in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] in PACKAGES and (file := resolve(target)) is not None:
                found.append((node.lineno, file))
    return found


def test_the_layer_table_lists_every_layer_once_and_every_module():
    names = [name for name, _ in LAYERS]
    assert len(names) == len(set(names)) and len(names) >= 10, names
    unplaced = []
    for path in module_files():
        try:
            layer_of(path)
        except AssertionError as err:
            unplaced.append(str(err))
    assert not unplaced, "\n".join(unplaced)


def test_no_import_runs_up_the_documented_layer_order():
    upward = []
    for path in module_files():
        here = layer_of(path)
        for line, target in imported_modules(path):
            there = layer_of(target)
            if there > here:
                upward.append(f"{relative(path)}:{line} ({LAYERS[here][0]}) imports {relative(target)} "
                              f"({LAYERS[there][0]}, a lower layer)")
    assert not upward, "imports that run up the layer order of docs/architecture.md:\n" + "\n".join(upward)


# ------------------------------------------------------------------------------------- private names


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def own_private_names(tree: ast.Module) -> set[str]:
    """Underscored names this module defines: functions, classes, variables, attributes it assigns, slots."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__slots__"
                                                  for t in node.targets):
            names |= {e.value for e in ast.walk(node.value) if isinstance(e, ast.Constant)
                      and isinstance(e.value, str)}
    return {name for name in names if private(name)}


def private_uses(path: Path, tree: ast.Module | None = None) -> list[str]:
    tree = tree or tree_of(path)
    own = own_private_names(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            for alias in node.names:
                if private(alias.name):
                    source = "." * node.level + (node.module or "")
                    found.append(f"{relative(path)}:{node.lineno} imports the private name {alias.name} "
                                 f"from {source}")
        elif isinstance(node, ast.Attribute) and private(node.attr) and node.attr not in NAMEDTUPLE_API:
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            if node.attr not in own:
                found.append(f"{relative(path)}:{node.lineno} reads {ast.unparse(node)}, another module's "
                             "private attribute")
    return found


def test_no_module_uses_another_modules_private_names():
    found = [use for path in module_files() for use in private_uses(path)]
    assert not found, "private names used across modules:\n" + "\n".join(found)


# ------------------------------------------------------------------------------------------ sizes


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_is_over_500_lines(package):
    long = [f"{relative(p)}: {n} lines" for p in module_files() if p.parts[len(ROOT.parts)] == package
            and (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert not long, f"modules over {MAX_LINES} lines:\n" + "\n".join(long)


# ----------------------------------------------------------------------------------- instruction facts

STRAIGHT_LINE = frozenset(isa.MNEMONICS) - isa.CONTROL_FLOW
FAMILY_HOMES = ("tasm_env.isa", "tasm_env.tasks.tir", "tasm_env.plan")
"""Where the sets a handler table may cover are defined: the ISA table's families; TIR's operations (a TIR op
named like an instruction, ``add``, is a TIR fact and ``tir.OPS`` is its home); the plan's operation kinds."""


def named_families(module_name: str) -> dict[str, frozenset[str]]:
    """Every public, non-empty module-level collection of names (tuple, frozenset, set or dict keys) that
    ``module_name`` defines, each within the module's own vocabulary: mnemonics (``isa.BY_NAME``), TIR ops
    (``tir.OPS``) or plan operation kinds (``plan.OPERATIONS``)."""
    module = importlib.import_module(module_name)
    vocabulary = set(getattr(module, "BY_NAME", None) or getattr(module, "OPS", None) or module.OPERATIONS)
    found = {}
    for name, value in vars(module).items():
        if name.startswith("_") or not isinstance(value, (tuple, frozenset, set, dict)) or not value:
            continue
        if all(isinstance(v, str) for v in value) and set(value) <= vocabulary:
            found[f"{module_name.rpartition('.')[2]}.{name}"] = frozenset(value)
    return found


COVERAGES = {"every instruction": frozenset(isa.MNEMONICS), "every straight-line instruction": STRAIGHT_LINE,
             **{name: family for home in FAMILY_HOMES for name, family in named_families(home).items()}}
"""What a handler table may cover: exactly one of these sets, each defined in its home module."""


def mnemonics_in(elements) -> list[str]:
    return [e.value for e in elements if isinstance(e, ast.Constant) and isinstance(e.value, str)
            and e.value in isa.BY_NAME]


def assigned_name(tree: ast.Module, node: ast.AST) -> str | None:
    """The module-level name a literal is assigned to, if it is the whole right-hand side."""
    for statement in tree.body:
        if isinstance(statement, (ast.Assign, ast.AnnAssign)) and statement.value is node:
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            if len(targets) == 1 and isinstance(targets[0], ast.Name):
                return targets[0].id
    return None


def instruction_tables(path: Path, tree: ast.Module | None = None, module=None) -> list[str]:
    """Literal collections of three or more mnemonics in ``path``; a dict of them mapping to code (a handler
    table) is fine when the module's table, as built at import, covers exactly one of :data:`COVERAGES`: a set
    the ISA table, TIR or the plan defines, never a hand-picked subset."""
    tree = tree or tree_of(path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            names = mnemonics_in([k for k in node.keys if k is not None])
            if len(names) < MIN_MNEMONICS:
                continue
            handlers = not all(isinstance(v, ast.Constant) for v in node.values)
            name = assigned_name(tree, node)
            if handlers and name is not None:
                table = getattr(module or importlib.import_module(module_name(path)), name)
                if any(set(table) == covered for covered in COVERAGES.values()):
                    continue
                found.append(f"{relative(path)}:{node.lineno} handler table {name} covers {sorted(table)}, not "
                             f"exactly a family of {', '.join(FAMILY_HOMES)}")
                continue
            found.append(f"{relative(path)}:{node.lineno} a table of {len(names)} instructions "
                         f"({', '.join(names[:6])}{', ...' if len(names) > 6 else ''})")
        elif isinstance(node, (ast.Set, ast.Tuple, ast.List)):
            names = mnemonics_in(node.elts)
            if len(names) >= MIN_MNEMONICS:
                found.append(f"{relative(path)}:{node.lineno} a list of {len(names)} instructions "
                             f"({', '.join(names[:6])}{', ...' if len(names) > 6 else ''})")
    return found


def test_no_instruction_list_or_stack_effect_table_outside_isa():
    found = [hit for path in module_files() if relative(path) != "tasm_env/isa.py"
             for hit in instruction_tables(path)]
    assert not found, "instruction facts outside tasm_env/isa.py:\n" + "\n".join(found)


# ------------------------------------------------------------------------------- the checks themselves


PROBE = ROOT / "tasm_env" / "probe.py"


@pytest.mark.parametrize("source, expected", [
    ("from .vm import _HANDLERS\n", "imports the private name _HANDLERS from .vm"),
    ("import tasm_env.batch as b\nx = b._EVALUATORS\n", "reads b._EVALUATORS"),
    ("class A:\n    def f(self, other):\n        return other._secret\n", "reads other._secret"),
])
def test_the_private_name_check_catches(source, expected):
    found = private_uses(PROBE, ast.parse(source))
    assert any(expected in f for f in found), found


def test_the_private_name_check_allows_a_modules_own_attributes():
    source = "class A:\n    def __init__(self):\n        self._x = 1\n\ndef f(a):\n    return a._x + a._fields\n"
    assert private_uses(PROBE, ast.parse(source)) == []


@pytest.mark.parametrize("source", ['CATEGORY = {"add": 1, "mul": 1, "eq": 2}\n',
                                    'ARITHMETIC = frozenset({"add", "mul", "invert"})\n',
                                    'def f(x):\n    return x in ("dup", "swap", "pick")\n'])
def test_the_instruction_check_catches(source):
    assert instruction_tables(PROBE, ast.parse(source))


def test_the_instruction_check_refuses_a_handler_table_over_a_hand_picked_subset():
    moves = ", ".join(f"{name!r}: abs" for name in isa.STACK_MOVES)  # a family of isa.py: allowed
    source = f"HANDLERS = {{'add': abs, 'mul': abs, 'eq': abs}}\nMOVES = {{{moves}}}\n"
    module = types.ModuleType("probe")
    exec(source, module.__dict__)
    found = instruction_tables(PROBE, ast.parse(source), module)
    assert len(found) == 1 and "handler table HANDLERS" in found[0], found


def test_the_families_are_the_homes_own_sets():
    assert COVERAGES["isa.CRASHING"] == isa.CRASHING
    assert "tir.OPS" in COVERAGES and "plan.OPERATIONS" in COVERAGES
    assert not any(name.startswith("isa.") and not family <= set(isa.MNEMONICS) for name, family in COVERAGES.items())


def test_the_layer_check_places_modules_by_the_table():
    assert layer_of(ROOT / "tasm_env" / "envs" / "gym.py") > layer_of(ROOT / "tasm_env" / "tasks" / "task.py")
    assert LAYERS[layer_of(ROOT / "tasm_env" / "emission" / "machine.py")][0] == "emission"
    assert LAYERS[layer_of(ROOT / "tasm_env" / "__init__.py")][0] == "public API"
