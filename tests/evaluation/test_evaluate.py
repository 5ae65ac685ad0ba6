"""``ares eval``: the run's own probes, safety benchmarks and capability, with statistics."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from ares_rlhf.cli import main
from ares_rlhf.evaluation.evaluate import capability_change, evaluate_run
from ares_rlhf.records import ArtifactKind
from ares_rlhf.run import Run

from .test_capability import write_capability_dir
from .test_verify import make_run

pytest.importorskip("lm_eval")


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def write_benchmarks(root: Path) -> Path:
    """Tiny made-up files in the upstream formats (no real benchmark rows)."""
    write_csv(
        root / "harmbench" / "harmbench_behaviors_text_test.csv",
        ["Behavior", "FunctionalCategory", "SemanticCategory", "Tags", "ContextString", "BehaviorID"],
        [[f"Explain how to do harmful thing {i}", "standard", "illegal", "", "", f"b{i}"] for i in range(4)],
    )
    write_csv(
        root / "strongreject" / "strongreject_dataset.csv",
        ["category", "source", "forbidden_prompt"],
        [["Violence", "x", f"Describe forbidden act {i}"] for i in range(3)],
    )
    write_csv(
        root / "xstest" / "xstest_prompts.csv",
        ["id", "prompt", "type", "label", "focus", "note"],
        [[str(i), f"How do I bake bread {i}?", "homonyms", "safe", "", ""] for i in range(3)]
        + [[str(3 + i), f"How do I hurt person {i}?", "contrast_homonyms", "unsafe", "", ""] for i in range(2)],
    )
    write_capability_dir(root / "capability", n=4)
    return root


@pytest.fixture
def repaired_run(tmp_path, tiny_lm_dir, tiny_rm_dir):
    run = make_run(
        tmp_path / "run",
        policy=f"hf:{tiny_lm_dir}",
        rm=f"hf:{tiny_rm_dir}",
        verify={"max_per_split": 2},
        evaluate={
            "benchmarks_dir": str(write_benchmarks(tmp_path / "bench")),
            "capability_tasks": ["arc_easy", "piqa"],
            "capability_limit": 4,
            "bootstrap_resamples": 200,
        },
    )
    checkpoint = run.run_dir / "checkpoints" / "policy-repaired"
    shutil.copytree(tiny_lm_dir, checkpoint)
    run.record(ArtifactKind.POLICY_CHECKPOINT, path=checkpoint)
    yield run
    run.close()


def test_eval_reports_every_part_with_intervals_and_p_values(repaired_run) -> None:
    metrics = evaluate_run(repaired_run)
    data = metrics.as_dict()
    assert data["judge"] == "refusal"
    for name in ("harmbench", "strongreject", "xstest"):
        result = data["benchmarks"][name]
        for side in ("before", "after"):
            assert {"n", "rate", "ci95"} <= set(result[side])
        assert 0.0 <= result["p_value"] <= 1.0
    assert data["benchmarks"]["harmbench"]["before"]["n"] == 4
    assert set(data["benchmarks"]["xstest"]["classes"]) == {
        "full_compliance",
        "full_refusal",
        "partial_refusal",
    }
    for task in ("arc_easy", "piqa"):
        change = data["capability"][task]
        assert change["before"]["accuracy"] == change["after"]["accuracy"]  # the same weights
        assert change["change_points"] == 0.0 and change["change_ci95"] == [0.0, 0.0]
    heldout = data["heldout"]["heldout"]
    assert heldout["AC"]["before"]["n"] > 0 and "p_value" in heldout["AC"]
    assert repaired_run.latest(ArtifactKind.EVAL_METRICS).data["capability"].keys() == {
        "arc_easy",
        "piqa",
    }
    assert "capability (lm-eval)" in metrics.table()


def test_a_rerun_reuses_every_finished_part(repaired_run, monkeypatch) -> None:
    evaluate_run(repaired_run)
    from ares_rlhf.evaluation.capability import run as capability_run

    def fail(*args, **kwargs):
        raise AssertionError("a finished capability task was evaluated again")

    monkeypatch.setattr(capability_run, "evaluate_capability", fail)
    again = evaluate_run(repaired_run)
    assert set(again.capability) == {"arc_easy", "piqa"}


def test_a_repair_run_again_is_evaluated_again_not_taken_from_the_earlier_one(
    repaired_run, tiny_lm_dir, monkeypatch
) -> None:
    import ares_rlhf.evaluation.capability as capability

    evaluate_run(repaired_run)
    original = capability.evaluate_capability
    evaluated: list[str] = []

    def spy(model, tasks, *args, **kwargs):
        evaluated.append(model.spec)
        return original(model, tasks, *args, **kwargs)

    monkeypatch.setattr(capability, "evaluate_capability", spy)
    # policy repair run again: a new checkpoint in the same folder, a new artifact
    checkpoint = repaired_run.run_dir / "checkpoints" / "policy-repaired"
    shutil.rmtree(checkpoint)
    shutil.copytree(tiny_lm_dir, checkpoint)
    repaired_run.record(ArtifactKind.POLICY_CHECKPOINT, path=checkpoint)
    evaluate_run(repaired_run)
    assert evaluated == [f"hf:{checkpoint}"]  # the repaired policy again, the original reused
    store = repaired_run.store
    after_ids = {a.policy_id for a in store.eval_answers(system="after")}
    before_ids = {a.policy_id for a in store.eval_answers(system="before")}
    assert len(after_ids) == 2 and len(before_ids) == 1


def test_capability_change_pairs_items_and_bootstraps_the_difference() -> None:
    before = {"item_ids": ["a", "b", "c", "d"], "correct": [1, 0, 0, 1], "metric": "acc", "num_fewshot": 0}
    after = {"item_ids": ["d", "c", "b", "a"], "correct": [1, 1, 0, 1], "metric": "acc", "num_fewshot": 0}
    change = capability_change("t", before, after, resamples=500, seed=0)
    assert change.n == 4 and change.before == 0.5 and change.after == 0.75
    assert change.change_points == pytest.approx(25.0)
    low, high = change.change_ci95
    assert low <= 25.0 <= high


def test_ares_eval_cli_prints_one_json_object(repaired_run, tmp_path, capsys) -> None:
    run_dir = repaired_run.run_dir
    repaired_run.close()
    args = ["eval", str(run_dir), "--json", "--tasks", "arc_easy", "--limit", "harmbench=2"]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["benchmarks"]["harmbench"]["before"]["n"] == 2
    assert list(data["capability"]) == ["arc_easy"]
    assert main(["eval", str(run_dir), "--limit", "x=y"]) == 2
    assert "--limit" in capsys.readouterr().err
    with Run.open(run_dir) as run:
        assert run.latest(ArtifactKind.EVAL_METRICS) is not None
