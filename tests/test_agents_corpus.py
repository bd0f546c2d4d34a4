"""The stage-1 corpus (agents.corpus): every program re-verifies from the file, no duplicates, no suite task,
the cache is reused, an interrupted build leaves no corrupt cache and resumes, and stage 1 trains on it."""

import gzip
import json
from dataclasses import replace

import pytest
import torch

import agents.corpus as corpus_module
from agents import corpus_shard
from agents.corpus import CorpusSettings, load_corpus
from agents.corpus_shard import ShardJob, build_shard, leaks, suite_identities, task_identity
from agents.pretrain import legal_under_masks
from tasm_env.asm import Program
from tasm_env.envs.gfn import TasmGFNEnv
from tasm_env.tasks.task import Task
from tasm_env.verify import Verifier

SUITES = ("tasm-basic-v1", "tasm-idioms-v1")
TINY = CorpusSettings(programs=16, shard_tasks=2, tiers=("easy", "medium"), tier_weights=(1, 1),
                      search_seconds=60.0, node_limit=20_000, variants=3, variant_seconds=60.0)
# the node and work limits stop the work; the seconds are only safety nets, wide so that a loaded machine (CI)
# builds the same corpus


class Counting:
    """A ``build_shard`` for ``load_corpus``: counts the shards built, optionally fails at one."""

    def __init__(self, fail_at: int | None = None):
        self.calls, self.fail_at = 0, fail_at

    def __call__(self, job):
        self.calls += 1
        if self.fail_at is not None and self.calls == self.fail_at:
            raise KeyboardInterrupt("killed mid-build")
        return corpus_shard.build_shard(job)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    return load_corpus(TINY, cache_dir=folder, jobs=1, progress=False), folder


def _rows(path):
    with gzip.open(path, "rt", encoding="utf-8") as text:
        header, *rows = [json.loads(line) for line in text]
    return header, rows


def test_every_program_in_the_file_verifies_against_its_baseline_and_passes_the_masks(built):
    corpus, _ = built
    assert len(corpus) >= TINY.programs
    header, rows = _rows(corpus.path)
    assert header["settings"] == TINY.to_json()
    tasks = [Task.from_json(r["task"]) for r in rows]
    assert {t.tier for t in tasks} == {"easy", "medium"}
    env = TasmGFNEnv(tasks=tasks, suite=None, masking=TINY.masking)
    examples, sources = [], set()
    for i, (task, row) in enumerate(zip(tasks, rows)):
        programs = [Program.parse(p["program"]) for p in row["programs"]]
        verifier = Verifier(task.baseline, task.inputs, n_tests=64, seed=31337 + i)  # tests the build never used
        assert all(v.ok for v in verifier.check(programs)), task.name
        for p, program in zip(row["programs"], programs):
            assert p["tokens"] == list(env.specs[i].bound.encode(program))  # the tokens the trainer forces
            examples.append((i, program))
            sources.add(p["source"])
    assert len(legal_under_masks(env, examples)) == len(examples) == len(corpus)
    assert sources == {"baseline", "optimum", "variant"}


def test_no_program_or_task_twice(built):
    corpus, _ = built
    for task, pairs in zip(corpus.tasks, corpus.programs):
        texts = [str(p) for _, p in pairs]
        assert len(texts) == len(set(texts)), task.name
    keys = [key for task in corpus.tasks for key in task_identity(task)]
    assert len(keys) == len(set(keys))
    # the situation the program dedup is for arises: the search is seeded with the cheapest variant and returns
    # it when it finds nothing cheaper, so without the dedup the texts above repeat (checked: the test goes red)
    # and the task dedup across shards: the same shard merged twice adds nothing the second time
    header, rows = _rows(sorted((built[1]).glob("*/shards/00000.jsonl.gz"))[0])
    merge = corpus_module.ShardMerge(10 ** 9)
    record = {**header, "tasks": rows}
    merge.add(record)
    first = merge.programs
    merge.add(record)
    assert merge.programs == first > 0 and merge.duplicates == len(rows)


def test_no_suite_task_leaks_in(built):
    taken = suite_identities(SUITES)
    assert not any(leaks(t, taken) for t in built[0].tasks)
    # the suite builder's own stream (tasm-basic's easy tier: seed 2026) regenerates suite tasks: all dropped
    job = ShardJob(0, "easy", 2026, 3, 0.1, 1000, 0, 0.1, "typed", SUITES)
    record = build_shard(job)
    assert record["counts"]["leaked"] == 3 and record["tasks"] == []


