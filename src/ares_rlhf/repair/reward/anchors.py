"""User-supplied anchor preference data that keeps a repaired reward model general.

A general preference dataset (a Hugging Face dataset id, or a local JSONL / JSON / Parquet file)
with ``chosen`` and ``rejected`` columns, each either a string or a list of chat messages, plus an
optional ``prompt`` column (string or messages). It is mixed into reward-model repair next to the
adversarial pairs and the built-in benign pairs (:func:`ares_rlhf.repair.reward.pairs.benign_pairs`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ares_rlhf.errors import DataError
from ares_rlhf.records import PreferencePair, freeze_messages

# -- user-supplied general preference data -------------------------------------------------------
_LOCAL_FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}


def _load_rows(source: str) -> tuple[list[dict[str, Any]], list[str]]:
    path = Path(source)
    suffix = path.suffix.lower()
    try:
        from datasets import load_dataset
    except ImportError as error:  # pragma: no cover - datasets is a dependency
        raise DataError(
            f"anchor dataset {source}: needs the 'datasets' package ({error})"
        ) from None
    if suffix in _LOCAL_FORMATS or path.exists():
        if not path.is_file():
            raise DataError(f"anchor dataset {source}: no such file")
        if suffix not in _LOCAL_FORMATS:
            raise DataError(
                f"anchor dataset {source}: unsupported file type {suffix or '(none)'}; use .jsonl, .json or .parquet"
            )
        try:
            dataset = load_dataset(_LOCAL_FORMATS[suffix], data_files=str(path), split="train")
        except Exception as error:
            raise DataError(f"anchor dataset {source}: cannot be read ({error})") from None
    else:
        try:
            dataset = load_dataset(source, split="train")
        except Exception as error:
            from ares_rlhf.runtime import offline_hint

            raise DataError(
                f"anchor dataset {source!r}: not a local file and could not be loaded from the Hugging Face hub ({type(error).__name__}: {error}); {offline_hint()}"
            ) from None
    return dataset.to_list(), list(dataset.column_names)


def _messages(value: Any, what: str, source: str, row: int) -> list[dict[str, str]]:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if isinstance(value, list) and all(
        isinstance(m, dict) and "role" in m and "content" in m for m in value
    ):
        return [{"role": str(m["role"]), "content": str(m["content"])} for m in value]
    raise DataError(
        f"anchor dataset {source}: row {row}: {what} must be a string or a list of chat messages"
    )


def _response(value: Any, what: str, source: str, row: int) -> tuple[list[dict[str, str]], str]:
    """(conversation before the answer, answer text) of a chosen/rejected cell."""
    if isinstance(value, str):
        return [], value
    messages = _messages(value, what, source, row)
    if not messages or messages[-1]["role"] != "assistant":
        raise DataError(
            f"anchor dataset {source}: row {row}: {what} messages must end with an assistant message"
        )
    return messages[:-1], messages[-1]["content"]


def pairs_from_rows(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], source: str
) -> list[PreferencePair]:
    """Validate and convert preference rows (see module docstring for the accepted formats)."""
    missing = [c for c in ("chosen", "rejected") if c not in columns]
    if missing:
        raise DataError(
            f"anchor dataset {source}: missing column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} (found: {', '.join(columns) or 'none'}); it needs chosen and rejected, and optionally prompt"
        )
    if not rows:
        raise DataError(f"anchor dataset {source}: has no rows")
    pairs = []
    for index, row in enumerate(rows):
        chosen_context, chosen = _response(row["chosen"], "chosen", source, index)
        rejected_context, rejected = _response(row["rejected"], "rejected", source, index)
        if row.get("prompt") is not None:
            prompt = _messages(row["prompt"], "prompt", source, index)
        else:
            prompt = chosen_context or rejected_context
        if not prompt:
            prompt = [{"role": "user", "content": ""}]
        if chosen == rejected:
            continue
        messages = freeze_messages(prompt)
        group = hashlib.sha1(repr(messages).encode()).hexdigest()[:12]
        pairs.append(PreferencePair(messages, chosen, rejected, "anchor", None, f"anchor-{group}"))
    return pairs


def load_anchor_dataset(source: str) -> list[PreferencePair]:
    """Preference pairs from an HF dataset id or a local JSONL/JSON/Parquet file.

    Raises ``DataError`` naming the problem (missing columns, unreadable file, bad cell types).
    """
    rows, columns = _load_rows(source)
    return pairs_from_rows(rows, columns, source)
