"""The TIR data model and its own evaluator: every op's meaning, computed by hand from the semantics table in
``tasm_env/tasks/tir.py``, every crash kind, RAM/I/O bookkeeping, and malformed programs rejected with a
message that names the node."""

import pytest

from tasm_env import field as ff
from tasm_env import tip5
from tasm_env.errors import TaskError
from tasm_env.tasks.interpret import Outcome, TirCrash, evaluate
from tasm_env.tasks.tir import TIR, Node, Ref

P = ff.P


def program(op: str, input_types, attr=None, n_args=None) -> TIR:
    """One ``op`` node applied to all inputs in order; every result is an output."""
    k = len(input_types)
    nodes = [Node("input", (), i) for i in range(k)]
    args = tuple(Ref(i) for i in range(k if n_args is None else n_args))
    nodes.append(Node(op, args, attr))
    return TIR.build(input_types, nodes, [Ref(k, j) for j in range(nodes[-1].n_results())])


def apply(op: str, *values, types=None, attr=None, **kwargs) -> tuple[int, ...]:
    types = types or ("field",) * len(values)
    return evaluate(program(op, types, attr), values, **kwargs).outputs


U2 = ("u32", "u32")


# ------------------------------------------------------------------------------------------ values


@pytest.mark.parametrize("op, args, types, expected", [
    ("add", (3, 5), None, (8,)),
    ("add", (P - 1, 2), None, (1,)),
    ("sub", (3, 5), None, (P - 2,)),
    ("sub", (5, 3), None, (2,)),
    ("mul", (P - 1, P - 1), None, (1,)),            # (-1)(-1)
    ("mul", (1 << 32, 1 << 32), None, ((1 << 32) - 1,)),  # 2^64 = 2^32 - 1 mod p
    ("neg", (1,), None, (P - 1,)),
    ("neg", (0,), None, (0,)),
    ("invert", (2,), None, ((P + 1) // 2,)),
    ("eq", (4, 4), None, (1,)),
    ("eq", (4, 5), None, (0,)),
    ("lt", (3, 7), U2, (1,)),                        # a < b with a = argument 0
    ("lt", (7, 3), U2, (0,)),
    ("lt", (3, 3), U2, (0,)),
    ("and", (0b1100, 0b1010), U2, (0b1000,)),
    ("xor", (0b1100, 0b1010), U2, (0b0110,)),
    ("split", ((1 << 32) + 5,), None, (1, 5)),       # hi, lo
    ("split", (P - 1,), None, ((1 << 32) - 1, 0)),
    ("div_mod", (31, 7), U2, (4, 3)),                # quotient, remainder
    ("div_mod", (6, 7), U2, (0, 6)),
    ("pow", (2, 10), ("field", "u32"), (1024,)),     # base, exponent
    ("pow", (0, 0), ("field", "u32"), (1,)),
    ("pow", (P - 1, 3), ("field", "u32"), (P - 1,)),
    ("log_2_floor", (1,), ("u32",), (0,)),
    ("log_2_floor", (1024,), ("u32",), (10,)),
    ("log_2_floor", (1023,), ("u32",), (9,)),
    ("log_2_floor", ((1 << 32) - 1,), ("u32",), (31,)),
    ("pop_count", (0,), ("u32",), (0,)),
    ("pop_count", (0b1011,), ("u32",), (3,)),
    ("pop_count", ((1 << 32) - 1,), ("u32",), (32,)),
])
def test_op_values(op, args, types, expected):
    assert apply(op, *args, types=types) == expected


def test_lt_accepts_bool_operands_and_results_are_bools():
    tir = TIR.build(("field", "field", "u32"), [
        Node("input", (), 0), Node("input", (), 1), Node("input", (), 2),
        Node("eq", (Ref(0), Ref(1))), Node("lt", (Ref(3), Ref(2)))], [Ref(4)])
    assert evaluate(tir, (9, 9, 2)).outputs == (1,)  # eq -> 1, and 1 < 2
    assert evaluate(tir, (9, 8, 0)).outputs == (0,)


def test_invert_is_the_multiplicative_inverse():
    (inverse,) = apply("invert", 12345)
    assert ff.mul(inverse, 12345) == 1


def test_hash_is_tip5_hash_10_with_argument_i_as_element_i():
    values = tuple(range(11, 21))
    assert apply("hash", *values) == tip5.hash_10(values)
    assert apply("hash", *values) != tip5.hash_10(values[::-1])


@pytest.mark.parametrize("op, reference", [
    ("xx_add", lambda v: ff.xadd(v[:3], v[3:])),
    ("xx_mul", lambda v: ff.xmul(v[:3], v[3:])),
])
def test_extension_field_pairs(op, reference):
    values = (3, P - 4, 1 << 40, 7, 11, P - 13)
    assert apply(op, *values) == reference(values)


def test_xx_mul_uses_x_cubed_equals_x_minus_one():
    # x * x^2 = x^3 = x - 1: coefficients (-1, 1, 0)
    assert apply("xx_mul", 0, 1, 0, 0, 0, 1) == (P - 1, 1, 0)


def test_xb_mul_scales_every_coefficient():
    assert apply("xb_mul", 3, 1, 2, P - 1) == (3, 6, P - 3)
    assert apply("xb_mul", 5, 7, 8, 9) == ff.xbmul(5, (7, 8, 9))


def test_x_invert():
    a = (2, 3, 5)
    inverse = apply("x_invert", *a)
    assert inverse == ff.xinv(a)
    assert ff.xmul(a, inverse) == (1, 0, 0)


def test_const_and_outputs_deepest_first():
    tir = TIR.build(("field", "field"), [
        Node("input", (), 0), Node("input", (), 1), Node("const", (), 42), Node("add", (Ref(0), Ref(2)))],
        [Ref(3), Ref(1), Ref(0)])
    assert evaluate(tir, (1, 2)).outputs == (43, 2, 1)


# ------------------------------------------------------------------------------------------ effects


def test_read_io_and_divine_read_in_order_and_count():
    tir = TIR.build((), [Node("read_io", (), 2), Node("divine", (), 1), Node("read_io", (), 1)],
                    [Ref(0, 0), Ref(0, 1), Ref(1, 0), Ref(2, 0)])
    out = evaluate(tir, (), public_input=(10, 20, 30, 40), secret_input=(7, 8))
    assert out.outputs == (10, 20, 7, 30)
    assert (out.public_consumed, out.secret_consumed) == (3, 1)


def test_write_io_writes_argument_one_first():
    tir = TIR.build(("field", "field"), [
        Node("input", (), 0), Node("input", (), 1), Node("write_io", (Ref(1), Ref(0))),
        Node("write_io", (Ref(0),))], [Ref(0)])
    out = evaluate(tir, (5, 6))
    assert out.output == (6, 5, 5)
    assert out.outputs == (5,)


def test_memory_write_then_read_and_touched_cells():
    tir = TIR.build(("field", "field"), [
        Node("input", (), 0), Node("input", (), 1),
        Node("write_mem", (Ref(0), Ref(1))),          # RAM[a] = v
        Node("read_mem", (Ref(0),)),                 # reads v back
        Node("const", (), 99), Node("read_mem", (Ref(4),))],  # a never-written cell
        [Ref(3), Ref(5)])
    out = evaluate(tir, (7, 123))
    assert out.outputs == (123, 0)
    assert out.ram == {7: 123, 99: 0}


def test_unwritten_cells_follow_the_vm_rule():
    tir = TIR.build(("field",), [Node("input", (), 0), Node("read_mem", (Ref(0),))], [Ref(1)])
    assert evaluate(tir, (5,)).outputs == (0,)
    assert evaluate(tir, (5,), ram={5: 77}).outputs == (77,)
    assert evaluate(tir, (5,), ram={6: 77}, ram_seed=9).outputs == (int(ff.mix(5, 9)),)
    assert evaluate(tir, (5,), ram={5: 77}, ram_seed=9).outputs == (77,)  # given contents win
    assert evaluate(tir, (5,), ram_seed=9).ram == {5: int(ff.mix(5, 9))}


def test_assert_passes_on_one():
    tir = TIR.build(("field",), [Node("input", (), 0), Node("assert", (Ref(0),))], [Ref(0)])
    assert evaluate(tir, (1,)) == Outcome(outputs=(1,))


# -------------------------------------------------------------------------------------------- crashes


@pytest.mark.parametrize("op, args, types, kind", [
    ("invert", (0,), None, "inverse_of_zero"),
    ("x_invert", (0, 0, 0), None, "inverse_of_zero"),
    ("div_mod", (5, 0), U2, "division_by_zero"),
    ("div_mod", (1 << 32, 0), U2, "u32_operand"),        # the u32 check comes first, as in the VM
    ("div_mod", (5, 1 << 32), U2, "u32_operand"),
    ("log_2_floor", (0,), ("u32",), "log_of_zero"),
    ("log_2_floor", (1 << 32,), ("u32",), "u32_operand"),
    ("lt", (1 << 32, 1), U2, "u32_operand"),
    ("and", (1, P - 1), U2, "u32_operand"),
    ("xor", (P - 1, 1), U2, "u32_operand"),
    ("pop_count", (1 << 33,), ("u32",), "u32_operand"),
    ("pow", (2, 1 << 32), ("field", "u32"), "u32_operand"),
    ("assert", (0,), None, "assertion_failed"),
    ("assert", (2,), None, "assertion_failed"),
])
def test_crash_kinds(op, args, types, kind):
    types = types or ("field",) * len(args)
    nodes = [Node("input", (), i) for i in range(len(args))] + [Node(op, tuple(Ref(i) for i in range(len(args))))]
    tir = TIR.build(types, nodes, [Ref(0)])
    with pytest.raises(TirCrash) as info:
        evaluate(tir, args)
    assert info.value.kind == kind
    assert info.value.node == len(args)
    assert isinstance(info.value, TaskError)


def test_pow_base_need_not_be_u32():
    assert apply("pow", P - 1, 2, types=("field", "u32")) == (1,)


@pytest.mark.parametrize("op, kind, kwargs", [
    ("read_io", "public_input_exhausted", {"public_input": (1,)}),
    ("divine", "secret_input_exhausted", {"secret_input": (1,)}),
])
def test_running_out_of_input(op, kind, kwargs):
    tir = TIR.build((), [Node(op, (), 2)], [Ref(0)])
    with pytest.raises(TirCrash) as info:
        evaluate(tir, (), **kwargs)
    assert info.value.kind == kind


def test_first_crash_in_node_order_wins():
    tir = TIR.build(("field",), [
        Node("input", (), 0), Node("assert", (Ref(0),)), Node("invert", (Ref(0),))], [Ref(2)])
    with pytest.raises(TirCrash) as info:
        evaluate(tir, (0,))
    assert (info.value.kind, info.value.node) == ("assertion_failed", 1)


# ---------------------------------------------------------------------------------------- bad TIR


def test_unknown_op_names_the_node():
    with pytest.raises(TaskError, match=r"node 1: unknown op 'or'"):
        TIR.build(("u32",), [Node("input", (), 0), Node("or", (Ref(0), Ref(0)))], [Ref(1)])


def test_u32_operand_of_field_type_names_the_node():
    with pytest.raises(TaskError, match=r"node 2: `lt` argument 1 must be a u32 value, got a field value"):
        TIR.build(("u32", "field"), [Node("input", (), 0), Node("input", (), 1), Node("lt", (Ref(0), Ref(1)))],
                  [Ref(2)])


@pytest.mark.parametrize("inputs, nodes, outputs, says", [
    (("field",), [Node("input", (), 0), Node("add", (Ref(0),))], [Ref(1)], "node 1: `add` takes 2 arguments"),
    (("field",), [Node("input", (), 0), Node("neg", (Ref(2),))], [Ref(1)], "node 1 argument 0: refers to node 2"),
    (("field",), [Node("input", (), 0), Node("neg", (Ref(0, 1),))], [Ref(1)], "has no result 1"),
    (("field",), [Node("input", (), 0), Node("read_io", (), 6)], [Ref(1)], "node 1: `read_io` needs a count"),
    (("field",), [Node("input", (), 0), Node("const", (), P)], [Ref(1)], "node 1: `const` needs a field"),
    (("float",), [Node("input", (), 0)], [Ref(0)], "unknown input type 'float'"),
    (("field",), [Node("input", (), 0)], [Ref(3)], "output 0: refers to node 3"),
    (("field",), [Node("input", (), 0), Node("write_io", ())], [Ref(0)], "node 1: `write_io` takes 1 to 5"),
])
def test_malformed_tir(inputs, nodes, outputs, says):
    with pytest.raises(TaskError, match=says):
        TIR.build(inputs, nodes, outputs)


def test_evaluate_checks_its_arguments():
    tir = program("add", ("field", "field"))
    with pytest.raises(TaskError, match="takes 2 inputs"):
        evaluate(tir, (1,))
    with pytest.raises(TaskError, match=r"inputs\[1\]"):
        evaluate(tir, (1, P))
    with pytest.raises(TaskError, match="unknown op"):  # an unvalidated TIR is validated first
        evaluate(TIR(("field",), (Node("input", (), 0), Node("nope", (Ref(0),))), (Ref(1),)), (1,))


def test_json_round_trip():
    tir = TIR.build(("u32", "nonzero"), [
        Node("input", (), 0), Node("input", (), 1), Node("const", (), P - 1), Node("invert", (Ref(1),)),
        Node("split", (Ref(2),)), Node("read_io", (), 2), Node("write_io", (Ref(4, 1), Ref(5, 1)))],
        [Ref(3), Ref(4, 0)])
    assert TIR.from_json(tir.to_json()) == tir
    with pytest.raises(TaskError, match="malformed TIR"):
        TIR.from_json({"inputs": []})
