"""Run-folder files: make a run folder, and undo exactly what a failed start made."""

from __future__ import annotations

import os
from pathlib import Path

from ares_rlhf.errors import StoreError

STORE_SUFFIXES = ("", "-wal", "-shm", "-journal")
"""The SQLite database file and its companions."""


def make_run_dir(run_dir: Path) -> list[Path]:
    """Create ``run_dir`` (and missing parents); returns the folders made, outermost first.

    Raises ``StoreError`` (one line) when a path component is a file or cannot be written.
    """
    run_dir = Path(run_dir)
    missing: list[Path] = []
    for folder in (run_dir, *run_dir.parents):
        if folder.exists():
            if not folder.is_dir():
                raise StoreError(f"{run_dir}: cannot create the run folder: {folder} is a file")
            break
        missing.append(folder)
    missing.reverse()
    try:
        for folder in missing:
            folder.mkdir()
    except OSError as error:
        remove_empty_dirs(missing)
        raise StoreError(
            f"{run_dir}: cannot create the run folder ({error.strerror or error})"
        ) from None
    if not os.access(run_dir, os.W_OK | os.X_OK):
        raise StoreError(f"{run_dir}: the run folder is not writable")
    return missing


def remove_store_files(db_path: Path) -> None:
    """Delete a store's database and its WAL/SHM/journal files (missing ones are skipped)."""
    for suffix in STORE_SUFFIXES:
        try:
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        except OSError:
            pass


def remove_empty_dirs(made: list[Path]) -> None:
    """Remove the folders in ``made`` (innermost first) that are empty; never anything else."""
    for folder in reversed(made):
        try:
            folder.rmdir()
        except OSError:
            return  # not empty (or gone): leave it and its parents alone


SQLITE_MAGIC = b"SQLite format 3\x00"


def sqlite_header_problem(db_path: Path) -> str | None:
    """Why ``db_path`` cannot be an SQLite database (read before SQLite touches the file)."""
    try:
        with Path(db_path).open("rb") as handle:
            head = handle.read(100)
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    if not head:
        return "not an ARES run store (an empty file)"
    if not head.startswith(SQLITE_MAGIC[: len(head)]) or not head.startswith(SQLITE_MAGIC):
        return "not an ARES run store (not an SQLite database)"
    if len(head) < 100:
        return "not an ARES run store (a truncated SQLite file)"
    return None
