"""The comparison harness: every agent (GFlowNets, RL, search) behind one interface, under equal budgets of
programs the verifier scores, over several seeds, aggregated with rliable.

    from agents.compare.interface import RunUnit, run_unit
    record = run_unit(RunUnit(agent="random", seed=0, task="basic-easy-001", suite="tasm-basic-v1", budget=64))

Modules: :mod:`~agents.compare.interface` (the Agent protocol, the budget, one unit: the contract between agents
and backends), :mod:`~agents.compare.registry` (the bundled agents by name), :mod:`~agents.compare.search`
(random, mcmc, exact, beam), :mod:`~agents.compare.gfn` (the GFlowNet objectives), :mod:`~agents.compare.distance`
(STOKE's correctness term), :mod:`~agents.compare.backends` (local process pool, Ray),
:mod:`~agents.compare.sweep` (results.json, resume, --check) and :mod:`~agents.compare.report` (rliable tables
and plots); see ``docs/comparison.md``. Importing this package imports nothing heavy."""
