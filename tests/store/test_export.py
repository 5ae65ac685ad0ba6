"""Probe exports (JSONL / Parquet / saved datasets), their target checks, and --push-to-hub
(offline: the upload goes to a local folder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ares_rlhf.cli import main
from ares_rlhf.errors import BackendError, DataError, StoreError
from ares_rlhf.records import ComponentSpec, FailureType
from ares_rlhf.split import SPLIT_STATE_KEY, compute_split
from ares_rlhf.store import RunStore
from ares_rlhf.store.export import (
    hub_splits,
    probe_rows,
    probe_schema,
    push_rows_to_hub,
    write_rows,
)


@pytest.fixture
def run_dir(tmp_path: Path, make_probe) -> Path:
    """Six discovery probes over three combinations (one not failing) and a stored split."""
    probes = []
    for i in range(6):
        probe = make_probe(i, FailureType.NONE if i >= 4 else FailureType.SYSTEMIC)
        probe.spec = ComponentSpec(
            ["drugs", "fraud", "weapons"][i // 2], "student", "role_play", "code"
        )
        probe.messages = [{"role": "system", "content": "Be brief."}, *probe.messages]
        probes.append(probe)
    probes.append(make_probe(9, phase="verify-after"))
    with RunStore.create(tmp_path / "run", {}) as store:
        store.add_probes(probes)
        split = compute_split(probes[:6], [], heldout_fraction=0.5, seed=0)
        store.set_state(SPLIT_STATE_KEY, split.as_dict())
    return tmp_path / "run"


def load(path: Path, fmt: str, cache: Path):
    import datasets

    if fmt == "hf":
        return datasets.load_from_disk(str(path))
    builder = "json" if fmt == "jsonl" else "parquet"
    return datasets.load_dataset(builder, data_files=str(path), split="train", cache_dir=str(cache))


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "hf"])
def test_probe_exports_keep_messages_as_lists_and_mark_the_split(run_dir, tmp_path, fmt, capsys):
    assert main(["export", str(run_dir), "--format", fmt]) == 0
    out = run_dir / ("probes-discovery-hf" if fmt == "hf" else f"probes-discovery.{fmt}")
    assert f"wrote 6 probes rows to {out}" in capsys.readouterr().out
    loaded = load(out, fmt, tmp_path / "cache")
    assert len(loaded) == 6 and loaded.column_names == probe_schema().names
    assert loaded[0]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "prompt 0"},
    ]
    sides = [r["split"] for r in loaded]
    assert sides[4:] == [None, None]  # the combination that never failed is outside the split
    assert sorted(sides[:4]) == ["heldout", "heldout", "train", "train"]
    with RunStore.open(run_dir) as store:
        assert loaded.to_list() == probe_rows(store)
    # a second export replaces the first (an export may overwrite an export in the run folder)
    assert main(["export", str(run_dir), "--format", fmt]) == 0
    assert len(load(out, fmt, tmp_path / "cache2")) == 6
    assert not list(run_dir.glob("*.partial")) and not list(run_dir.glob("*.replaced"))


def test_every_phase_and_an_empty_phase(run_dir, tmp_path) -> None:
    assert main(["export", str(run_dir), "--phase", "all", "--out", str(tmp_path / "a.parquet"),
                 "--format", "parquet"]) == 0  # fmt: skip
    assert len(load(tmp_path / "a.parquet", "parquet", tmp_path / "c")) == 7
    assert main(["export", str(run_dir), "--phase", "verify-before", "--out",
                 str(tmp_path / "none.jsonl")]) == 0  # fmt: skip
    assert (tmp_path / "none.jsonl").read_text() == ""
    with RunStore.open(run_dir) as store, pytest.raises(DataError, match="nothing to export"):
        write_rows(store, [], probe_schema(), tmp_path / "empty-hf", "hf")
    assert not (tmp_path / "empty-hf").exists()


@pytest.mark.parametrize(
    "target, message",
    [
        ("RUN", "holds the run folder"),
        ("RUN/..", "holds the run folder"),
        ("RUN/ares.db", "run store"),
        ("RUN/config-copy", "not a saved dataset"),
        ("RUN/notes.txt", "is not a folder"),
    ],
)
def test_hf_folder_targets_that_are_refused(run_dir, target, message) -> None:
    (run_dir / "config-copy").mkdir()
    (run_dir / "config-copy" / "keep.txt").write_text("mine")
    (run_dir / "notes.txt").write_text("mine")
    before = {p: p.stat().st_size for p in run_dir.rglob("*") if p.is_file()}
    with RunStore.open(run_dir) as store, pytest.raises(StoreError, match=message):
        rows = probe_rows(store)
        write_rows(store, rows, probe_schema(), Path(target.replace("RUN", str(run_dir))), "hf")
    assert {p: p.stat().st_size for p in run_dir.rglob("*") if p.is_file()} == before


def test_hf_export_never_replaces_a_saved_dataset_inside_the_run_not_named_as_an_export(
    run_dir, tmp_path
) -> None:
    import shutil

    with RunStore.open(run_dir) as store:
        rows = probe_rows(store)
        write_rows(store, rows[:1], probe_schema(), tmp_path / "elsewhere", "hf")
        write_rows(store, rows[:1], probe_schema(), tmp_path / "x-hf", "hf")
        (run_dir / "checkpoints").mkdir()
        shutil.copytree(tmp_path / "x-hf", run_dir / "checkpoints" / "data")
        with pytest.raises(StoreError, match="not named like an export"):
            write_rows(store, rows, probe_schema(), run_dir / "checkpoints" / "data", "hf")
        # outside the run folder an earlier saved dataset is replaced
        assert write_rows(store, rows, probe_schema(), tmp_path / "elsewhere", "hf") == 6
    assert len(load(tmp_path / "elsewhere", "hf", tmp_path)) == 6
    assert len(load(run_dir / "checkpoints" / "data", "hf", tmp_path)) == 1


def test_push_to_hub_needs_the_opt_in(run_dir, capsys, monkeypatch) -> None:
    monkeypatch.delenv("ARES_ALLOW_HUB", raising=False)
    assert main(["export", str(run_dir), "--push-to-hub", "me/ares-probes"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--allow-hub" in err and "ARES_ALLOW_HUB=1" in err and len(err.splitlines()) == 1
    assert not list(run_dir.glob("probes-*"))  # refused before writing anything


@pytest.fixture
def local_hub(tmp_path, monkeypatch):
    """``DatasetDict.push_to_hub`` saving to ``tmp_path/hub/<repo>`` instead of uploading."""
    import datasets

    pushed: dict[str, dict] = {}

    def push_to_hub(self, repo_id, **kwargs):
        folder = tmp_path / "hub" / repo_id
        self.save_to_disk(str(folder))
        pushed[repo_id] = kwargs
        return folder

    monkeypatch.setattr(datasets.DatasetDict, "push_to_hub", push_to_hub)
    for name in ("ARES_ALLOW_HUB", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.setenv(name, "1")  # restored after the test (--allow-hub changes them)
    return tmp_path / "hub", pushed


def test_push_to_hub_uploads_train_and_heldout_as_separate_splits(run_dir, local_hub, capsys):
    import datasets

    hub, pushed = local_hub
    code = main(["--allow-hub", "export", str(run_dir), "--push-to-hub", "me/probes", "--private"])
    assert code == 0
    out = capsys.readouterr().out
    assert "pushed 6 probes rows to me/probes (train 2, heldout 2, unsplit 2)" in out
    assert pushed["me/probes"] == {"private": True}
    assert not list(run_dir.glob("probes-*"))  # --push-to-hub alone writes no local file
    remote = datasets.load_from_disk(str(hub / "me" / "probes"))
    assert set(remote) == {"train", "heldout", "unsplit"}
    assert set(remote["heldout"]["split"]) == {"heldout"}
    assert set(remote["train"]["split"]) == {"train"}
    assert remote["train"][0]["messages"][1] == {
        "role": "user",
        "content": remote["train"][0]["prompt"],
    }


def test_push_failures_of_the_hub_are_one_line(run_dir, monkeypatch) -> None:
    """A real push to a closed local port: the connection error becomes a BackendError."""
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setattr(datasets.config, "HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    with RunStore.open(run_dir) as store:
        rows = probe_rows(store)
    with pytest.raises(BackendError, match="--push-to-hub me/probes: "):
        push_rows_to_hub(rows, probe_schema(), "me/probes")
    with pytest.raises(BackendError, match="--push-to-hub not a repo: "):
        push_rows_to_hub(rows, probe_schema(), "not a repo")


def test_hub_splits_of_an_empty_export_are_refused() -> None:
    with pytest.raises(DataError, match="nothing to push"):
        hub_splits([], probe_schema())
