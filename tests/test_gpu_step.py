"""``benchmarks/gpu_step.py`` (the GPU check) keeps working on CPU at its smallest size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"
TIMED = ("rm_scoring", "generation", "grpo_lora", "dpo_lora", "grpo_full", "dpo_full")




@pytest.mark.slow
def test_the_gpu_check_runs_every_part_but_the_pipeline_on_cpu(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    command = [sys.executable, str(BENCHMARKS / "gpu_step.py"), "--device", "cpu", "--size",
               "smoke", "--skip", "pipeline", "--json-out", str(out)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures == json.loads(out.read_text())
    assert (figures["device"], figures["size"], figures["dtype"]) == ("cpu", "smoke", "float32")
    assert figures["versions"]["torch"] and figures["versions"]["trl"]
    for part in (*TIMED, "tests", "dpo_sampling", "rm_train"):
        assert "error" not in figures[part] and "not_run" not in figures[part], figures[part]
    tests = figures["tests"]
    assert tests["failed"] == tests["errors"] == 0 and tests["skipped"] + tests["passed"] >= 6
    rm, generation = figures["rm_scoring"], figures["generation"]
    assert rm["max_abs_score_diff"] < 1e-4  # the same inputs through the backend and bare
    assert generation["identical_answers"] == generation["prompts"]
    for part in ("rm_scoring", "generation"):
        assert figures[part]["ratio"] == figures["ratios"][part] > 0
    for part in (*TIMED[2:], "rm_train"):
        assert figures[part]["steps"] == 1 and figures[part]["loss_logged"], figures[part]
    assert figures["grpo_lora"]["mean_completion_tokens"] is not None
    assert figures["dpo_sampling"]["pairs"] >= 1


def test_the_pipeline_part_config_is_a_valid_run_config(tmp_path: Path, import_benchmark) -> None:
    from ares_rlhf.config import parse_config

    gpu_step, parts = import_benchmark("gpu_step"), import_benchmark("gpu_parts")
    for device in ("cpu", "cuda"):
        config = gpu_step.pipeline_config(
            tmp_path / "lm", tmp_path / "rm", parts.Device(device), "bfloat16", tmp_path / "runs"
        )
        parsed = parse_config(config)
        assert parsed.policy.device == parsed.reward_model.device == device
        assert parsed.repair_policy.algorithm == "grpo"


@pytest.mark.slow
def test_the_oom_retry_settings_train_and_leave_the_policy_as_built(import_benchmark) -> None:
    import torch

    from ares_rlhf.backends.hf import HFRewardModel
    from ares_rlhf.testing.tiny import train_tokenizer

    parts = import_benchmark("gpu_parts")
    size, device, tokenizer = parts.SIZES["smoke"], parts.Device("cpu"), train_tokenizer()
    policy = parts.build_model(size.policy, tokenizer, device, torch.float32, reward=False)
    rm_model = parts.build_model(size.rm, tokenizer, device, torch.float32, reward=True)
    rm = HFRewardModel(rm_model, tokenizer, max_length=256, batch_size=4)
    result, policy = parts.time_policy_step(
        policy, tokenizer, rm, size, device, "grpo", "lora", checkpointing=True
    )
    assert result["steps"] == 1 and result["activation_checkpointing"]
    assert not policy.is_activation_checkpointing and policy.config.use_cache
    assert all(p.requires_grad for p in policy.parameters())
    assert not any("lora_" in name for name, _ in policy.named_modules())
    trained = parts.time_rm_train(rm_model, tokenizer, size, device, checkpointing=True)
    assert trained["steps"] == 1 and not rm_model.is_activation_checkpointing
