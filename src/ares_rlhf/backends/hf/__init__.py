"""``hf:`` backends: transformers chat models and sequence-classification reward models.

``hf:TARGET`` names a hub id (``hf:Qwen/Qwen3-1.7B``) or a local folder (``hf:./runs/x/policy``).
A folder holding a PEFT adapter (``adapter_config.json``) loads the base model named there and
applies the adapter. torch/transformers/peft are imported only when a model is built.

Both classes also wrap an already-loaded model and tokenizer (``HFChatModel(model, tokenizer)``),
which is how the repair stages score and sample from the models they train.
"""

from __future__ import annotations

from typing import Any

from ares_rlhf.backends.base import ChatModel, RewardModel, register_chat, register_reward
from ares_rlhf.backends.hf.chat import HFChatModel
from ares_rlhf.backends.hf.loading import (
    CHAT_FORMATS,
    DTYPES,
    keep_lm_head_input_contiguous,
    load_pretrained,
    resolve_device,
    resolve_dtype,
)
from ares_rlhf.backends.hf.render import PLAIN_STOP, render_pair_prompt, render_plain
from ares_rlhf.backends.hf.reward import HFRewardModel
from ares_rlhf.errors import BackendError

__all__ = [
    "CHAT_FORMATS",
    "DTYPES",
    "PLAIN_STOP",
    "HFChatModel",
    "HFRewardModel",
    "keep_lm_head_input_contiguous",
    "load_pretrained",
    "render_pair_prompt",
    "render_plain",
    "resolve_device",
    "resolve_dtype",
]


@register_chat("hf")
def _chat(target: str, **options: Any) -> ChatModel:
    return HFChatModel.from_pretrained(target, **_known(options, HFChatModel.from_pretrained))


@register_reward("hf")
def _reward(target: str, **options: Any) -> RewardModel:
    return HFRewardModel.from_pretrained(target, **_known(options, HFRewardModel.from_pretrained))


def _known(options: dict[str, Any], function: Any) -> dict[str, Any]:
    """Options the loader accepts; an unknown one is a user error, ``None`` means default."""
    import inspect

    accepted = set(inspect.signature(function).parameters) - {"cls", "target"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise BackendError(
            f"hf backend: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(accepted))}"
        )
    return {k: v for k, v in options.items() if v is not None}
