"""Export a run's data as datasets other training stacks read: JSONL, Parquet, a saved HF dataset.

Rows are plain dicts with an explicit Arrow schema, so every format has the same columns and
types (an empty export too). Chat messages are lists of ``{"role", "content"}`` objects, never
JSON strings (TRL's conversational format). Every row set carries a ``split`` column
(``train`` / ``heldout``; null for what lies outside the run's split) so held-out data is not
trained on by accident. See docs/exports.md.

Safety: an export never replaces a run-store file, another run file or a folder that is not an
earlier export; the file (or folder) appears only when complete.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ares_rlhf.errors import BackendError, DataError, StoreError
from ares_rlhf.records import Probe
from ares_rlhf.split import SPLIT_STATE_KEY, Split
from ares_rlhf.store.files import STORE_SUFFIXES
from ares_rlhf.store.lock import LOCK_NAME
from ares_rlhf.store.sqlite import RunStore

EXPORT_FORMATS = ("jsonl", "parquet", "hf")
EXPORT_DATASETS = ("probes", "rm-pairs", "policy-prompts")
_EXPORT_NAME = re.compile(r"^(probes|rm-pairs|policy-prompts)[^/]*\.(jsonl|parquet)$")
_EXPORT_FOLDER = re.compile(r"^(probes|rm-pairs|policy-prompts)[^/]*$")
SAVED_DATASET_FILES = ("dataset_info.json", "state.json")
"""What ``datasets.Dataset.save_to_disk`` writes beside its ``data-*.arrow`` shards."""
HUB_SPLITS = {"train": "train", "heldout": "heldout", None: "unsplit"}
"""Row ``split`` value -> the split name it is pushed under."""


# -- columns ---------------------------------------------------------------------------------------
def messages_type():  # -> pyarrow.DataType
    """A conversation: ``list<struct<role: string, content: string>>``."""
    import pyarrow as pa

    return pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))


def as_messages(messages: Sequence[Any]) -> list[dict[str, str]]:
    """Chat messages as ``[{"role", "content"}]`` (other keys dropped)."""
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in messages]


def assistant_turn(text: str | None) -> list[dict[str, str]] | None:
    """One answer as TRL's conversational completion (``[{"role": "assistant", ...}]``)."""
    return [{"role": "assistant", "content": text}] if text else None


_PROBE_COLUMNS: dict[str, str] = {
    "id": "string", "phase": "string", "batch": "int64", "created_at": "float64",
    "topic": "string", "persona": "string", "tactic": "string", "goal": "string",
    "prompt": "string", "messages": "messages", "malicious": "string", "safe": "string",
    "policy_response": "string", "judge_label": "string", "judge_score": "float64",
    "judge_reason": "string", "rm_policy": "float64", "rm_malicious": "float64",
    "rm_safe": "float64", "failure_type": "string", "policy_failed": "bool", "rm_failed": "bool",
    "policy_id": "string", "reward_model_id": "string", "mentor_id": "string",
    "judge_id": "string", "mentor_refused": "bool", "split": "string",
}  # fmt: skip


def schema_of(columns: dict[str, str]):  # -> pyarrow.Schema
    """An Arrow schema from ``name -> type`` (``messages`` for a conversation, else pyarrow's name)."""
    import pyarrow as pa

    return pa.schema(
        [(name, messages_type() if kind == "messages" else pa.type_for_alias(kind))
         for name, kind in columns.items()]
    )  # fmt: skip


def probe_schema():  # -> pyarrow.Schema
    return schema_of(_PROBE_COLUMNS)


def stored_split(store: RunStore) -> Split | None:
    """The run's held-out split, or ``None`` before discovery fixed one."""
    stored = store.get_state(SPLIT_STATE_KEY)
    return None if stored is None else Split.from_dict(stored)


def probe_row(probe: Probe, split: Split | None) -> dict[str, Any]:
    row = probe.to_flat_dict()
    row["messages"] = as_messages(probe.messages)
    row["split"] = None if split is None else split.side(probe.spec)
    return row


def probe_rows(store: RunStore, phase: str | None = "discovery") -> list[dict[str, Any]]:
    """One row per probe of ``phase`` (every phase for ``None``), with its ``split`` side."""
    split = stored_split(store)
    return [probe_row(p, split) for p in store.iter_probes(phase)]


