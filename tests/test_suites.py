"""Suites: the shipped ones are sound; bad suite and task files fail with a message naming the problem."""

import json

import numpy as np
import pytest

import tasm_env as te
from tasm_env.tasks.interpret import evaluate
from tasm_env.tasks.suite import SPLITS, Suite, available_suites, load_suite, save_suite
from tasm_env.tasks.task import Task
from tasm_env.verify import Verifier, make_tests
from tasm_env.vm import run

SHIPPED = available_suites()


def test_both_suites_ship():
    assert {"tasm-basic-v0", "tasm-idioms-v0"} <= set(SHIPPED)
    assert len(load_suite("tasm-basic-v0")) >= 200
    assert len(load_suite("tasm-idioms-v0")) >= 24


@pytest.mark.parametrize("name", SHIPPED)
def test_splits_are_disjoint_and_cover_every_task(name):
    suite = load_suite(name)
    seen = [t for split in SPLITS for t in suite.splits[split]]
    assert len(seen) == len(set(seen)) == len(suite)
    assert all(suite.splits[s] for s in SPLITS)


def _agrees_with_tir(task: Task, n_tests: int) -> None:
    """The baseline, run on the reference VM, does what the task's TIR says, on random typed inputs."""
    tests = Verifier(task.baseline, task.inputs, n_tests=n_tests, seed=7).tests.inputs
    k = len(task.inputs)
    for t in range(n_tests):
        stack = [int(v) for v in tests.stack[t]]
        public = [int(v) for v in tests.public_input[t]]
        secret = [int(v) for v in tests.secret_input[t]]
        seed = int(tests.ram_seed[t])
        ex = run(task.baseline, stack=stack[16:], floor=stack[:16], public_input=public, secret_input=secret,
                 ram_seed=seed)
        want = evaluate(task.tir, stack[len(stack) - k:], public_input=public, secret_input=secret, ram_seed=seed)
        context = stack[: len(stack) - k]
        assert ex.stack == tuple(context) + tuple(want.outputs), f"{task.name}: final stack, test {t}"
        assert ex.output == tuple(want.output), f"{task.name}: public output, test {t}"
        assert ex.public_input_consumed == want.public_consumed, task.name
        assert ex.secret_input_consumed == want.secret_consumed, task.name
        for address, value in want.ram.items():
            assert ex.ram.get(address, value) == value, f"{task.name}: RAM[{address}], test {t}"


@pytest.mark.parametrize("name", SHIPPED)
def test_every_baseline_does_what_its_tir_says(name):
    for task in load_suite(name):
        _agrees_with_tir(task, n_tests=4)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_recorded_optimum_verifies_and_is_no_longer(name):
    for task in load_suite(name):
        if task.optimum is None:
            continue
        assert task.optimum.cycles <= task.baseline_cycles, task.name
        assert len(task.optimum.program) == task.optimum.cycles, task.name
        verdict = te.verify(task, task.optimum.program, n_tests=40, seed=11)
        assert verdict.ok, f"{task.name}: {verdict.reason}"


@pytest.mark.parametrize("name", SHIPPED)
def test_recorded_costs_match_the_vm(name):
    from tasm_env.tasks.measure import baseline_cost

    for task in list(load_suite(name))[:40]:
        cycles, heights = baseline_cost(task)
        assert cycles == task.baseline_cycles == len(task.baseline)
        assert heights == task.baseline_heights


def _suite_file(tmp_path, mutate):
    data = json.loads(json.dumps(load_suite("tasm-idioms-v0").to_json()))
    mutate(data)
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("mutate, needle", [
    (lambda d: d["splits"]["val"].append(d["splits"]["train"][0]), "splits must be disjoint"),
    (lambda d: d["splits"]["train"].append("no-such-task"), "unknown task 'no-such-task'"),
    (lambda d: d["tasks"].append(dict(d["tasks"][0])), "duplicate task name"),
    (lambda d: d["tasks"][0].update(baseline="push"), "does not parse"),
    (lambda d: d["tasks"][0].update(inputs=["float"]), "unknown input type"),
    (lambda d: d["tasks"][0]["tir"]["nodes"].append({"op": "frobnicate"}), "unknown op 'frobnicate'"),
    (lambda d: d["tasks"][0].pop("baseline_cycles"), "malformed task entry"),
    (lambda d: d.pop("tasks"), "expected the keys"),
])
def test_bad_suite_files_say_what_is_wrong(tmp_path, mutate, needle):
    with pytest.raises(te.TaskError, match=needle) as info:
        load_suite(_suite_file(tmp_path, mutate))
    if "task" in needle or "parse" in needle or "op" in needle:
        assert "add-keep" in str(info.value) or "suite" in str(info.value)


def test_unknown_suite_name_lists_the_shipped_ones():
    with pytest.raises(te.TaskError, match="tasm-basic-v0"):
        load_suite("no-such-suite")


def test_save_and_load_round_trip(tmp_path):
    suite = load_suite("tasm-idioms-v0")
    save_suite(suite, tmp_path / "copy.json")
    again = load_suite(tmp_path / "copy.json")
    assert again.splits == suite.splits
    assert [t.to_json() for t in again] == [t.to_json() for t in suite]


