"""Old import paths of renamed modules: each still imports, as the new module, with a ``DeprecationWarning``.

Modules were renamed so that a name says its job (``tasks/compile.py`` and ``agents/compile.py`` did different
things). The old files are gone, so that version control follows each file to its new name; instead an import
hook answers for the old names::

    import tasm_env.tasks.compile          # DeprecationWarning; the module object is tasm_env.tasks.compiler

The old names keep working for this version and will be removed in the next.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from types import ModuleType
from typing import Mapping, Sequence

MOVED: dict[str, str] = {
    "tasm_env.tasks.compile": "tasm_env.tasks.compiler",
    "tasm_env.tasks.evaluate": "tasm_env.tasks.interpret",
    "tasm_env.tasks.cost": "tasm_env.tasks.measure",
}
"""Old module name -> new module name, for ``tasm_env``; other packages add theirs with :func:`alias_moved`."""


class MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old name of a moved module and loads it as the new module (the same object)."""

    def __init__(self) -> None:
        self.moves: dict[str, str] = {}
        self.own_specs: dict[str, importlib.machinery.ModuleSpec] = {}  # old name -> the new module's spec

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.moves:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = self.moves[spec.name]
        # stacklevel 2 skips this frame; the import machinery's own frames are skipped by `warnings`
        warnings.warn(f"{spec.name} is now {new}; the old name will be removed in the next version",
                      DeprecationWarning, stacklevel=2)
        module = importlib.import_module(new)
        self.own_specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run (``create_module`` returned the new module, already executed), but the import system
        has just set the module's ``__spec__`` to the old name's: give it its own back."""
        module.__spec__ = self.own_specs[module.__spec__.name]


FINDER = MovedModuleFinder()


def alias_moved(moves: Mapping[str, str]) -> None:
    """Make each old module name in ``moves`` import as its new name, with a ``DeprecationWarning``.

    The finder goes first on ``sys.meta_path``: an editable install's finder would otherwise find a stale copy
    of the old file in another checkout."""
    FINDER.moves.update(moves)
    if FINDER not in sys.meta_path:
        sys.meta_path.insert(0, FINDER)


__all__ = ["FINDER", "MOVED", "MovedModuleFinder", "alias_moved"]
