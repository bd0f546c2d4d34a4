"""A batch of candidates as the verifier takes them in: the distinct ones, each as a :class:`Program` or, for
canonical text, just its instructions (most candidates are told apart by the static pass, which needs no
``Program`` object: :meth:`tasm_env.verify.Verifier.check` makes one only for a candidate that gets past it).
"""

from __future__ import annotations

from typing import Sequence

from .asm import Instruction, Program
from .asm_parse import parse, plain_blocks
from .errors import ParseError, TasmError


def as_program(program, role: str) -> Program:
    """``Program.coerce(program)``, a parse error naming the ``role`` (``baseline``, ``candidate``)."""
    try:
        return Program.coerce(program)
    except ParseError as err:
        raise ParseError(f"{role}: {err.message}", err.line, err.column) from None


def program_of(block: Program | tuple[Instruction, ...]) -> Program:
    """The Program of a block from :func:`distinct_blocks`."""
    return block if block.__class__ is Program else Program(block)


def distinct_blocks(candidates: Sequence) -> tuple[list, list[list[int]], dict[int, TasmError]]:
    """The distinct candidates, in order of first occurrence: ``blocks`` (each a Program, or the tuple of
    instructions of a canonical text, which :func:`program_of` turns into its Program), ``groups`` (the
    indices of the candidates that are each block) and the candidates that are no program (index -> error).

    Texts are told apart as texts and Programs as Programs, so two spellings of one program may be two
    blocks (the verifier merges them once it makes their Programs)."""
    blocks: list = []
    groups: list[list[int]] = []
    errors: dict[int, TasmError] = {}
    by_text: dict[str, int] = {}
    by_program: dict[Program, int] = {}
    texts: list[str] = []  # the distinct texts, in order; block k of text t is at text_block[t]
    text_block: list[int] = []
    for i, candidate in enumerate(candidates):
        if candidate.__class__ is str:
            k = by_text.get(candidate)
            if k is None:
                k = by_text[candidate] = len(blocks)
                texts.append(candidate)
                text_block.append(k)
                blocks.append(None)
                groups.append([i])
            else:
                groups[k].append(i)
            continue
        try:
            program = as_program(candidate, "candidate")
        except TasmError as err:
            errors[i] = err
            continue
        k = by_program.get(program)
        if k is None:
            by_program[program] = len(blocks)
            blocks.append(program)
            groups.append([i])
        else:
            groups[k].append(i)
    refused: list[int] = []
    for k, block in zip(text_block, plain_blocks(texts)):
        if block is None:
            refused.append(k)
        blocks[k] = block
    for k in refused:  # not canonical: the whole parser decides
        text = candidates[groups[k][0]]
        try:
            blocks[k] = parse(text)
        except ParseError as err:
            for i in groups[k]:
                errors[i] = ParseError(f"candidate: {err.message}", err.line, err.column)
    if refused and errors:
        keep = [k for k, block in enumerate(blocks) if block is not None]
        blocks, groups = [blocks[k] for k in keep], [groups[k] for k in keep]
    return blocks, groups, errors
