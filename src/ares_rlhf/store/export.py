"""Export a run's probes to JSONL, Parquet or a Hugging Face ``datasets.Dataset``."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ares_rlhf.errors import StoreError
from ares_rlhf.store.files import STORE_SUFFIXES
from ares_rlhf.store.lock import LOCK_NAME
from ares_rlhf.store.sqlite import RunStore


def probe_rows(store: RunStore, phase: str | None = "discovery") -> list[dict[str, Any]]:
    return [p.to_flat_dict() for p in store.iter_probes(phase)]


_EXPORT_NAME = re.compile(r"^probes-[^/]*\.(jsonl|parquet)$")


def check_export_target(store: RunStore, path: Path) -> None:
    """Refuse an export path that is a run-store file, a folder, or another run file to replace."""
    target = path.resolve()
    protected = {Path(f"{store.db_path}{suffix}").resolve() for suffix in STORE_SUFFIXES} | {
        (Path(store.run_dir) / LOCK_NAME).resolve()
    }
    if target in protected:
        raise StoreError(
            f"{path}: is a file of the run store in {store.run_dir}; refusing to overwrite it "
            "(choose another --out)"
        )
    if target.is_dir():
        raise StoreError(f"{path}: is a folder; give the export a file name")
    if target.exists() and not target.is_file():
        raise StoreError(f"{path}: not a regular file (a device or pipe); refusing to replace it")
    run_dir = Path(store.run_dir).resolve()
    if target.exists() and run_dir in target.parents and not _EXPORT_NAME.match(target.name):
        raise StoreError(
            f"{path}: already exists inside the run folder {store.run_dir}; refusing to "
            "overwrite a run file (exports there are named probes-*.jsonl / probes-*.parquet)"
        )


@contextmanager
def _atomic_target(store: RunStore, path: Path) -> Iterator[Path]:
    """A ``.partial`` file that replaces ``path`` only when complete (and is removed otherwise)."""
    check_export_target(store, path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(
            f"{path}: cannot create the export folder ({error.strerror or error})"
        ) from None
    tmp = path.with_name(path.name + ".partial")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as error:  # a full disk, a folder that refuses new files...
        _discard(tmp)
        raise StoreError(
            f"{path}: cannot write the export ({error.strerror or error}); nothing was written"
        ) from None
    except BaseException:
        _discard(tmp)
        raise


def _discard(tmp: Path) -> None:
    try:
        tmp.unlink(missing_ok=True)
    except OSError:
        pass


def export_jsonl(store: RunStore, path: str | Path, phase: str | None = "discovery") -> int:
    """Write one JSON object per probe; returns the row count. The file appears only when complete."""
    path = Path(path)
    count = 0
    with _atomic_target(store, path) as tmp, tmp.open("w", encoding="utf-8") as out:
        for probe in store.iter_probes(phase):
            out.write(json.dumps(probe.to_flat_dict(), ensure_ascii=False) + "\n")
            count += 1
        out.flush()
        os.fsync(out.fileno())
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
    with _atomic_target(store, path) as tmp:
        pq.write_table(_table(rows), tmp)
    return len(rows)


def to_dataset(store: RunStore, phase: str | None = "discovery"):  # -> datasets.Dataset
    """The probes as a ``datasets.Dataset`` (one row per probe) for training stages."""
    from datasets import Dataset

    rows = probe_rows(store, phase)
    return Dataset.from_list(rows) if rows else Dataset.from_dict({})
