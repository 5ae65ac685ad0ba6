"""How ARES reaches models: chat models and reward models behind one registry.

Schemes: ``hf`` (transformers), ``openai`` (OpenAI-compatible HTTP: vLLM, Ollama, OpenAI...),
``gguf-pkg`` (a GGUF model shipped in a PyPI package), ``sim`` (ground-truth arena) and
``scripted`` (canned answers for tests). Heavy libraries load only inside the backend used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ares_rlhf.backends.base import (
    ChatModel,
    RewardModel,
    SamplingParams,
    create_chat_model,
    create_reward_model,
    known_schemes,
    register_chat,
    register_reward,
    split_spec,
)

if TYPE_CHECKING:
    from ares_rlhf.config import ModelConfig

COMMON_OPTIONS = ("device", "dtype", "device_map", "chat_format", "max_length")


def _options(config: ModelConfig) -> dict[str, Any]:
    options: dict[str, Any] = {name: getattr(config, name) for name in COMMON_OPTIONS}
    options.update(config.options)
    return options


def chat_model_from_config(config: ModelConfig) -> ChatModel:
    """Build a chat model from a ``ModelConfig`` (spec + device/dtype/... + backend options)."""
    return create_chat_model(config.spec, **_options(config))


def reward_model_from_config(config: ModelConfig) -> RewardModel:
    """Build a reward model from a ``ModelConfig``."""
    return create_reward_model(config.spec, **_options(config))


def sampling_from_config(generation: Any, seed: int | None = None) -> SamplingParams:
    return SamplingParams(
        max_new_tokens=generation.max_new_tokens,
        temperature=generation.temperature,
        top_p=generation.top_p,
        seed=seed,
    )


__all__ = [
    "COMMON_OPTIONS",
    "ChatModel",
    "RewardModel",
    "SamplingParams",
    "chat_model_from_config",
    "create_chat_model",
    "create_reward_model",
    "known_schemes",
    "register_chat",
    "register_reward",
    "reward_model_from_config",
    "sampling_from_config",
    "split_spec",
]
