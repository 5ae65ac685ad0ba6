"""Every shipped config in configs/ validates with ``ares config validate``."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ares_rlhf.cli import main

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
CONFIGS = sorted(CONFIG_DIR.glob("*.yaml"))


def test_configs_folder_is_not_empty() -> None:
    names = {path.name for path in CONFIGS}
    assert {"paper-qwen3-1.7b.yaml", "qwen3-0.6b.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_validates(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "validate", str(path)]) == 0
    assert "valid" in capsys.readouterr().out


def test_paper_config_matches_the_paper_setting() -> None:
    data = yaml.safe_load((CONFIG_DIR / "paper-qwen3-1.7b.yaml").read_text(encoding="utf-8"))
    assert data["policy"]["spec"] == "hf:Qwen/Qwen3-1.7B"
    assert data["reward_model"]["spec"] == "hf:Skywork/Skywork-Reward-V2-Qwen3-4B"
    assert data["mentor"]["kind"] == "llm" and data["mentor"]["model"]["spec"].startswith("openai:")
    assert data["judge"]["kind"] == "rubric"
    assert data["repair_policy"]["algorithm"] == "grpo"
    assert data["policy"]["device"] == "cuda" and data["policy"]["dtype"] == "bfloat16"


def test_a_broken_config_is_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = yaml.safe_load((CONFIG_DIR / "qwen3-0.6b.yaml").read_text(encoding="utf-8"))
    data["budget"]["probes"] = 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert main(["config", "validate", str(bad)]) == 2
    assert "budget.probes" in capsys.readouterr().err
