"""agents.rl.prior: the ``prior_logp`` observation is the fixed policy's next-token log-probabilities for the
episode's prefix at every step (its cached decoding against the uncached forward pass on the same states), the
prior policies' untrained logits are exactly prior / temperature + their plain logits, and their constructor
parameters survive sb3's save / load."""

import numpy as np
import pytest
import torch

import tasm_env as te

torch.set_num_threads(1)

TASK = te.Task.from_tasm("push 0 add mul", ("field", "field"), name="mul-after-add-0")
OTHER = te.Task.from_tasm("dup 0 pop 1 add", ("field", "field"), name="add-after-dup-pop")
SMALL = dict(d_model=16, heads=2, gnn_layers=1, decoder_layers=2, d_ff=32, edge_dim=4)


def _prior_policy(tasks):
    from agents.policy import PolicyConfig, TasmPolicy
    from tasm_env.envs.gfn import TasmGFNEnv

    torch.manual_seed(0)
    policy = TasmPolicy(TasmGFNEnv(tasks=list(tasks), suite=None, masking="dataflow"), PolicyConfig(**SMALL))
    for p in policy.parameters():  # larger weights than the init: distinct logits at every position
        p.data.mul_(3.0)
    return policy


def _env(masking="dataflow", tasks=(TASK, OTHER), lookahead=False):
    import gymnasium

    from agents.rl.features import TaskIndexObservation
    from agents.rl.prior import PretrainedPriorObservation

    extra = {"lookahead": True, "mask_lost": True} if lookahead else {}
    env = gymnasium.make("tasm_env/TasmEmit-v0", tasks=list(tasks), suite=None, masking=masking,
                         value_state=masking == "dataflow", include_graph=False, **extra).unwrapped
    return PretrainedPriorObservation(TaskIndexObservation(env, tokens_width=16), policy=_prior_policy(tasks))


def _expected(wrapper, task: int, tokens: list[int]) -> np.ndarray:
    """The fixed policy's log-probabilities (token order) after ``tokens``, by its uncached forward pass."""
    from agents.policy import pack_state
    from agents.rl.prior import LOGP_FLOOR

    gfn, net = wrapper.gfn, wrapper.net
    state = gfn.machine.initial(torch.tensor([task]))
    for token in tokens:
        state = gfn.machine.step(state, torch.tensor([token]))
    with torch.no_grad():
        out = net(pack_state(gfn, state), torch.tensor([task]))[0]  # action order: EOS last
    out = torch.cat([out[-1:], out[:-1]])
    return out.log_softmax(-1).clamp(min=LOGP_FLOOR).numpy()


@pytest.mark.parametrize("masking", ["dataflow", "stack"])
def test_prior_is_the_policy_on_the_current_prefix(masking):
    from agents.rl.prior import PRIOR_KEY

    env = _env(masking)
    rng = np.random.default_rng(1)
    checked = 0
    for episode in range(4):
        observation, _ = env.reset(seed=episode, options={"task": episode % 2})
        task, tokens = episode % 2, []
        while True:
            np.testing.assert_allclose(observation[PRIOR_KEY], _expected(env, task, tokens), atol=1e-4)
            checked += 1
            legal = np.flatnonzero(env.action_masks())
            non_eos = legal[legal != 0]
            action = int(rng.choice(non_eos)) if len(non_eos) and len(tokens) < 5 else int(legal[0])
            observation, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                break
            tokens.append(action)
    assert checked > 8


def _model(policy_class, env, **kwargs):
    from sb3_contrib import MaskablePPO

    from agents.rl.features import graph_policy_kwargs

    return MaskablePPO(policy_class, env, seed=0, n_steps=32, batch_size=16, verbose=0,
                       policy_kwargs={**graph_policy_kwargs(env.unwrapped.tasks, d_model=16, features_dim=32),
                                      **kwargs})


def _observations(env, n=6):
    """A few observations along one episode (several prefixes)."""
    observation, _ = env.reset(seed=0, options={"task": 0})
    observations = [observation]
    for _ in range(n - 1):
        legal = np.flatnonzero(env.action_masks())
        observation, _, terminated, truncated, _ = env.step(int(legal[-1]))
        if terminated or truncated:
            break
        observations.append(observation)
    return {k: torch.as_tensor(np.stack([o[k] for o in observations])) for k in observations[0]}


