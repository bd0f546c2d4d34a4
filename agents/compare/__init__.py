"""The comparison harness: every agent (GFlowNets, RL, search) behind one interface, under equal budgets of
programs the verifier scores, over several seeds, aggregated with rliable.

    from agents.compare.interface import RunUnit, run_unit
    record = run_unit(RunUnit(agent="random", seed=0, task="basic-easy-001", suite="tasm-basic-v1", budget=64))

The interface (:mod:`agents.compare.interface`) is the contract between agents and backends; see
``docs/comparison.md``. Importing this package imports nothing heavy."""
