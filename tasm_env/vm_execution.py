"""The outcome of a reference-VM run (:class:`Execution`), with the parts that cost Tip5 work made lazy.

Two things need the program's attestation hash (Tip5 over every program word, about a millisecond for a short
block in pure Python): the program digest that Triton's initial stack holds in st11..st15, and the Cascade
table's limbs. A run that never touches the digest words leaves placeholders there; :attr:`Execution.stack`
fills them in on first access, and :attr:`Execution.heights` hashes the program on first access. Both give
exactly what an eager computation gives.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from . import cost, tip5
from .asm import Program
from .cost import TableHeights, U32Entry
from .vm_decode import table_rows
from .vm_handlers import program_digest_slots

DIGEST_SLOTS = slice(0, tip5.DIGEST_LEN)
"""Where Triton's initial stack keeps the program digest in the list (top last): the 5 deepest slots."""


_COMPARED = ("program", "stack", "output", "ram", "cycles", "halted", "public_input_consumed",
             "secret_input_consumed", "secret_digests_consumed", "jump_stack", "sponge", "u32_entries",
             "op_stack_rows", "ram_rows", "permutations", "sponge_inits", "cascade_limbs")
_SHOWN = ("stack", "output", "ram", "cycles", "halted", "public_input_consumed", "secret_input_consumed",
          "secret_digests_consumed", "jump_stack")


class Execution:
    """The outcome of a run that did not crash (immutable).

    ``stack`` is the whole op stack, top last. ``ram`` holds every cell the run read or wrote, with its final
    value. ``output`` is what ``write_io`` wrote; ``cycles`` counts executed instructions (``halt`` included);
    ``halted`` says whether the run ended at ``halt``. ``public_input_consumed``, ``secret_input_consumed`` and
    ``secret_digests_consumed`` count what the run read. ``jump_stack`` lists the (origin, destination) word
    addresses of the calls still open, innermost last. ``sponge`` is the sponge as the run left it (None if
    ``sponge_init`` never ran). ``u32_entries`` are the distinct (instruction, lhs, rhs) entries of the U32
    table (``xor`` records ``and`` entries); ``op_stack_rows``, ``ram_rows``, ``permutations`` (the program's
    own Tip5 permutations, attestation excluded), ``sponge_inits`` and ``cascade_limbs`` (16-bit limbs the
    program's own permutations look up) are what the table heights are made of.
    """

    program: Program
    output: tuple[int, ...]
    ram: dict[int, int]
    cycles: int
    halted: bool
    public_input_consumed: int
    secret_input_consumed: int
    secret_digests_consumed: int
    jump_stack: tuple[tuple[int, int], ...]
    sponge: tip5.Sponge | None
    u32_entries: frozenset[U32Entry]
    cascade_limbs: frozenset[int]

    @classmethod
    def from_run(cls, final_stack: list[int], digest_pending: bool, runs: dict[int, int],
                 fields: dict[str, Any]) -> Execution:
        """Construct from a run's state: ``fields`` maps every attribute but ``stack`` and the four row counts
        to its value (the dict becomes the instance's). ``digest_pending``: the 5 deepest slots of
        ``final_stack`` still hold placeholders for the program digest (the run never touched them), so
        :attr:`stack` fills them in. ``runs``: how often the block starting at each instruction ran, from which
        the row counts are computed when first read."""
        execution = object.__new__(cls)
        fields["_runs"] = runs
        if digest_pending:
            fields["_final_stack"] = tuple(final_stack)  # a tuple of ints: the garbage collector skips it
        else:
            fields["stack"] = tuple(final_stack)
        object.__setattr__(execution, "__dict__", fields)
        return execution

    @functools.cached_property
    def stack(self) -> tuple[int, ...]:
        """The whole op stack, top last (computed here only when the program digest was left pending)."""
        final = list(self.__dict__["_final_stack"])
        final[DIGEST_SLOTS] = program_digest_slots(self.program)
        return tuple(final)

    @functools.cached_property
    def _rows(self) -> tuple[int, int, int, int]:
        return table_rows(self.program, self.__dict__["_runs"])

    @property
    def op_stack_rows(self) -> int:
        """Op-stack table rows of the program's own instructions."""
        return self._rows[0]

    @property
    def ram_rows(self) -> int:
        """RAM table rows."""
        return self._rows[1]

    @property
    def permutations(self) -> int:
        """The program's own Tip5 permutations (the attestation's excluded)."""
        return self._rows[2]

    @property
    def sponge_inits(self) -> int:
        """``sponge_init`` executions (Hash table rows)."""
        return self._rows[3]

    def __getstate__(self) -> dict[str, Any]:  # pickle and copy: every lazy part computed, nothing unpicklable
        state = {f: getattr(self, f) for f in _COMPARED}
        state["_runs"] = self.__dict__["_runs"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "__dict__", state)

    @functools.cached_property
    def heights(self) -> TableHeights:
        """The nine AET heights, as ``triton-vm``'s ``AlgebraicExecutionTrace::height_of_table``."""
        attestation = cost.program_attestation(tuple(self.program.to_words()))
        return cost.table_heights(
            program_words=self.program.words,
            cycles=self.cycles,
            op_stack_rows=self.op_stack_rows,
            ram_rows=self.ram_rows,
            permutations=self.permutations,
            sponge_inits=self.sponge_inits,
            u32_entries=self.u32_entries,
            cascade_limbs=attestation.limbs | self.cascade_limbs,
        )

    @property
    def padded_height(self) -> int:
        """The next power of two of the tallest table."""
        return self.heights.padded_height

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in _COMPARED)

    __hash__ = None  # type: ignore[assignment]  # `ram` is a dict

    def __repr__(self) -> str:
        return "Execution(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in _SHOWN) + ")"
