"""Hand-written classic TASM blocks: the ``tasm-idioms-v1`` suite.

Each idiom is written the way a straightforward compiler or a first-draft human would write it (correct,
not clever). Inputs are listed as they lie on the stack, deepest first; a block replaces its inputs with its
outputs. The suite's tasks are made with :meth:`Task.from_tasm`, so their graphs are extracted from the blocks.
"""

from __future__ import annotations

from typing import NamedTuple


class Idiom(NamedTuple):
    name: str
    inputs: tuple[str, ...]
    tasm: str
    what: str


IDIOMS: tuple[Idiom, ...] = (
    # keep-inputs arithmetic
    Idiom("add-keep", ("field", "field"), "dup 1 dup 1 add", "a b -> a b (a+b)"),
    Idiom("mul-keep", ("field", "field"), "dup 1 dup 1 mul", "a b -> a b (a*b)"),
    Idiom("mul-add-keep", ("field", "field", "field"), "dup 2 dup 2 mul dup 1 add", "a b c -> a b c (a*b+c)"),
    Idiom("sub", ("field", "field"), "push -1 mul add", "a b -> a-b"),
    Idiom("sub-reversed", ("field", "field"), "swap 1 push -1 mul add", "a b -> b-a"),
    Idiom("neg", ("field",), "push -1 mul", "a -> -a"),
    Idiom("double", ("field",), "dup 0 add", "a -> 2a"),
    Idiom("triple", ("field",), "dup 0 dup 0 add add", "a -> 3a"),
    # powers
    Idiom("square", ("field",), "dup 0 mul", "a -> a^2"),
    Idiom("square-keep", ("field",), "dup 0 dup 0 mul", "a -> a a^2"),
    Idiom("cube", ("field",), "dup 0 dup 0 mul mul", "a -> a^3"),
    Idiom("fourth-power", ("field",), "dup 0 dup 0 mul swap 1 dup 0 mul mul", "a -> a^4"),
    Idiom("poly-x2-3x-5", ("field",), "dup 0 dup 0 mul dup 1 push 3 mul add push 5 add swap 1 pop 1",
          "x -> x^2 + 3x + 5"),
    Idiom("pow2", ("u32",), "push 2 pow", "e -> 2^e"),
    # selection and comparison
    Idiom("select", ("bool", "field", "field"),
          "dup 1 dup 1 push -1 mul add dup 3 mul add swap 2 pop 2", "c a b -> (c ? a : b)"),
    Idiom("is-zero", ("field",), "push 0 eq", "x -> (x == 0)"),
    Idiom("eq-keep", ("field", "field"), "dup 1 dup 1 eq", "a b -> a b (a == b)"),
    Idiom("lt", ("u32", "u32"), "swap 1 lt", "a b -> (a < b)"),
    Idiom("gt", ("u32", "u32"), "dup 0 dup 2 swap 1 lt swap 2 pop 2", "a b -> (a > b)"),
    Idiom("le", ("u32", "u32"), "lt push -1 mul push 1 add", "a b -> (a <= b)"),
    Idiom("max-flag", ("u32", "u32"), "dup 1 dup 1 lt", "a b -> a b (a > b)"),
    # u32 arithmetic
    Idiom("u64-add", ("u32", "u32", "u32", "u32"),
          "pick 2 add split place 3 add add split swap 1 pop 1 swap 1",
          "a_hi a_lo b_hi b_lo -> (a+b)_hi (a+b)_lo, wrapping at 2^64"),
    Idiom("split-lo", ("field",), "split swap 1 pop 1", "x -> low 32 bits"),
    Idiom("split-hi", ("field",), "split pop 1", "x -> high 32 bits"),
    Idiom("mask-byte", ("u32",), "push 255 and", "x -> x & 255"),
    Idiom("div-mod-10", ("u32",), "push 10 swap 1 div_mod", "x -> x div 10, x mod 10"),
    Idiom("mod-by", ("u32", "u32_nonzero"), "swap 1 div_mod swap 1 pop 1", "x d -> x mod d"),
    Idiom("log2", ("u32_nonzero",), "log_2_floor", "x -> floor(log2 x)"),
    Idiom("xor-and", ("u32", "u32"), "dup 1 dup 1 xor swap 2 and", "a b -> (a xor b) (a and b)"),
    # dot products and polynomials
    Idiom("dot2", ("field",) * 4, "dup 3 dup 2 mul dup 3 dup 2 mul add swap 4 pop 4",
          "a0 a1 b0 b1 -> a0*b0 + a1*b1"),
    Idiom("horner-2", ("field", "field", "field", "field"),
          "dup 3 dup 1 mul dup 2 add dup 4 mul dup 3 add swap 4 pop 4",
          "x c0 c1 c2 -> (c2*x + c1)*x + c0"),
    # extension field
    Idiom("xfe-mul", ("field",) * 6, "xx_mul", "a b -> a*b in F_p^3"),
    Idiom("xfe-square", ("field",) * 3, "dup 2 dup 2 dup 2 xx_mul", "a -> a^2 in F_p^3"),
    Idiom("xfe-scale", ("field",) * 4, "xb_mul", "a s -> s*a"),
    # hashing
    Idiom("hash-first-word", ("field",) * 10, "hash swap 4 pop 4", "x_0..x_9 -> digest[0]"),
    Idiom("hash-pair", ("field", "field"),
          "push 0 push 0 push 0 push 0 push 0 push 0 push 0 push 0 pick 9 pick 9 hash",
          "a b -> digest of (b, a, 0, ..., 0)"),
    # memory and I/O
    Idiom("store", ("field", "field"), "write_mem 1 pop 1", "v p -> (RAM[p] = v)"),
    Idiom("load-2", ("field",), "read_mem 2 pop 1", "p -> RAM[p] RAM[p-1]"),
    Idiom("increment-cell", ("field",), "dup 0 read_mem 1 pop 1 addi 1 swap 1 write_mem 1 pop 1",
          "p -> (RAM[p] += 1)"),
    Idiom("io-sum", (), "read_io 2 add write_io 1", "read a, b; write a + b"),
    Idiom("io-square", (), "read_io 1 dup 0 mul write_io 1", "read a; write a^2"),
    Idiom("secret-times-input", ("field",), "divine 1 mul", "x -> x * (secret token)"),
)
