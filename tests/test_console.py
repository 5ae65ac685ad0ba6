"""A console a person can read: library noise silenced unless ``ares --verbose``, ARES's own
repeated warnings shown once, training steps reported to a progress bar, one flag spelling."""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ares_rlhf.runtime import QUIET_ENVIRONMENT, VERBOSE_VARIABLE

TRUNCATION = "from the start of the conversation"


def _discover(config: Path, run_dir: Path, *global_flags: str) -> subprocess.CompletedProcess:
    """``ares [FLAGS] discover`` in a fresh process whose environment sets no quiet switch."""
    env = {k: v for k, v in os.environ.items() if k not in QUIET_ENVIRONMENT}
    env.pop(VERBOSE_VARIABLE, None)
    command = [sys.executable, "-m", "ares_rlhf.cli", *global_flags, "discover", str(config)]
    command += ["--run-dir", str(run_dir), "--probes", "6", "--no-progress"]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, check=False)


def test_library_noise_is_silenced_unless_verbose(tmp_path: Path, tiny_lm_dir, tiny_rm_dir) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "console",
                "policy": {
                    "spec": f"hf:{tiny_lm_dir}",
                    "device": "cpu",
                    "generation": {"max_new_tokens": 4, "batch_size": 6},
                },
                # short enough that every dual probe truncates its RM inputs: a warning per input
                "reward_model": {"spec": f"hf:{tiny_rm_dir}", "device": "cpu", "max_length": 48},
                "typing": {"calibration_probes": 4},
                "budget": {"probes": 6, "batch_size": 6},
            }
        )
    )
    quiet = _discover(config, tmp_path / "quiet")
    verbose = _discover(config, tmp_path / "verbose", "--verbose")
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    # transformers' weight-loading bars, and Python warnings, only with --verbose
    assert "Loading weights" in verbose.stderr
    assert "Loading weights" not in quiet.stderr
    assert "Warning:" in verbose.stderr
    assert "Warning:" not in quiet.stderr
    # ARES's own warning, raised once per truncated input: every one verbose, once quiet
    assert verbose.stderr.count(TRUNCATION) > 1
    assert quiet.stderr.count(TRUNCATION) == 1
    assert "repeats hidden; --verbose shows every one" in quiet.stderr
    # what the command itself says is there either way
    for stdout in (quiet.stdout, verbose.stdout):
        assert "run folder:" in stdout and "C  systemic" in stdout


def _reward_training(tiny_rm_dir: Path, calls: list) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ares_rlhf.config import RewardRepairConfig
    from ares_rlhf.records import PreferencePair
    from ares_rlhf.training.reward import RewardModelTrainer

    pairs = [
        PreferencePair((("user", f"question {i}"),), f"helpful answer {i}", "I can't help.")
        for i in range(8)
    ]
    model = AutoModelForSequenceClassification.from_pretrained(tiny_rm_dir, num_labels=1)
    tokenizer = AutoTokenizer.from_pretrained(tiny_rm_dir)
    trainer = RewardModelTrainer(
        RewardRepairConfig(epochs=1, batch_size=2, max_length=64), device="cpu", logging_steps=1
    )
    trainer.train(model, tokenizer, pairs, max_steps=3, progress=lambda *a: calls.append(a))


def test_training_reports_steps_and_loss_and_prints_no_metric_dicts_when_quiet(
    tiny_rm_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import ares_rlhf.runtime as runtime

    monkeypatch.setattr(runtime, "_quiet", True)
    calls: list[tuple[int, int, str]] = []
    _reward_training(tiny_rm_dir, calls)
    assert "{'loss'" not in capsys.readouterr().out
    assert [c[0] for c in calls][-1] == 3 and {c[1] for c in calls} == {3}
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
    assert calls[-1][2].startswith("training · loss ")

    monkeypatch.setattr(runtime, "_quiet", False)  # library defaults: transformers prints them
    _reward_training(tiny_rm_dir, [])
    assert "{'loss'" in capsys.readouterr().out


COMMANDS_WITH_PROGRESS = {
    "ares_rlhf.cli.demo": [],
    "ares_rlhf.cli.run": ["config.yaml"],
    "ares_rlhf.cli.discover": ["config.yaml"],
    "ares_rlhf.cli.verify": ["RUN"],
    "ares_rlhf.cli.eval": ["RUN"],
    "ares_rlhf.cli.repair_rm": ["RUN"],
    "ares_rlhf.cli.repair_policy": ["RUN"],
}


@pytest.mark.parametrize("module_name", sorted(COMMANDS_WITH_PROGRESS))
def test_every_command_with_progress_bars_takes_no_progress(module_name: str) -> None:
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    positional = COMMANDS_WITH_PROGRESS[module_name]
    assert parser.parse_args([*positional, "--no-progress"]).no_progress is True
    assert parser.parse_args(positional).no_progress is False


def test_discover_keeps_quiet_as_a_hidden_alias() -> None:
    from ares_rlhf.cli import discover

    parser = argparse.ArgumentParser()
    discover.add_arguments(parser)
    assert parser.parse_args(["c.yaml", "--quiet"]).no_progress is True
    assert "--quiet" not in parser.format_help()