# -- targets ---------------------------------------------------------------------------------------
def _protected(store: RunStore) -> set[Path]:
    return {Path(f"{store.db_path}{suffix}").resolve() for suffix in STORE_SUFFIXES} | {
        (Path(store.run_dir) / LOCK_NAME).resolve()
    }


def check_export_target(store: RunStore, path: Path) -> None:
    """Refuse an export path that is a run-store file, a folder, or another run file to replace."""
    target = path.resolve()
    if target in _protected(store):
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
            "overwrite a run file (exports there are named probes-*, rm-pairs*, "
            "policy-prompts* .jsonl / .parquet)"
        )


def is_saved_dataset(folder: Path) -> bool:
    return folder.is_dir() and all((folder / name).is_file() for name in SAVED_DATASET_FILES)


_DATASET_FILE = re.compile(r"^(data-\d+-of-\d+\.arrow|[^/]+\.json)$")


def _dataset_files_only(folder: Path) -> bool:
    """A folder holding nothing but what ``save_to_disk`` writes (or nothing at all)."""
    if not folder.is_dir() or folder.is_symlink():
        return False
    return all(e.is_file() and _DATASET_FILE.match(e.name) for e in folder.iterdir())


def check_export_folder(store: RunStore, path: Path) -> None:
    """Refuse a ``--format hf`` folder that is (or holds) the run, or replaces anything but an
    earlier saved dataset."""
    target = path.resolve()
    run_dir = Path(store.run_dir).resolve()
    if target == run_dir or target in run_dir.parents:
        raise StoreError(f"{path}: holds the run folder {store.run_dir}; refusing to replace it")
    if target in _protected(store):
        raise StoreError(f"{path}: is a file of the run store in {store.run_dir}")
    if target.exists() and not target.is_dir():
        raise StoreError(
            f"{path}: exists and is not a folder; --format hf writes a folder (a saved dataset)"
        )
    if target.exists() and not is_saved_dataset(target):
        raise StoreError(
            f"{path}: exists and is not a saved dataset; refusing to replace it (choose a new "
            "folder for --out)"
        )
    if target.exists() and run_dir in target.parents and not _EXPORT_FOLDER.match(target.name):
        raise StoreError(
            f"{path}: inside the run folder {store.run_dir} and not named like an export "
            "(probes*, rm-pairs*, policy-prompts*); refusing to replace it"
        )


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(
            f"{path}: cannot create the export folder ({error.strerror or error})"
        ) from None


@contextmanager
def _atomic_target(store: RunStore, path: Path) -> Iterator[Path]:
    """A ``.partial`` file that replaces ``path`` only when complete (and is removed otherwise)."""
    check_export_target(store, path)
    _make_parent(path)
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


@contextmanager
def _atomic_folder(store: RunStore, path: Path) -> Iterator[Path]:
    """A ``.partial`` folder that replaces ``path`` (an earlier export) only when complete."""
    check_export_folder(store, path)
    _make_parent(path)
    tmp, old = path.with_name(path.name + ".partial"), path.with_name(path.name + ".replaced")
    for leftover in (tmp, old):  # from an export killed half-way
        if _dataset_files_only(leftover):
            shutil.rmtree(leftover, ignore_errors=True)
        elif leftover.exists():
            raise StoreError(f"{leftover}: is in the way of the export; remove or rename it")
    try:
        yield tmp
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as error:
        shutil.rmtree(tmp, ignore_errors=True)
        raise StoreError(
            f"{path}: cannot write the export ({error.strerror or error}); nothing was written"
        ) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _discard(tmp: Path) -> None:
    try:
        tmp.unlink(missing_ok=True)
    except OSError:
        pass


# -- writers ---------------------------------------------------------------------------------------
def rows_table(rows: Sequence[dict[str, Any]], schema):  # -> pyarrow.Table
    """The rows as an Arrow table of ``schema`` (missing keys are null, extra keys dropped)."""
    import pyarrow as pa

    return pa.Table.from_pylist(list(rows), schema=schema)


def rows_dataset(rows: Sequence[dict[str, Any]], schema):  # -> datasets.Dataset
    """The rows as a ``datasets.Dataset`` with the features of ``schema``."""
    from datasets import Dataset

    return Dataset(rows_table(rows, schema))


@contextmanager
def _quiet_datasets() -> Iterator[None]:
    import datasets

    enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if enabled:
            datasets.enable_progress_bars()


