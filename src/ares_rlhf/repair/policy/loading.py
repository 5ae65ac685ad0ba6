"""Loading the policy for training through its chat backend, and rendering its prompts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ares_rlhf.backends import chat_model_from_config, split_spec
from ares_rlhf.config import ModelConfig
from ares_rlhf.errors import BackendError
from ares_rlhf.records import Message

PLAIN_PROMPT = "Question: {question}\nAnswer:"
"""How a conversation is rendered for a policy without a chat template (``chat_format: plain``)."""


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


@dataclass
class LoadedPolicy:
    """The policy loaded for training, through its chat backend."""

    chat: Any
    """The backend chat model (samples for ``dpo-rm``; renders prompts exactly as at inference)."""
    model: Any
    tokenizer: Any
    adapter_base: str | None
    """Where a repair adapter's base lives (the policy's own hf target), or ``None``: save merged."""

    @property
    def conversational(self) -> bool:
        return bool(getattr(self.chat, "uses_chat_template", False))

    def trainer_prompt(self, conversation: list[Message]) -> Any:
        """The prompt as the trainer sees it: messages (chat template) or the rendered text."""
        if self.conversational:
            return [dict(m) for m in conversation]
        render = getattr(self.chat, "render", None)
        return render(conversation) if callable(render) else render_plain_prompt(conversation)

    @property
    def stops(self) -> list[str]:
        """Text after which the backend cuts an answer (the plain format's next ``Question:``)."""
        if self.conversational:
            return []
        from ares_rlhf.backends.hf import PLAIN_STOP

        return [PLAIN_STOP]


def load_trainable_policy(policy: ModelConfig) -> LoadedPolicy:
    """Load the policy through its backend for training.

    A policy that is itself a LoRA adapter (an SFT adapter, an earlier repair) is loaded merged,
    so a fresh repair adapter trains on top and the KL anchor is the full initial policy; such a
    policy (and any non-``hf:`` one) is saved merged after repair.
    """
    chat = chat_model_from_config(policy)
    model = getattr(chat, "model", None)
    tokenizer = getattr(chat, "tokenizer", None)
    if model is None or tokenizer is None:
        raise BackendError(
            f"policy {policy.spec!r}: policy repair needs a local transformers model "
            "(an hf: spec or the embedded policy), not a remote or simulated one"
        )
    if hasattr(model, "peft_config"):
        model = model.merge_and_unload()
        chat.model = model
    scheme, target = split_spec(policy.spec)
    adapter_base = None
    if scheme == "hf" and not (Path(target).expanduser() / "adapter_config.json").exists():
        local = Path(target).expanduser()
        adapter_base = str(local.resolve()) if local.exists() else target
    elif scheme == "embedded":
        # the embedded policy is served from a plain (already merged) cached model folder
        folder = Path(str(getattr(model, "name_or_path", "") or "/nonexistent"))
        if (folder / "config.json").is_file() and not (folder / "adapter_config.json").exists():
            adapter_base = str(folder.resolve())
    return LoadedPolicy(chat, model, tokenizer, adapter_base)


def render_plain_prompt(conversation: Sequence[Message]) -> str:
    """A Question/Answer prompt (fallback when the backend has no renderer of its own)."""
    question = next((m["content"] for m in reversed(conversation) if m["role"] == "user"), "")
    return PLAIN_PROMPT.format(question=question)
