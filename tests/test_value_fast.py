"""The value state's one-prefix path (a Gymnasium step: the prefix decoded from its parent's program, evaluated
from its parent's run, RAM contents of the baseline's cells computed once, the merges of every ``pop n`` at
once) gives exactly what the definitions give, computed here from scratch on random trajectories."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasm_env import batch
from tasm_env.asm import Program
from tasm_env.emission.machine import StackMachine
from tasm_env.emission.probe_facts import MAX_POP
from tasm_env.emission.row import RowMachine
from tasm_env.emission.spec import TaskSpec
from tasm_env.emission.values import Outcome, ValueModel
from tasm_env.emission.vocab import EOS, Vocabulary
from tasm_env.envs.common import resolve_tasks

VOCAB = Vocabulary.default()
_ALL = resolve_tasks(suite="tasm-basic-v1", split="train")
_RAM = [t for t in _ALL if any(i.name in ("read_mem", "write_mem") for i in Program.coerce(t.baseline))][:4]
TASKS = _RAM + _ALL[1::15][:12]
SPECS = [TaskSpec.from_task(t, VOCAB) for t in TASKS]


MACHINE = StackMachine(SPECS, values=ValueModel.of(TASKS, SPECS, 8))


def _walk(machine, n, rng, memory: bool):
    """A random legal prefix of task n; with ``memory``, memory tokens are preferred where legal."""
    row = RowMachine(machine, n, "typed")
    tokens = []
    bound = SPECS[n].bound
    for _ in range(int(rng.integers(1, min(SPECS[n].budget, 20) + 1))):
        legal = np.flatnonzero(row.mask())
        legal = legal[legal != EOS]
        if not len(legal):
            break
        ram = [i for i in legal if str(bound.token(int(i))).split()[0] in ("read_mem", "write_mem")]
        token = int(rng.choice(ram if memory and ram and rng.random() < 0.5 else legal))
        row.step(token)
        tokens.append(token)
    return tokens


def _outcome(probes, run) -> Outcome:
    """A block's outcome by the definitions: evaluated from scratch, RAM contents from the initial RAM and
    every write in order (later writes win), compared at every cell either program touched (``run``: the
    block evaluated from scratch)."""
    plan, V, inputs, K = run.plan, run.V, probes.inputs, probes.k

    def final(r, addresses):
        value = inputs.initial_ram(addresses)
        for k in range(0, len(r.plan.writes), 2):
            value = np.where(r.V[r.plan.writes[k]][None, :] == addresses, r.V[r.plan.writes[k + 1]][None, :], value)
        return value

    writes = V[plan.writes] if plan.writes else np.zeros((0, K), np.uint64)
    written = writes.copy()
    written[1::2] = final(run, writes[0::2]) if len(writes) else writes[1::2]
    base = probes.base_run
    cells = np.concatenate([base.V[base.plan.touched], V[plan.touched]]).reshape(-1, K)
    ram_match = (final(base, cells) == final(run, cells)).all(0) if len(cells) else np.ones(K, dtype=bool)
    sponge = None if plan.sponge is None else V[plan.sponge]
    return Outcome(V[plan.stack], run.crash != batch.NO_CRASH, V[plan.output].reshape(-1, K), sponge, written,
                   ram_match)


def _merges(probes, o: Outcome, popped: int) -> bool:
    """Some pair the baseline tells apart is in identical states after the prefix and ``pop popped``."""
    i, j = probes.pairs
    if not len(i):
        return False
    stack = o.stack[:len(o.stack) - popped]
    same = o.crashed[i] == o.crashed[j]
    crashed = o.crashed[i] & o.crashed[j]
    for part in (stack, o.output, o.sponge, o.written):
        if part is not None and len(part):
            same &= crashed | (part[:, i] == part[:, j]).all(0)
    return bool(same.any())


def _check(n: int, seed: int, memory: bool) -> dict[str, int]:
    """Every prefix of a random trajectory: the model's facts (the one-prefix path) equal the definitions;
    returns how many prefixes touched RAM, wrote it, had a losing pop, were lost."""
    machine = MACHINE
    machine.values.forget()  # every prefix a first visit, stepped from its parent's run (the probes stay)
    model, bound = machine.values, SPECS[n].bound
    tokens = _walk(machine, n, np.random.default_rng(seed), memory)
    probes = model.probes(n)
    seen = {"ram": 0, "written": 0, "pop_loses": 0, "lost": 0}
    for end in range(len(tokens) + 1):
        facts = model.facts(n, tokens[:end])
        program = bound.decode(tokens[:end])
        run = probes.evaluate(program)  # from scratch
        o = _outcome(probes, run)
        live = o.stack.shape[0] - probes.bottom
        lost = bool((o.crashed & ~probes.base.crashed).any()) or _merges(probes, o, 0)
        pop_loses = [False] + [k <= live and _merges(probes, o, k) for k in range(1, MAX_POP + 1)]
        want = probes.facts(o)
        assert facts.lost == lost == want.lost
        assert facts.pop_loses.tolist() == pop_loses == want.pop_loses.tolist()
        assert facts.eos_ok == probes.matches(o) == want.eos_ok
        assert np.array_equal(facts.slot_nodes, want.slot_nodes)
        assert np.array_equal(facts.outputs_ready, want.outputs_ready)
        mine = probes.outcome(run)
        assert np.array_equal(mine.written, o.written) and np.array_equal(mine.ram_match, o.ram_match)
        seen["ram"] += bool(len(run.plan.touched))
        seen["written"] += bool(len(o.written))
        seen["pop_loses"] += any(pop_loses)
        seen["lost"] += lost
    return seen


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, len(TASKS) - 1), st.integers(0, 2**31), st.booleans())
def test_one_prefix_facts_equal_the_definitions(n, seed, memory):
    _check(n, seed, memory)


def test_the_trajectories_reach_what_the_fast_path_changes():
    """Guard: fixed trajectories touch RAM and write it, have losing pops and lost states (all checked)."""
    seen = {"ram": 0, "written": 0, "pop_loses": 0, "lost": 0}
    for n in range(len(TASKS)):
        for seed in range(2):
            for key, count in _check(n, seed, memory=seed % 2 == 0).items():
                seen[key] += count
    assert all(seen.values()), seen
    assert _RAM, "no task of the pool touches RAM"
