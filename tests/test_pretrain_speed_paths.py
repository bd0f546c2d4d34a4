"""Stage 1's fast path (:class:`agents.teacher.TeacherData`: per-example inputs kept, only real states read out)
gives the reference's loss and gradients (:func:`agents.pretrain.sequence_nll`) on batches of real baselines."""

import random

import numpy as np
import pytest
import torch

import tasm_env as te
from agents.policy import PolicyConfig, TasmPolicy
from agents.pretrain import sequence_nll, training_corpus
from agents.teacher import TeacherData
from tasm_env.envs.gfn import TasmGFNEnv

torch.set_num_threads(1)

SMALL = PolicyConfig(d_model=16, heads=2, gnn_layers=1, decoder_layers=1, d_ff=32, edge_dim=4)
TASKS = [t for t in te.load_suite("tasm-basic-v1").split("train") if t.tier in ("easy", "medium")][:24]


@pytest.fixture(scope="module")
def setting():
    env = TasmGFNEnv(tasks=TASKS, suite=None, masking="dataflow")
    corpus = training_corpus(env, variants=0, progress=False)
    torch.manual_seed(0)
    return env, corpus, TasmPolicy(env, SMALL)


def _loss_and_grads(policy, compute):
    with policy.encoding_cache():
        policy.zero_grad()
        loss = compute()
        loss.backward()
    return loss.detach(), [p.grad.clone() for p in policy.parameters()]


def _batches(corpus, size=8, n=3):
    order = list(range(len(corpus)))
    random.Random(1).shuffle(order)
    return [order[k * size:(k + 1) * size] for k in range(n)]


def _assert_same(setting, data):
    env, corpus, policy = setting
    for batch in _batches(corpus):
        ref_loss, ref_grads = _loss_and_grads(policy, lambda: sequence_nll(policy, env, [corpus[i] for i in batch]))
        loss, grads = _loss_and_grads(policy, lambda: data.nll(policy, batch))
        torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=1e-6)
        for g, r in zip(grads, ref_grads):
            torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-6)


def test_the_fast_path_gives_the_reference_loss_and_gradients(setting):
    env, corpus, _ = setting
    data = TeacherData(env, corpus)
    data.prepare(range(0, len(corpus), 2))  # some kept ahead, in another order and chunk than the batches
    _assert_same(setting, data)
    _assert_same(setting, data)  # and again, from what is kept


def _broken(setting, edit):
    env, corpus, _ = setting
    data = TeacherData(env, corpus)
    data.prepare(range(len(corpus)))
    for i in range(len(corpus)):
        edit(data, i)
    return data


def test_a_dropped_mask_rule_is_caught(setting):
    """Every kept mask widened to all actions (the masks' rules dropped): the loss differs."""
    def widen(data, i):
        data._masks[i] = np.packbits(np.ones((len(data._masks[i]), setting[0].n_actions), bool), axis=1)
    with pytest.raises(AssertionError):
        _assert_same(setting, _broken(setting, widen))


def test_a_shifted_feature_is_caught(setting):
    """The kept features shifted by one state (each state reads its successor's slot nodes): the loss differs."""
    def shift(data, i):
        data._features[i] = np.roll(data._features[i], 1, axis=0)
    with pytest.raises(AssertionError):
        _assert_same(setting, _broken(setting, shift))
