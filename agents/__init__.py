"""Baseline agents for tasm-env: the graph-conditioned policy, GFlowNet training (TB, LPV, RTB and friends),
RL and search baselines, and evaluation. Installed with tasm-env; filled in by the agents work (issue 5)."""
