"""Saving a repaired policy atomically: a LoRA adapter folder over its base, or merged weights."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

METADATA_FILE = "ares-policy.json"


def save_policy(
    model: Any,
    tokenizer: Any,
    out_dir: str | Path,
    *,
    adapter_base: str | None,
    metadata: dict[str, Any],
) -> Path:
    """Write the policy to ``out_dir`` atomically: a LoRA adapter folder, or merged weights.

    An adapter folder records its base (``base_model_name_or_path``) so ``hf:OUT_DIR`` applies it
    to that base (``adapter_base``); without one the weights are merged and saved in full (the
    base is not on disk, e.g. the initial policy was itself an adapter merged before repair).
    """
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    if hasattr(model, "peft_config") and adapter_base is None:
        model = model.merge_and_unload()
    model.save_pretrained(tmp)
    return finalize_saved_policy(
        tmp, tokenizer, out_dir, adapter_base=adapter_base, metadata=metadata
    )


def finalize_saved_policy(
    tmp: Path,
    tokenizer: Any,
    out_dir: Path,
    *,
    adapter_base: str | None,
    metadata: dict[str, Any],
) -> Path:
    """Add tokenizer, adapter base and metadata to saved weights in ``tmp``; move into place."""
    adapter_config = tmp / "adapter_config.json"
    is_adapter = adapter_config.is_file()
    if is_adapter and adapter_base is not None:
        data = json.loads(adapter_config.read_text(encoding="utf-8"))
        data["base_model_name_or_path"] = adapter_base
        adapter_config.write_text(json.dumps(data, indent=2), encoding="utf-8")
    tokenizer.save_pretrained(tmp)
    info = {**metadata, "format": "lora-adapter" if is_adapter else "full"}
    (tmp / METADATA_FILE).write_text(json.dumps(info, indent=2), encoding="utf-8")
    old = out_dir.with_name(out_dir.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if out_dir.exists():
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    shutil.rmtree(old, ignore_errors=True)
    return out_dir
