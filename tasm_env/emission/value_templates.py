"""The token templates of the value-stack fast path (:mod:`tasm_env.emission.value_stacks`): what one pure
token does to a stack, read off its own one-instruction dataflow plan (:func:`tasm_env.batch.compile_block` on a
generic stack of :data:`GENERIC_DEPTH` slots), never from a list of instructions, and every template's fields as
padded arrays (:class:`Codebook`), so that a step gathers them per row.

The plan's final stack says which top slots a token keeps, which it takes from below (a stack move), which are
constants (``push``), input words (``read_io``, ``divine``: the next words of the lane's streams) and which are
operation results; its operations (kind, operand ids) are evaluated with the batched executor's evaluators
(:func:`tasm_env.batch.evaluator`); its output (``write_io``) and RAM writes are codes of the values they take.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import batch
from ..asm import Program
from ..errors import TasmError
from ..plan import OPERATIONS, OUTPUTS, Shape

__all__ = ["Codebook", "GENERIC_DEPTH", "Template", "Templates"]

GENERIC_DEPTH = 48
"""Stack slots of the generic stack a token's template is compiled on (deeper than any instruction reaches)."""
GENERIC_WORDS = 8
"""Public and secret input words of the generic shape (more than one ``read_io``/``divine`` takes)."""
GENERIC_SHAPE = Shape(GENERIC_DEPTH, GENERIC_WORDS, GENERIC_WORDS, 0)


class Template:
    """What one pure token does to a stack, from its one-instruction plan. Operand and slot sources are codes:
    ``c < 0``: the old stack's slot at height ``depth + c`` (bottom-aligned); ``c >= 0``: entry ``c`` of the
    token's own values (its constants, then the public words it reads, the secret words, then its operations'
    results)."""

    __slots__ = ("change", "keep", "tail", "constants", "ops", "size", "index", "writes", "sponge", "public",
                 "secret", "output")

    def __init__(self, plan: batch.Plan):
        D = GENERIC_DEPTH
        stack = plan.stack
        keep = 0
        while keep < min(len(stack), D) and stack[keep] == keep:
            keep += 1
        local = {i: n for n, i in enumerate(plan.const_ids)}  # value id -> own value index
        self.constants = list(plan.const_values)
        self.public, self.secret = plan.public_consumed, plan.secret_consumed  # words read: after the constants
        for i in [*map(GENERIC_SHAPE.public_id, range(self.public)), *map(GENERIC_SHAPE.secret_id, range(self.secret))]:
            local[i] = len(local)
        ops, first = [], 0
        for j, kind in enumerate(plan.kind):
            ids = plan.inputs[first:first + plan.n_in[j]]
            first += plan.n_in[j]
            ops.append((kind, [self._code(i, local) for i in ids], len(local)))
            for r in range(OUTPUTS[OPERATIONS[kind]]):
                local[plan.out[j] + r] = len(local)
        self.ops = ops
        self.size = max(len(local), 1)
        self.writes = [self._code(i, local) for i in plan.writes]  # address, value, address, value ...
        self.output = [self._code(i, local) for i in plan.output]  # in write order
        self.index = -1  # its row in a ValueStacks' codebook
        self.sponge = plan.sponge is not None  # it sets the sponge to constants (of() checks)
        self.change = len(stack) - D
        self.keep = keep - D  # slots kept below: depth + keep
        self.tail = [self._code(i, local) for i in stack[keep:]]

    @staticmethod
    def _code(i: int, local: dict) -> int:
        return i - GENERIC_DEPTH if i < GENERIC_DEPTH else local[i]

    @classmethod
    def of(cls, program: Program) -> "Template | None":
        """The template of a one-instruction program, or None if it is not pure (see the module docstring)."""
        if len(program.instructions) != 1:
            return None
        try:
            plan = batch.compile_block(program, GENERIC_SHAPE, keep=False)
        except TasmError:
            return None
        # RAM is covered: a row carries its writes, a read takes the latest matching one, else the initial RAM
        # the sponge is covered when the token sets it to constants (the same on every lane): sponge_init
        # I/O is covered: a row carries its output and the input words it consumed (value_io)
        constant = plan.sponge is None or all(i in plan.const_ids for i in plan.sponge)
        if plan.static_crash != batch.NO_CRASH or not constant or plan.digests_consumed or plan.cycles != 1:
            return None
        return cls(plan)


