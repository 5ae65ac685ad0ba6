import subprocess
import sys
from pathlib import Path

import yaml

from ares_rlhf.cli import COMMANDS, main
from ares_rlhf.store import RunStore


def test_help_lists_commands_without_importing_torch() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ares_rlhf.cli", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    for name in COMMANDS:
        assert name in result.stdout
    # `ares --help` stays fast because nothing heavy is imported for it
    assert (
        "torch"
        not in subprocess.run(
            [sys.executable, "-c", "import sys, ares_rlhf.cli; print(' '.join(sys.modules))"],
            capture_output=True,
            text=True,
        ).stdout.split()
    )


def test_config_validate_and_show(tmp_path: Path, capsys) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(
        yaml.safe_dump({"policy": {"spec": "hf:a/b"}, "reward_model": {"spec": "hf:c/d"}})
    )
    assert main(["config", "validate", str(path)]) == 0
    assert "valid" in capsys.readouterr().out
    assert main(["config", "show", str(path)]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["search"]["strategy"] == "adaptive"
    assert main(["config", "show"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["name"] == "embedded-default"


def test_bad_config_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "policy": {"spec": "hf:a/b"},
                "reward_model": {"spec": "hf:c"},
                "budget": {"probes": -5},
            }
        )
    )
    assert main(["config", "validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "budget.probes" in err and str(path) in err and "Traceback" not in err


def test_bad_catalog_in_config_is_exit_2(tmp_path: Path, capsys) -> None:
    catalog = tmp_path / "cat.yaml"
    catalog.write_text(
        yaml.safe_dump(
            {
                "topics": [
                    {"id": "cybercrime", "description": "x", "subjects": ["a"], "redirects": ["b"]}
                ]
            }
        )
    )
    path = tmp_path / "run.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "policy": {"spec": "hf:a/b"},
                "reward_model": {"spec": "hf:c/d"},
                "catalog": ["builtin", "cat.yaml"],
            }
        )
    )
    assert main(["config", "validate", str(path)]) == 2
    assert "duplicate id 'cybercrime'" in capsys.readouterr().err


def test_catalog_commands(capsys) -> None:
    assert main(["catalog", "list"]) == 0
    out = capsys.readouterr().out
    assert "role_play" in out and "combinations" in out
    assert main(["catalog", "show", "tactic", "role_play"]) == 0
    assert "frames" in capsys.readouterr().out
    assert main(["catalog", "show", "tactic", "nope"]) == 2
    assert "unknown tactic id 'nope'" in capsys.readouterr().err


def test_export_command(tmp_path: Path, capsys, make_probe) -> None:
    with RunStore.create(tmp_path / "run", {}) as store:
        store.add_probes([make_probe(i) for i in range(2)])
    assert main(["export", str(tmp_path / "run"), "--format", "jsonl"]) == 0
    assert (tmp_path / "run" / "probes-discovery.jsonl").read_text().count("\n") == 2
    assert main(["export", str(tmp_path / "nothing")]) == 2
