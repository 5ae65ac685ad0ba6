import json
import sqlite3
from pathlib import Path

import pytest

from ares_rlhf.errors import StoreError
from ares_rlhf.records import Artifact, FailureType
from ares_rlhf.store import RunStore, export_jsonl, export_parquet, to_dataset


def test_round_trip_and_reopen(tmp_path: Path, make_probe) -> None:
    probes = [make_probe(i) for i in range(4)] + [
        make_probe(9, FailureType.UNSCORED, "verify-after")
    ]
    probes[-1].rewards = None
    probes[-1].policy_failed = probes[-1].rm_failed = None
    with RunStore.create(tmp_path / "run", {"name": "x", "seed": 3}) as store:
        assert store.add_probes(probes) == 5
        store.add_artifact(Artifact("rm_checkpoint", path="/ckpt", data={"acc": 0.9}))
        store.set_state("loop", {"batch": 2})
    with RunStore.open(tmp_path / "run") as store:
        assert store.config() == {"name": "x", "seed": 3}
        loaded = store.probes()
        assert [p.id for p in loaded] == [p.id for p in probes[:4]]
        assert loaded[0] == probes[0]
        assert store.probes("verify-after")[0] == probes[-1]
        assert store.count_probes(None) == 5
        assert store.failure_counts()["C"] == 4
        assert store.latest_artifact("rm_checkpoint").data == {"acc": 0.9}
        assert store.get_state("loop") == {"batch": 2}
        assert store.get_state("missing", 7) == 7
        assert store.phases() == ["discovery", "verify-after"]


def test_store_uses_wal_and_schema_version(tmp_path: Path) -> None:
    RunStore.create(tmp_path / "run", {}).close()
    db = sqlite3.connect(tmp_path / "run" / "ares.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "1"


def test_refuses_newer_schema_and_non_runs(tmp_path: Path) -> None:
    RunStore.create(tmp_path / "run", {}).close()
    db = sqlite3.connect(tmp_path / "run" / "ares.db")
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="schema version 99 is newer"):
        RunStore.open(tmp_path / "run")
    with pytest.raises(StoreError, match="not an ARES run folder"):
        RunStore.open(tmp_path / "empty")
    with pytest.raises(StoreError, match="already holds a run store"):
        RunStore.create(tmp_path / "run", {})


def test_failed_batch_writes_nothing(tmp_path: Path, make_probe) -> None:
    store = RunStore.create(tmp_path / "run", {})
    store.add_probes([make_probe(0)])
    duplicate = make_probe(1)
    duplicate.id = store.probes()[0].id  # violates the unique id: the whole batch must roll back
    with pytest.raises(sqlite3.IntegrityError):
        store.add_probes_and_state([make_probe(2), duplicate], {"loop": 1})
    assert store.count_probes() == 1
    assert store.get_state("loop") is None


def test_exports(tmp_path: Path, make_probe) -> None:
    store = RunStore.create(tmp_path / "run", {})
    store.add_probes([make_probe(i) for i in range(3)])
    assert export_jsonl(store, tmp_path / "p.jsonl") == 3
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert rows[0]["failure_type"] == "C" and rows[0]["topic"] == "cybercrime"
    assert rows[0]["messages"][0]["content"] == "prompt 0"
    assert export_parquet(store, tmp_path / "p.parquet") == 3
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "p.parquet")
    assert table.num_rows == 3 and "rm_malicious" in table.column_names
    dataset = to_dataset(store)
    assert len(dataset) == 3 and dataset[1]["policy_response"] == "answer 1"
    assert not list(tmp_path.glob("*.partial"))
