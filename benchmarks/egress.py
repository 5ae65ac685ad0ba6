"""Network connections of each ``ares`` command with default settings (audit-hook trace).

Each command runs in its own child process (``python -m ares_rlhf.testing.egress``) with an
environment that sets none of the Hugging Face switches (``HF_HUB_OFFLINE``, telemetry, ``CI``
unset), on tiny local models (``ares_rlhf.testing.tiny``) and a local OpenAI-compatible fake
server as the configured endpoint (rubric judge). Every ``socket.connect`` /
``socket.getaddrinfo`` / ``http.client.connect`` target is sorted into loopback, local socket,
configured endpoint or egress. The row "repair-rm, ARES switches off" runs the same command with
``configure_egress`` disabled: what the CLI did before it set the switches.

    python benchmarks/egress.py

Prints a table, then (last line) one JSON object with the figures.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

from ares_rlhf.runtime import NO_TELEMETRY_VARIABLES, OFFLINE_VARIABLES
from ares_rlhf.testing.egress import classify
from ares_rlhf.testing.fake_openai import FakeOpenAIServer

STRIPPED = (*OFFLINE_VARIABLES, *NO_TELEMETRY_VARIABLES, "ARES_ALLOW_HUB", "CI")
SWITCHES_OFF = (
    "import sys, ares_rlhf.cli as c; c.configure_egress = lambda **k: {}; "
    "from ares_rlhf.testing.egress import main; sys.exit(main())"
)


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in STRIPPED}


def trace(folder: Path, label: str, argv: list[str], *, switches_off: bool = False) -> dict:
    record = folder / f"{label.replace(' ', '_').replace(',', '')}.json"
    runner = ["-c", SWITCHES_OFF] if switches_off else ["-m", "ares_rlhf.testing.egress"]
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *runner, str(record), "--", *argv],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if not record.is_file():
        return {"exit": done.returncode, "error": done.stderr.strip()[-300:], "events": []}
    data = json.loads(record.read_text())
    return {
        "exit": data["exit_codes"][0],
        "seconds": round(time.perf_counter() - started, 1),
        "events": data["events"],
        "error": "" if data["exit_codes"][0] == 0 else done.stderr.strip()[-300:],
    }


def targets(events: list[dict]) -> dict[str, Counter]:
    by_kind: dict[str, Counter] = {}
    for event in events:
        kind = classify(event)
        where = "unix socket" if kind == "local" else f"{event['host']}:{event['port']}"
        by_kind.setdefault(kind, Counter())[where] += 1
    return by_kind


def bc_run(run_dir: Path, policy_dir: Path, rm_dir: Path) -> Path:
    """A run with B/C failures (as discovery would store them) and its held-out split."""
    from ares_rlhf.records import ComponentSpec, FailureType, JudgeLabel, JudgeVerdict, Probe
    from ares_rlhf.run import Run
    from ares_rlhf.store.sqlite import RunStore

    config = {
        "name": "egress",
        "policy": {
            "spec": f"hf:{policy_dir}",
            "device": "cpu",
            "generation": {"max_new_tokens": 8, "batch_size": 8},
        },
        "reward_model": {"spec": f"hf:{rm_dir}", "device": "cpu", "max_length": 64},
        "repair_rm": {"epochs": 1, "batch_size": 8, "max_length": 64, "anchor_ratio": 0.0},
        "repair_policy": {
            "algorithm": "dpo-rm",
            "steps": 1,
            "batch_size": 2,
            "num_generations": 2,
            "max_new_tokens": 8,
        },
        "verify": {"max_per_split": 2},
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
    with RunStore.create(run_dir, config) as store:
        store.add_probes(probes)
        Run.from_store(store).fix_split()
    return run_dir


def main() -> int:
    from ares_rlhf.testing.tiny import build_tiny_causal_lm, build_tiny_reward_model

    root = Path(tempfile.mkdtemp(prefix="ares-egress-"))
    rows: dict[str, dict] = {}
    try:
        lm = build_tiny_causal_lm(root / "lm")
        rm = build_tiny_reward_model(root / "rm")
        with FakeOpenAIServer() as server:
            endpoint = f"openai:{server.url}#grader"
            scripted = {
                "name": "egress",
                "output_dir": str(root / "runs"),
                "policy": {"spec": "scripted:p", "options": {"responses": ["Sure: [X]", "No."]}},
                "reward_model": {"spec": "scripted:rm"},
                "judge": {"kind": "rubric", "model": {"spec": endpoint}},
                "search": {"strategy": "uniform"},
                "budget": {"probes": 16, "batch_size": 8},
                "typing": {"calibration_probes": 4},
            }
            hf = {
                **scripted,
                "policy": {
                    "spec": f"hf:{lm}",
                    "device": "cpu",
                    "generation": {"max_new_tokens": 4, "batch_size": 8},
                },
                "reward_model": {"spec": f"hf:{rm}", "device": "cpu", "max_length": 64},
                "judge": {"kind": "refusal"},
                "budget": {"probes": 8, "batch_size": 8},
            }
            scripted_path, hf_path = root / "scripted.yaml", root / "hf.yaml"
            scripted_path.write_text(yaml.safe_dump(scripted), encoding="utf-8")
            hf_path.write_text(yaml.safe_dump(hf), encoding="utf-8")
            run = root / "run"
            repaired = bc_run(root / "bc", lm, rm)
            before_fix = bc_run(root / "bc-before", lm, rm)
            commands = {
                "config validate": ["config", "validate", str(scripted_path)],
                "catalog list": ["catalog", "list"],
                "discover (scripted models, rubric judge on the endpoint)": [
                    "discover", str(scripted_path), "--run-dir", str(run), "--quiet"
                ],
                "discover (tiny hf policy + RM)": [
                    "discover", str(hf_path), "--run-dir", str(root / "hf-run"), "--quiet"
                ],
                "report": ["report", str(run)],
                "export": ["export", str(run), "--out", str(root / "probes.jsonl")],
                "judge eval (refusal)": [
                    "judge", "eval", "--judge", "refusal", "--labels", "builtin:refusal_eval"
                ],
                "judge eval (rubric on the endpoint)": [
                    "judge", "eval", "--judge", f"rubric:{endpoint}", "--labels",
                    "builtin:refusal_eval",
                ],
                "bench discovery": [
                    "bench", "discovery", "--arena", "single", "--budget", "200", "--seeds", "1",
                    "--no-plot", "--out", str(root / "bench"),
                ],
                "repair-rm (tiny RM, TRL RewardTrainer)": ["repair-rm", str(repaired)],
                "repair-policy (tiny policy, TRL DPO)": ["repair-policy", str(repaired)],
                "verify (tiny models)": ["verify", str(repaired)],
            }  # fmt: skip
            for label, argv in commands.items():
                rows[label] = trace(root, label, argv)
            rows["repair-rm, ARES switches off (before)"] = trace(
                root, "before", ["repair-rm", str(before_fix)], switches_off=True
            )
            endpoint_requests = server.stats.requests
    finally:
        shutil.rmtree(root, ignore_errors=True)

    table = [["command", "exit", "loopback / endpoint targets", "egress targets"]]
    figures: dict[str, dict] = {}
    for label, row in rows.items():
        found = targets(row["events"])
        local = found.get("loopback", Counter()) + found.get("endpoint", Counter())
        egress = found.get("egress", Counter())
        local_text = ", ".join(f"{t} x{n}" for t, n in local.most_common()) or "none"
        if "local" in found:
            local_text += f"; unix sockets x{sum(found['local'].values())}"
        table.append(
            [
                label,
                str(row["exit"]),
                local_text[:60],
                ", ".join(f"{t} x{n}" for t, n in egress.most_common()) or "none",
            ]
        )
        figures[label] = {
            "exit": row["exit"],
            "seconds": row.get("seconds"),
            "loopback": sum(local.values()),
            "egress": dict(egress),
            **({"error": row["error"]} if row.get("error") else {}),
        }
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    print("connect()/getaddrinfo() targets per command, default settings, no HF variables set")
    for r in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)))
    current = {k: v for k, v in figures.items() if not k.endswith("(before)")}
    summary = {
        "commands": figures,
        "commands_traced": len(current),
        "commands_with_egress": sum(1 for v in current.values() if v["egress"]),
        "egress_targets": sum(sum(v["egress"].values()) for v in current.values()),
        "endpoint_requests_seen_by_server": endpoint_requests,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
