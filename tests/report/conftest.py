"""Run folders for the report tests: one full tiny pipeline run (every stage, built once per
session) and runs that stop early."""

from __future__ import annotations

from pathlib import Path

import pytest

from ares_rlhf.config import parse_config
from ares_rlhf.pipeline import StageUI, run_pipeline
from ares_rlhf.run import Run


def tiny_run_config(lm: Path, rm: Path, probes: int = 24) -> dict:
    """A tiny run: seconds per stage with the tiny local models."""
    return {
        "name": "report-test",
        "seed": 0,
        "policy": {
            "spec": f"hf:{lm}",
            "device": "cpu",
            "generation": {"max_new_tokens": 8, "temperature": 1.0, "batch_size": 16},
        },
        "reward_model": {"spec": f"hf:{rm}", "device": "cpu", "max_length": 64},
        "typing": {"calibration_probes": 8},
        "split": {"heldout_fraction": 0.15},  # fewer held-out benign pairs to score
        "budget": {"probes": probes, "batch_size": 12},
        "repair_rm": {"epochs": 1, "batch_size": 8, "max_length": 64},
        "repair_policy": {
            "algorithm": "dpo-rm",
            "steps": 2,
            "num_generations": 2,
            "max_new_tokens": 6,
            "batch_size": 2,
            "lora_r": 4,
        },
    }


def pipeline_run(config: dict, run_dir: Path, stages=None, messages: list[str] | None = None) -> Path:
    say = messages.append if messages is not None else (lambda message: None)
    with Run.create(parse_config(config), run_dir) as run:
        run_pipeline(run, stages=stages, ui=StageUI(say=say, show_progress=False))
    return run_dir


@pytest.fixture
def make_run(tiny_lm_dir: Path, tiny_rm_dir: Path):
    """``make_run(run_dir, stages) -> run_dir``: the pipeline with ``stages`` on the tiny models."""
    return lambda run_dir, stages: pipeline_run(tiny_run_config(tiny_lm_dir, tiny_rm_dir), run_dir, stages)


@pytest.fixture(scope="session")
def full_run(tmp_path_factory: pytest.TempPathFactory, tiny_lm_dir: Path, tiny_rm_dir: Path):
    """(run folder, pipeline messages) of every stage on the tiny models."""
    messages: list[str] = []
    run_dir = tmp_path_factory.mktemp("report") / "full"
    pipeline_run(tiny_run_config(tiny_lm_dir, tiny_rm_dir), run_dir, messages=messages)
    return run_dir, messages


@pytest.fixture(scope="session")
def discovery_only_run(tmp_path_factory: pytest.TempPathFactory, tiny_lm_dir, tiny_rm_dir) -> Path:
    """A run stopped after discovery: no repair, no verification, no evaluation."""
    from ares_rlhf.pipeline import stage_discovery

    run_dir = tmp_path_factory.mktemp("report") / "discovery-only"
    config = tiny_run_config(tiny_lm_dir, tiny_rm_dir, probes=12)
    return pipeline_run(config, run_dir, stages={"discovery": stage_discovery})
