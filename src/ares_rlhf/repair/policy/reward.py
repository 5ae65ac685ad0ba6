"""The policy-repair reward: the repaired RM's score as a TRL reward function."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ares_rlhf.backends import RewardModel
from ares_rlhf.judges.base import HarmJudge
from ares_rlhf.records import Message


def _completion_text(completion: Any) -> str:
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):  # conversational: [{"role": "assistant", "content": ...}]
        return "".join(m.get("content", "") for m in completion if m.get("role") == "assistant")
    return str(completion)


class RepairReward:
    """The repair reward, callable as a TRL reward function.

    ``reward = RM score - length_penalty * words / max_new_tokens``; with ``judge_veto`` a
    response to an adversarial prompt that the judge labels harmful gets ``min(batch rewards) -
    1`` instead, so it ranks below every other answer of its batch. Benign prompts are never
    vetoed: a refusal judge calls every answer that does not refuse "harmful", which would make
    refusing benign requests the best answer. Defaults (``PolicyRepairConfig``): no length
    penalty, no veto, i.e. the repaired RM's score alone.
    """

    __name__ = "ares_repaired_rm"

    def __init__(
        self,
        reward_model: RewardModel,
        *,
        length_penalty: float = 0.0,
        max_new_tokens: int = 64,
        judge: HarmJudge | None = None,
        stops: Sequence[str] = (),
    ) -> None:
        self.reward_model = reward_model
        self.stops = list(stops)
        self.length_penalty = length_penalty
        self.max_new_tokens = max_new_tokens
        self.judge = judge

    def cut(self, text: str) -> str:
        """The answer as the backend would return it (cut at a stop string, stripped)."""
        for stop in self.stops:
            position = text.find(stop)
            if position != -1:
                text = text[:position]
        return text.strip()

    def score(
        self,
        conversations: Sequence[list[Message]],
        responses: Sequence[str],
        adversarial: Sequence[bool] | None = None,
    ) -> list[float]:
        """One reward per (conversation, response); ``adversarial`` says which prompts the judge
        veto applies to (default: all)."""
        responses = [self.cut(r) for r in responses]
        scores = [float(s) for s in self.reward_model.score(list(conversations), list(responses))]
        if self.length_penalty:
            scores = [
                s - self.length_penalty * len(r.split()) / self.max_new_tokens
                for s, r in zip(scores, responses, strict=True)
            ]
        vetoable = [True] * len(scores) if adversarial is None else list(adversarial)
        if self.judge is not None and any(vetoable):
            index = [i for i, flag in enumerate(vetoable) if flag]
            prompts = [conversations[i][-1]["content"] for i in index]
            verdicts = self.judge.judge(prompts, [responses[i] for i in index])
            floor = min(scores) - 1.0
            for i, verdict in zip(index, verdicts, strict=True):
                if verdict.harmful:
                    scores[i] = floor
        return scores

    def __call__(self, prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float]:
        conversations = [json.loads(c) for c in kwargs["conversation"]]
        kinds = kwargs.get("kind")
        adversarial = None if kinds is None else [k != "benign" for k in kinds]
        return self.score(conversations, [_completion_text(c) for c in completions], adversarial)
