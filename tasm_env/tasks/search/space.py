"""One search problem on one fingerprint test set: the values, the goal, the moves and the lower bound."""

from __future__ import annotations

import numpy as np

from ... import batch, isa
from ...asm import Instruction, Program
from ...errors import TaskError, TasmError
from ...field import P, vadd
from ...verify import CONTEXT_DEPTH, TestSet, Verifier, make_tests
from .keys import U64, ceil_div, popcount
from .layers import DIG, OUT, PUB, SEC
from .moves import make_move
from .values import Values


class Space:
    """One search problem on one fingerprint test set: values, the goal, the moves and the lower bound."""

    def __init__(self, baseline: Program, types: tuple[str, ...], instructions: list[Instruction], lanes: int,
                 seed: int, touch_context: bool, counts: tuple[int, int, int, int],
                 tests: TestSet | None = None, ok_lanes: int | None = None):
        """``tests`` and ``ok_lanes`` (a partial baseline, see :func:`partial_tests`): the fingerprint tests,
        the first ``ok_lanes`` of which the baseline passes and the rest of which it crashes on."""
        public, secret, digests, outputs = counts
        self.baseline, self.types, self.touch_context = baseline, types, touch_context
        self.partial = ok_lanes is not None
        if tests is None:
            tests = make_tests(types, lanes, seed, public_tokens=public, secret_tokens=secret,
                               secret_digests=digests)
        self.tests = tests
        lanes = tests.lanes_count
        self.ok_lanes = lanes if ok_lanes is None else ok_lanes
        self.crash_all = (1 << (lanes - self.ok_lanes)) - 1  # every crash lane: what a goal state has crashed on
        self.values = values = Values(lanes, salt=seed * 0x9E37 + lanes, ok_lanes=ok_lanes)
        inputs = self.tests.inputs
        initial = values.intern(inputs.stack.T, 0)  # deepest first: 16 context elements, then the inputs
        self.context_ids = initial[:CONTEXT_DEPTH]
        if len(set(self.context_ids.tolist())) != CONTEXT_DEPTH:
            raise TasmError("fingerprint context elements coincide; use another seed")
        values.dep[self.context_ids] = 1 << np.arange(CONTEXT_DEPTH)
        self.public_ids = values.intern(inputs.public_input.T, 0).tolist()
        self.secret_ids = values.intern(inputs.secret_input.T, 0).tolist()
        words = inputs.secret_digests.reshape(lanes, -1).T
        self.digest_ids = [list(d) for d in values.intern(words, 0).reshape(-1, 5).tolist()] if digests else []
        self.zero = values.constant(0)
        self.sides: list[tuple[tuple, tuple | None]] = [((), None)]
        self._side_index: dict[tuple, int] = {((), None): 0}
        self.side_dep: list[int] = [0]
        self._offsets: dict[tuple[int, int], int] = {}
        self._reads: dict[tuple, int] = {}
        self._goal(initial)
        self.moves = [make_move(i, self) for i in instructions]
        # RAM and sponge in play: goal states are then compared by RAM contents, not by side id
        self.uses_side = bool({i.name for i in [*baseline, *instructions]} & (isa.USES_RAM | isa.USES_HASH_TABLE))
        self._shape_bounds()

    # ---- the goal and the bound
    def _goal(self, initial: np.ndarray) -> None:
        run = batch.run_group([self.baseline], self.tests.inputs)
        plan = run.plans[0]
        crashed = run.crash[0] != batch.NO_CRASH
        if crashed[:self.ok_lanes].any() or not crashed[self.ok_lanes:].all():
            raise TaskError("the fingerprint tests are not split into tests the baseline passes and tests it "
                            "crashes on (a partial baseline needs partial_tests)")
        final = self.values.intern(run.values(0, plan.stack), 0)  # (slots, lanes), deepest first
        self.goal_output = self.values.intern(run.values(0, plan.output), 0).tolist()
        self.goal_counts = (plan.public_consumed, plan.secret_consumed, len(self.goal_output), plan.digests_consumed)
        self.baseline_run = run
        base = 0 if self.touch_context else CONTEXT_DEPTH
        self.base = base
        self.start = initial[base:][::-1].copy()  # stored stacks are top-first, without the context if base
        self.goal = final[base:][::-1].copy()
        proj = self.values.proj
        goal_ids = list({int(proj[g]): g for g in self.goal.tolist()[::-1]}.values())[::-1][:64]
        for bit, gid in enumerate(goal_ids):
            self.values.mark_goal(gid, bit)
        self.goal_mask = U64((1 << len(goal_ids)) - 1) if goal_ids else U64(0)
        # context elements the goal keeps must never be lost (touch_context only)
        keep = [j for j, c in enumerate(self.context_ids.tolist()) if c in set(final.tolist())]
        self.required_context = sum(1 << j for j in keep)

    def _shape_bounds(self) -> None:
        ops = [m for m in self.moves if m.kind == "op"]
        self.grow = max([1] + [m.delta for m in self.moves])
        self.shrink = max([1] + [-m.delta for m in self.moves])
        self.max_new = max([1] + [m.produces for m in ops])
        writes = [m.instruction.arg for m in ops if m.instruction.name == "write_io"]
        self.max_write = max(writes, default=1)
        self.max_read = max([m.instruction.arg for m in ops if m.instruction.name == "read_io"], default=1)
        self.max_divine = max([m.instruction.arg for m in ops if m.instruction.name == "divine"], default=1)

    def depth_bound(self, depth: np.ndarray) -> np.ndarray:
        over = depth - len(self.goal)
        return np.where(over > 0, ceil_div(over, self.shrink), ceil_div(-over, self.grow))

    def value_bound(self, present: np.ndarray, meta: np.ndarray) -> np.ndarray:
        """Lower bound from what is still missing: goal values, outputs, input tokens, digests."""
        missing = popcount(self.goal_mask & ~present)
        h = ceil_div(missing, self.max_new)
        public, secret, outputs, digests = self.goal_counts
        if outputs:
            h = h + ceil_div(outputs - meta[:, OUT], self.max_write)  # write_io creates no values: additive
        if public:
            h = np.maximum(h, ceil_div(public - meta[:, PUB], self.max_read))
        if secret:
            h = np.maximum(h, ceil_div(secret - meta[:, SEC], self.max_divine))
        if digests:
            h = np.maximum(h, digests - meta[:, DIG])
        return h

    def width(self, budget: int) -> int:
        """Stored stack width: the deepest a state within ``budget`` instructions can be and still return to
        the goal depth in time."""
        d0, g = len(self.start), len(self.goal)
        deepest = max(min(d0 + self.grow * d, g + self.shrink * (budget - d)) for d in range(budget + 1))
        return max(deepest, d0, g, 1)

    # ---- helpers for the instructions with side effects (per operand tuple; rare)
    def apply(self, operation: str, ids: list[int], depends_on: list[int]) -> list[int]:
        """Results of a batched-executor operation on value ids (crashes are not possible for its callers)."""
        values = self.values
        x = [values.vectors[i][None, :] for i in ids]
        results, _ = batch.evaluator(operation)(x, self.tests.inputs)
        dep = int(np.bitwise_or.reduce(values.dep[list(depends_on)])) if depends_on else 0
        return [values.intern_one(np.asarray(r).reshape(-1), dep) for r in results]

    def offset(self, pointer: int, k: int) -> int:
        """The id of ``pointer + k``."""
        if k == 0:
            return pointer
        found = self._offsets.get((pointer, k))
        if found is None:
            vec = vadd(self.values.vectors[pointer], np.full(self.values.lanes, k % P, dtype=U64))
            found = self._offsets[(pointer, k)] = self.values.intern_one(vec, int(self.values.dep[pointer]))
        return found

    def read_ram(self, side_id: int, address: int) -> int:
        """The id of what RAM holds at ``address`` after a side's writes (later writes win, lane by lane)."""
        found = self._reads.get((side_id, address))
        if found is not None:
            return found
        side = self.sides[side_id]
        values = self.values
        where = values.vectors[address]
        value = self.tests.inputs.initial_ram(where)
        dep = int(values.dep[address])
        for a, v in side[0]:
            value = np.where(values.vectors[a] == where, values.vectors[v], value)
            dep |= int(values.dep[v])
        found = self._reads[(side_id, address)] = values.intern_one(value, dep)
        return found

    def permute(self, ids: list[int]) -> tuple[int, ...]:
        return tuple(self.apply("permute", ids, ids))

    def merkle(self, stack: list[int], sibling: list[int]) -> tuple[list[int], int] | None:
        """A Merkle step's results and the crash lanes it crashes on; None if it crashes on a passing lane."""
        bad = self.values.vectors[stack[5]] >= U64(1 << 32)
        if bad[:self.ok_lanes].any():
            return None
        bits = int((bad[self.ok_lanes:].astype(np.int64) << np.arange(len(bad) - self.ok_lanes)).sum())
        return self.apply("merkle", stack[:6] + list(sibling), stack[:6]), bits

    def side_after(self, side_id: int, writes: list[tuple[int, int]] = (), sponge=None) -> int:
        """The side (RAM writes, sponge) after some writes and/or a new sponge state, interned."""
        old_writes, old_sponge = self.sides[side_id]
        memory = list(old_writes)
        for address, value in writes:
            memory = [(a, v) for a, v in memory if a != address] + [(address, value)]
        vectors = self.values.vectors
        if len(memory) > 1:  # addresses that differ on every test commute: sort them for a canonical key
            addr = np.array([vectors[a] for a, _ in memory])
            distinct = all((addr[i] != addr[j]).all() for i in range(len(memory)) for j in range(i))
            if distinct:
                memory.sort()
        key = (tuple(memory), old_sponge if sponge is None else tuple(sponge))
        found = self._side_index.get(key)
        if found is None:
            found = self._side_index[key] = len(self.sides)
            self.sides.append(key)
            dep = 0
            for _, v in memory:
                dep |= int(self.values.dep[v])
            self.side_dep.append(dep)
        return found

    def ram_matches(self, side_id: int) -> bool:
        """Does this side leave RAM as the baseline does, on every fingerprint test?"""
        run, plan = self.baseline_run, self.baseline_run.plans[0]
        writes = self.sides[side_id][0]
        vectors = self.values.vectors
        addresses = [run.values(0, plan.writes[0::2])] if plan.writes else []
        if writes:
            addresses.append(np.array([vectors[a] for a, _ in writes]))
        if not addresses:
            return True
        addresses = np.concatenate(addresses)
        expected = run.final_ram(0, addresses)
        got = self.tests.inputs.initial_ram(addresses)
        for a, v in writes:
            got = np.where(vectors[a][None, :] == addresses, vectors[v][None, :], got)
        return bool((expected == got)[:, :self.ok_lanes].all())  # crash lanes: only crashing counts


def partial_tests(baseline: Program, types: tuple[str, ...], lanes: int, crash_lanes: int, seed: int
                  ) -> tuple[TestSet, int] | None:
    """Fingerprint tests for a baseline that crashes on some valid inputs: up to ``lanes`` tests it passes
    (the verifier's own tests, which reach its non-crashing region by solving for its assertions and
    operands), then up to ``crash_lanes`` tests it crashes on, spread over those the verifier has. Returns
    the tests and the number that pass, or None if the verifier's tests never crash it (a total baseline)."""
    verifier = Verifier(baseline, types, n_tests=max(lanes, 40), seed=seed)
    crashed = verifier.baseline_crashes
    if not crashed.any():
        return None
    passing = np.flatnonzero(~crashed)[:lanes]
    failing = np.flatnonzero(crashed)
    failing = failing[np.unique(np.linspace(0, len(failing) - 1, min(crash_lanes, len(failing))).astype(int))]
    t, chosen = verifier.tests, np.concatenate([passing, failing])
    tests = TestSet(t.values[chosen], t.shape, t.input_types, t.ram_seed[chosen], t.ram_offset[chosen], t.ram_pool,
                    t.flavour[chosen])
    return tests, len(passing)

