"""Stage 1: the corpus holds only programs the masks allow (baselines, recorded optima, verified variants) and
maximum likelihood on it lowers the NLL."""

import torch

import tasm_env as te
from agents.policy import PolicyConfig, TasmPolicy
from agents.pretrain import (PretrainConfig, corpus_nll, legal_under_masks, pretrain, spellable,
                             training_corpus)
from tasm_env.envs.gfn import TasmGFNEnv

torch.set_num_threads(1)

SMALL = PolicyConfig(d_model=16, heads=2, gnn_layers=1, decoder_layers=1, d_ff=32, edge_dim=4)
TASKS = [t for t in te.load_suite("tasm-basic-v0").split("train") if t.tier == "easy"][:4]


def test_corpus_holds_baselines_and_optima_and_drops_what_the_masks_forbid():
    env = TasmGFNEnv(tasks=TASKS, suite=None, masking="typed")
    corpus = training_corpus(env, variants=0, progress=False)
    programs = {(i, str(p)) for i, p in corpus}
    for i, task in enumerate(TASKS):
        assert (i, str(task.baseline)) in programs
        if task.optimum is not None:  # in, unless unspellable or ruled out by the (conservative) typed mask
            legal = spellable(env, i, task.optimum.program) and bool(legal_under_masks(env, [(i, task.optimum.program)]))
            assert ((i, str(task.optimum.program)) in programs) == legal
    field_task = te.Task.from_tasm("add", ("field", "field"), name="add")
    tiny = TasmGFNEnv(tasks=[field_task], suite=None, masking="typed")
    u32_on_fields = te.Program.parse("lt")  # legal under "stack", not under "typed": the inputs are fields
    kept = legal_under_masks(tiny, [(0, field_task.baseline), (0, u32_on_fields)])
    assert kept == [(0, field_task.baseline)]
    loose = TasmGFNEnv(tasks=[field_task], suite=None, masking="stack")
    assert len(legal_under_masks(loose, [(0, field_task.baseline), (0, u32_on_fields)])) == 2


def test_maximum_likelihood_lowers_the_nll_and_keeps_the_best_epoch():
    env = TasmGFNEnv(tasks=TASKS, suite=None, masking="typed")
    corpus = training_corpus(env, variants=2, variant_seconds=1.0, progress=False)
    assert len(corpus) > len(TASKS)  # the variants joined the baselines
    torch.manual_seed(0)
    policy = TasmPolicy(env, SMALL)
    before = corpus_nll(policy, env, corpus)
    history = pretrain(policy, corpus, PretrainConfig(epochs=6, batch_size=8, lr=5e-3), progress=False)
    after = corpus_nll(policy, env, corpus)
    assert after < before
    assert abs(after - min(h["train_nll"] for h in history)) < 0.5  # the kept weights are a good epoch's


class _FakeClock:
    """time.monotonic for agents.pretrain: each reading advances the clock by ``tick`` seconds."""

    def __init__(self, tick: float):
        self.now, self.tick = 0.0, tick

    def monotonic(self) -> float:
        self.now += self.tick
        return self.now


def test_a_time_budget_anneals_the_learning_rate_and_checks_within_a_long_epoch(monkeypatch):
    """A corpus too large for one epoch in the budget: the run stops on time inside the epoch, the learning rate
    has annealed to its floor by then (it follows the time, not the unfinished epoch's steps), and the val NLL
    was measured within the epoch, not only at its end."""
    import agents.pretrain as pretrain_module

    env = TasmGFNEnv(tasks=TASKS, suite=None, masking="typed")
    corpus = training_corpus(env, variants=0, progress=False) * 40  # ~200 steps of batch 1: far more than the budget
    torch.manual_seed(0)
    policy = TasmPolicy(env, SMALL)
    monkeypatch.setattr(pretrain_module, "time", _FakeClock(tick=0.5))
    config = PretrainConfig(epochs=1, batch_size=1, lr=5e-3, minutes=0.5, checks=4)
    history = pretrain(policy, corpus, config, val_env=env, val_corpus=corpus[:4], progress=False)
    last = history[-1]
    assert last["epochs_done"] < 0.9  # stopped on time, inside the epoch
    assert len(history) >= 3  # checks within the epoch, besides the final one
    assert [h["epoch"] for h in history] == sorted(h["epoch"] for h in history)
    assert abs(last["lr"] - config.lr / 20) < 0.1 * config.lr  # annealed to the floor by the deadline
    assert history[0]["lr"] > last["lr"]
