"""tasm_env.envs.lookahead: the per-action features equal a replay of each child, and the ``mask_lost`` rule is
sound (every baseline, recorded optimum and verified variant stays legal) and actually masks doomed children;
agents.rl.features.ActionScorePolicy starts neutral (or at its gain prior) and reads each action's own features."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tasm_env as te
from tasm_env.emission.vocab import EOS
from tasm_env.envs.gym import TasmEmitEnv
from tasm_env.envs.lookahead import ACTION_FEATURES
from tasm_env.envs.potential import progress_potential
from tasm_env.errors import TasmError
from tasm_env.testing import equivalent_pairs, known_good_programs

SUITE = te.load_suite("tasm-basic-v0")
TASKS = list(SUITE.train) + list(SUITE.val) + list(SUITE.test)
COLUMN = {name: i for i, name in enumerate(ACTION_FEATURES)}


def _env(tasks, **kw) -> TasmEmitEnv:
    return TasmEmitEnv(tasks=list(tasks), suite=None, masking="dataflow", include_graph=False, **kw)


FEW = TASKS[::30]  # the fast test's share of the suite; the slow one replays every task

def _replay_stays_legal(env: TasmEmitEnv, index: int, program) -> bool:
    """Replays ``program`` on task ``index``; asserts each token legal under ``mask_lost`` wherever it is under
    ``dataflow``. True if the whole program (and its EOS) was dataflow-legal, so the rule was checked on it."""
    spec = env.specs[index]
    try:
        tokens = spec.bound.encode(program)
    except TasmError:
        return False
    if len(tokens) > spec.budget:
        return False
    env.reset(options={"task": index})
    for position, token in enumerate(tokens + [EOS]):
        if not env.row.mask()[token]:
            return False
        assert env.action_masks()[token], (spec.name, str(program), position)
        if token != EOS:
            env.step(token)
    return True


def _baselines_and_optima_stay_legal(tasks):
    env = _env(tasks, mask_lost=True)
    covered = 0
    for index, task, program, kind in known_good_programs(tasks):
        legal = _replay_stays_legal(env, index, program)  # False only for a program the budget cannot spell
        assert legal or kind == "optimum", task.name
        covered += legal
    assert covered > len(tasks)  # optima were replayed too


def test_baselines_and_optima_of_some_tasks_stay_legal_under_mask_lost():
    _baselines_and_optima_stay_legal(FEW)


@pytest.mark.slow
def test_every_baseline_and_optimum_stays_legal_under_mask_lost():
    _baselines_and_optima_stay_legal(TASKS)


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(equivalent_pairs(task_strategy=st.sampled_from(TASKS[:60])))
def test_verified_variants_stay_legal_under_mask_lost(pair):
    task, _, variant, _ = pair
    _replay_stays_legal(_env([task], mask_lost=True), 0, variant)


def test_mask_lost_masks_doomed_children_and_only_them():
    """On random walks: every action the rule masks has a doomed child (``lost`` or a sponge the baseline
    lacks), every legal one does not, and the rule does cut something (sponge_init in a sponge-free task)."""
    env = _env(TASKS[:6], mask_lost=True, lookahead=True)
    rng = np.random.default_rng(0)
    cut = sponge_cut = 0
    sponge = int(np.flatnonzero(env.lookahead.starts_sponge)[0])
    for index in range(len(env.tasks)):
        obs, _ = env.reset(options={"task": index})
        for _ in range(12):
            plain, narrowed = env.row.mask(), env.action_masks()
            assert not (narrowed & ~plain).any()
            for a in np.flatnonzero(plain & ~narrowed):
                facts = env.values.facts(index, env.row.tokens.tolist() + [int(a)])
                assert facts.lost or (a == sponge and env.lookahead.sponge_free(index))
                cut += 1
            sponge_cut += bool(plain[sponge] and not narrowed[sponge])
            for a in np.flatnonzero(narrowed)[:8]:
                if a != EOS:
                    assert obs["action_features"][a, COLUMN["lost"]] == 0.0
            action = int(rng.choice(np.flatnonzero(narrowed)))
            obs, _, done, _, _ = env.step(action)
            if done:
                break
    assert cut and sponge_cut


def test_action_features_equal_a_replay_of_each_child():
    env = _env(TASKS[:3], lookahead=True)
    other = _env(TASKS[:3])
    rng = np.random.default_rng(1)
    for index, task in enumerate(env.tasks):
        phi, reach = progress_potential(task), progress_potential(task, shape=False)
        obs, _ = env.reset(options={"task": index})
        for _ in range(int(rng.integers(0, 6))):
            obs, _, done, _, _ = env.step(int(rng.choice(np.flatnonzero(env.action_masks()[1:])) + 1))
            assert not done
        prefix, features = env.row.tokens.tolist(), obs["action_features"]
        here = env.row.value_facts()
        mask = env.action_masks()
        assert np.array_equal(features[:, COLUMN["legal"]] == 1.0, mask)
        assert not features[~mask].any()
        held = set(here.slot_nodes[here.slot_nodes >= 0].tolist())
        for a in np.flatnonzero(mask):
            if a == EOS:
                continue
            other.reset(options={"task": index})
            for t in prefix + [int(a)]:
                other.step(t)
            facts, depth = other.row.value_facts(), other.row.depth
            row = features[a]
            assert row[COLUMN["gain"]] == pytest.approx(phi(facts, depth) - phi(here, env.row.depth), abs=1e-6)
            assert row[COLUMN["reach"]] == pytest.approx(reach(facts, depth) - reach(here, env.row.depth), abs=1e-6)
            assert row[COLUMN["matches"]] == float(facts.eos_ok)
            sponge = bool(env.lookahead.starts_sponge[a]) and env.lookahead.sponge_free(index)
            assert row[COLUMN["lost"]] == float(facts.lost or sponge)  # no mask_lost here: doomed ones are legal
            top = int(facts.slot_nodes[0])
            expected = top >= 0 and task.tir.nodes[top].op != "input" and top not in held \
                and bool(env.lookahead.needed_nodes(index)[top])
            assert row[COLUMN["needed"]] == float(expected)


def test_needed_nodes_are_the_outputs_and_their_ancestors():
    env = _env([te.Task.from_tasm("push 0 add mul", ("field", "field"), name="mul-after-add-0")], lookahead=True)
    nodes = env.tasks[0].tir.nodes
    needed = env.lookahead.needed_nodes(0)
    assert not any(needed[i] for i, n in enumerate(nodes) if n.op == "input")
    assert needed[env.tasks[0].tir.outputs[0].node]
    assert needed.sum() >= 2  # the add feeding the mul


def test_options_need_the_value_state_and_dataflow():
    with pytest.raises(TasmError, match="mask_lost"):
        TasmEmitEnv(tasks=TASKS[:1], suite=None, masking="typed", mask_lost=True, include_graph=False)
    with pytest.raises(TasmError, match="value_state"):
        TasmEmitEnv(tasks=TASKS[:1], suite=None, masking="typed", lookahead=True, value_state=False,
                    include_graph=False)


def test_action_score_policy_starts_neutral_and_reads_each_actions_own_features():
    from sb3_contrib import MaskablePPO

    from agents.rl.features import ActionScorePolicy, TaskIndexObservation, graph_policy_kwargs

    torch.set_num_threads(1)
    env = TaskIndexObservation(_env(TASKS[:2], lookahead=True, mask_lost=True), tokens_width=128)
    kwargs = {**graph_policy_kwargs(env.unwrapped.tasks, d_model=16, features_dim=32), "prior_temperature": None}
    model = MaskablePPO(ActionScorePolicy, env, seed=0, n_steps=8, batch_size=8, policy_kwargs=kwargs)
    assert any(p is model.policy.action_score[0].weight for g in model.policy.optimizer.param_groups
               for p in g["params"])  # the score is trained
    obs, _ = env.reset(options={"task": 0})
    batch, _ = model.policy.obs_to_tensor(obs)

    def logits(observation):
        with torch.no_grad():
            return model.policy.get_distribution(observation).distribution.logits[0]

    def plain(observation):
        with torch.no_grad():
            features = model.policy.extract_features(observation)
            return torch.log_softmax(model.policy.action_net(model.policy.mlp_extractor.forward_actor(features)), -1)[0]

    assert torch.allclose(logits(batch), plain(batch), atol=1e-6)  # neutral at the start
    torch.nn.init.ones_(model.policy.action_score[-1].weight)
    changed = {k: v.clone() for k, v in batch.items()}
    legal = np.flatnonzero(env.action_masks())
    a, b = int(legal[0]), int(legal[1])
    changed["action_features"][0, a] += 1.0
    before, after = logits(batch) - plain(batch), logits(changed) - plain(changed)
    shift = after - before
    shift = shift - shift[b]  # log-softmax normalisation is shared
    assert shift[a] > 0.01
    assert torch.allclose(shift[torch.arange(len(shift)) != a], torch.zeros(len(shift) - 1), atol=1e-5)


def test_action_score_policy_starts_at_the_gain_softmax():
    """By default the initial action distribution is exactly softmax(gain / T) over the legal actions: the score
    head and action_net start at zero, and the fixed prior reads the lookahead's ``gain`` column."""
    from sb3_contrib import MaskablePPO

    from agents.rl.features import DEFAULT_PRIOR_TEMPERATURE, ActionScorePolicy, TaskIndexObservation, graph_policy_kwargs

    torch.set_num_threads(1)
    env = TaskIndexObservation(_env(TASKS[:3], lookahead=True, mask_lost=True), tokens_width=128)
    kwargs = graph_policy_kwargs(env.unwrapped.tasks, d_model=16, features_dim=32)
    model = MaskablePPO(ActionScorePolicy, env, seed=0, n_steps=8, batch_size=8, policy_kwargs=kwargs)
    rng = np.random.default_rng(0)
    differs = 0  # states where gain and reach order the legal actions differently (so the column matters)
    for task in range(3):
        obs, _ = env.reset(options={"task": task})
        for _ in range(6):
            mask = env.action_masks()
            legal = np.flatnonzero(mask)
            gain = obs["action_features"][legal, COLUMN["gain"]].astype(np.float64)
            reach = obs["action_features"][legal, COLUMN["reach"]].astype(np.float64)
            differs += not np.allclose(gain, reach)
            expected = np.exp((gain - gain.max()) / DEFAULT_PRIOR_TEMPERATURE)
            expected /= expected.sum()
            batch, _ = model.policy.obs_to_tensor(obs)
            with torch.no_grad():
                probs = model.policy.get_distribution(batch, action_masks=mask[None]).distribution.probs[0].numpy()
            assert np.allclose(probs[legal], expected, atol=1e-6)
            assert probs[~mask].max(initial=0.0) < 1e-12
            obs, _, terminated, truncated, _ = env.step(int(rng.choice(legal, p=expected)))
            if terminated or truncated:
                break
    assert differs > 0
