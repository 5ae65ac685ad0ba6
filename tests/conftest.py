"""Shared fixtures: tiny local models (built once per session) and the shared benchmark data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_DIR = REPO_ROOT / "benchmarks"


def _import_benchmark(name: str):
    import importlib
    import sys

    before = list(sys.path)
    try:
        sys.path.insert(0, str(BENCHMARKS_DIR))
        return importlib.import_module(name)
    finally:
        sys.path[:] = before


@pytest.fixture(scope="session")
def import_benchmark():
    """``import_benchmark(NAME)``: the module ``benchmarks/NAME.py`` (benchmarks are scripts, not a
    package)."""
    return _import_benchmark


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Qwen3 causal LM with a locally trained ChatML tokenizer (spec: ``hf:<dir>``)."""
    from ares_rlhf.testing.tiny import build_tiny_causal_lm

    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "lm")


@pytest.fixture(scope="session")
def tiny_rm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Qwen3 sequence-classification reward model (one score) + tokenizer."""
    from ares_rlhf.testing.tiny import build_tiny_reward_model

    return build_tiny_reward_model(tmp_path_factory.mktemp("tiny") / "rm")


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """``../shared/data`` beside the checkout (benchmark CSVs); tests skip if it is absent."""
    candidates = [
        REPO_ROOT.parent / "shared" / "data",
        Path(os.environ.get("ARES_SHARED_DATA", "/nonexistent")),
    ]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    pytest.skip("shared benchmark data (../shared/data) not available")


def _make_probe(i: int, failure=None, phase: str = "discovery"):
    from ares_rlhf.records import (
        ComponentSpec,
        FailureType,
        JudgeLabel,
        JudgeVerdict,
        Probe,
        RewardScores,
    )

    return Probe(
        spec=ComponentSpec("cybercrime", "student", "role_play", "code"),
        messages=[{"role": "user", "content": f"prompt {i}"}],
        malicious="Sure [CODE REDACTED]",
        safe="I can't help with that.",
        policy_response=f"answer {i}",
        judge=JudgeVerdict(JudgeLabel.HARMFUL, 0.9, "complied", ["S2"]),
        rewards=RewardScores(policy=1.5, malicious=2.0, safe=0.5),
        failure_type=failure or FailureType.SYSTEMIC,
        policy_failed=True,
        rm_failed=True,
        policy_id="hf:p",
        reward_model_id="hf:r",
        mentor_id="template",
        judge_id="refusal",
        batch=i // 2,
        phase=phase,
        extra={"k": i},
    )


@pytest.fixture
def make_probe():
    """Factory for a fully populated ``Probe`` (type C by default): ``make_probe(i, failure, phase)``."""
    return _make_probe
