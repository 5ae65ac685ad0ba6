"""kill -9 of ``ares discover`` at random points, then ``--resume``: no probe lost or
duplicated, and the run ends exactly as an uninterrupted run with the same seed."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import yaml

from ares_rlhf.testing.bad_inputs import deterministic_config

PROBES = 480


def fingerprint(run_dir: Path) -> list[tuple]:
    db = sqlite3.connect(f"file:{run_dir / 'ares.db'}?mode=ro", uri=True)
    try:
        return list(
            db.execute(
                "SELECT batch, topic, persona, tactic, goal, prompt, policy_response, failure_type "
                "FROM probes WHERE phase='discovery' ORDER BY seq"
            )
        )
    finally:
        db.close()


def stored_probes(run_dir: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{run_dir / 'ares.db'}?mode=ro", uri=True, timeout=1)
        try:
            return db.execute("SELECT COUNT(*) FROM probes").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def ares(*argv: str) -> list[str]:
    return [sys.executable, "-m", "ares_rlhf.cli", *argv]


def test_kill_9_at_random_points_then_resume(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(deterministic_config(PROBES)), encoding="utf-8")
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(ares("discover", str(config), "--run-dir", str(whole), "--quiet"), check=True)

    rng = random.Random(13)
    command = ares("discover", str(config), "--run-dir", str(killed), "--quiet")
    kills = 0
    for _ in range(3):
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        start = stored_probes(killed)
        deadline = time.monotonic() + 120
        while stored_probes(killed) <= start and child.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.3))  # somewhere inside a later batch
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.wait()
        command = ares("discover", "--resume", str(killed), "--quiet")
    subprocess.run(command, check=True)  # the last resume finishes the run
    assert kills >= 1
    resumed = fingerprint(killed)
    assert len(resumed) == PROBES  # nothing lost, nothing duplicated
    assert resumed == fingerprint(whole)
