"""kill -9 of ``ares run`` inside the model stages, then ``--resume``: the run ends with the
figures of an uninterrupted run with the same seed (RM repair, policy repair and verification
each continue from their last complete step)."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from tests.test_pipeline import tiny_config

FIGURES = (
    "probes_discovery",
    "failure_counts_discovery",
    "rm_heldout_accuracy_after",
    "rm_benign_heldout_accuracy_after",
    "verify_counts_before",
    "verify_counts_after",
    "trained_verify_counts_after",
    "benign_refusal_after",
)


def ares(*argv: str) -> list[str]:
    return [sys.executable, "-m", "ares_rlhf.cli", *argv]


def stage_status(run_dir: Path) -> dict[str, str]:
    try:
        db = sqlite3.connect(f"file:{run_dir / 'ares.db'}?mode=ro", uri=True, timeout=1)
        try:
            row = db.execute("SELECT value FROM state WHERE key='pipeline'").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return {}
    return json.loads(row[0]).get("status", {}) if row else {}


def kill_during(command: list[str], run_dir: Path, stage: str, delay: float) -> None:
    """Start ``command``; SIGKILL it ``delay`` seconds after the stage before ``stage`` is done."""
    order = ["discovery", "repair_rm", "repair_policy", "verify", "evaluate"]
    previous = order[order.index(stage) - 1]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        while stage_status(run_dir).get(previous) != "done":
            if child.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the run ended before {stage} (exit {child.returncode})")
            time.sleep(0.2)
        time.sleep(delay)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()


@pytest.mark.slow
def test_kill_9_inside_model_stages_then_resume_gives_the_same_figures(
    tmp_path: Path, tiny_lm_dir: Path, tiny_rm_dir: Path
) -> None:
    data = tiny_config(tiny_lm_dir, tiny_rm_dir)
    data["repair_policy"].update({"steps": 4, "checkpoint_every": 1})
    data["repair_rm"].update({"checkpoint_every": 1})
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(ares("run", str(config), "--run-dir", str(whole), "--no-progress"), check=True)

    first = ares("run", str(config), "--run-dir", str(killed), "--no-progress")
    kill_during(first, killed, "repair_policy", delay=1.5)
    resume = ares("run", "--resume", str(killed), "--no-progress")
    kill_during(resume, killed, "verify", delay=0.5)
    subprocess.run(resume, check=True)

    expected = json.loads((whole / "summary.json").read_text())
    got = json.loads((killed / "summary.json").read_text())
    assert {k: got[k] for k in FIGURES} == {k: expected[k] for k in FIGURES}
    assert set(got["stage_seconds"]) == set(expected["stage_seconds"])
