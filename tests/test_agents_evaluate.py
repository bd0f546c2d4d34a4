"""agents.evaluate: samples drawn by any agent -> verified per-task results, the summary table, curves, files,
the plot, and the GFlowNet distribution distance on tiny tasks."""

import json
import math
import os
import sys

import pytest
import torch
from gfn.gflownet import TBGFlowNet

import agents.evaluate as ev
import tasm_env as te
from agents.evaluate import EvaluationError, PlotsUnavailable, Report, TaskResult, evaluate_samples
from tasm_env.envs.gfn import TasmGFNEnv, logz_estimator, mlp_policy
from tasm_env.tasks.measure import program_cost

torch.set_num_threads(1)

TEST = te.load_suite("tasm-basic-v0").split("test")
# an easy task whose proven optimum beats the baseline, and medium / hard tasks without provable headroom
EASY = next(t for t in TEST if t.tier == "easy" and t.optimal_cycles is not None
            and t.optimal_cycles < t.baseline_cycles)
MEDIUM = next(t for t in TEST if t.tier == "medium")
HARD = next(t for t in TEST if t.tier == "hard")
GARBAGE = [None, "", "garbage xx", "push", 5, "foo: call foo", "pop 99"]


def with_last(program: te.Program, text: str) -> te.Program:
    """``program`` with its last instruction replaced by ``text``."""
    return te.Program(list(program)[:-1] + list(te.Program.parse(text)))


def wrong(task) -> te.Program:
    """The baseline with its last instruction swapped for another of the same arity: looks right, is not."""
    last = task.baseline.instructions[-1]
    return with_last(task.baseline, "mul" if last.name == "add" else "add")


def dearer(task) -> te.Program:
    """Equivalent to the baseline but two cycles dearer."""
    return te.Program(list(task.baseline) + list(te.Program.parse("push 0 pop 1")))


def score(task, samples) -> TaskResult:
    return evaluate_samples([task], [samples]).tasks[0]


# ------------------------------------------------------------------------------------------ per task


def test_the_baseline_is_valid_and_not_an_improvement():
    r = score(EASY, [EASY.baseline])
    assert (r.n_samples, r.n_valid, r.n_distinct_valid, r.best_cycles) == (1, 1, 1, EASY.baseline_cycles)
    assert not r.improved and not r.fallback and r.validity == 1.0
    assert r.relative_improvement == 0.0 and r.capture == 0.0
    assert r.best_after == (EASY.baseline_cycles,)


def test_the_proven_optimum_is_an_improvement_capturing_everything():
    r = score(EASY, [EASY.optimum.program])
    assert r.n_valid == 1 and r.improved and r.has_headroom
    assert r.best_cycles == EASY.optimum.cycles == r.optimum_cycles and r.optimum_proved
    assert r.capture == 1.0
    assert r.relative_improvement == pytest.approx((EASY.baseline_cycles - EASY.optimum.cycles)
                                                   / EASY.baseline_cycles)


def test_a_wrong_program_is_invalid_and_needs_the_fallback():
    assert not te.verify(EASY, wrong(EASY)).ok  # the premise: the verifier tells it apart
    r = score(EASY, [wrong(EASY)])
    assert r.n_valid == 0 and r.fallback and r.best_cycles is None and not r.improved
    assert r.capture == 0.0 and r.best_after == (EASY.baseline_cycles,)


def test_missing_and_garbage_samples_are_invalid_without_crashing():
    r = score(EASY, GARBAGE + [EASY.baseline])
    assert r.n_samples == len(GARBAGE) + 1 and r.n_valid == 1
    assert r.validity == pytest.approx(1 / (len(GARBAGE) + 1))
    none = score(MEDIUM, GARBAGE)
    assert none.n_valid == 0 and none.fallback and none.best_after == (MEDIUM.baseline_cycles,) * len(GARBAGE)


