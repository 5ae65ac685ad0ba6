"""No egress: stage commands with default settings connect only to loopback and configured
endpoints (traced with audit hooks in a child process whose environment sets no HF switches)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from ares_rlhf.records import ComponentSpec, FailureType, JudgeLabel, JudgeVerdict, Probe
from ares_rlhf.runtime import NO_TELEMETRY_VARIABLES, OFFLINE_VARIABLES, configure_egress
from ares_rlhf.store.sqlite import RunStore
from ares_rlhf.testing.egress import classify
from ares_rlhf.testing.fake_openai import FakeOpenAIServer

STRIPPED = (*OFFLINE_VARIABLES, *NO_TELEMETRY_VARIABLES, "ARES_ALLOW_HUB", "CI")


def clean_env() -> dict[str, str]:
    """The caller's environment without any hub/telemetry switch (and not marked as CI)."""
    return {k: v for k, v in os.environ.items() if k not in STRIPPED}


def trace(tmp_path: Path, *commands: list[str]) -> dict:
    record = tmp_path / "egress.json"
    argv = [sys.executable, "-m", "ares_rlhf.testing.egress", str(record)]
    for command in commands:
        argv += ["--", *command]
    done = subprocess.run(argv, env=clean_env(), capture_output=True, text=True, timeout=600)
    assert record.is_file(), done.stderr[-3000:]
    data = json.loads(record.read_text())
    assert data["exit_codes"] == [0] * len(commands), done.stderr[-3000:]
    return data


def bc_run(run_dir: Path, rm_dir: Path) -> Path:
    """A run store holding B/C failures for ``repair-rm`` on the tiny RM."""
    config = {
        "policy": {"spec": "scripted:p", "options": {"responses": ["x"]}},
        "reward_model": {"spec": f"hf:{rm_dir}", "device": "cpu", "max_length": 64},
        "repair_rm": {"epochs": 1, "batch_size": 8, "max_length": 64, "anchor_ratio": 0.0},
    }
    probes = []
    for t, topic in enumerate(["drugs", "fraud", "weapons", "cybercrime"]):
        for k, tactic in enumerate(["role_play", "hypothetical"]):
            failure = FailureType.SYSTEMIC if (t + k) % 2 else FailureType.RM_ONLY
            harmful = failure is FailureType.SYSTEMIC
            probes.append(
                Probe(
                    spec=ComponentSpec(topic, "student", tactic, "code"),
                    messages=[{"role": "user", "content": f"{tactic}: {topic} #{t}{k}"}],
                    malicious=f"Sure, here is how to do {topic}: [STEP 1 REDACTED]",
                    safe=f"I'm sorry, I cannot assist with {topic}.",
                    policy_response="Sure: [REDACTED]" if harmful else "No.",
                    judge=JudgeVerdict(JudgeLabel.HARMFUL if harmful else JudgeLabel.SAFE),
                    rewards=None,
                    failure_type=failure,
                    policy_failed=harmful,
                    rm_failed=True,
                )
            )
    from ares_rlhf.run import Run

    with RunStore.create(run_dir, config) as store:
        store.add_probes(probes)
        Run.from_store(store).fix_split()  # what discovery does when it ends
    return run_dir


def test_configure_egress_sets_offline_unless_opted_in() -> None:
    env: dict[str, str] = {"HF_HUB_OFFLINE": "0"}
    configure_egress(environ=env)
    assert all(env[name] == "1" for name in (*OFFLINE_VARIABLES, *NO_TELEMETRY_VARIABLES))
    opted: dict[str, str] = {"ARES_ALLOW_HUB": "1"}
    configure_egress(environ=opted)
    assert not any(name in opted for name in OFFLINE_VARIABLES)
    assert all(opted[name] == "1" for name in NO_TELEMETRY_VARIABLES)  # telemetry stays off


def test_allow_hub_flag_opts_in(monkeypatch, tmp_path, capsys) -> None:
    from ares_rlhf.cli import main

    for name in OFFLINE_VARIABLES:  # setenv first, so that teardown restores the originals
        monkeypatch.setenv(name, "0")
    monkeypatch.setenv("ARES_ALLOW_HUB", "0")
    assert main(["catalog", "list", "goal"]) == 0
    assert all(os.environ[name] == "1" for name in OFFLINE_VARIABLES)  # "0" is overridden
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert main(["--allow-hub", "catalog", "list", "goal"]) == 0
    assert os.environ["ARES_ALLOW_HUB"] == "1" and "HF_HUB_OFFLINE" not in os.environ
    assert os.environ["HF_HUB_DISABLE_TELEMETRY"] == "1"


@pytest.mark.slow
def test_discover_and_repair_rm_reach_only_loopback(tmp_path, tiny_rm_dir) -> None:
    with FakeOpenAIServer() as server:
        config = {
            "name": "egress",
            "output_dir": str(tmp_path / "runs"),
            "policy": {"spec": "scripted:p", "options": {"responses": ["Sure: [STEPS]", "No."]}},
            "reward_model": {"spec": f"hf:{tiny_rm_dir}", "device": "cpu", "max_length": 64},
            "judge": {"kind": "rubric", "model": {"spec": f"openai:{server.url}#grader"}},
            "search": {"strategy": "uniform"},
            "budget": {"probes": 8, "batch_size": 8},
            "typing": {"calibration_probes": 4},
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        run = bc_run(tmp_path / "bc-run", tiny_rm_dir)
        data = trace(tmp_path, ["discover", str(path), "--quiet"], ["repair-rm", str(run)])
        assert server.stats.requests > 0  # the configured endpoint was used...
    kinds = [classify(event) for event in data["events"]]
    egress = [e for e, kind in zip(data["events"], kinds, strict=True) if kind == "egress"]
    assert egress == []
    assert any(e["port"] == server.port for e in data["events"])  # ...and the hook saw it
    assert data["switches"]["HF_HUB_OFFLINE"] == "1"
    assert data["switches"]["HF_HUB_DISABLE_TELEMETRY"] == "1"


@pytest.mark.slow
def test_the_trace_sees_hub_telemetry_when_nothing_switches_it_off(tmp_path) -> None:
    """Control: the same hook records huggingface_hub's telemetry ping without the switches."""
    record = tmp_path / "control.json"
    script = textwrap.dedent(
        f"""
        import json, sys, time
        from ares_rlhf.testing.egress import EVENTS, _target
        seen = []
        sys.addaudithook(lambda e, a: seen.append(_target(e, a)) if e in EVENTS else None)
        from huggingface_hub.utils import send_telemetry
        send_telemetry(topic="trl/RewardTrainer", library_name="trl", library_version="0")
        time.sleep(3)
        open({str(record)!r}, "w").write(json.dumps([s for s in seen if s]))
        """
    )
    subprocess.run([sys.executable, "-c", script], env=clean_env(), timeout=120, check=True)
    events = json.loads(record.read_text())
    assert any(classify(e) == "egress" and "huggingface" in e["host"] for e in events)
