"""agents.rl.features.GraphFeatures: gradients reach the graph encoder through sb3's minibatches (each distinct
task encoded once per batch, with gradients), the no-gradient cache of rollouts and ``predict`` encodes once and
is dropped when the encoder's weights change, and the stack / frontier summary reads the task graph."""

import numpy as np
import pytest
import torch

import tasm_env as te

torch.set_num_threads(1)

TASK = te.Task.from_tasm("push 0 add mul", ("field", "field"), name="mul-after-add-0")
OTHER = te.Task.from_tasm("dup 0 pop 1 add", ("field", "field"), name="add-after-dup-pop")


def _setup(tasks=(TASK,)):
    import gymnasium

    from agents.rl.features import GraphFeatures, TaskIndexObservation

    env = TaskIndexObservation(gymnasium.make("tasm_env/TasmEmit-v0", tasks=list(tasks), suite=None,
                                              masking="dataflow", include_graph=False).unwrapped, tokens_width=16)
    torch.manual_seed(0)
    return env, GraphFeatures(env.observation_space, list(tasks), d_model=16, features_dim=32)


def _batch(observations):
    return {k: torch.as_tensor(np.stack([np.asarray(o[k]) for o in observations]), dtype=torch.float32)
            for k in observations[0]}


def _count_encodes(extractor, monkeypatch) -> list:
    calls = []
    encode = extractor.graphs.encoder.forward

    def counted(*args, **kwargs):
        calls.append(1)
        return encode(*args, **kwargs)

    monkeypatch.setattr(extractor.graphs.encoder, "forward", counted)
    return calls


def test_gradients_reach_the_encoder_once_per_distinct_task(monkeypatch):
    env, extractor = _setup((TASK, OTHER))
    observations = []
    for task in (0, 1, 0, 1, 0):
        observation, _ = env.reset(seed=task, options={"task": task})
        observations.append(observation)
    extractor.train(True)
    calls = _count_encodes(extractor, monkeypatch)
    out = extractor(_batch(observations))
    assert len(calls) == 1  # one encoder pass over the batch's two distinct graphs
    out.square().sum().backward()
    grads = [p.grad for p in extractor.graphs.encoder.parameters()]
    assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0
    # the same minibatch again under gradients (the next epoch, after a step) is encoded again: a fresh
    # autograd graph on the current weights, not a cached one
    extractor(_batch(observations)).square().sum().backward()
    assert len(calls) == 2


def test_no_grad_cache_encodes_once_and_follows_the_weights(monkeypatch):
    env, extractor = _setup()
    observation, _ = env.reset(seed=0)
    batch = _batch([observation])
    extractor.train(False)
    calls = _count_encodes(extractor, monkeypatch)
    optimizer = torch.optim.SGD(extractor.parameters(), lr=0.5)
    with torch.no_grad():
        first = extractor(batch)
        extractor.train(False)  # sb3's predict switches to eval mode on every call: the cache stays
        assert torch.equal(extractor(batch), first) and len(calls) == 1
    extractor.train(True)  # an update, as sb3's train() does it
    extractor(batch).square().sum().backward()
    optimizer.step()
    assert len(calls) == 2
    extractor.train(False)
    with torch.no_grad():
        updated = extractor(batch)
    assert len(calls) == 3 and not torch.allclose(updated, first)
    extractor.graphs.load_state_dict({k: v + 0.05 for k, v in extractor.graphs.state_dict().items()})
    with torch.no_grad():
        loaded = extractor(batch)  # new weights loaded in eval mode: encoded afresh
    assert len(calls) == 4 and not torch.allclose(loaded, updated)
    extractor.train(True)
    assert torch.allclose(loaded, extractor(batch).detach())  # the cached value is the exact one


def test_stack_and_frontier_read_the_graph():
    env, extractor = _setup()
    observation, _ = env.reset(seed=0)
    task = torch.zeros(1, dtype=torch.long)
    memory = extractor.graphs.memory(task)
    nodes = memory.nodes[0]
    ops = [n.op for n in TASK.tir.nodes]
    held = torch.as_tensor(observation["slot_nodes"])[None]
    assert held[0, :2].tolist() == [1, 0]  # the two inputs
    on_stack, frontier = extractor.stack_and_frontier(task, held, memory)
    torch.testing.assert_close(on_stack[0], nodes[[0, 1]].mean(0))
    torch.testing.assert_close(frontier[0], nodes[ops.index("const")])  # only the constant can come next
    push = next(t for t in np.flatnonzero(env.action_masks()) if env.unwrapped.token_text(0, t) == "`push 0`")
    observation, *_ = env.step(int(push))
    held = torch.as_tensor(observation["slot_nodes"])[None]
    on_stack, frontier = extractor.stack_and_frontier(task, held, memory)
    torch.testing.assert_close(frontier[0], nodes[ops.index("add")])  # its arguments are on the stack now


@pytest.mark.parametrize("masking", ["stack", "dataflow"])
def test_features_have_the_declared_width(masking):
    import gymnasium

    from agents.rl.features import GraphFeatures, TaskIndexObservation

    env = TaskIndexObservation(gymnasium.make("tasm_env/TasmEmit-v0", tasks=[TASK], suite=None, masking=masking,
                                              include_graph=False).unwrapped)
    extractor = GraphFeatures(env.observation_space, [TASK], d_model=16, features_dim=24)
    observation, _ = env.reset(seed=0)
    assert extractor(_batch([observation, observation])).shape == (2, 24)
