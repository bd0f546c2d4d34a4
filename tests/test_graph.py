"""Task graphs for torch-geometric: shapes, dtypes, edges that mirror the TIR, batching, and a GNN smoke test."""

import subprocess
import sys
import warnings

import pytest
import torch

from tasm_env.field import P
from tasm_env.tasks.graph import (EDGE_TYPES, FEATURE_NAMES, NODE_FEATURES, ORDER_EDGE, REVERSE_OFFSET,
                                  graph_batch, task_graph)
from tasm_env.tasks.idioms import IDIOMS
from tasm_env.tasks.lift import lift
from tasm_env.tasks.tir import OPS, Ref

TIRS = [lift(i.tasm, i.inputs) for i in IDIOMS]


def column(name: str) -> int:
    return FEATURE_NAMES.index(name)


def forward(data):
    keep = data.edge_type < REVERSE_OFFSET
    return data.edge_index[:, keep], data.edge_type[keep], data.edge_result[keep]


@pytest.mark.parametrize("tir", TIRS, ids=[i.name for i in IDIOMS])
def test_shapes_and_dtypes(tir):
    data = task_graph(tir)
    assert data.num_nodes == len(tir.nodes)
    assert data.x.shape == (len(tir.nodes), NODE_FEATURES) and data.x.dtype == torch.float32
    assert data.edge_index.dtype == torch.long and data.edge_index.shape[0] == 2
    assert data.edge_type.dtype == torch.long and data.edge_type.shape == (data.edge_index.shape[1],)
    assert data.edge_result.shape == data.edge_type.shape
    assert ((data.edge_type >= 0) & (data.edge_type < len(EDGE_TYPES))).all()
    assert torch.isfinite(data.x).all() and (data.x >= 0).all() and (data.x <= 1).all()
    ops = data.x[:, :len(OPS)]
    assert (ops.sum(dim=1) == 1).all()  # exactly one op per node


@pytest.mark.parametrize("tir", TIRS, ids=[i.name for i in IDIOMS])
def test_one_data_edge_per_argument(tir):
    index, kind, result = forward(task_graph(tir))
    data_edges = kind != ORDER_EDGE
    expected = sorted((ref.node, i, min(j, 5), ref.index) for i, node in enumerate(tir.nodes)
                      for j, ref in enumerate(node.args))
    got = sorted(zip(index[0][data_edges].tolist(), index[1][data_edges].tolist(),
                     kind[data_edges].tolist(), result[data_edges].tolist()))
    assert got == expected


def test_reverse_edges_mirror_forward_ones():
    data = task_graph(lift("read_io 2 add write_io 1", ()))
    fwd = data.edge_type < REVERSE_OFFSET
    assert fwd.sum() * 2 == data.edge_type.numel()
    assert torch.equal(data.edge_index[:, ~fwd], data.edge_index[[1, 0]][:, fwd])
    assert torch.equal(data.edge_type[~fwd], data.edge_type[fwd] + REVERSE_OFFSET)
    plain = task_graph(lift("read_io 2 add write_io 1", ()), reverse=False)
    assert (plain.edge_type < REVERSE_OFFSET).all()


def test_order_edges_chain_effects_in_program_order():
    tir = lift("read_io 1 dup 0 write_io 1 push 1 eq assert divine 2 write_mem 1 pop 1", ())
    index, kind, _ = forward(task_graph(tir))
    chain = sorted(zip(index[0][kind == ORDER_EDGE].tolist(), index[1][kind == ORDER_EDGE].tolist()))
    effects = [i for i, node in enumerate(tir.nodes) if node.spec.effect]
    assert [tir.nodes[i].op for i in effects] == ["read_io", "write_io", "assert", "divine", "write_mem"]
    assert chain == list(zip(effects, effects[1:]))


def test_split_halves_are_told_apart():
    hi, lo = task_graph(lift("split pop 1", ("field",))), task_graph(lift("split swap 1 pop 1", ("field",)))
    assert not torch.equal(hi.x, lo.x)


def test_node_features():
    tir = lift("push -1 mul push 3 add", ("u32",))
    x = task_graph(tir).x
    const_minus_one = next(i for i, n in enumerate(tir.nodes) if n.op == "const" and n.attr == P - 1)
    const_three = next(i for i, n in enumerate(tir.nodes) if n.op == "const" and n.attr == 3)
    assert x[const_minus_one, column("const_negative")] == 1 and x[const_minus_one, column("const_small")] == 1
    assert x[const_minus_one, column("const_log_magnitude")] == pytest.approx(0.693147 / 44.4, rel=1e-5)
    assert x[const_three, column("const_bit0")] == 1 and x[const_three, column("const_bit1")] == 1
    assert x[0, column("declared=u32")] == 1 and x[0, column("type=u32")] == 1
    out = tir.outputs[0].node
    assert x[out, column("output")] == 1 and x[out, column("output_result0")] == 1


def test_accepts_tasks_and_rejects_other_things():
    import tasm_env as te

    task = te.Task.from_tasm("dup 1 dup 1 add", inputs=("field", "field"), name="add-keep")
    assert torch.equal(task.graph.x, task_graph(task.tir).x)
    with pytest.raises(TypeError):
        task_graph("dup 0")


def test_cached_arrays_are_not_shared_with_callers():
    tir = TIRS[0]
    task_graph(tir).x.add_(1)
    assert task_graph(tir).x.max() <= 1


def test_batching_many_graphs():
    batch = graph_batch(TIRS)
    assert batch.num_graphs == len(TIRS)
    assert batch.x.shape == (sum(len(t.nodes) for t in TIRS), NODE_FEATURES)
    assert batch.batch.shape == (batch.num_nodes,)
    assert int(batch.edge_index.max()) < batch.num_nodes
    with pytest.raises(ValueError):
        graph_batch([])


def test_gatv2_with_edge_type_embeddings_trains_on_a_batch():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from torch_geometric.nn import GATv2Conv, global_mean_pool
    torch.manual_seed(0)
    batch = graph_batch(TIRS[:8])
    edge_embedding = torch.nn.Embedding(len(EDGE_TYPES), 8)
    result_embedding = torch.nn.Embedding(5, 8)
    conv = GATv2Conv(NODE_FEATURES, 16, heads=2, edge_dim=8)
    edge_attr = edge_embedding(batch.edge_type) + result_embedding(batch.edge_result.clamp(max=4))
    h = conv(batch.x, batch.edge_index, edge_attr=edge_attr)
    assert h.shape == (batch.num_nodes, 32)
    loss = global_mean_pool(h, batch.batch).pow(2).mean()
    loss.backward()
    assert conv.lin_l.weight.grad is not None and edge_embedding.weight.grad.abs().sum() > 0


def test_importing_tasm_env_does_not_import_torch():
    code = "import sys, tasm_env, tasm_env.tasks.graph; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
