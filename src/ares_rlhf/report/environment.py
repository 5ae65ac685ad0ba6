"""Where and with what a run ran (versions, machine), and the report's ``run`` section.

:func:`record_environment` stores a snapshot in the run store (state ``environments``, one entry
per pipeline invocation, so a run resumed on another machine shows both). It imports nothing
heavy: versions come from package metadata, GPUs from an already imported torch or from the
NVIDIA driver's ``/proc`` files.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from ares_rlhf.config import config_to_yaml
from ares_rlhf.records import ArtifactKind
from ares_rlhf.report.sections import stage_status
from ares_rlhf.report.summary import PEAK_RSS_KEY, STAGE_SECONDS_KEY
from ares_rlhf.run import Run

ENVIRONMENTS_KEY = "environments"
MAX_ENVIRONMENTS = 20
PACKAGES = (
    "ares-rlhf", "torch", "transformers", "trl", "peft", "accelerate", "datasets", "tokenizers",
    "lm-eval", "numpy", "matplotlib", "jinja2",
)


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a run depends on (absent ones left out)."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _memory_gb() -> float | None:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return round(pages * size / 1024**3, 1)


def _gpus() -> list[str]:
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        except Exception:  # a broken CUDA setup: fall through to the driver files
            pass
    names = []
    for info in sorted(Path("/proc/driver/nvidia/gpus").glob("*/information")):
        try:
            for line in info.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.startswith("Model:"):
                    names.append(line.split(":", 1)[1].strip())
        except OSError:
            continue
    return names


def environment_snapshot() -> dict[str, Any]:
    """Python, platform, CPUs, memory, GPUs and package versions of this process."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "gpus": _gpus(),
        "packages": package_versions(),
    }


def record_environment(run: Run) -> dict[str, Any]:
    """Append this process's snapshot to the run's ``environments`` (same machine: updated)."""
    snapshot = environment_snapshot()
    entries = list(run.store.get_state(ENVIRONMENTS_KEY) or [])
    now = time.time()
    if entries and {k: v for k, v in entries[-1].items() if k != "at"} == snapshot:
        entries[-1]["at"] = now
    else:
        entries.append({**snapshot, "at": now})
    run.store.set_state(ENVIRONMENTS_KEY, entries[-MAX_ENVIRONMENTS:])
    return snapshot


def _stamp(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


def run_info(run: Run) -> dict[str, Any]:
    """Config, model ids, seeds, environments, stage timings and statuses of the run."""
    config = run.config
    models = [
        ("policy (original)", config.policy.spec),
        ("policy (repaired)", _artifact_path(run, ArtifactKind.POLICY_CHECKPOINT)),
        ("reward model (original)", config.reward_model.spec),
        ("reward model (repaired)", _artifact_path(run, ArtifactKind.RM_CHECKPOINT)),
        ("Safety Mentor", config.mentor.kind + (f" ({config.mentor.model.spec})" if config.mentor.model else "")),
        ("harm judge", config.judge.kind + (f" ({config.judge.model.spec})" if config.judge.model else "")),
    ]
    for kind, label in ((ArtifactKind.INITIAL_POLICY, "initial policy build"),
                        (ArtifactKind.INITIAL_REWARD_MODEL, "initial reward model build")):
        artifact = run.latest(kind)
        if artifact is not None and artifact.data.get("path"):
            models.append((label, str(artifact.data["path"])))
    split = run.store.get_state("split") or {}
    seeds = [("run seed", str(config.seed))]
    if split:
        seeds.append(("split seed / held-out fraction", f"{split.get('seed')} / {split.get('heldout_fraction')}"))
        seeds.append(("held-out combinations / trained", f"{len(split.get('heldout', []))} / {len(split.get('train', []))}"))
        seeds.append(("held-out benign requests / trained",
                      f"{len(split.get('benign_heldout', []))} / {len(split.get('benign_train', []))}"))
    environments = [
        {**entry, "at": _stamp(entry.get("at")), "gpus": ", ".join(entry.get("gpus") or []) or "none"}
        for entry in run.store.get_state(ENVIRONMENTS_KEY) or []
    ]
    status, skipped = stage_status(run)
    seconds = run.store.get_state(STAGE_SECONDS_KEY) or {}
    stages = [
        {"name": name, "status": status.get(name, "?"), "seconds": f"{seconds.get(name, 0):.1f}",
         "note": skipped.get(name, "")}
        for name in dict.fromkeys([*status, *seconds])
    ]
    peak = run.store.get_state(PEAK_RSS_KEY)
    return {
        "run_dir": str(run.run_dir),
        "name": config.name,
        "models": models,
        "seeds": seeds,
        "environments": environments,
        "report_environment": environment_snapshot(),
        "stages": stages,
        "total_seconds": f"{sum(seconds.values()):.1f}" if seconds else "",
        "peak_rss": f"{peak:.0f} MB" if peak is not None else "",
        "config_yaml": config_to_yaml(config),
    }


def _artifact_path(run: Run, kind: ArtifactKind) -> str:
    artifact = run.latest(kind)
    if artifact is None:
        return "- (not repaired in this run)"
    return f"{artifact.path} (in the run folder)"


__all__ = ["ENVIRONMENTS_KEY", "environment_snapshot", "package_versions", "record_environment", "run_info"]
