"""Repeated rounds: round 2 red-teams and repairs the system round 1 repaired."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ares_rlhf.config import parse_config
from ares_rlhf.pipeline import StageUI, run_pipeline
from ares_rlhf.records import ArtifactKind, in_round
from ares_rlhf.report.summary import SUMMARY_FILE
from ares_rlhf.run import Run

from .test_pipeline import tiny_config


def two_rounds(lm: Path, rm: Path, **rounds: object) -> dict:
    data = tiny_config(lm, rm)
    data["rounds"] = {"count": 2, **rounds}
    data["verify"] = {"max_per_split": 3}
    return data


def test_round_2_red_teams_and_repairs_what_round_1_repaired(
    tmp_path: Path, tiny_lm_dir: Path, tiny_rm_dir: Path
) -> None:
    config = parse_config(two_rounds(tiny_lm_dir, tiny_rm_dir))
    with Run.create(config, tmp_path / "run") as run:
        summary = run_pipeline(run, ui=StageUI(say=lambda m: None, show_progress=False))
        store = run.store
        assert run.round == 2
        # each round keeps its probes and split apart, and the probes say their round
        first, second = store.probes("discovery"), store.probes(in_round("discovery", 2))
        assert len(first) == len(second) == config.budget.probes
        assert {p.extra["round"] for p in second} == {2}
        assert {p.prompt for p in first}.isdisjoint({p.prompt for p in second})
        assert run.split_of(1) and run.split_of(2)
        assert run.split_of(2).benign_heldout == run.split_of(1).benign_heldout
        # round 2 starts from round 1's repaired models and replays round 1's failures
        policies = store.artifacts(ArtifactKind.POLICY_CHECKPOINT)
        assert [a.data["round"] for a in policies] == [1, 2]
        assert policies[1].data["initial_policy"].endswith("policy-repaired")
        assert policies[1].data["replayed"] > 0
        rm_metrics = store.artifacts(ArtifactKind.RM_REPAIR_METRICS)
        assert rm_metrics[-1].data["source_model"].endswith("rm-repaired")
        assert rm_metrics[-1].data["counts"]["adversarial_replay"] >= 0
        # round 2 saves its models beside round 1's, so "before" in round 2 is round 1's system
        assert [a.path for a in policies] == [
            "checkpoints/policy-repaired",
            "checkpoints/policy-repaired.r2",
        ]
        rms = store.artifacts(ArtifactKind.RM_CHECKPOINT)
        assert [a.path for a in rms] == ["checkpoints/rm-repaired", "checkpoints/rm-repaired.r2"]
        for artifact in policies + rms:
            assert (run.run_dir / artifact.path / "config.json").is_file() or (
                run.run_dir / artifact.path / "adapter_config.json"
            ).is_file()
        assert run.policy_config(at_round_start=True).spec.endswith("checkpoints/policy-repaired")
        assert run.policy_config().spec.endswith("policy-repaired.r2")
        # round 2's verification re-measures round 1's held-out combinations
        verify = run.latest_in_round(ArtifactKind.VERIFY_METRICS, 2)
        assert "heldout_earlier" in verify.data["splits"]
    written = json.loads((tmp_path / "run" / SUMMARY_FILE).read_text())
    assert [row["round"] for row in written["rounds"]] == [1, 2]
    assert {"fixed", "newly_broken", "still_broken", "regressed"} <= set(written["rounds"][1])
    assert written["rounds"][1]["probes"] == config.budget.probes
    assert summary["rounds"][0]["heldout_ac"] is not None


def test_a_run_killed_in_round_2_resumes_there(
    tmp_path: Path, tiny_lm_dir: Path, tiny_rm_dir: Path
) -> None:
    from ares_rlhf.pipeline import DEFAULT_STAGES

    config = parse_config(two_rounds(tiny_lm_dir, tiny_rm_dir))
    calls: list[tuple[int, str]] = []

    def tracking(name):
        stage = DEFAULT_STAGES[name]

        def run_stage(run, ui):
            calls.append((run.round, name))
            if (run.round, name) == (2, "repair_policy") and calls.count((2, name)) == 1:
                raise KeyboardInterrupt
            stage(run, ui)

        return run_stage

    stages = {name: tracking(name) for name in DEFAULT_STAGES}
    with Run.create(config, tmp_path / "run") as run, pytest.raises(KeyboardInterrupt):
        run_pipeline(run, stages=stages, ui=StageUI(say=lambda m: None, show_progress=False))
    done = list(calls)
    with Run.open(tmp_path / "run", writer=True) as run:
        assert run.round == 2
        run_pipeline(
            run, stages=stages, ui=StageUI(say=lambda m: None, show_progress=False), resume=True
        )
    resumed = calls[len(done) :]
    assert resumed == [(2, "repair_policy"), (2, "verify"), (2, "evaluate")]
