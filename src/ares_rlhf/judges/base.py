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