def test_the_cache_is_reused_and_grown(built):
    corpus, folder = built
    counting = Counting()
    again = load_corpus(TINY, cache_dir=folder, jobs=1, progress=False, build_shard=counting)
    assert counting.calls == 0 and not again.built
    assert [str(t.baseline) for t in again.tasks] == [str(t.baseline) for t in corpus.tasks]
    assert again.summary() == corpus.summary()
    shards = corpus.stats["shards"]
    bigger = load_corpus(replace(TINY, programs=len(corpus) + 1), cache_dir=folder, jobs=1, progress=False,
                         build_shard=counting)
    assert bigger.built and counting.calls >= 1  # only the new shards were built; the old ones were read
    assert bigger.stats["shards"] == shards + counting.calls
    other = load_corpus(TINY, cache_dir=folder, jobs=1, progress=False, build_shard=counting)
    assert not other.built and counting.calls == bigger.stats["built_shards"]


def test_an_interrupted_build_leaves_no_corrupt_cache_and_resumes(tmp_path):
    settings = replace(TINY, programs=12, tiers=("easy",), tier_weights=(1,))  # one shard holds at most 10
    killer = Counting(fail_at=2)
    with pytest.raises(KeyboardInterrupt):
        load_corpus(settings, cache_dir=tmp_path, jobs=1, progress=False, build_shard=killer)
    folder = tmp_path / settings.key()
    assert not list(folder.glob("corpus-*")) and not list(tmp_path.rglob("*.tmp"))
    assert [p.name for p in (folder / "shards").iterdir()] == ["00000.jsonl.gz"]
    resumed = Counting()
    corpus = load_corpus(settings, cache_dir=tmp_path, jobs=1, progress=False, build_shard=resumed)
    assert len(corpus) >= 12 and resumed.calls == corpus.stats["shards"] - 1  # shard 0 was not built again
    path = corpus.path
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])  # a torn file, say from a full disk
    with pytest.warns(UserWarning, match="unusable"):
        repaired = load_corpus(settings, cache_dir=tmp_path, jobs=1, progress=False, build_shard=resumed)
    assert resumed.calls == corpus.stats["shards"] - 1  # rebuilt from the shards, nothing searched again
    assert repaired.summary() == corpus.summary()


def test_stage1_trains_on_the_corpus(built, tmp_path, monkeypatch):
    from agents.checkpoint import read_checkpoint
    from agents.pipeline import run_stage1, split_tasks
    from tasm_env.tasks.suite import load_suite

    corpus, folder = built
    shards_before = {p: p.stat().st_mtime_ns for p in folder.rglob("*.jsonl.gz")}
    seen = {}
    real = corpus_module.Corpus.examples

    def examples(self, offset=0):
        seen["examples"] = real(self, offset)
        return seen["examples"]

    monkeypatch.setattr(corpus_module.Corpus, "examples", examples)
    path = run_stage1(tmp_path, tiers=("easy",), epochs=1, variants=0, extra=0, d_model=16, progress=False,
                      corpus=TINY, corpus_dir=folder, masking=TINY.masking)  # the masking it was built under
    meta = read_checkpoint(path).meta
    easy = corpus.summary()["by_tier"]["easy"]
    # the cached corpus, not a new build: no corpus or shard file was written
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*.jsonl.gz")} == shards_before
    assert meta["stage1_corpus"]["programs"] == easy["programs"] == len(seen["examples"])
    base = len(split_tasks(load_suite("tasm-basic-v1"), "train", ("easy",)))
    assert min(i for i, _ in seen["examples"]) == base  # the corpus's tasks follow the train split's in the env
    assert meta["corpus"] >= easy["programs"] + base  # plus at least the suite's train baselines


def test_a_default_build_is_the_cache_stage_1_reads():
    """`python -m agents.corpus` with no --masking must build the corpus `train --stage 1` looks for: the cache key
    includes the masking, and stage 1 checks the corpus under its own."""
    import inspect

    from agents.pipeline import run_stage1

    assert CorpusSettings().masking == inspect.signature(run_stage1).parameters["masking"].default


def test_stage1_with_init_fine_tunes_that_checkpoint(tmp_path):
    """``init``: the saved policy starts from the checkpoint's weights and config (a learning rate that
    barely moves them leaves them next to the init's, far from a fresh policy's)."""
    from agents.checkpoint import read_checkpoint
    from agents.pipeline import run_stage1

    first = run_stage1(tmp_path / "a", tiers=("easy",), epochs=1, variants=0, extra=0, d_model=16, progress=False,
                       seed=1)
    tuned = run_stage1(tmp_path / "b", tiers=("easy",), epochs=1, variants=0, extra=0, d_model=32, progress=False,
                       seed=2, lr=1e-9, init=first)
    fresh = run_stage1(tmp_path / "c", tiers=("easy",), epochs=1, variants=0, extra=0, d_model=16, progress=False,
                       seed=2, lr=1e-9)
    a, b, c = (read_checkpoint(p) for p in (first, tuned, fresh))
    assert b.meta["init"] == str(first) and b.meta["policy_config"] == a.meta["policy_config"]  # d_model 16
    start, after, other = (x.module_state("policy") for x in (a, b, c))
    assert start.keys() == after.keys()
    assert all(torch.allclose(start[k], after[k], atol=1e-5) for k in start)
    assert not all(torch.allclose(start[k], other[k], atol=1e-5) for k in start)
