"""The token vocabulary: layouts derived from the ISA table, the trident preset's ids, slots, encode/decode."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tasm_env as te
from tasm_env import isa
from tasm_env.emission.vocab import (BOOL, EOS, FIELD, U32, BoundVocabulary, EndOfSequence, Kind, Reserved, Slot,
                                     Vocabulary, constant_type)
from tasm_env.field import P
from tasm_env.tasks.search.constants import slot_candidates
from tasm_env.tasks.idioms import IDIOMS

DEFAULT = Vocabulary.default()
TRIDENT = Vocabulary.trident()


def test_default_layout_is_derived_from_the_isa_table():
    assert DEFAULT.token(EOS) is EndOfSequence()
    instructions = [t for t in DEFAULT if isinstance(t, te.Instruction)]
    assert len(set(instructions)) == len(instructions)
    names = {t.name for t in instructions}
    straight_line = {s.name for s in isa.INSTRUCTIONS if not s.control_flow} - {"nop"}
    assert names == straight_line
    for bad in ("swap 0", "pick 0", "place 0", "nop", "halt", "skiz", "return", "recurse", "recurse_or_return"):
        assert DEFAULT.id_of(te.Program.parse(bad)[0]) is None, bad
    for name in ("dup", "swap", "pick", "place"):
        args = sorted(t.arg for t in instructions if t.name == name)
        assert args == (list(range(16)) if name == "dup" else list(range(1, 16)))
    for spec in isa.INSTRUCTIONS:
        if spec.arg is isa.Arg.COUNT:
            assert sorted(t.arg for t in instructions if t.name == spec.name) == [1, 2, 3, 4, 5]
    assert sum(isinstance(t, Slot) for t in DEFAULT) == 2 * 4  # push and addi, 4 slots each
    assert len(DEFAULT) == 153
    assert len(Vocabulary.default(n_slots=0)) == 145


def test_per_token_arrays_match_the_isa_table():
    for vocab in (DEFAULT, TRIDENT):
        for i, token in enumerate(vocab):
            if isinstance(token, Slot):
                token = te.Instruction(token.mnemonic, 0)
            if not isinstance(token, te.Instruction):
                assert vocab.delta[i] == 0 and vocab.reads[i] == 0
                continue
            spec = token.spec
            assert vocab.pops[i] == spec.pops(token.arg) and vocab.pushes[i] == spec.pushes(token.arg)
            assert vocab.delta[i] == spec.delta(token.arg) and vocab.reads[i] == spec.reads(token.arg)
            assert sorted(vocab.u32_operands[i].nonzero()[0].tolist()) == sorted(spec.u32_operands)
    ids = {str(t): i for i, t in enumerate(DEFAULT)}
    assert DEFAULT.public_reads[ids["read_io 3"]] == 3 and DEFAULT.secret_reads[ids["divine 2"]] == 2
    assert DEFAULT.outputs[ids["write_io 4"]] == 4 and DEFAULT.digests[ids["merkle_step"]] == 1
    assert DEFAULT.needs_sponge[ids["sponge_squeeze"]] and DEFAULT.starts_sponge[ids["sponge_init"]]
    assert not DEFAULT.needs_sponge[ids["hash"]]


@pytest.mark.parametrize("text, types", [
    ("split", [U32, U32]), ("div_mod", [U32, U32]), ("lt", [BOOL]), ("eq", [BOOL]), ("and", [U32]),
    ("xor", [U32]), ("pop_count", [U32]), ("log_2_floor", [U32]), ("add", [FIELD]), ("pow", [FIELD]),
    ("read_io 2", [FIELD, FIELD]), ("push 1", [BOOL]), ("push 7", [U32]), ("push -1", [FIELD]),
    ("push 4294967296", [FIELD]), ("merkle_step", [FIELD] * 5 + [U32]), ("addi 1", [FIELD]),
])
def test_result_types(text, types):
    i = DEFAULT.id_of(te.Program.parse(text)[0])
    assert DEFAULT.result_types[i, : len(types)].tolist() == types


@pytest.mark.parametrize("i, text", [
    (0, "EOS"), (1, "push -1"), (2, "push 0"), (12, "push 10"), (13, "push 16"), (14, "push 32"), (15, "pop 1"),
    (19, "pop 5"), (20, "dup 0"), (35, "dup 15"), (36, "swap 1"), (50, "swap 15"), (51, "pick 0"),
    (66, "pick 15"), (67, "place 0"), (82, "place 15"), (83, "add"), (84, "mul"), (85, "invert"), (86, "split"),
    (87, "div_mod"), (88, "pow"), (89, "log_2_floor"), (90, "pop_count"), (91, "eq"), (92, "lt"), (93, "and"),
    (94, "xor"), (96, "nop"), (98, "assert"), (99, "assert_vector"), (104, "read_io 1"), (108, "read_io 5"),
    (109, "write_io 1"), (114, "divine 1"), (119, "read_mem 1"), (124, "write_mem 1"), (128, "write_mem 5"),
    (129, "hash"), (130, "sponge_init"), (131, "sponge_absorb"), (132, "sponge_squeeze"),
    (133, "sponge_absorb_mem"), (134, "merkle_step"), (135, "merkle_step_mem"), (136, "x_invert"),
    (137, "xb_mul"), (138, "xx_dot_step"), (139, "xb_dot_step"),
])
def test_trident_ids_match_the_seed(i, text):
    assert len(TRIDENT) == 140
    token = TRIDENT.token(i)
    if text == "EOS":
        assert token is EndOfSequence()
    else:
        assert token == te.Program.parse(text)[0]
        assert TRIDENT.id_of(token) == i


@pytest.mark.parametrize("i, text", [(95, "or"), (97, "halt"), (100, "skiz"), (101, "return"), (102, "recurse"),
                                     (103, "recurse_or_return")])
def test_trident_reserved_ids_never_decode(i, text):
    assert TRIDENT.token(i) == Reserved(text) and TRIDENT.kind[i] == Kind.RESERVED
    bound = TRIDENT.bind(te.Program.parse("add"))
    assert not bound.emittable[i]
    with pytest.raises(te.TasmError, match="does not decode"):
        bound.decode([83, i])
    if text != "or":
        with pytest.raises(te.TasmError, match=text):
            bound.encode(te.Program.parse(f"push 1 {text}" if text != "skiz" else "push 1 skiz"))


def test_slots_bind_the_baselines_other_constants_in_order_of_first_appearance():
    program = te.Program.parse("push 100 push 7 addi 12 push 100 push -5 addi 1 addi 100")
    assert DEFAULT.bind(program, fold=False).constants == (100, 12, P - 5)
    bound = DEFAULT.bind(program)
    assert bound.constants == (100, 12, P - 5, 7)  # the free slot: `addi 7` has no fixed token
    ids = bound.encode(program)
    slot_push = DEFAULT.slot_id("push", 0)
    assert ids[0] == slot_push and ids[3] == slot_push
    assert ids[-1] == DEFAULT.slot_id("addi", 0)  # addi 100 shares slot 0 with push 100
    assert bound.decode(ids) == program
    assert bound.result_types[slot_push, 0] == U32
    assert bound.result_types[DEFAULT.slot_id("push", 2), 0] == FIELD


def test_free_slots_hold_negations_then_pairwise_folds_that_no_fixed_token_spells():
    # 7: `push 7` is fixed, `addi 7` is not; then -7; then 7 + 7 and 7 * 7 (7 - 7 = 0 is never bound)
    assert DEFAULT.bind(te.Program.parse("push 7 add")).constants == (7, P - 7, 14, 49)
    # 3 and 5 have fixed push and addi tokens; -3, -5 have no fixed push; then 3 + 3 = 6 has no fixed addi
    assert DEFAULT.bind(te.Program.parse("push 3 push 5 add")).constants == (P - 3, P - 5, 6, 9)
    bound = DEFAULT.bind(te.Program.parse("dup 0 push 7 add"))
    optimum = te.Program.parse("addi -7 swap 1 pop 1")  # folded: the baseline pushes 7 and subtracts
    assert bound.decode(bound.encode(optimum)) == optimum
    assert DEFAULT.bind(te.Program.parse("push 1 add")).constants == ()  # nothing a fixed token cannot spell
    assert TRIDENT.bind(te.Program.parse("push 7 add")).constants == ()  # no slots to fill


def test_too_many_constants_is_a_task_error_that_says_so():
    program = te.Program.parse("push 100 push 101 push 102 push 103 push 104 add add add add")
    with pytest.raises(te.TaskError, match="5 constants .* 4 slots"):
        DEFAULT.bind(program)
    assert Vocabulary.default(n_slots=5).bind(program).constants == (100, 101, 102, 103, 104)
    with pytest.raises(te.TaskError, match="slots"):
        TRIDENT.bind(te.Program.parse("push 100"))


def test_unencodable_instructions_raise_and_name_themselves():
    bound = DEFAULT.bind(te.Program.parse("push 100"))
    with pytest.raises(te.TasmError, match="push 12345"):
        bound.encode(te.Program.parse("push 100 push 12345"))
    with pytest.raises(te.TasmError, match="nop"):
        bound.encode(te.Program.parse("nop"))
    with pytest.raises(te.TasmError, match="swap 0"):
        bound.encode(te.Program.parse("swap 0"))
    with pytest.raises(te.TasmError, match="control flow"):
        bound.encode(te.Program.parse("push 1 skiz halt"))
    with pytest.raises(te.TasmError, match="labels"):
        bound.encode(te.Program.parse("f: return"))
    with pytest.raises(te.TasmError, match="addi 3"):
        TRIDENT.bind(te.Program.parse("add")).encode(te.Program.parse("addi 3"))


def _decode_by_definition(bound, ids):
    """What decode means: each id's token (bound slots resolved) up to the first EOS or negative id, and
    TasmError naming the first id that is not an instruction here."""
    instructions = []
    for position, i in enumerate(ids):
        if i == EOS or i < 0:
            break
        token = bound.token(i)
        if not isinstance(token, te.Instruction):
            raise te.TasmError(f"token {position} does not decode")
        instructions.append(token)
    return te.Program(instructions)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([DEFAULT, TRIDENT]), st.lists(st.integers(0, 2 ** 64), max_size=3),
       st.lists(st.integers(-2, 160), max_size=24))
def test_decode_by_table_equals_decode_by_definition(vocab, constants, ids):
    """Unbound, partly and fully bound slots, reserved ids, EOS, pads and ids past the vocabulary."""
    constants = constants[:vocab.n_slots]
    bound = vocab.bind(te.Program([te.Instruction("push", c % P) for c in constants] or [te.Instruction("add")]))
    try:
        expected = _decode_by_definition(bound, ids)
    except te.TasmError:
        with pytest.raises(te.TasmError, match="does not decode|outside the vocabulary"):
            bound.decode(ids)
        return
    got = bound.decode(ids)
    assert got == expected and [str(i) for i in got] == [str(i) for i in expected]
    assert bound.decode(iter(ids)) == expected  # any iterable, read once


def test_decode_stops_at_eos_and_rejects_unbound_slots():
    bound = DEFAULT.bind(te.Program.parse("push 100"), fold=False)
    add, pop = DEFAULT.id_of(te.Instruction("add")), DEFAULT.id_of(te.Instruction("pop", 1))
    assert bound.decode([add, EOS, pop]) == te.Program.parse("add")
    assert bound.decode([add, -1, pop]) == te.Program.parse("add")
    assert bound.decode(bound.encode("add pop 1", eos=True)) == te.Program.parse("add pop 1")
    assert bound.encode("add", eos=True)[-1] == EOS
    with pytest.raises(te.TasmError, match="slot 1"):
        bound.decode([DEFAULT.slot_id("push", 1)])
    assert bound.emittable.sum() == (DEFAULT.kind == Kind.INSTRUCTION).sum() + 2  # push/addi slot 0


def _tasks():
    return [te.Task.from_tasm(i.tasm, i.inputs, name=i.name) for i in IDIOMS]


def test_round_trip_on_every_idiom_baseline():
    for vocab in (DEFAULT, Vocabulary.default(n_slots=1)):
        for task in _tasks():
            bound = vocab.bind(task)
            assert isinstance(bound, BoundVocabulary)
            assert bound.decode(bound.encode(task.baseline)) == task.baseline, task.name


def test_round_trip_on_generated_baselines():
    from tasm_env.tasks.generate import generate

    vocab = Vocabulary.default(n_slots=16)
    for tier in ("easy", "medium", "hard"):
        for k, tir in enumerate(generate(tier, 6, seed=11)):
            task = te.Task.from_tir(tir, name=f"{tier}-{k}")
            bound = vocab.bind(task)
            assert bound.decode(bound.encode(task.baseline)) == task.baseline


_FIXED = [t for t in DEFAULT if isinstance(t, te.Instruction)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_FIXED), max_size=30),
       st.lists(st.integers(0, P - 1), max_size=3, unique=True))
def test_round_trip_on_random_programs(instructions, constants):
    program = te.Program(instructions + [te.Instruction("push", c) for c in constants])
    bound = DEFAULT.bind(program)
    needed = DEFAULT.slot_constants(program)
    assert set(needed) <= set(constants) and bound.constants[:len(needed)] == needed
    assert set(bound.constants) <= set(slot_candidates(program)) and 0 not in bound.constants
    ids = bound.encode(program)
    assert len(ids) == len(program) and EOS not in ids
    assert bound.decode(ids) == program
    assert all(isinstance(DEFAULT.token(i), (te.Instruction, Slot)) for i in ids)


def test_constant_types():
    assert constant_type(0) == BOOL and constant_type(1) == BOOL and constant_type(2) == U32
    assert constant_type((1 << 32) - 1) == U32 and constant_type(1 << 32) == FIELD and constant_type(-1) == FIELD
