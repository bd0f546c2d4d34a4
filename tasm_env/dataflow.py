"""The dataflow of a plan in a canonical form: two plans with equal keys compute the same thing on every input.

A plan (:mod:`tasm_env.plan`) is already free of stack shuffling; what can still differ between two blocks that
do the same work is the order of independent operations, the order of a commutative operation's operands, and
dead operations. So each value gets a canonical number by hash-consing: a source is itself, a constant is its
value, an operation's result is (kind, canonical operands, sorted for commutative kinds, which result). The key
of a plan is then the canonical numbers of everything that crosses the block boundary (final op stack, public
output, sponge state, RAM writes in order) and the set of operations that may crash. A dead operation that
cannot crash leaves no trace; one that may crash stays in the set, because it can end the run.

Equal keys mean equal behaviour under the batched executor's semantics, lane by lane: the same values on the
stack, output, sponge and RAM (the same write sequence leaves every cell the same), and a crash exactly where
the other crashes (a straight-line run crashes iff one of its operations does; the crash's kind and cycle may
differ, which the verifier allows). The static facts (depth, input consumed, ``halt``, a static crash) are not
in the key: the verifier compares them first.
"""

from __future__ import annotations

from . import isa
from .plan import OPERATIONS, OUTPUTS, Plan

_COMMUTATIVE = frozenset(i for i, name in enumerate(OPERATIONS) if name in isa.COMMUTATIVE)
QUIET: frozenset[str] = frozenset(name for name in OPERATIONS
                                  if name in isa.BY_NAME and not isa.BY_NAME[name].can_crash)
"""Operation kinds that never crash (an instruction of the same name that cannot crash); every other kind,
``u32_check``, ``merkle``, ``permute`` and ``mem_read`` included, counts as one that may."""
_QUIET = frozenset(i for i, name in enumerate(OPERATIONS) if name in QUIET)
_RESULTS = tuple(OUTPUTS[name] for name in OPERATIONS)


def dataflow_key(plan: Plan, table: dict) -> tuple:
    """The canonical form of ``plan``'s dataflow. ``table`` interns the operations: compare keys only when
    computed with the same table (it grows with every new operation it sees; use one per batch)."""
    canon = list(range(plan.shape.shared + plan.n_local))  # sources are themselves; the rest is set below
    intern = table.setdefault
    for i, value in zip(plan.const_ids, plan.const_values):
        canon[i] = intern(("c", value), -1 - len(table))
    inputs, position = plan.inputs, 0
    may_crash = []
    for kind, n, first in zip(plan.kind, plan.n_in, plan.out):
        operands = tuple([canon[i] for i in inputs[position:position + n]])
        position += n
        if kind in _COMMUTATIVE and operands[0] > operands[1]:
            operands = (operands[1], operands[0])
        h = intern((kind, operands), -1 - len(table))
        if kind not in _QUIET:
            may_crash.append(h)
        n_out = _RESULTS[kind]
        if n_out == 1:
            canon[first] = h
        else:
            for r in range(n_out):
                canon[first + r] = intern((h, r), -1 - len(table))
    return (tuple([canon[i] for i in plan.stack]), tuple([canon[i] for i in plan.output]),
            None if plan.sponge is None else tuple([canon[i] for i in plan.sponge]),
            tuple([canon[i] for i in plan.writes]), frozenset(may_crash))
