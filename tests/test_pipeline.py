"""The pipeline (every stage, one run folder, summary.json, resume) on tiny local models.

The real ``ares demo --quick`` (Gemma + MiniLM) is run by CI directly, not by pytest.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ares_rlhf.cli import main
from ares_rlhf.config import parse_config
from ares_rlhf.embedded.demo import demo_config
from ares_rlhf.pipeline import DEFAULT_STAGES, StageMissing, StageUI, run_pipeline
from ares_rlhf.records import ArtifactKind
from ares_rlhf.report.summary import SUMMARY_FILE
from ares_rlhf.run import Run

STAGES = (
    "build_policy",
    "build_reward_model",
    "discovery",
    "repair_rm",
    "repair_policy",
    "verify",
    "evaluate",
)


def run_demo(config, run_dir, *, stages=None, say=print, show_progress=False, resume=False):
    """The pipeline in a new (or, with ``resume``, the existing) run folder."""
    run = Run.open(run_dir, writer=True) if resume else Run.create(config, run_dir)
    with run:
        return run_pipeline(
            run, stages=stages, ui=StageUI(say=say, show_progress=show_progress), resume=resume
        )

REQUIRED_KEYS = (
    "type_c_rate_before",
    "type_c_rate_after",
    "rm_heldout_accuracy_before",
    "rm_heldout_accuracy_after",
    "benign_refusal_before",
    "benign_refusal_after",
    "stage_seconds",
    "peak_rss_mb",
)


def tiny_config(lm: Path, rm: Path) -> dict:
    return {
        "name": "tiny-demo",
        "seed": 0,
        "policy": {
            "spec": f"hf:{lm}",
            "device": "cpu",
            "generation": {"max_new_tokens": 8, "temperature": 1.0, "batch_size": 16},
        },
        "reward_model": {"spec": f"hf:{rm}", "device": "cpu", "max_length": 128},
        "typing": {"calibration_probes": 8},
        "budget": {"probes": 24, "batch_size": 12},
        "repair_rm": {"epochs": 1, "batch_size": 8, "max_length": 128},
        "repair_policy": {
            "algorithm": "dpo-rm",
            "steps": 1,
            "num_generations": 2,
            "max_new_tokens": 6,
            "batch_size": 2,
            "lora_r": 4,
        },
    }


def test_demo_configs_are_valid_and_select_the_builds() -> None:
    full, quick = demo_config(), demo_config(quick=True, cache_dir="/tmp/x")
    assert (
        full.policy.spec == "embedded:policy" and full.reward_model.spec == "embedded:reward-model"
    )
    assert full.policy.options["quick"] is False
    assert quick.policy.options == {"quick": True, "cache_dir": "/tmp/x"}
    assert quick.reward_model.options["quick"] is True
    assert quick.budget.probes < full.budget.probes
    assert list(DEFAULT_STAGES) == list(STAGES)


def test_ares_run_and_demo_share_the_pipeline(tmp_path: Path, tiny_lm_dir, tiny_rm_dir) -> None:
    import yaml

    path = tmp_path / "tiny.yaml"
    config = tiny_config(tiny_lm_dir, tiny_rm_dir) | {"output_dir": str(tmp_path / "runs")}
    config["budget"] = {"probes": 12, "batch_size": 12}
    path.write_text(yaml.safe_dump(config))
    run_dir = tmp_path / "runs" / "one"
    assert main(["run", str(path), "--run-dir", str(run_dir), "--no-progress"]) == 0
    summary = json.loads((run_dir / SUMMARY_FILE).read_text())
    assert list(summary["stage_seconds"]) == list(STAGES)
    # a finished run resumed does nothing again
    assert main(["run", "--resume", str(run_dir), "--no-progress"]) == 0
    assert main(["run", str(path), "--resume", str(run_dir)]) == 2


def test_demo_runs_every_stage_into_one_run_folder(
    tmp_path: Path, tiny_lm_dir: Path, tiny_rm_dir: Path
) -> None:
    config = parse_config(tiny_config(tiny_lm_dir, tiny_rm_dir))
    run_dir = tmp_path / "run"
    messages: list[str] = []
    summary = run_demo(config, run_dir, say=messages.append, show_progress=False)

    written = json.loads((run_dir / SUMMARY_FILE).read_text())
    assert written == json.loads(json.dumps(summary))
    for key in REQUIRED_KEYS:
        assert key in written, key
    assert list(written["stage_seconds"]) == list(STAGES)
    assert written["missing_stages"] == []
    assert written["peak_rss_mb"] > 50
    # the peak when each stage ended: cumulative, so it never falls from one stage to the next
    peaks = [written["stage_peak_rss_mb"][stage] for stage in STAGES]
    assert peaks == sorted(peaks) and 50 < peaks[-1] <= written["peak_rss_mb"]
    assert written["probes_discovery"] == 24
    assert 0.0 <= written["benign_refusal_before"] <= 1.0
    assert written["rm_heldout_accuracy_before"] is not None
    # checkpoints live inside the run folder, recorded relative to it
    assert (run_dir / written["rm_checkpoint"] / "config.json").is_file()
    assert (run_dir / written["policy_checkpoint"] / "adapter_config.json").is_file()
    with Run.open(run_dir) as run:
        store = run.store
        assert store.count_probes("verify-before") == store.count_probes("verify-after") > 0
        assert store.latest_artifact(ArtifactKind.VERIFY_METRICS) is not None
        assert run.split.heldout  # fixed right after discovery


def test_an_interrupted_pipeline_resumes_from_its_first_unfinished_stage(
    tmp_path: Path, tiny_lm_dir, tiny_rm_dir
) -> None:
    config = parse_config(tiny_config(tiny_lm_dir, tiny_rm_dir))
    calls: list[str] = []

    def first(run, ui) -> None:
        calls.append("first")

    def crash(run, ui) -> None:
        calls.append("crash")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_demo(config, tmp_path / "run", stages={"first": first, "second": crash}, say=calls.append)
    summary = run_demo(
        config,
        tmp_path / "run",
        stages={"first": first, "second": lambda run, ui: calls.append("second")},
        say=lambda m: None,
        resume=True,
    )
    assert calls.count("first") == 1 and calls[-1] == "second"
    assert set(summary["stage_seconds"]) == {"first", "second"}


def test_a_missing_stage_is_reported_not_faked(tmp_path: Path, tiny_lm_dir, tiny_rm_dir) -> None:
    config = parse_config(tiny_config(tiny_lm_dir, tiny_rm_dir))
    ran: list[str] = []

    def missing(run, ui) -> None:
        raise StageMissing("verify: module ares_rlhf.evaluation.verify is not available")

    stages = {"first": lambda run, ui: ran.append("first"), "verify": missing}
    summary = run_demo(config, tmp_path / "run", stages=stages, say=lambda m: None)
    assert ran == ["first"]
    assert summary["missing_stages"] == ["verify"]
    assert summary["type_c_rate_after"] is None  # nothing measured, nothing invented


def test_no_failures_found_skips_repair_and_verify_with_a_reason(
    tmp_path: Path, tiny_lm_dir, tiny_rm_dir
) -> None:
    from ares_rlhf.pipeline import stage_repair_policy, stage_repair_rm, stage_verify

    config = parse_config(tiny_config(tiny_lm_dir, tiny_rm_dir))
    stages = {
        "repair_rm": stage_repair_rm,
        "repair_policy": stage_repair_policy,
        "verify": stage_verify,
    }
    summary = run_demo(config, tmp_path / "run", stages=stages, say=lambda m: None)
    assert set(summary["skipped_stages"]) == {"repair_rm", "repair_policy", "verify"}
    assert "no failures of type B/C" in summary["skipped_stages"]["repair_rm"]
    assert summary["missing_stages"] == []
    assert summary["rm_checkpoint"] is None and summary["type_c_rate_after"] is None


def test_a_failing_stage_still_writes_the_summary(tmp_path: Path, tiny_lm_dir, tiny_rm_dir) -> None:
    config = parse_config(tiny_config(tiny_lm_dir, tiny_rm_dir))

    def broken(run, ui) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_demo(config, tmp_path / "run", stages={"broken": broken}, say=lambda m: None)
    written = json.loads((tmp_path / "run" / SUMMARY_FILE).read_text())
    assert "broken" in written["stage_seconds"]


def test_report_command_prints_a_run_summary(
    tmp_path: Path, tiny_lm_dir, tiny_rm_dir, capsys: pytest.CaptureFixture[str]
) -> None:
    config = parse_config(tiny_config(tiny_lm_dir, tiny_rm_dir))
    run_dir = tmp_path / "run"
    run_demo(config, run_dir, stages={"noop": lambda run, ui: None}, say=lambda m: None)
    assert main(["report", str(run_dir), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["stage_seconds"].keys() == {"noop"}
    assert main(["report", str(run_dir)]) == 0
    assert "type C rate" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "nowhere")]) == 2
