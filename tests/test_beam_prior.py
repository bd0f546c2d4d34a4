"""The beam's cached prior (agents.beam_prior) carries each row's live depth from its parent (the parent's plus
the token's stack effect): at every depth of beams whose rows come from several parents, out of order, it is
the depth PolicyNetwork.depths sums over the whole prefix, for networks of several shapes. (That its
log-probabilities are the estimator call's is tests/test_agents_beam.py's.)"""

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
def test_the_carried_depth_is_the_one_summed_over_the_prefix(seed, layers, heads, width, task):
    env = TasmGFNEnv(tasks=TASKS, suite=None, masking="dataflow", max_len=7, value_state=True)
    torch.manual_seed(seed)  # untrained: its distributions differ from row to row, so the rows' order matters
    policy = TasmPolicy(env, PolicyConfig(d_model=16, heads=heads, gnn_layers=1, decoder_layers=layers, d_ff=32,
                                          edge_dim=4))
    cached = CachedPrior(policy, task)
    depths, parents_seen = [], []

    def follow(parents):
        parents_seen.append(parents.tolist())
        cached.follow(parents)

    def prior(state, scores, mask):
        log_probs = cached(state, mask)
        live = policy.module.depths(state.tokens[:, :int(state.length[0])], state.task)[:, -1]
        assert torch.equal(cached.depth, live), f"depth {int(state.length[0])}"
        depths.append(int(state.length[0]))
        return scores[:, None] + log_probs.to(torch.float64)

    list(search(env, task, width, prior, follow=follow))
    assert len(depths) >= 3
    if width >= 3:  # re-indexing is exercised: rows from several parents, not in order
        assert any(len(set(p)) >= 2 and p != list(range(len(p))) for p in parents_seen)