@pytest.mark.parametrize("lookahead", [False, True])
def test_untrained_logits_are_prior_plus_plain_logits(lookahead):
    from sb3_contrib.common.maskable.policies import MaskableMultiInputActorCriticPolicy

    from agents.rl.features import ActionScorePolicy
    from agents.rl.prior import PRIOR_KEY, PretrainedPriorActionScorePolicy, PretrainedPriorPolicy

    env = _env("dataflow", lookahead=lookahead)
    policy_class = PretrainedPriorActionScorePolicy if lookahead else PretrainedPriorPolicy
    plain_class = ActionScorePolicy if lookahead else MaskableMultiInputActorCriticPolicy
    model = _model(policy_class, env, pretrained_temperature=0.5)
    policy = model.policy
    batch, _ = policy.obs_to_tensor({k: v.numpy() for k, v in _observations(env).items()})
    prior = batch[PRIOR_KEY].float()
    assert len(prior) > 2 and not torch.allclose(prior[0], prior[1])  # the prefixes' priors differ
    with torch.no_grad():
        start = policy.get_distribution(batch).distribution.logits
        # at the start action_net is zero: the policy is the prior (times the gain prior with lookahead)
        plain = plain_class.action_logits(policy, policy.mlp_extractor.forward_actor(
            policy.extract_features(batch))) if lookahead else torch.zeros_like(prior)
        torch.testing.assert_close(start, (plain + prior / 0.5).log_softmax(-1), atol=1e-5, rtol=0)
        for p in policy.action_net.parameters():  # a trained-looking head: the prior is still added
            p.add_(torch.randn_like(p))
        logits = policy.get_distribution(batch).distribution.logits
        latent = policy.mlp_extractor.forward_actor(policy.extract_features(batch))
        plain = plain_class.action_logits(policy, latent) if lookahead else policy.action_net(latent)
    torch.testing.assert_close(logits, (plain + prior / 0.5).log_softmax(-1), atol=1e-5, rtol=0)
    assert not torch.allclose(logits, plain.log_softmax(-1), atol=1e-3)


@pytest.mark.parametrize("lookahead", [False, True])
def test_constructor_parameters_round_trip(tmp_path, lookahead):
    from sb3_contrib import MaskablePPO

    from agents.rl.prior import PretrainedPriorActionScorePolicy, PretrainedPriorPolicy

    env = _env("dataflow", lookahead=lookahead)
    policy_class = PretrainedPriorActionScorePolicy if lookahead else PretrainedPriorPolicy
    extra = {"prior_temperature": 0.07} if lookahead else {}
    model = _model(policy_class, env, pretrained_temperature=0.3, **extra)
    model.save(tmp_path / "model.zip")
    loaded = MaskablePPO.load(tmp_path / "model.zip", env=env)
    assert type(loaded.policy) is policy_class
    assert loaded.policy.pretrained_temperature == 0.3
    if lookahead:
        assert loaded.policy.prior_temperature == 0.07
    # the policy on its own, as sb3's BasePolicy.save / load rebuild it: from its constructor parameters
    for p in model.policy.action_net.parameters():
        p.data.add_(torch.randn_like(p))
    rebuilt = policy_class(**model.policy._get_constructor_parameters())
    rebuilt.load_state_dict(model.policy.state_dict())
    assert rebuilt.pretrained_temperature == 0.3
    batch, _ = model.policy.obs_to_tensor({k: v.numpy() for k, v in _observations(env).items()})
    with torch.no_grad():
        expected = model.policy.get_distribution(batch).distribution.logits
        torch.testing.assert_close(rebuilt.get_distribution(batch).distribution.logits, expected)
        loaded.policy.load_state_dict(model.policy.state_dict())
        torch.testing.assert_close(loaded.policy.get_distribution(batch).distribution.logits, expected)


def test_prior_policy_needs_the_prior_observation():
    import gymnasium

    from agents.rl.features import TaskIndexObservation
    from agents.rl.prior import PretrainedPriorPolicy

    env = TaskIndexObservation(gymnasium.make("tasm_env/TasmEmit-v0", tasks=[TASK], suite=None, masking="dataflow",
                                              include_graph=False).unwrapped, tokens_width=16)
    with pytest.raises(ValueError, match="prior_logp"):
        _model(PretrainedPriorPolicy, env)