def test_malformed_block_is_a_task_error_naming_the_task():
    with pytest.raises(te.TaskError, match="my-block"):
        te.Task.from_tasm("push 1 call f f: return", inputs=(), name="my-block")
    with pytest.raises(te.TaskError, match="my-block"):
        te.Task.from_tasm("dup 1 ad", inputs=("field", "field"), name="my-block")


# ---- recorded optima are re-verified at load time (issue 9 item 5)


def _idioms_with(tmp_path, change, file_format=None):
    data = json.loads(json.dumps(load_suite("tasm-idioms-v0").to_json()))
    if file_format is not None:
        data["format"] = file_format
    entry = next(t for t in data["tasks"] if t["name"] == "add-keep")
    change(entry)
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(data))
    return path


def test_a_forged_optimum_is_refused(tmp_path):
    path = _idioms_with(tmp_path, lambda t: t.update(optimum={"cycles": 1, "program": "push 0", "proved": True}))
    with pytest.raises(te.TaskError, match=r"add-keep.*push 0.*not equivalent"):
        load_suite(path)


def test_an_optimum_whose_length_is_not_its_claim_is_refused(tmp_path):
    def change(t):
        t["optimum"]["cycles"] = t["optimum"]["cycles"] - 1
    with pytest.raises(te.TaskError, match=r"add-keep.*claims"):
        load_suite(_idioms_with(tmp_path, change))


def test_a_proof_without_the_search_record_is_refused_in_a_new_file(tmp_path):
    def change(t):
        t["optimum"]["proved"] = True
        t["optimum"].pop("relative_to", None)
    with pytest.raises(te.TaskError, match=r"add-keep.*relative_to"):
        load_suite(_idioms_with(tmp_path, change, file_format=2))
    def claim_legacy(t):
        t["optimum"].update(proved=True, relative_to={"legacy": True})
    with pytest.raises(te.TaskError, match=r"add-keep.*relative_to"):
        load_suite(_idioms_with(tmp_path, claim_legacy, file_format=2))


def test_a_new_optimum_record_round_trips(tmp_path):
    from tasm_env.tasks.search import search, to_optimum

    suite = load_suite("tasm-idioms-v0")
    tasks = {n: (t.with_optimum(to_optimum(search(t, time_limit=5))) if n == "add-keep" else t.with_optimum(None))
             for n, t in suite.tasks.items()}
    fresh = Suite("mine-v1", 1, "", tasks, suite.splits)
    save_suite(fresh, tmp_path / "mine.json")
    assert json.loads((tmp_path / "mine.json").read_text())["format"] == 2
    again = load_suite(tmp_path / "mine.json")
    assert again["add-keep"].optimum.relative_to == tasks["add-keep"].optimum.relative_to
    assert not again["add-keep"].optimum.relative_to.legacy and again["add-keep"].optimal_cycles == 3


def test_the_v0_suites_load_with_legacy_records():
    for name in ("tasm-basic-v0", "tasm-idioms-v0"):
        suite = load_suite(name)
        proved = [t for t in suite if t.optimal_cycles is not None]
        assert proved and all(t.optimum.relative_to.legacy for t in proved)
        assert suite.superseded_by in (None, name.replace("-v0", "-v1"))


@pytest.mark.parametrize("bad", [None, 42, 3.5, ["tasm-basic-v0"]])
def test_load_suite_of_a_non_name_is_a_tasm_error(bad):
    with pytest.raises(te.TasmError, match="suite name or a path"):
        load_suite(bad)


def test_the_builder_writes_a_new_version_that_loads(tmp_path):
    from tasm_env.tasks.build import main as build

    assert build(["--suite", "tasm-idioms", "--version", "7", "--time-limit", "0.2", "--node-limit", "20000",
                  "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "tasm-idioms-v7.json").read_text())
    assert data["name"] == "tasm-idioms-v7" and data["version"] == 7 and data["format"] == 2
    suite = load_suite(tmp_path / "tasm-idioms-v7.json")
    assert [t.name for t in suite] == [t.name for t in load_suite("tasm-idioms-v0")]
    proved = [t for t in suite if t.optimal_cycles is not None]
    assert proved and all(not t.optimum.relative_to.legacy and t.optimum.relative_to.push for t in proved)
    with pytest.raises(SystemExit):
        build(["--suite", "tasm-nothing"])


def test_a_suite_with_a_newer_shipped_version_is_marked_superseded(monkeypatch):
    from tasm_env.tasks import suite as suite_module

    monkeypatch.setattr(suite_module, "available_suites",
                        lambda: ["tasm-basic-v0", "tasm-basic-v1", "tasm-basic-v10", "tasm-idioms-v0"])
    assert suite_module.successor("tasm-basic-v0") == "tasm-basic-v10"
    assert suite_module.successor("tasm-basic-v10") is None and suite_module.successor("tasm-idioms-v0") is None
    assert suite_module.successor("my-suite") is None


def test_an_optimum_that_cannot_be_checked_names_the_task(tmp_path):
    """A baseline the verifier refuses (here one that always crashes) is reported with the task's name."""
    path = _idioms_with(tmp_path, lambda t: t.update(baseline="push 0 invert"))
    with pytest.raises(te.TaskError, match=r"suite .*task 'add-keep'"):
        load_suite(path)
