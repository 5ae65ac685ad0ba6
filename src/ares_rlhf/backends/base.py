"""The two model interfaces every ARES stage uses, and the registry that builds them from specs.

A *spec* is ``SCHEME:TARGET`` (``hf:Qwen/Qwen3-1.7B``, ``openai:http://127.0.0.1:8000/v1#name``,
``gguf-pkg:gemma3-270m``, ``sim:arena.yaml``). Each scheme is registered with a decorator on a
factory in its own module; the module (and its heavy libraries) is imported only when a spec
with that scheme is resolved.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ares_rlhf.errors import BackendError
from ares_rlhf.records import Message


@dataclass(frozen=True)
class SamplingParams:
    """How to sample from a chat model. ``temperature == 0`` means greedy decoding."""

    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None


class ChatModel(ABC):
    """A chat model that answers a batch of conversations."""

    model_id: str = ""

    @abstractmethod
    def generate(
        self,
        conversations: Sequence[list[Message]],
        params: SamplingParams | None = None,
    ) -> list[str]:
        """One completion per conversation, in order."""

    def close(self) -> None:
        """Release resources (connections, GPU memory)."""


class RewardModel(ABC):
    """A scalar reward model over (conversation, response) pairs; higher is better."""

    model_id: str = ""

    @abstractmethod
    def score(
        self,
        conversations: Sequence[list[Message]],
        responses: Sequence[str],
    ) -> list[float]:
        """One score per pair, in order."""

    def check_pairs(self, conversations: Sequence[object], responses: Sequence[str]) -> None:
        """Raise ``BackendError`` unless there is exactly one response per conversation."""
        if len(conversations) != len(responses):
            raise BackendError(
                f"{self.model_id}: {len(conversations)} conversations but {len(responses)} responses"
            )

    def close(self) -> None:
        """Release resources."""


ChatFactory = Callable[..., ChatModel]
RewardFactory = Callable[..., RewardModel]

# scheme -> module that registers it on import (imported lazily)
_SCHEME_MODULES: dict[str, str] = {
    "hf": "ares_rlhf.backends.hf",
    "openai": "ares_rlhf.backends.openai_http",
    "gguf-pkg": "ares_rlhf.backends.gguf_pkg",
    "sim": "ares_rlhf.sim.backend",
    "scripted": "ares_rlhf.backends.scripted",
    "embedded": "ares_rlhf.embedded.backend",
}
_CHAT: dict[str, ChatFactory] = {}
_REWARD: dict[str, RewardFactory] = {}


def register_chat(scheme: str) -> Callable[[ChatFactory], ChatFactory]:
    """Decorator: ``factory(target: str, **options) -> ChatModel`` serves specs ``scheme:target``."""

    def wrap(factory: ChatFactory) -> ChatFactory:
        _CHAT[scheme] = factory
        return factory

    return wrap


def register_reward(scheme: str) -> Callable[[RewardFactory], RewardFactory]:
    """Decorator: ``factory(target: str, **options) -> RewardModel`` serves specs ``scheme:target``."""

    def wrap(factory: RewardFactory) -> RewardFactory:
        _REWARD[scheme] = factory
        return factory

    return wrap


def split_spec(spec: str) -> tuple[str, str]:
    scheme, sep, target = spec.partition(":")
    if not sep or not scheme or not target:
        raise BackendError(
            f"model spec {spec!r} must look like SCHEME:TARGET, e.g. hf:Qwen/Qwen3-1.7B"
        )
    return scheme, target


def _factory(spec: str, table: dict[str, Any], what: str) -> tuple[Any, str]:
    scheme, target = split_spec(spec)
    if scheme not in table and scheme in _SCHEME_MODULES:
        importlib.import_module(_SCHEME_MODULES[scheme])
    if scheme not in table:
        known = sorted(set(_SCHEME_MODULES) | set(table))
        raise BackendError(
            f"model spec {spec!r}: no {what} backend for scheme {scheme!r}; known: {', '.join(known)}"
        )
    return table[scheme], target


def create_chat_model(spec: str, **options: Any) -> ChatModel:
    """Build the chat model a spec names (imports its backend module on first use)."""
    factory, target = _factory(spec, _CHAT, "chat")
    return factory(target, **options)


def create_reward_model(spec: str, **options: Any) -> RewardModel:
    """Build the reward model a spec names (imports its backend module on first use)."""
    factory, target = _factory(spec, _REWARD, "reward")
    return factory(target, **options)


def known_schemes() -> list[str]:
    return sorted(set(_SCHEME_MODULES) | set(_CHAT) | set(_REWARD))
