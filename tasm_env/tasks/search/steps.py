"""The instructions with side effects (I/O, RAM, sponge, Merkle and dot steps), one Python step per distinct
operand tuple and side state. They act on value ids: the values themselves come from the batched executor's
evaluators (``Space.apply``); what remains here is where each word goes, in the plan compiler's order."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ... import isa
from .layers import CRASH, DIG, OUT, PUB, SEC, SIDE


def per_row(step: Callable, produces: int) -> Callable:
    """Lift a per-operand-tuple Python step ``(space, ids_row, meta_row) -> (results | None, meta_row)`` to a
    move's ``evaluate`` (used by the rare instructions with side effects; ``None`` means the move fails).
    Outcomes are memoised per (operands, meta): the move belongs to one space, whose ids are stable."""
    memo: dict[tuple, tuple] = {}

    def evaluate(space, ids, meta):
        u = len(ids)
        out = np.zeros((u, produces), dtype=np.int64)
        metas = meta.copy()
        ok = np.zeros(u, dtype=bool)
        for i, (row, meta_row) in enumerate(zip(ids.tolist(), meta.tolist())):
            key = (tuple(row), tuple(meta_row))
            outcome = memo.get(key)
            if outcome is None:
                results, new_meta = step(space, row, meta_row)
                outcome = memo[key] = (results, tuple(new_meta))
            results, new_meta = outcome
            if results is not None:
                ok[i] = True
                out[i, :len(results)] = results
                metas[i] = new_meta
        return out, metas, ok
    return evaluate


# ---- the instructions with side effects, one step each. Values come from the batched executor's evaluators
# (``space.apply``); where each word goes follows tasm_env.plan's handlers, result order from the ISA.


def _top_first(name: str, results: list) -> list:
    """``results`` (in Triton's order) as a step returns them: top first."""
    return isa.BY_NAME[name].push_order(results)[::-1]


def _read_io_step(n: int, which: int):
    def step(space, ids, meta):
        tokens = space.public_ids if which == PUB else space.secret_ids
        start = meta[which]
        if start + n > len(tokens):
            return None, meta
        meta = list(meta)
        meta[which] += n
        return _top_first("read_io" if which == PUB else "divine", tokens[start:start + n]), meta
    return step


def _write_io_step(n: int):
    def step(space, ids, meta):
        start = meta[OUT]
        proj = space.values.proj  # (equal on the lanes the baseline passes: crash lanes do not count)
        if [proj[i] for i in ids[:n]] != [proj[g] for g in space.goal_output[start:start + n]]:  # a prefix
            return None, meta
        meta = list(meta)
        meta[OUT] += n
        return [], meta
    return step


def _merkle_step(space, ids, meta):
    k = meta[DIG]
    if k >= len(space.digest_ids):
        return None, meta
    found = space.merkle(ids[:6], space.digest_ids[k])
    if found is None:
        return None, meta
    results, crashed = found
    meta = list(meta)
    meta[DIG] += 1
    meta[CRASH] |= crashed
    return _top_first("merkle_step", results[:5]) + results[5:], meta


def _read_mem_step(n: int):
    def step(space, ids, meta):
        side = meta[SIDE]
        pointer = ids[0]
        cells = [space.read_ram(side, space.offset(pointer, -k)) for k in range(n)]
        return [space.offset(pointer, -n)] + cells[::-1], meta
    return step


def _write_mem_step(n: int):
    def step(space, ids, meta):
        pointer = ids[0]
        writes = [(space.offset(pointer, k), ids[k + 1]) for k in range(n)]
        meta = list(meta)
        meta[SIDE] = space.side_after(meta[SIDE], writes=writes)
        return [space.offset(pointer, n)], meta
    return step


def _with_sponge(space, meta, new_sponge):
    """``meta`` with the sponge replaced (a copy: parent states keep theirs)."""
    meta = list(meta)
    meta[SIDE] = space.side_after(meta[SIDE], sponge=new_sponge)
    return meta


def _sponge_init_step(space, ids, meta):
    return [], _with_sponge(space, meta, (space.zero,) * 16)


def _sponge_absorb_step(space, ids, meta):
    sponge = space.sides[meta[SIDE]][1]
    if sponge is None:  # sponge not initialised: the state crashed
        return None, meta
    return [], _with_sponge(space, meta, space.permute(list(ids[:10]) + list(sponge[10:])))


def _sponge_squeeze_step(space, ids, meta):
    sponge = space.sides[meta[SIDE]][1]
    if sponge is None:
        return None, meta
    return _top_first("sponge_squeeze", list(sponge[:10])), _with_sponge(space, meta, space.permute(list(sponge)))


def _sponge_absorb_mem_step(space, ids, meta):
    sponge = space.sides[meta[SIDE]][1]
    if sponge is None:
        return None, meta
    pointer = ids[0]
    words = [space.read_ram(meta[SIDE], space.offset(pointer, i)) for i in range(10)]
    return [space.offset(pointer, 10)] + words[:4], _with_sponge(space, meta, space.permute(words + list(sponge[10:])))


def _merkle_step_mem_step(space, ids, meta):
    pointer = ids[7]
    sibling = [space.read_ram(meta[SIDE], space.offset(pointer, w)) for w in range(5)]
    found = space.merkle(ids[:6], sibling)
    if found is None:
        return None, meta
    results, crashed = found
    meta = list(meta)
    meta[CRASH] |= crashed
    return _top_first("merkle_step_mem", results[:5]) + results[5:] + [ids[6], space.offset(pointer, 5)], meta


def _dot_step(rhs_words: int):
    operation = "xx_dot_step" if rhs_words == 3 else "xb_dot_step"

    def step(space, ids, meta):
        side = meta[SIDE]
        rhs_pointer, lhs_pointer, accumulator = ids[0], ids[1], ids[2:5]
        rhs = [space.read_ram(side, space.offset(rhs_pointer, i)) for i in range(rhs_words)]
        lhs = [space.read_ram(side, space.offset(lhs_pointer, i)) for i in range(3)]
        results = space.apply(operation, accumulator + rhs + lhs, ids)
        pointers = [space.offset(rhs_pointer, rhs_words), space.offset(lhs_pointer, 3)]
        return pointers + _top_first(operation, results), meta
    return step


STEPS: dict[str, Callable] = {
    "merkle_step": lambda n: _merkle_step, "read_mem": _read_mem_step, "write_mem": _write_mem_step,
    "sponge_init": lambda n: _sponge_init_step, "sponge_absorb": lambda n: _sponge_absorb_step,
    "sponge_squeeze": lambda n: _sponge_squeeze_step, "sponge_absorb_mem": lambda n: _sponge_absorb_mem_step,
    "merkle_step_mem": lambda n: _merkle_step_mem_step, "xx_dot_step": lambda n: _dot_step(3),
    "xb_dot_step": lambda n: _dot_step(1), "write_io": _write_io_step,
    "read_io": lambda n: _read_io_step(n, PUB), "divine": lambda n: _read_io_step(n, SEC),
}
assert set(STEPS) == isa.USES_STATE, f"the search's steps differ from the ISA's USES_STATE: {set(STEPS) ^ isa.USES_STATE}"

