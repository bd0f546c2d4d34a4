"""tasm-env: learning to write cheaper Triton VM assembly.

The public names (see ``docs/`` and the design card) are re-exported here::

    import tasm_env as te
    prog = te.Program.parse("push 7 push 3 lt")
    ex = te.run(prog)
"""

from .asm import Instruction, Program
from .errors import BatchError, ParseError, TaskError, TasmError, VMError
from .field import P

__version__ = "0.1.0"

__all__ = [
    "BatchError", "Instruction", "P", "ParseError", "Program", "TaskError", "TasmError", "VMError",
]