def test_text_and_program_of_one_program_are_one_distinct_program_costed_once(monkeypatch):
    calls = []
    real = ev.program_cost
    monkeypatch.setattr(ev, "program_cost", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    opt = EASY.optimum.program
    r = score(EASY, [opt, str(opt), EASY.baseline, str(EASY.baseline), opt])
    assert (r.n_valid, r.n_distinct_valid) == (5, 2)
    assert sorted(map(str, calls)) == sorted([str(opt), str(EASY.baseline)])


def test_a_dearer_equivalent_program_is_valid_but_the_build_keeps_the_baseline():
    r = score(EASY, [dearer(EASY)])
    assert r.n_valid == 1 and r.best_cycles == EASY.baseline_cycles + 2
    assert not r.improved and r.found_cycles == EASY.baseline_cycles
    assert r.relative_improvement == 0.0 and r.capture == 0.0 and r.best_after == (EASY.baseline_cycles,)


def test_best_after_never_rises_and_ends_at_the_best():
    order = [wrong(EASY), None, dearer(EASY), EASY.baseline, EASY.optimum.program, "garbage", EASY.baseline]
    r = score(EASY, order)
    assert len(r.best_after) == len(order)
    assert all(a >= b for a, b in zip(r.best_after, r.best_after[1:]))
    assert r.best_after[-1] == r.best_cycles == EASY.optimum.cycles
    first_optimum = order.index(EASY.optimum.program)
    assert set(r.best_after[:first_optimum]) == {EASY.baseline_cycles}


def test_beating_a_proven_optimum_warns_and_capture_stays_at_one():
    from tasm_env.tasks.task import Optimum

    claimed = EASY.with_optimum(Optimum(EASY.optimum.cycles + 1, dearer(EASY), proved=True))  # a wrong "proof"
    with pytest.warns(UserWarning, match="below the proven optimum"):
        r = score(claimed, [EASY.optimum.program])
    assert r.best_cycles < r.optimum_cycles and r.capture == 1.0


def test_mismatched_inputs_are_refused():
    with pytest.raises(EvaluationError, match="2 tasks but 1 sample"):
        evaluate_samples([EASY, MEDIUM], [[EASY.baseline]])
    with pytest.raises(EvaluationError, match="list of programs"):
        evaluate_samples([EASY], [str(EASY.baseline)])


# ---------------------------------------------------------------------------------- report and table


@pytest.fixture(scope="module")
def report() -> Report:
    """A small mix: easy solved after two draws, easy with only garbage, medium baseline among junk, hard
    dearer-only, and a medium task that drew fewer samples."""
    return evaluate_samples(
        [EASY, EASY, MEDIUM, HARD, MEDIUM],
        [[None, wrong(EASY), EASY.optimum.program, EASY.baseline],
         ["junk", None, None, None],
         [MEDIUM.baseline, wrong(MEDIUM), None, MEDIUM.baseline],
         [dearer(HARD), dearer(HARD), HARD.baseline, None],
         [MEDIUM.baseline]])


def _expected_row(results):
    """The summary row recomputed from the raw per-task counts."""
    def mean(values):
        return sum(values) / len(values) if values else None
    headroom = [r for r in results if r.optimum_proved and r.optimum_cycles < r.baseline_cycles]
    found = {id(r): r.baseline_cycles if r.best_cycles is None else min(r.best_cycles, r.baseline_cycles)
             for r in results}
    return {
        "tasks": len(results),
        "validity": mean([r.n_valid / r.n_samples for r in results]),
        "verified_share": mean([r.n_valid > 0 for r in results]),
        "fallback_share": mean([r.n_valid == 0 for r in results]),
        "improved_share": mean([r.best_cycles is not None and r.best_cycles < r.baseline_cycles for r in results]),
        "headroom_tasks": len(headroom),
        "headroom_improved_share": mean([r.best_cycles is not None and r.best_cycles < r.baseline_cycles
                                         for r in headroom]),
        "mean_capture": mean([(r.baseline_cycles - found[id(r)]) / (r.baseline_cycles - r.optimum_cycles)
                              for r in headroom]),
        "mean_relative_improvement": mean([(r.baseline_cycles - found[id(r)]) / r.baseline_cycles
                                           for r in results]),
        "mean_distinct_valid": mean([r.n_distinct_valid for r in results]),
    }


def test_the_summary_rows_are_the_means_over_their_tasks(report):
    rows = {row["group"]: row for row in report.summary()}
    assert list(rows) == ["all", "easy", "medium", "hard"]
    for group, row in rows.items():
        members = [r for r in report.tasks if group in ("all", r.tier)]
        for key, value in _expected_row(members).items():
            assert row[key] == pytest.approx(value), (group, key)
    # sanity of the mix itself, so the comparison above is not over trivial values
    assert rows["easy"]["improved_share"] == 0.5 and rows["easy"]["mean_capture"] == 0.5
    assert rows["hard"]["headroom_tasks"] == 0 and rows["hard"]["mean_capture"] is None
    assert 0 < rows["all"]["validity"] < 1 and rows["all"]["fallback_share"] == 0.2


def test_summary_without_tiers_and_unknown_grouping(report):
    assert [row["group"] for row in report.summary(by=None)] == ["all"]
    with pytest.raises(EvaluationError, match="tier"):
        report.summary(by="size")


def test_curves_average_best_after_and_carry_short_tasks(report):
    ks, relative = report.curve()
    assert ks == [1, 2, 3, 4]
    assert relative[-1] == pytest.approx(report.summary()[0]["mean_relative_improvement"])
    easy = report.tasks[0]
    gain_at_3 = (easy.baseline_cycles - easy.optimum_cycles) / easy.baseline_cycles
    assert relative[:2] == [0.0, 0.0] and relative[2] == pytest.approx(gain_at_3 / len(report.tasks))
    assert all(a <= b for a, b in zip(relative, relative[1:]))
    ks, captured = report.curve("capture")
    assert captured == pytest.approx([0.0, 0.0, 0.5, 0.5])  # two easy tasks with headroom, one solved at k=3
    with pytest.raises(EvaluationError, match="no task"):
        report.curve("capture", tier="hard")
    with pytest.raises(EvaluationError, match="metric"):
        report.curve("speed")


def test_text_and_markdown_tables_have_a_row_per_group(report):
    text = report.to_text().splitlines()
    assert len(text) == 2 + 4 and text[0].startswith("group") and set(text[1]) <= {"-", " "}
    assert len({len(line) for line in text[:2]}) == 1  # header and rule are aligned
    md = report.to_markdown().splitlines()
    assert len(md) == 2 + 4 and md[1].startswith("| ---") and md[2].startswith("| all | 5 |")
    assert all(line.count("|") == md[0].count("|") for line in md)


def test_json_round_trip_is_exact_and_atomic(report, tmp_path):
    path = tmp_path / "out" / "report.json"
    report.to_json(path)
    assert Report.from_json(path) == report
    data = json.loads(path.read_text())  # plain JSON with the derived numbers for other readers
    assert data["results"][0]["capture"] == report.tasks[0].capture and data["summary"][0]["group"] == "all"
    assert os.listdir(path.parent) == ["report.json"]  # no temporary left behind


def test_json_schema_is_exact_and_every_best_program_re_verifies(report, tmp_path):
    """The file a user re-checks: ``overall`` and one record per task with exactly the documented keys, and
    every reported program verifies again, from the file alone, against the suite task's baseline."""
    path = tmp_path / "report.json"
    report.to_json(path)
    data = json.loads(path.read_text())
    assert set(data) == {"format", "version", "n_tests", "seed", "settings", "overall", "tasks", "results",
                         "summary"}
    assert list(data["overall"]) == list(ev.OVERALL_KEYS) == [
        "tasks", "sample_validity", "tasks_verified", "tasks_improved", "headroom_tasks", "headroom_improved",
        "capture", "mean_improvement"]
    overall, results = data["overall"], report.tasks
    assert overall["tasks"] == 5 and overall["headroom_tasks"] == 2  # the two easy tasks have a proven optimum
    assert overall["sample_validity"] == pytest.approx(sum(r.n_valid / r.n_samples for r in results) / 5)
    assert overall["tasks_verified"] == pytest.approx(4 / 5) and overall["tasks_improved"] == pytest.approx(1 / 5)
    assert overall["headroom_improved"] == pytest.approx(1 / 2) and overall["capture"] == pytest.approx(1 / 2)
    gain = (EASY.baseline_cycles - EASY.optimum.cycles) / EASY.baseline_cycles
    assert overall["mean_improvement"] == pytest.approx(gain / 5)
    by_name = {t.name: t for t in te.load_suite("tasm-basic-v0").tasks.values()}
    assert len(data["tasks"]) == 5
    for record, result in zip(data["tasks"], results):
        assert list(record) == list(ev.TASK_KEYS) == ["name", "tier", "verified", "baseline_cycles", "best_cycles",
                                                       "best_program", "optimum_cycles", "proved"]
        task = by_name[record["name"]]
        assert (record["tier"], record["baseline_cycles"]) == (task.tier, task.baseline_cycles)
        assert record["verified"] == (record["best_program"] is not None) == result.verified
        assert record["optimum_cycles"] == (task.optimum.cycles if task.optimum else None)
        assert record["proved"] == bool(task.optimum and task.optimum.proved)
        if record["best_program"] is not None:  # re-verify from the text, on tests the report never used
            program = te.Program.parse(record["best_program"])
            assert te.verify(task.baseline, program, task.inputs, n_tests=64, seed=99).ok
            assert program_cost(program, task.inputs, reference=task.baseline)[0] == record["best_cycles"]
    assert data["tasks"][0]["best_program"] == str(EASY.optimum.program)  # the cheapest verified, not the first
    assert data["tasks"][3]["best_cycles"] == HARD.baseline_cycles and data["tasks"][3]["verified"]  # baseline is cheapest


def test_version_1_reports_still_load():
    """The published reports (docs/results) predate the re-checkable records."""
    old = Report.from_json(os.path.join(os.path.dirname(__file__), "..", "docs", "results", "MLE.json"))
    assert old.tasks and all(r.best_program is None for r in old.tasks)


def test_evaluate_command_writes_the_schema_for_either_decoder(tmp_path, capsys):
    from agents.checkpoint import save_checkpoint
    from agents.policy import PolicyConfig, TasmPolicy
    from tasm_env.cli import main

    full = te.load_suite("tasm-basic-v1")
    tasks = [t for t in full.split("test") if t.tier == "easy"][:2]
    data = full.to_json()
    data["tasks"] = [t.to_json() for t in tasks]
    data["splits"] = {"test": [t.name for t in tasks]}
    suite = tmp_path / "two.json"
    suite.write_text(json.dumps(data))
    config = PolicyConfig(d_model=16, heads=2, gnn_layers=1, decoder_layers=1, d_ff=32, edge_dim=4)
    torch.manual_seed(0)
    policy = TasmPolicy(TasmGFNEnv(tasks=tasks, suite=None, masking="typed"), config)
    checkpoint = save_checkpoint(tmp_path / "p.safetensors", {"policy": policy},
                                 {"policy_config": config.to_dict(), "masking": "typed", "stage": 1})
    for decode in ("sample", "beam", "complete"):
        out = tmp_path / f"{decode}.json"
        assert main(["evaluate", str(checkpoint), "--suite", str(suite), "--samples", "3", "--decode", decode,
                     "--width", "2", "--json", str(out), "--no-progress"]) == 0
        assert "ms per task" in capsys.readouterr().out
        written = json.loads(out.read_text())
        assert [r["name"] for r in written["tasks"]] == [t.name for t in tasks]
        assert all(list(r) == list(ev.TASK_KEYS) for r in written["tasks"])
        assert written["settings"]["decode"] == decode and written["overall"]["tasks"] == 2
        assert all(r["n_samples"] <= 3 for r in written["results"])
        for record, task in zip(written["tasks"], tasks):
            if record["best_program"] is not None:
                assert te.verify(task, te.Program.parse(record["best_program"])).ok
        assert Report.from_json(out).settings["decode"] == decode
    out = tmp_path / "beam-knobs.json"  # the beam's knobs reach the decoder and are recorded
    assert main(["evaluate", str(checkpoint), "--suite", str(suite), "--samples", "3", "--decode", "beam",
                 "--progress-weight", "0.5", "--beam-completion", "off", "--baseline-completion", "off",
                 "--json", str(out), "--no-progress"]) == 0
    settings = json.loads(out.read_text())["settings"]
    assert settings["progress_weight"] == 0.5 and settings["beam_completion"] is False
    assert settings["baseline_completion"] is False


def test_from_json_refuses_what_is_not_a_report(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"tasks": []}')
    with pytest.raises(EvaluationError, match="not a tasm-env report"):
        Report.from_json(path)
    path.write_text("{")
    with pytest.raises(EvaluationError, match="not valid JSON"):
        Report.from_json(path)


def test_csv_has_one_row_per_task(report, tmp_path):
    import csv

    path = tmp_path / "report.csv"
    report.to_csv(path)
    rows = list(csv.DictReader(path.open()))
    assert [row["name"] for row in rows] == [r.name for r in report.tasks]
    assert rows[0]["best_after"] == " ".join(map(str, report.tasks[0].best_after))
    assert rows[1]["best_cycles"] == "" and rows[1]["fallback"] == "True"


# ------------------------------------------------------------------------------------------------ plot


def test_plot_writes_a_png(report, tmp_path):
    other = evaluate_samples([EASY, MEDIUM], [[EASY.optimum.program], [MEDIUM.baseline]])
    for metric in ("relative", "capture"):
        path = tmp_path / f"{metric}.png"
        ev.plot_improvement({"mix": report, "other": other}, path, metric=metric)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 1000


def test_plot_without_matplotlib_says_how_to_install(report, tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(PlotsUnavailable, match=r"pip install tasm-env\[plots\]"):
        ev.plot_improvement({"mix": report}, tmp_path / "x.png")
    assert isinstance(PlotsUnavailable("x"), te.TasmError) and not (tmp_path / "x.png").exists()


# ------------------------------------------------------------------------------- distribution distance


def _tb(env):
    torch.manual_seed(0)
    return TBGFlowNet(pf=mlp_policy(env, hidden=16), pb=None, logZ=logz_estimator(env), constant_pb=True)


@pytest.mark.filterwarnings("ignore:n_validation_samples")  # torchgfn counts both tasks' blocks; fine here
def test_distribution_distance_is_finite_and_seeded_on_tiny_tasks():
    tiny = [te.Task.from_tasm("add", ("field", "field"), name="add"),
            te.Task.from_tasm("dup 0 mul", ("field",), name="square")]
    env = TasmGFNEnv(tiny, masking="typed", max_len=2, eps=0.05)
    gflownet = _tb(env)
    rows = ev.distribution_distance(env, gflownet, [0, 1], n_samples=500)
    assert [(row["task"], row["index"], row["skipped"]) for row in rows] == [("add", 0, None), ("square", 1, None)]
    for row in rows:
        assert 0 <= row["l1"] <= 2 and 0 <= row["jsd"] <= math.log(2) + 1e-6 and math.isfinite(row["logz_diff"])
    torch.manual_seed(99)  # the global generator neither decides the samples nor is advanced by them
    state = torch.random.get_rng_state()
    assert ev.distribution_distance(env, gflownet, [0, 1], n_samples=500) == rows
    assert torch.equal(torch.random.get_rng_state(), state)


def test_distribution_distance_skips_tasks_too_big_to_enumerate():
    env = TasmGFNEnv([te.Task.from_tasm("add", ("field", "field"), name="add")], masking="stack", max_len=4,
                     enumeration_limit=1000)
    [row] = ev.distribution_distance(env, _tb(env), [0])
    assert row["l1"] is None and row["jsd"] is None and "more than 1000 legal blocks" in row["skipped"]
