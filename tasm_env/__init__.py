"""tasm-env: learning to write cheaper Triton VM assembly.

The public names (see ``docs/`` and the design card) are re-exported here::

    import tasm_env as te
    prog = te.Program.parse("push 7 push 3 lt")
    ex = te.run(prog)
"""

from .asm import Instruction, Program
from .cost import TableHeights
from .errors import BatchError, ConditionError, ConfigError, InputError, ParseError, TaskError, TasmError, VMError
from .field import P
from .tasks import TIR, Task
from .tasks.search import optimize
from .tasks.suite import Suite, load_suite
from .verify import Counterexample, Verdict, verify, verify_many
from .vm import Execution, run
from .envs import register_envs as _register_envs
from .moved import MOVED as _MOVED, alias_moved as _alias_moved

_alias_moved(_MOVED)  # renamed modules' old import paths keep working, with a DeprecationWarning

_register_envs()  # gymnasium.make("tasm_env/TasmEmit-v0"); the env modules (torch) load on first use

__version__ = "0.1.0"

__all__ = [
    "BatchError", "ConditionError", "ConfigError", "Execution", "InputError", "Instruction", "P", "ParseError", "Program",
    "TableHeights", "TaskError", "TasmError", "VMError", "run", "Counterexample", "Verdict", "verify", "verify_many",
    "Suite", "TIR", "Task", "load_suite", "optimize",
]
