"""Tasks: typed dataflow programs (TIR), the classical compiler's baselines, generators, suites and optima."""

from .task import Optimum, Task
from .tir import OPS, TIR, Node, Ref

__all__ = ["OPS", "Node", "Optimum", "Ref", "TIR", "Task"]