def write_rows(
    store: RunStore, rows: Sequence[dict[str, Any]], schema, path: str | Path, fmt: str
) -> int:
    """Write ``rows`` as ``jsonl``, ``parquet`` or ``hf`` (a ``save_to_disk`` folder) at ``path``.

    Returns the row count; the target appears only when complete.
    """
    path = Path(path)
    if fmt == "jsonl":
        columns = schema.names
        with _atomic_target(store, path) as tmp, tmp.open("w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps({c: row.get(c) for c in columns}, ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        table = rows_table(rows, schema)
        with _atomic_target(store, path) as tmp:
            pq.write_table(table, tmp)
    elif fmt == "hf":
        if not rows:  # datasets 5.2 saves an empty dataset that load_from_disk cannot read
            raise DataError(f"{path}: nothing to export (no rows); --format hf needs at least one")
        dataset = rows_dataset(rows, schema)
        with _atomic_folder(store, path) as tmp, _quiet_datasets():
            dataset.save_to_disk(str(tmp))
    else:
        raise DataError(f"unknown export format {fmt!r}; choose from {', '.join(EXPORT_FORMATS)}")
    return len(rows)


def hub_splits(rows: Sequence[dict[str, Any]], schema):  # -> datasets.DatasetDict
    """The rows as a ``DatasetDict`` keyed by split side (``train``, ``heldout``, ``unsplit``),
    so loading the hub's ``train`` split never brings held-out rows along."""
    from datasets import DatasetDict

    parts = {
        name: rows_dataset([r for r in rows if r.get("split") == side], schema)
        for side, name in HUB_SPLITS.items()
        if any(r.get("split") == side for r in rows)
    }
    if not parts:
        raise DataError("nothing to push: the export has no rows")
    return DatasetDict(parts)


def push_rows_to_hub(
    rows: Sequence[dict[str, Any]], schema, repo: str, *, private: bool = False
) -> dict[str, int]:
    """Push the rows to the hub dataset repo ``repo`` (``DatasetDict.push_to_hub``); returns the
    rows per split. Uses the token of ``huggingface-cli login`` / ``HF_TOKEN``."""
    parts = hub_splits(rows, schema)
    try:
        with _quiet_datasets():
            parts.push_to_hub(repo, private=private)
    except Exception as error:  # network, auth, a bad repo id: all the user's environment
        if not _hub_failure(error):
            raise
        reason = " ".join(str(error).split()) or type(error).__name__
        raise BackendError(f"--push-to-hub {repo}: {reason[:300]}") from None
    return {name: len(part) for name, part in parts.items()}


HUB_ERROR_LIBRARIES = ("huggingface_hub", "httpx", "httpx2", "requests", "urllib3")
"""Libraries whose errors during a push are the network's, the token's or the repo id's."""


def _hub_failure(error: Exception) -> bool:
    """An error of the hub client or its HTTP stack (or an OSError), not a bug of ours."""
    if isinstance(error, OSError):
        return True
    return any(cls.__module__.split(".")[0] in HUB_ERROR_LIBRARIES for cls in type(error).__mro__)


# -- probes (the original entry points) ------------------------------------------------------------
def export_jsonl(store: RunStore, path: str | Path, phase: str | None = "discovery") -> int:
    """Write one JSON object per probe; returns the row count. The file appears only when complete."""
    return write_rows(store, probe_rows(store, phase), probe_schema(), path, "jsonl")


def export_parquet(store: RunStore, path: str | Path, phase: str | None = "discovery") -> int:
    """Write the probes as a Parquet table (``messages`` as a list of role/content structs)."""
    return write_rows(store, probe_rows(store, phase), probe_schema(), path, "parquet")


def to_dataset(store: RunStore, phase: str | None = "discovery"):  # -> datasets.Dataset
    """The probes as a ``datasets.Dataset`` (one row per probe)."""
    return rows_dataset(probe_rows(store, phase), probe_schema())


__all__ = [
    "EXPORT_DATASETS",
    "EXPORT_FORMATS",
    "as_messages",
    "assistant_turn",
    "check_export_folder",
    "check_export_target",
    "export_jsonl",
    "export_parquet",
    "hub_splits",
    "messages_type",
    "probe_rows",
    "probe_schema",
    "push_rows_to_hub",
    "rows_dataset",
    "rows_table",
    "schema_of",
    "stored_split",
    "to_dataset",
    "write_rows",
]
