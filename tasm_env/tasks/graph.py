"""A task's TIR as a graph for torch-geometric: one node per TIR node, typed data and order edges.

    from tasm_env.tasks.graph import task_graph, graph_batch, NODE_FEATURES, EDGE_TYPES
    data = task_graph(task)            # or task.graph; also accepts a TIR
    data.x                             # (num_nodes, NODE_FEATURES) float32, layout in FEATURE_NAMES
    data.edge_index, data.edge_type    # (2, E) and (E,) long; edge_type indexes EDGE_TYPES
    data.edge_result                   # (E,) long: which result of the source node a data edge carries
    batch = graph_batch(tasks)         # torch_geometric.data.Batch

**Node order** (stable): node i is ``tir.nodes[i]``, the block's inputs first in declaration order (deepest
first), then the TIR's nodes in program order. The value state's ``slot_nodes`` (:mod:`tasm_env.emission.values`)
are these indices.

**Edges.** A data edge runs from the node producing an argument to the node using it, typed by the argument's
position (``operand_0`` .. ``operand_4``, and ``operand_5+`` for the rest: ``hash`` has 10, the extension ops
6). ``data.edge_result`` says which result of the producer it carries (``split``'s hi or lo, a digest word),
0 for order edges. ``order`` edges chain the effect nodes (I/O, memory, assertions) in program order, since
their order is part of the meaning while the data edges do not fix it. With ``reverse=True`` (the default)
every edge also has a reverse twin of type ``rev_<type>``, so that messages flow both ways in one layer stack.

**Node features** (:data:`FEATURE_NAMES`, :data:`NODE_FEATURES` of them): op one-hot over ``tir.OPS``; the
value type of result 0 (field / u32 / bool); an input's declared type; constants (has one, a sign-aware log
magnitude ``ln(1 + min(c, p - c)) / 44.4``, negative, small, the low 4 bits of ``min(c, p - c)``); the count of
``read_io``/``divine``, numbers of arguments and results; an input's position (from the bottom and from the top
of the block's inputs); where a node's results go among the outputs (any, how many slots, deepest slot, depth
of the shallowest slot, which of results 0..4 are outputs); effect, may-crash, relative program position, and
number of uses. Positions and depths are divided by 16 (the reach of ``dup``); every feature lies in [0, 1]
(counts and positions saturate).

torch and torch-geometric are imported only when a graph is built, so ``import tasm_env`` stays fast.
"""

from __future__ import annotations

import math
import warnings
from functools import lru_cache
from typing import TYPE_CHECKING, Iterable

import numpy as np

from .. import isa
from ..field import P
from ..value_types import INPUT_TYPES
from .tir import OPS, TIR, VALUE_TYPES, Ref

if TYPE_CHECKING:  # imported lazily at run time
    from torch_geometric.data import Batch, Data

    from .task import Task

OP_NAMES: tuple[str, ...] = tuple(OPS)
MAX_OPERAND_TYPE = 5
"""Arguments at position 5 and beyond share one edge type."""
_FORWARD = tuple(f"operand_{j}" for j in range(MAX_OPERAND_TYPE)) + (f"operand_{MAX_OPERAND_TYPE}+", "order")
EDGE_TYPES: tuple[str, ...] = _FORWARD + tuple(f"rev_{name}" for name in _FORWARD)
"""Edge type names; ``data.edge_type`` indexes this tuple. Reverse twins are ``len(_FORWARD)`` further on."""
ORDER_EDGE = EDGE_TYPES.index("order")
REVERSE_OFFSET = len(_FORWARD)

CRASHING_OPS = frozenset(op for op in OPS if op in isa.CRASHING)  # TIR ops named as the instruction
"""Ops that can crash on some values (or on running out of input)."""
_SCALE = 16.0  # positions and depths: `dup`/`swap` reach 16 slots
_LOG_SCALE = 44.4  # ln(2^64) ~ 44.4, so log magnitudes land in [0, 1]
_SMALL = 16  # |c| <= 16 counts as a small constant
_OUTPUT_RESULTS = 5  # per-result output flags for results 0..4

FEATURE_NAMES: tuple[str, ...] = (
    *(f"op={name}" for name in OP_NAMES),
    *(f"type={t}" for t in VALUE_TYPES),
    *(f"declared={t}" for t in INPUT_TYPES),
    "const", "const_log_magnitude", "const_negative", "const_small", *(f"const_bit{b}" for b in range(4)),
    "count", "n_args", "n_results",
    "input_position", "input_depth",
    "output", "output_slots", "output_position", "output_depth", *(f"output_result{r}" for r in range(_OUTPUT_RESULTS)),
    "effect", "may_crash", "program_position", "uses",
)
"""The meaning of each column of ``data.x``."""
NODE_FEATURES = len(FEATURE_NAMES)
_COLUMN = {name: i for i, name in enumerate(FEATURE_NAMES)}


# ------------------------------------------------------------------------------------- numpy arrays


def _constant_features(row: np.ndarray, value: int) -> None:
    """Constants near p are small negatives (``push -1``): describe the signed magnitude."""
    magnitude = min(value, P - value)
    row[_COLUMN["const"]] = 1.0
    row[_COLUMN["const_log_magnitude"]] = math.log1p(magnitude) / _LOG_SCALE
    row[_COLUMN["const_negative"]] = float(value > P - value)
    row[_COLUMN["const_small"]] = float(magnitude <= _SMALL)
    for b in range(4):
        row[_COLUMN[f"const_bit{b}"]] = float((magnitude >> b) & 1)