class Codebook:
    """Every template's fields as padded arrays (row = the template's index), so a step gathers them per row."""

    def __init__(self, templates: Sequence[Template]):
        n = self.count = len(templates)
        self.change = np.array([t.change for t in templates], dtype=np.int64)
        self.keep = np.array([t.keep for t in templates], dtype=np.int64)
        self.size = np.array([t.size for t in templates], dtype=np.int64)
        self.n_writes = np.array([len(t.writes) for t in templates], dtype=np.int64)
        self.sponge = np.array([t.sponge for t in templates], dtype=bool)
        self.public = np.array([t.public for t in templates], dtype=np.int64)
        self.secret = np.array([t.secret for t in templates], dtype=np.int64)
        self.reads_at = np.array([len(t.constants) for t in templates], dtype=np.int64)  # the first word read
        self.n_output = np.array([len(t.output) for t in templates], dtype=np.int64)
        self.output = np.zeros((n, int(self.n_output.max(initial=0))), np.int64)
        self.writes = np.zeros((n, int(self.n_writes.max(initial=0))), np.int64)
        self.tail_len = np.array([len(t.tail) for t in templates], dtype=np.int64)
        self.tail = np.zeros((n, int(self.tail_len.max(initial=0))), np.int64)
        self.constants = np.zeros((n, max((len(t.constants) for t in templates), default=0)), np.uint64)
        J = max((len(t.ops) for t in templates), default=0)
        A = max((len(op[1]) for t in templates for op in t.ops), default=0)
        self.op_kind = np.full((n, J), -1, np.int64)
        self.op_arity = np.zeros((n, J), np.int64)
        self.op_codes = np.zeros((n, J, A), np.int64)
        self.op_at = np.zeros((n, J), np.int64)
        for i, t in enumerate(templates):
            self.tail[i, :len(t.tail)] = t.tail
            self.writes[i, :len(t.writes)] = t.writes
            self.output[i, :len(t.output)] = t.output
            self.constants[i, :len(t.constants)] = t.constants
            for j, (kind, codes, at) in enumerate(t.ops):
                self.op_kind[i, j], self.op_arity[i, j], self.op_at[i, j] = kind, len(codes), at
                self.op_codes[i, j, :len(codes)] = codes

    def extended(self, templates: Sequence[Template]) -> "Codebook":
        """This codebook with ``templates`` (the next indices) appended: only the new ones read, every field
        padded to the wider of the two (as one codebook of all of them pads it)."""
        new = Codebook(templates)
        for name, a in vars(self).items():
            if name == "count":
                continue
            b = getattr(new, name)
            shape = tuple(max(x, y) for x, y in zip(a.shape[1:], b.shape[1:]))
            fill = -1 if name == "op_kind" else 0  # an absent operation; every other field's padding is zero
            out = np.full((len(a) + len(b), *shape), fill, a.dtype)
            out[(slice(0, len(a)), *map(slice, a.shape[1:]))] = a
            out[(slice(len(a), None), *map(slice, b.shape[1:]))] = b
            setattr(new, name, out)
        new.count = self.count + len(templates)
        return new


_UNKNOWN = -2  # a (task, token) whose template is not looked up yet


class Templates:
    """The templates of every task's tokens, looked up once per (task, token) and compiled once per instruction
    (tasks bind most tokens alike), with their :class:`Codebook`. ``decoders[task]`` decodes a task's tokens."""

    def __init__(self, decoders: Sequence):
        self.decoders = decoders
        self._templates: dict[tuple[int, int], Template | None] = {}  # (task, token) -> template
        self._index = np.full((0, 0), _UNKNOWN, np.int64)  # [task, token] -> template index, -1 if impure
        self._by_instruction: dict = {}  # instruction -> template: compile once
        self._list: list[Template] = []  # every template, at its index
        self._book: Codebook | None = None

    def template(self, task: int, token: int) -> Template | None:
        """The template of ``token`` in ``task`` (None: not pure, or it does not decode)."""
        key = (task, token)
        if key not in self._templates:
            try:
                program = self.decoders[task]([token])
            except TasmError:
                program = Program(())
            self._templates[key] = self._of_instructions(program.instructions)
        return self._templates[key]

    def _of_instructions(self, what: tuple) -> Template | None:
        if what not in self._by_instruction:
            t = self._by_instruction[what] = Template.of(Program(what))
            if t is not None:
                t.index = len(self._list)
                self._list.append(t)
        return self._by_instruction[what]

    def _templates_of(self, task: int, tokens: list[int]) -> list[Template | None]:
        """The templates of a task's tokens (ids >= 1), decoded in one call (a vocabulary decodes token by token,
        one instruction each); token by token if that call raises or does not give one instruction a token."""
        try:
            instructions = self.decoders[task](tokens).instructions
        except TasmError:
            instructions = ()
        if len(instructions) != len(tokens):
            return [self.template(task, token) for token in tokens]
        found = [self._of_instructions((i,)) for i in instructions]
        self._templates.update(((task, token), t) for token, t in zip(tokens, found))
        return found

    def ids(self, tasks: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """Each (task, token)'s template index, -1 if it has none, from a [task, token] table (no per-row dict)."""
        need = (int(tasks.max(initial=-1)) + 1, int(tokens.max(initial=-1)) + 1)
        if need[0] > self._index.shape[0] or need[1] > self._index.shape[1]:
            grown = np.full(np.maximum(need, self._index.shape), _UNKNOWN, np.int64)
            grown[:self._index.shape[0], :self._index.shape[1]] = self._index
            self._index = grown
        found = self._index[tasks, tokens]
        unknown = found == _UNKNOWN
        if unknown.any():  # first visits: each task's new tokens decoded in one call
            width = self._index.shape[1]
            pairs = np.unique(tasks[unknown] * width + tokens[unknown])  # sorted: by task, then token
            task_of, token_of = pairs // width, pairs % width
            starts = np.flatnonzero(np.r_[True, task_of[1:] != task_of[:-1]]).tolist()
            for a, b in zip(starts, starts[1:] + [len(pairs)]):
                task, some = int(task_of[a]), token_of[a:b]
                self._index[task, some] = [-1 if t is None else t.index
                                           for t in self._templates_of(task, some.tolist())]
            found = self._index[tasks, tokens]
        return found

    @property
    def every(self) -> tuple[Template, ...]:
        """Every template so far, at its index."""
        return tuple(self._list)

    def codebook(self) -> Codebook:
        """Every template so far as padded arrays (rebuilt when a template was added)."""
        if self._book is None:
            self._book = Codebook(self._list)
        elif self._book.count != len(self._list):  # first visits added some: only those read
            self._book = self._book.extended(self._list[self._book.count:])
        return self._book
