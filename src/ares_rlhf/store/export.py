"""Export a run's probes to JSONL, Parquet or a Hugging Face ``datasets.Dataset``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ares_rlhf.store.sqlite import RunStore


def probe_rows(store: RunStore, phase: str | None = "discovery") -> list[dict[str, Any]]:
    return [p.to_flat_dict() for p in store.iter_probes(phase)]


def _atomic_target(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(path.name + ".partial")


def export_jsonl(store: RunStore, path: str | Path, phase: str | None = "discovery") -> int:
    """Write one JSON object per probe; returns the row count. The file appears only when complete."""
    path = Path(path)
    tmp = _atomic_target(path)
    count = 0
    with tmp.open("w", encoding="utf-8") as out:
        for probe in store.iter_probes(phase):
            out.write(json.dumps(probe.to_flat_dict(), ensure_ascii=False) + "\n")
            count += 1
    os.replace(tmp, path)
    return count


def _table(rows: list[dict[str, Any]]):  # -> pyarrow.Table
    import pyarrow as pa

    flat = [{**r, "messages": json.dumps(r["messages"], ensure_ascii=False)} for r in rows]
    return pa.Table.from_pylist(flat) if flat else pa.table({})


def export_parquet(store: RunStore, path: str | Path, phase: str | None = "discovery") -> int:
    """Write the probes as a Parquet table (``messages`` as a JSON string)."""
    import pyarrow.parquet as pq

    path = Path(path)
    rows = probe_rows(store, phase)
    tmp = _atomic_target(path)
    pq.write_table(_table(rows), tmp)
    os.replace(tmp, path)
    return len(rows)


def to_dataset(store: RunStore, phase: str | None = "discovery"):  # -> datasets.Dataset
    """The probes as a ``datasets.Dataset`` (one row per probe) for training stages."""
    from datasets import Dataset

    rows = probe_rows(store, phase)
    return Dataset.from_list(rows) if rows else Dataset.from_dict({})
