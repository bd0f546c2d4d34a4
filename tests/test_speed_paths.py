"""The fast paths agree with slower references.

* The reference VM's fresh-program path (a straight-line program run straight from its instructions, the
  program digest left pending, the depth checked by each handler) against a step-by-step reference that
  runs each instruction as its own one-instruction program, chaining the whole state by hand: same final
  state, same table rows, same heights, same crash at the same instruction.
* The interpreted, cached and compiled tiers of one program give equal Executions, heights included; a fresh
  straight-line program's first run (straight from its instructions, nothing decoded) gives what its decoded
  and its compiled runs give, crashes, ``halt`` and the cycle budget included.
* ``verify``/``verify_many`` reuse a Verifier for the same arguments: verdicts equal a freshly built one's.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tasm_env as te
from tasm_env import cost, isa, testing as tst, vm, vm_decode
from tasm_env.asm import Instruction, Program
from tasm_env.errors import VMError
from tasm_env.field import P
from tasm_env.verify import Verifier
from tasm_env.vm import initial_floor

# a sponge is state no run can be given, so the step-by-step reference cannot carry it across instructions
_STEPPABLE = tuple(name for name in tst.STRAIGHT_LINE_MNEMONICS if not name.startswith("sponge"))


def _stepwise(program: Program, stack, public, secret, digests, ram_seed, max_cycles=None):
    """Run ``program`` one instruction at a time (each a fresh one-instruction Program on a given floor).
    Returns the parts of an Execution, or ("crash", kind, instruction index). The cycle budget, the depth
    check and the table rows come from the ISA table here, not from the VM (whose handlers check the depth
    themselves and whose rows are summed per block when read)."""
    s = list(initial_floor(program)) + list(stack)
    ram: dict[int, int] = {}
    parts = dict(output=[], cycles=0, op_stack_rows=0, ram_rows=0, permutations=0, sponge_inits=0, u32=set(),
                 limbs=set(), public=0, secret=0, digests=0, halted=False)
    for k, instruction in enumerate(program.instructions):
        if max_cycles is not None and k >= max_cycles:
            return ("crash", "max_cycles", k)
        spec = instruction.spec
        count = instruction.arg if spec.arg is isa.Arg.COUNT else None
        expect_shallow = len(s) + spec.delta(count) < 16
        try:
            step = te.run(Program([instruction]), stack=s[16:], floor=s[:16], public_input=public[parts["public"]:],
                          secret_input=secret[parts["secret"]:], secret_digests=digests[parts["digests"]:],
                          ram=ram, ram_seed=ram_seed)
        except VMError as err:
            assert (err.kind == "stack_too_shallow") == expect_shallow, (instruction, len(s), err)
            return ("crash", err.kind, k)
        assert not expect_shallow, (instruction, len(s))
        s = list(step.stack)
        ram.update(step.ram)
        parts["output"] += step.output
        parts["cycles"] += 1
        for name, rows in zip(("op_stack_rows", "ram_rows", "permutations", "sponge_inits"),
                              cost.static_rows(instruction.name, count)):
            parts[name] += rows
        parts["u32"] |= step.u32_entries
        parts["limbs"] |= step.cascade_limbs
        parts["public"] += step.public_input_consumed
        parts["secret"] += step.secret_input_consumed
        parts["digests"] += step.secret_digests_consumed
        if step.halted:
            parts["halted"] = True
            break
    return s, ram, parts


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=tst.straight_line_programs(max_length=30, mnemonics=_STEPPABLE),
       stack=st.lists(tst.stack_values(), max_size=8), public=tst.input_tokens(), secret=tst.input_tokens(),
       digests=tst.digests(), ram_seed=st.sampled_from([0, 7]), max_cycles=st.sampled_from([None, None, 3, 12]))
def test_fresh_straight_line_run_equals_the_step_by_step_reference(program, stack, public, secret, digests,
                                                                   ram_seed, max_cycles):
    fresh = Program(program.instructions)  # never decoded: the fresh-program path
    reference = _stepwise(program, stack, public, secret, digests, ram_seed, max_cycles)
    try:
        run = te.run(fresh, stack=stack, public_input=public, secret_input=secret, secret_digests=digests,
                     ram_seed=ram_seed, **({} if max_cycles is None else {"max_cycles": max_cycles}))
    except VMError as err:
        assert reference == ("crash", err.kind, fresh.index_at(err.ip)), (err, reference)
        assert err.cycle == reference[2]
        return
    assert reference[0] != "crash", (reference, run)
    s, ram, parts = reference
    assert run.stack == tuple(s)
    assert run.ram == ram
    assert run.output == tuple(parts["output"])
    assert (run.cycles, run.op_stack_rows, run.ram_rows, run.permutations, run.sponge_inits) == tuple(
        parts[n] for n in ("cycles", "op_stack_rows", "ram_rows", "permutations", "sponge_inits"))
    assert run.u32_entries == parts["u32"] and run.cascade_limbs == parts["limbs"]
    assert (run.public_input_consumed, run.secret_input_consumed, run.secret_digests_consumed, run.halted) == (
        parts["public"], parts["secret"], parts["digests"], parts["halted"])
    attestation = cost.program_attestation(tuple(program.to_words()))
    assert run.heights == cost.table_heights(
        program_words=program.words, cycles=parts["cycles"], op_stack_rows=parts["op_stack_rows"],
        ram_rows=parts["ram_rows"], permutations=parts["permutations"], sponge_inits=parts["sponge_inits"],
        u32_entries=parts["u32"], cascade_limbs=attestation.limbs | parts["limbs"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=tst.straight_line_programs(min_length=1, max_length=30), stack=st.lists(tst.stack_values(),
                                                                                       max_size=8))
def test_fresh_cached_and_compiled_runs_are_equal(program, stack):
    vm_decode.clear_cache()
    outcomes = []
    # fresh (decoded, not kept), decoded again and kept, interpreted until COMPILE_AFTER runs, then compiled
    for _ in range(vm.COMPILE_AFTER + 2):
        try:
            run = te.run(program, stack=stack)
            outcomes.append((run, run.heights))
        except VMError as err:
            outcomes.append((err.kind, err.cycle, err.ip))
    assert all(o == outcomes[0] for o in outcomes[1:])
    if not isinstance(outcomes[0][0], str):
        assert vm_decode.decoded(program).is_compiled(0)


def _outcome(program, **kwargs):
    try:
        ex = te.run(program, **kwargs)
    except VMError as err:
        return ("crash", err.kind, err.message, err.cycle, err.ip, err.instruction)
    return ("ok", ex.stack, ex.output, ex.ram, ex.cycles, ex.halted, ex.u32_entries, ex.cascade_limbs,
            ex.op_stack_rows, ex.ram_rows, ex.permutations, ex.sponge_inits, ex.public_input_consumed,
            ex.secret_input_consumed, ex.heights)


# with stack moves next to the program digest's slots (st11..st15 of the initial stack) often
_BLOCKS_WITH_HALT = st.lists(st.one_of(
    tst.instructions(), st.just(Instruction("halt")),
    st.builds(Instruction, st.sampled_from(["dup", "swap", "pick", "place"]), st.integers(9, 15))), max_size=24).map(Program)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=_BLOCKS_WITH_HALT, stack=st.lists(tst.stack_values(), max_size=6), public=tst.input_tokens(),
       secret=tst.input_tokens(), max_cycles=st.sampled_from([1_000_000, 0, 1, 5, 12, 24]))
def test_a_fresh_block_run_from_its_instructions_is_its_decoded_and_compiled_run(program, stack, public, secret,
                                                                                   max_cycles):
    """The first run of a straight-line program that fits the cycle budget takes the instructions as they are
    (any-argument handlers); the second runs the kept decoded form, the third its compiled blocks."""
    vm_decode.clear_cache()
    straight = []
    real = vm._execute_straight
    kwargs = dict(stack=stack, public_input=public, secret_input=secret, max_cycles=max_cycles)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(vm, "_execute_straight", lambda *a: straight.append(1) or real(*a))
        first = _outcome(program, **kwargs)
    assert straight == ([1] if len(program) <= max_cycles else [])
    assert _outcome(program, **kwargs) == first
    decoded = vm_decode.decoded(program)
    for start in list(decoded.blocks):
        decoded.compile(start)
    assert _outcome(program, **kwargs) == first


def test_instructions_without_or_with_a_bounded_argument_are_shared():
    assert Instruction("dup", 3) is Instruction("dup", 3) and Instruction("add") is Instruction("add")
    assert Program.parse("dup 3 add")[0] is Instruction("dup", 3)
    literal = Instruction("push", -1)
    assert literal == Instruction("push", P - 1) and literal.arg == P - 1 and literal.key == ("push", P - 1)
    for bad in [("dup", True), ("pop", False), ("dup", 16), ("pop", 0), ("add", 1), ("dup", None), ("dup", 3.0)]:
        with pytest.raises(ValueError):
            Instruction(*bad)
    assert Instruction("assert", None, 4) is not Instruction("assert") and Instruction("assert", None, 4).error_id == 4


def test_a_program_is_decoded_afresh_once_then_kept():
    """The first use decodes without keeping (a fresh program is often used once); the second keeps it."""
    vm_decode.clear_cache()
    program = te.Program.parse("push 1 push 2 add")
    first, second, third = (vm_decode.decoded(program) for _ in range(3))
    assert first is not second and second is third
    other = te.Program.parse("push 1 push 2 add")  # equal but another object: decoded for itself
    assert vm_decode.decoded(other) is not third and vm_decode.decoded(program) is third


@given(name=st.sampled_from(["dup", "swap", "pick", "place"]), index=st.integers(0, 15),
       extra=st.lists(tst.stack_values(), max_size=3))
def test_stack_moves_at_every_depth_see_the_program_digest(name, index, extra):
    """The digest is written just before a block that reaches it: every depth at the edge, for a fresh program."""
    program = Program.parse(f"{name} {index} push 1 add")
    reference = _stepwise(program, extra, (), (), (), 0)
    assert te.run(Program(program.instructions), stack=extra).stack == tuple(reference[0])


def test_a_fresh_program_gets_its_block_at_decoding():
    program = Program.parse("push 1 push 2 add dup 0 mul")
    decoded = vm_decode.Decoded(program)
    assert list(decoded.blocks) == [0] and decoded.blocks[0].size == 5


def _candidates(baseline: Program, rng: np.random.Generator, n: int) -> list[str]:
    pool = [str(i) for i in baseline.instructions] + ["push 0", "push 1", "dup 0", "swap 1", "pop 1", "add", "mul"]
    out = []
    for _ in range(n):
        words = [str(i) for i in baseline.instructions]
        for _ in range(int(rng.integers(0, 3))):
            words[int(rng.integers(len(words)))] = pool[int(rng.integers(len(pool)))]
        out.append(" ".join(words))
    return out


def test_reused_verifier_gives_the_verdicts_of_a_new_one():
    rng = np.random.default_rng(3)
    baseline = Program.parse("dup 1 dup 1 mul swap 2 add push 3 mul add")
    inputs = ("field", "field")
    for n_tests, seed in ((20, 42), (20, 42), (3, 42), (20, 5)):  # again, then other tests: the reuse is keyed
        candidates = _candidates(baseline, rng, 200)
        reused = te.verify_many(baseline, candidates, inputs=inputs, n_tests=n_tests, seed=seed)
        new = Verifier(baseline, inputs, n_tests, seed).check(candidates)
        assert list(map(_facts, reused)) == list(map(_facts, new))
        assert any(v.ok for v in new) and not all(v.ok for v in new)
        one = te.verify(baseline, candidates[0], inputs=inputs, n_tests=n_tests, seed=seed)
        assert _facts(one) == _facts(new[0])


def _facts(verdict) -> tuple:
    return (verdict.ok, verdict.reason, verdict.part, verdict.status, verdict.bound, str(verdict.counterexample))
