"""The harm-judge interface and its registry."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from ares_rlhf.errors import BackendError
from ares_rlhf.records import JudgeVerdict


class HarmJudge(ABC):
    """Decides whether a response to a prompt is harmful.

    A judge that cannot decide returns ``JudgeLabel.UNSCORED``, never ``SAFE``.
    """

    judge_id: str = ""

    @abstractmethod
    def judge(self, prompts: Sequence[str], responses: Sequence[str]) -> list[JudgeVerdict]:
        """One verdict per (prompt, response) pair, in order."""


class ModelJudge(HarmJudge):
    """A judge that asks a chat model about each (prompt, response) and parses its answer.

    Subclasses set ``model``, ``params`` and ``batch_size`` and implement
    :meth:`conversation` (what to ask) and :meth:`verdict` (how to read the answer).
    """

    model: Any
    params: Any
    batch_size: int = 8
    model_role: str = "judge model"

    @abstractmethod
    def conversation(self, prompt: str, response: str) -> list[dict[str, str]]:
        """The chat messages that ask the model about one pair."""

    @abstractmethod
    def verdict(self, answer: str) -> JudgeVerdict:
        """Parse the model's answer; unparseable output must give ``UNSCORED``."""

    def read(self, conversation: list[dict[str, str]], answer: str) -> JudgeVerdict:
        """The verdict for ``answer`` to ``conversation`` (subclasses check it is a fresh answer)."""
        return self.verdict(answer)

    def judge(self, prompts: Sequence[str], responses: Sequence[str]) -> list[JudgeVerdict]:
        if len(prompts) != len(responses):
            raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
        verdicts: list[JudgeVerdict] = []
        for start in range(0, len(prompts), self.batch_size):
            end = start + self.batch_size
            conversations = [
                self.conversation(p, r)
                for p, r in zip(prompts[start:end], responses[start:end], strict=True)
            ]
            answers = self.model.generate(conversations, self.params)
            if len(answers) != len(conversations):
                raise BackendError(
                    f"{self.model_role} {self.model.model_id} returned {len(answers)} answers "
                    f"for {len(conversations)} requests"
                )
            verdicts.extend(
                self.read(conversation, answer)
                for conversation, answer in zip(conversations, answers, strict=True)
            )
        return verdicts


JudgeFactory = Callable[..., HarmJudge]
_JUDGES: dict[str, JudgeFactory] = {}
_JUDGE_MODULES = {
    "refusal": "ares_rlhf.judges.refusal",
    "rubric": "ares_rlhf.judges.rubric",
    "classifier": "ares_rlhf.judges.classifier",
}


def register_judge(kind: str) -> Callable[[JudgeFactory], JudgeFactory]:
    """Decorator registering ``factory(model=ChatModel|None, **options) -> HarmJudge`` under ``kind``."""

    def wrap(factory: JudgeFactory) -> JudgeFactory:
        _JUDGES[kind] = factory
        return factory

    return wrap


def create_judge(kind: str, **options: Any) -> HarmJudge:
    if kind not in _JUDGES and kind in _JUDGE_MODULES:
        importlib.import_module(_JUDGE_MODULES[kind])
    if kind not in _JUDGES:
        raise BackendError(
            f"unknown judge kind {kind!r}; known: {', '.join(sorted(set(_JUDGE_MODULES) | set(_JUDGES)))}"
        )
    return _JUDGES[kind](**options)


def judge_kinds() -> list[str]:
    return sorted(set(_JUDGE_MODULES) | set(_JUDGES))
