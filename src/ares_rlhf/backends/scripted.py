"""``scripted:`` backends: canned answers for tests and dry runs (no model at all).

``scripted:NAME`` with option ``responses=[...]`` answers in turn (cycling), or with
``respond=callable(conversation) -> str`` computes each answer. The reward model takes
``score_fn=callable(conversation, response) -> float`` (default: response length / 100).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ares_rlhf.backends.base import (
    ChatModel,
    RewardModel,
    SamplingParams,
    register_chat,
    register_reward,
)
from ares_rlhf.errors import BackendError
from ares_rlhf.records import Message


class ScriptedChatModel(ChatModel):
    """Answers from a list (in turn) or a function; records every conversation it saw."""

    def __init__(
        self,
        name: str = "scripted",
        responses: Sequence[str] | None = None,
        respond: Callable[[list[Message]], str] | None = None,
    ) -> None:
        if not responses and respond is None:
            raise BackendError("scripted chat model needs 'responses' or 'respond'")
        self.model_id = f"scripted:{name}"
        self._responses = list(responses or [])
        self._respond = respond
        self._turn = 0
        self.seen: list[list[Message]] = []

    def generate(
        self,
        conversations: Sequence[list[Message]],
        params: SamplingParams | None = None,
    ) -> list[str]:
        out = []
        for conversation in conversations:
            self.seen.append(list(conversation))
            if self._respond is not None:
                out.append(self._respond(list(conversation)))
            else:
                out.append(self._responses[self._turn % len(self._responses)])
            self._turn += 1
        return out


class ScriptedRewardModel(RewardModel):
    def __init__(
        self, name: str = "scripted", score_fn: Callable[[list[Message], str], float] | None = None
    ) -> None:
        self.model_id = f"scripted:{name}"
        self._score_fn = score_fn or (lambda conversation, response: len(response) / 100.0)

    def score(
        self,
        conversations: Sequence[list[Message]],
        responses: Sequence[str],
    ) -> list[float]:
        return [
            float(self._score_fn(list(c), r)) for c, r in zip(conversations, responses, strict=True)
        ]


@register_chat("scripted")
def _chat(
    target: str, responses: Sequence[str] | None = None, respond: Any = None, **_common: Any
) -> ChatModel:
    return ScriptedChatModel(target, responses=responses, respond=respond)


@register_reward("scripted")
def _reward(target: str, score_fn: Any = None, **_common: Any) -> RewardModel:
    return ScriptedRewardModel(target, score_fn=score_fn)
