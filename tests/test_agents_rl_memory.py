"""The RL losses' memory (agents.rl.modules.prefix_outputs): the decoder runs once per sampled block, never once
per state over its whole prefix (that held O(B T^2) activations in the autograd graph: ~15 GB for 16 blocks of a
hard task, the OOM kill of the medium/hard pilot), and the outputs are the per-state network's."""

import pytest
import torch

import tasm_env as te
from agents.compare.interface import AgentContext, ScoringBudget
from agents.policy import PolicyConfig, PrefixDecoder, TasmPolicy
from agents.rl import AGENTS
from agents.rl.modules import prefix_outputs
from agents.rl.transitions import transitions
from agents.sampling import rollout
from tasm_env.envs.gfn import TasmGFNEnv

torch.set_num_threads(1)

SMALL = PolicyConfig(d_model=16, heads=2, gnn_layers=1, decoder_layers=1, d_ff=32, edge_dim=4).to_dict()
TASK = te.Task.from_tasm("push 0 add mul", ("field", "field"), name="mul-after-add-0")


def test_prefix_outputs_equal_the_per_state_network():
    env = TasmGFNEnv(tasks=[TASK], suite=None, masking="dataflow")
    torch.manual_seed(0)
    network = TasmPolicy(env, PolicyConfig.from_dict(SMALL)).module
    drawn = rollout_of(network, env, 6)
    td = transitions(drawn, torch.zeros(6))
    for part in (td, td["next"]):
        steps = part[td["valid"]]
        with torch.no_grad():
            expected = network(steps["packed"], steps["task"])
            got = prefix_outputs(network, steps["packed"], steps["task"], steps["episode"])
        finite = torch.isfinite(expected)
        assert torch.equal(finite, torch.isfinite(got))
        assert torch.allclose(expected[finite], got[finite], atol=1e-5)


def rollout_of(network, env, n):
    policy = TasmPolicy(env, network.config)
    policy.module.load_state_dict(network.state_dict())
    return rollout(policy, [0] * n, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("name", ["reinforce", "ppo"])
def test_one_update_runs_the_decoder_on_one_row_per_block(name, monkeypatch):
    rows = []
    original = PrefixDecoder.forward

    def spy(self, x, *args, **kwargs):
        rows.append(x.shape[0])
        return original(self, x, *args, **kwargs)

    agent = AGENTS[name](AgentContext(seed=0, options={"policy_config": SMALL, "ppo_epochs": 2}))
    n = 6
    proposals = agent.propose(TASK, n)
    steps = int((agent.pending.lengths + 1).sum())
    assert steps > n  # else the check below could not tell one row per block from one per state
    monkeypatch.setattr(PrefixDecoder, "forward", spy)
    agent.learn(TASK, ScoringBudget(TASK, 64).score(proposals))
    assert rows, "the update never ran the decoder"
    assert max(rows) <= n, f"the decoder ran on {max(rows)} rows for {n} blocks ({steps} states)"
