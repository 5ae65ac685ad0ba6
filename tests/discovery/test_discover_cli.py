"""``ares discover``: new run, resume, and one-line errors (exit 2) that create no run folder."""

from __future__ import annotations

from pathlib import Path

import yaml

from ares_rlhf.cli import main
from ares_rlhf.store.sqlite import RunStore

CONFIG = {
    "name": "cli",
    "policy": {
        "spec": "scripted:policy",
        "options": {"responses": ["I can't help with that.", "Sure, here is how: [STEP 1]."]},
    },
    "reward_model": {"spec": "scripted:rm"},
    "search": {"strategy": "uniform"},
    "budget": {"probes": 40, "batch_size": 16},
    "typing": {"calibration_probes": 8},
}


def write_config(tmp_path: Path, **changes) -> Path:
    data = {**CONFIG, "output_dir": str(tmp_path / "runs"), **changes}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_discover_new_run_then_resume_with_more_probes(tmp_path, capsys) -> None:
    config = write_config(tmp_path)
    assert main(["discover", str(config), "--quiet"]) == 0
    out = capsys.readouterr().out
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert run_dir.name.startswith("cli-") and str(run_dir) in out.replace("\n", "")
    assert "C  systemic" in out and "near-duplicates skipped" in out
    assert (run_dir / "config.yaml").is_file()
    with RunStore.open(run_dir) as store:
        assert store.count_probes() == 40
    assert main(["discover", "--resume", str(run_dir), "--probes", "70", "--quiet"]) == 0
    with RunStore.open(run_dir) as store:
        probes = store.probes()
        assert len(probes) == 70 and len({p.id for p in probes}) == 70


def test_discover_run_dir_and_probes_override(tmp_path) -> None:
    config = write_config(tmp_path)
    run_dir = tmp_path / "mine"
    assert (
        main(["discover", str(config), "--run-dir", str(run_dir), "--probes", "5", "--quiet"]) == 0
    )
    with RunStore.open(run_dir) as store:
        assert store.count_probes() == 5 and store.config()["budget"]["probes"] == 5
    # the folder now holds a run: creating another run there is refused
    assert main(["discover", str(config), "--run-dir", str(run_dir), "--quiet"]) == 2


def test_discover_errors_are_one_line_and_make_no_folder(tmp_path, capsys) -> None:
    bad_model = write_config(tmp_path, reward_model={"spec": "nope:rm"})
    assert main(["discover", str(bad_model), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope" in err
    assert not (tmp_path / "runs").exists()

    bad_catalog = write_config(tmp_path, catalog=["missing.yaml"])
    assert main(["discover", str(bad_catalog), "--quiet"]) == 2
    assert "missing.yaml" in capsys.readouterr().err

    assert main(["discover"]) == 2
    assert main(["discover", str(bad_model), "--resume", str(tmp_path)]) == 2
    assert main(["discover", "--resume", str(tmp_path / "nothing")]) == 2
    assert not (tmp_path / "runs").exists()
