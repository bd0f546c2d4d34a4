"""Value and input type names have one home, tasm_env.value_types; the other modules re-export the same objects."""

import ast
import importlib
from pathlib import Path

import tasm_env
from tasm_env import value_types, vocab
from tasm_env.tasks import tir

PACKAGE = Path(tasm_env.__file__).parent
verify = importlib.import_module("tasm_env.verify")  # the module (tasm_env.verify is also the function)


def test_codes_are_positions_in_value_types():
    assert [value_types.VALUE_TYPES[c] for c in (value_types.FIELD, value_types.U32, value_types.BOOL)] == \
        ["field", "u32", "bool"]
    for kind in value_types.INPUT_TYPES:
        code = value_types.INPUT_TYPE_CODES[kind]
        assert value_types.VALUE_TYPES[code] == value_types.VALUE_TYPE_OF_INPUT[kind]


def test_other_modules_restate_nothing():
    assert verify.INPUT_TYPES is value_types.INPUT_TYPES
    assert tir.VALUE_TYPES is value_types.VALUE_TYPES
    assert vocab.INPUT_TYPE_CODES is value_types.INPUT_TYPE_CODES
    assert (vocab.FIELD, vocab.U32, vocab.BOOL) == (value_types.FIELD, value_types.U32, value_types.BOOL)


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {(node.level * ".") + (node.module or "") for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}


def test_value_types_is_the_lowest_layer_and_tir_does_not_need_the_verifier():
    assert _imported_modules(PACKAGE / "value_types.py") <= {"__future__"}
    assert "..verify" not in _imported_modules(PACKAGE / "tasks" / "tir.py")


def test_type_of_a_declared_input_is_its_value_type():
    built = tir.TIR.build(value_types.INPUT_TYPES, [tir.Node("input", (), i) for i in range(5)], [tir.Ref(4)])
    assert [built.type_of(tir.Ref(i)) for i in range(5)] == ["field", "field", "u32", "u32", "bool"]
