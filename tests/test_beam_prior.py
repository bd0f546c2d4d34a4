"""The beam's cached prior (agents.beam_prior): its fused step (functional calls on the modules' tensors, the
task's constants computed once) gives the module path's floats bit for bit (PolicyNetwork.next_outputs), at every
depth of beams whose rows come from several parents, for networks of several shapes; and the live depth it
carries from parent to child is the one PolicyNetwork.depths sums over the prefix."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tasm_env as te
from agents.beam import CachedPrior, search
from agents.policy import PolicyConfig, TasmPolicy
from tasm_env.envs.gfn import TasmGFNEnv

torch.set_num_threads(1)

TASKS = [te.Task.from_tasm("push 3 mul dup 0 swap 1 pop 1", ("field", "field"), name="wasted-copy"),
         te.Task.from_tasm("dup 1 dup 1 add swap 2 mul", ("field", "field"), name="add-and-mul")]


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**16), layers=st.integers(1, 3), heads=st.sampled_from([1, 2, 4]),
       width=st.integers(1, 6), task=st.integers(0, len(TASKS) - 1))
def test_the_fused_step_is_the_module_path_bit_for_bit(seed, layers, heads, width, task):
    env = TasmGFNEnv(tasks=TASKS, suite=None, masking="dataflow", max_len=7, value_state=True)
    torch.manual_seed(seed)  # untrained: its distributions differ from row to row, so the rows' order matters
    policy = TasmPolicy(env, PolicyConfig(d_model=16, heads=heads, gnn_layers=1, decoder_layers=layers, d_ff=32,
                                          edge_dim=4))
    fused, module = CachedPrior(policy, task), CachedPrior(policy, task, fused=False)
    depths, parents_seen = [], []

    def follow(parents):
        parents_seen.append(parents.tolist())
        fused.follow(parents)
        module.follow(parents)

    def prior(state, scores, mask):
        got, want = fused(state, mask), module(state, mask)
        assert torch.equal(got, want), f"depth {int(state.length[0])}"
        live = policy.module.depths(state.tokens[:, :int(state.length[0])], state.task)[:, -1]
        assert torch.equal(fused.depth, live) and torch.equal(module.depth, live)
        depths.append(int(state.length[0]))
        return scores[:, None] + want.to(torch.float64)

    list(search(env, task, width, prior, follow=follow))
    assert len(depths) >= 3
    if width >= 3:  # re-indexing the caches is exercised: rows from several parents, not in order
        assert any(len(set(p)) >= 2 and p != list(range(len(p))) for p in parents_seen)