def _output_features(tir: TIR, x: np.ndarray) -> None:
    n_out = len(tir.outputs)
    slots: dict[int, list[int]] = {}
    for slot, ref in enumerate(tir.outputs):
        slots.setdefault(ref.node, []).append(slot)
        if ref.index < _OUTPUT_RESULTS:
            x[ref.node, _COLUMN[f"output_result{ref.index}"]] = 1.0
    for node, fed in slots.items():
        x[node, _COLUMN["output"]] = 1.0
        x[node, _COLUMN["output_slots"]] = len(fed) / 4.0
        x[node, _COLUMN["output_position"]] = min(fed) / _SCALE  # deepest slot, counted from the bottom
        x[node, _COLUMN["output_depth"]] = (n_out - 1 - max(fed)) / _SCALE  # shallowest slot, from the top


def _node_features(tir: TIR) -> np.ndarray:
    n, k = len(tir.nodes), len(tir.inputs)
    x = np.zeros((n, NODE_FEATURES), dtype=np.float32)
    uses = np.zeros(n, dtype=np.float32)
    for node in tir.nodes:
        for ref in node.args:
            uses[ref.node] += 1
    for ref in tir.outputs:
        uses[ref.node] += 1
    for i, node in enumerate(tir.nodes):
        row = x[i]
        row[_COLUMN[f"op={node.op}"]] = 1.0
        if node.n_results():
            row[_COLUMN[f"type={tir.type_of(Ref(i, 0))}"]] = 1.0
        if node.op == "input":
            row[_COLUMN[f"declared={tir.inputs[node.attr]}"]] = 1.0
            row[_COLUMN["input_position"]] = node.attr / _SCALE
            row[_COLUMN["input_depth"]] = (k - 1 - node.attr) / _SCALE
        elif node.op == "const":
            _constant_features(row, node.attr)
        elif node.spec.attr == "count":
            row[_COLUMN["count"]] = node.attr / 5.0
        row[_COLUMN["n_args"]] = len(node.args) / 10.0
        row[_COLUMN["n_results"]] = node.n_results() / 5.0
        row[_COLUMN["effect"]] = float(node.spec.effect)
        row[_COLUMN["may_crash"]] = float(node.op in CRASHING_OPS)
        row[_COLUMN["program_position"]] = i / max(1, n - 1)
        row[_COLUMN["uses"]] = uses[i] / 4.0
    _output_features(tir, x)
    np.clip(x, 0.0, 1.0, out=x)  # counts and positions saturate (more than 16 inputs, a node used 5 times)
    return x


def _edges(tir: TIR, reverse: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(edge_index (2, E), edge_type (E,), edge_result (E,)) as int64 arrays."""
    src: list[int] = []
    dst: list[int] = []
    kind: list[int] = []
    result: list[int] = []
    for i, node in enumerate(tir.nodes):
        for j, ref in enumerate(node.args):
            src.append(ref.node)
            dst.append(i)
            kind.append(min(j, MAX_OPERAND_TYPE))
            result.append(ref.index)
    effects = [i for i, node in enumerate(tir.nodes) if node.spec.effect]
    for a, b in zip(effects, effects[1:]):
        src.append(a)
        dst.append(b)
        kind.append(ORDER_EDGE)
        result.append(0)
    if reverse:
        src, dst = src + dst, dst + src
        kind = kind + [t + REVERSE_OFFSET for t in kind]
        result = result + result
    index = np.array([src, dst], dtype=np.int64).reshape(2, -1)
    return index, np.array(kind, dtype=np.int64), np.array(result, dtype=np.int64)


@lru_cache(maxsize=1 << 12)
def graph_arrays(tir: TIR, reverse: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, edge_index, edge_type, edge_result) as numpy arrays (cached per TIR; treat them as read-only)."""
    x = _node_features(tir)
    index, kind, result = _edges(tir, reverse)
    for array in (x, index, kind, result):
        array.setflags(write=False)
    return x, index, kind, result


# ---------------------------------------------------------------------------------- torch-geometric


def _pyg():
    """torch and torch_geometric.data, imported on first use; torch-geometric's import-time
    DeprecationWarnings (from torch.jit) are silenced here only, never turned into errors."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import torch_geometric.data as pyg_data
    return torch, pyg_data


def _tir_of(task_or_tir) -> TIR:
    if isinstance(task_or_tir, TIR):
        return task_or_tir
    tir = getattr(task_or_tir, "tir", None)
    if not isinstance(tir, TIR):
        raise TypeError(f"expected a Task or a TIR, got {type(task_or_tir).__name__}")
    return tir


def task_graph(task_or_tir: "Task | TIR", reverse: bool = True) -> "Data":
    """The task's TIR as a ``torch_geometric.data.Data`` with ``x`` (float32, ``NODE_FEATURES`` columns),
    ``edge_index`` (long, (2, E)), ``edge_type`` and ``edge_result`` (long, (E,)) and ``num_nodes``.
    ``reverse=False`` leaves out the reverse twin of every edge."""
    torch, pyg_data = _pyg()
    x, index, kind, result = graph_arrays(_tir_of(task_or_tir), reverse)
    return pyg_data.Data(
        x=torch.tensor(x),  # copies: the cached arrays stay untouched whatever callers do to the tensors
        edge_index=torch.tensor(index),
        edge_type=torch.tensor(kind),
        edge_result=torch.tensor(result),
        num_nodes=x.shape[0],
    )


def graph_batch(tasks: Iterable["Task | TIR"], reverse: bool = True) -> "Batch":
    """Many task graphs as one ``torch_geometric.data.Batch`` (``batch.batch`` maps nodes to graphs)."""
    _, pyg_data = _pyg()
    graphs = [task_graph(t, reverse) for t in tasks]
    if not graphs:
        raise ValueError("graph_batch needs at least one task")
    return pyg_data.Batch.from_data_list(graphs)
