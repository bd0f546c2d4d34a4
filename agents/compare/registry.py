"""The bundled agents of the comparison, registered by name (imported on first use of the registry)."""

from __future__ import annotations

import numpy as np

from .interface import AgentContext, register


class RandomLegal:
    """Placeholder random agent (the harness owner replaces it with the masked random legal agent)."""

    name = "random"

    def __init__(self, context: AgentContext):
        self.rng = np.random.default_rng(context.seed)

    def propose(self, task, n):
        from tasm_env.asm import Program

        base = str(Program.coerce(task.baseline)).split("\n")
        return ["\n".join(line for line in base if self.rng.random() > 0.1) or "push 0" for _ in range(n)]

    def learn(self, task, scored):
        pass


register("random", RandomLegal)
