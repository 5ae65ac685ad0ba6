"""Loading transformers models for the ``hf:`` backends: device and dtype, PEFT adapters, padding."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from ares_rlhf.errors import BackendError

logger = logging.getLogger(__name__)

CHAT_FORMATS = ("auto", "chat_template", "plain")
DTYPES = ("auto", "float32", "bfloat16", "float16")


def resolve_device(device: str | None) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; anything else is passed on."""
    import torch

    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(dtype: str | None, device: str, *, native_bf16_on_cpu: bool = False) -> Any:
    """``auto``: the checkpoint's own dtype on accelerators; float32 on CPU, or, with
    ``native_bf16_on_cpu`` (causal LMs), bfloat16 where the CPU computes it natively
    (:func:`ares_rlhf.runtime.best_cpu_dtype`)."""
    import torch

    if dtype in (None, "", "auto"):
        if device == "cpu":
            from ares_rlhf.runtime import best_cpu_dtype

            return getattr(torch, best_cpu_dtype() if native_bf16_on_cpu else "float32")
        return "auto"
    if dtype not in DTYPES:
        raise BackendError(f"hf backend: dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    return getattr(torch, dtype)


def _looks_like_path(target: str) -> bool:
    """An existing path, or one written as a path (``/x``, ``./x``, ``~/x``); else a hub id."""
    return target.startswith(("/", ".", "~")) or Path(target).expanduser().exists()


def _adapter_base(folder: Path) -> str | None:
    """The base model an adapter folder names, or ``None`` when the folder is a full model."""
    config_file = folder / "adapter_config.json"
    if not config_file.is_file():
        return None
    try:
        base = json.loads(config_file.read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (OSError, json.JSONDecodeError) as exc:
        raise BackendError(f"hf backend: cannot read {config_file}: {exc}") from exc
    if not base:
        raise BackendError(
            f"hf backend: {config_file} has no base_model_name_or_path; cannot load the adapter"
        )
    return str(base)


def _load_error(target: str, exc: Exception) -> BackendError:
    from ares_rlhf.runtime import hub_allowed, offline_hint

    offline = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE")
    hint = (
        " (offline: only local folders and models already in the Hugging Face cache load; "
        f"{offline_hint()})"
        if offline not in (None, "", "0") and not hub_allowed()
        else " (check the hub id, your network/HF_TOKEN, or use a local folder)"
    )
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return BackendError(f"hf backend: cannot load {target!r}{hint}: {first_line}")


def _contiguous_inputs(module: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    first = args[0] if args else None
    if first is not None and hasattr(first, "is_contiguous") and not first.is_contiguous():
        return (first.contiguous(), *args[1:])
    return args


def keep_lm_head_input_contiguous(model: Any) -> bool:
    """Make the LM head's input contiguous before it is projected; ``True`` when hooked.

    During generation the head gets a strided slice of the hidden states (the last position).
    When the head's weight does not require grad (an adapter merged into a frozen base), torch's
    ``matmul`` then does not fold the batch into one ``mm`` but expands the weight per sequence
    and copies it (16 x 262k x 640 values for Gemma at batch 16): measured on 2 CPU cores,
    a repaired (merged) Gemma 270M generated 4x slower than the same model with grad flags on.
    Copying the small slice instead keeps every policy on the fast path.
    """
    get_head = getattr(model, "get_output_embeddings", None)
    head = get_head() if callable(get_head) else None
    if head is None or getattr(head, "_ares_contiguous_input", False):
        return False
    head.register_forward_pre_hook(_contiguous_inputs)
    head._ares_contiguous_input = True
    return True


def load_pretrained(
    target: str,
    auto_class_name: str,
    *,
    device: str | None = "auto",
    dtype: str | None = "auto",
    device_map: str | dict | None = None,
    trust_remote_code: bool = False,
    merge_adapter: bool = True,
    model_kwargs: dict[str, Any] | None = None,
) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` from a hub id, a model folder or a PEFT adapter folder.

    ``auto_class_name`` is a transformers auto class (``AutoModelForCausalLM``...). Adapter
    folders load the base model named in ``adapter_config.json``, apply the adapter and (with
    ``merge_adapter``) merge it for faster inference. The model is put in eval mode.
    """
    import transformers

    auto_class = getattr(transformers, auto_class_name)
    path = Path(target).expanduser()
    if _looks_like_path(target) and not path.exists():
        raise BackendError(f"hf backend: model folder {str(path)!r} does not exist")
    if path.exists() and not path.is_dir():
        raise BackendError(f"hf backend: {str(path)!r} is a file; give the model folder")
    adapter_base = _adapter_base(path) if path.is_dir() else None
    weights_source = adapter_base or target
    resolved_device = resolve_device(device if device_map is None else "auto")
    kwargs: dict[str, Any] = {
        "dtype": resolve_dtype(
            dtype, resolved_device, native_bf16_on_cpu=auto_class_name == "AutoModelForCausalLM"
        ),
        "trust_remote_code": trust_remote_code,
        **(model_kwargs or {}),
    }
    if device_map is not None:
        kwargs["device_map"] = device_map
    try:
        model = auto_class.from_pretrained(weights_source, **kwargs)
    except (OSError, ValueError) as exc:
        raise _load_error(weights_source, exc) from exc
    tokenizer_source = target
    if adapter_base and not (path / "tokenizer_config.json").is_file():
        tokenizer_source = adapter_base
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(
            tokenizer_source, trust_remote_code=trust_remote_code
        )
    except (OSError, ValueError) as exc:
        raise _load_error(tokenizer_source, exc) from exc
    if adapter_base:
        try:
            from peft import PeftModel
        except ImportError as exc:  # pragma: no cover - peft is a dependency
            raise BackendError(f"hf backend: {target!r} is a PEFT adapter; install peft") from exc
        try:
            model = PeftModel.from_pretrained(model, str(path))
        except (OSError, ValueError, RuntimeError) as exc:
            raise BackendError(
                f"hf backend: cannot apply adapter {str(path)!r} to {adapter_base!r}: {exc}"
            ) from exc
        if merge_adapter:
            try:
                model = model.merge_and_unload()
            except (ValueError, RuntimeError, NotImplementedError) as exc:
                logger.warning("keeping adapter unmerged (%s)", exc)
    if device_map is None:
        model = model.to(resolved_device)
    keep_lm_head_input_contiguous(model)
    model.eval()
    return model, tokenizer


def _ensure_pad_token(tokenizer: Any) -> None:
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        elif tokenizer.unk_token is not None:
            tokenizer.pad_token = tokenizer.unk_token


def _model_device(model: Any) -> Any:
    try:
        return next(model.parameters()).device
    except StopIteration:  # pragma: no cover - a model always has parameters
        import torch

        return torch.device("cpu")


def _check_chat_format(chat_format: str) -> str:
    if chat_format not in CHAT_FORMATS:
        raise BackendError(
            f"hf backend: chat_format {chat_format!r} is not one of {', '.join(CHAT_FORMATS)}"
        )
    return chat_format
