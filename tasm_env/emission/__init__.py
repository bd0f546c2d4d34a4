"""The emission core: what an episode is, shared by both environments. One noun per module:

* :mod:`~tasm_env.emission.vocab`: the token vocabulary (EOS, instructions with arguments, constant slots);
* :mod:`~tasm_env.emission.reward`: rewards, costs, partial credit, schedules and the verifying reward model;
* :mod:`~tasm_env.emission.spec`: :class:`TaskSpec` (what the machines need to know about a task) and budgets;
* :mod:`~tasm_env.emission.state`: the masking levels, the row :class:`Layout` and :class:`EmissionState`;
* :mod:`~tasm_env.emission.reach`: reachability (can a prefix still be finished within its budget?);
* :mod:`~tasm_env.emission.tables`: the per-task-set tables, built once in numpy, and the rules that read them;
* :mod:`~tasm_env.emission.machine`: :class:`StackMachine`, the torch view of the tables over batches of rows;
* :mod:`~tasm_env.emission.row`: :class:`RowMachine`, the numpy view of the same tables for one episode.

Import from the modules (``from tasm_env.emission.machine import StackMachine``): this package imports none of
them, so ``tasm_env.emission.vocab`` loads without torch.
"""
