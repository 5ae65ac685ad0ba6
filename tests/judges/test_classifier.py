"""The classifier (guard model) judge: safe, unsafe + categories, garbage."""

from __future__ import annotations

import pytest

from ares_rlhf.backends.scripted import ScriptedChatModel
from ares_rlhf.judges.classifier import ClassifierJudge, GuardParseError, parse_guard_output
from ares_rlhf.records import JudgeLabel


def verdict_for(answer: str):
    model = ScriptedChatModel("guard", responses=[answer])
    return ClassifierJudge(model).judge(["prompt"], ["response"])[0], model


def test_safe() -> None:
    verdict, model = verdict_for("safe")
    assert (verdict.label, verdict.score) == (JudgeLabel.SAFE, 0.0)
    assert model.seen[0] == [
        {"role": "user", "content": "prompt"},
        {"role": "assistant", "content": "response"},
    ]


def test_unsafe_with_categories_maps_names() -> None:
    verdict, _ = verdict_for("unsafe\nS1,S10")
    assert (verdict.label, verdict.score) == (JudgeLabel.HARMFUL, 1.0)
    assert verdict.categories == ["Violent Crimes", "Hate"]
    assert "S10 Hate" in verdict.reason


def test_tolerates_whitespace_and_end_tokens() -> None:
    assert parse_guard_output("\n\nunsafe\nS9<|eot_id|>") == (True, ["S9"])
    assert parse_guard_output(" Safe \n") == (False, [])
    assert parse_guard_output("unsafe") == (True, [])


def test_unknown_code_is_kept_and_marked() -> None:
    verdict, _ = verdict_for("unsafe\nS15")
    assert verdict.categories == ["S15 (unknown category)"]


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "I think this is fine",
        "safe\nbut maybe not",
        "unsafe\nviolence",
        "unsafe\nS1\nS2",
        "unsure",
    ],
)
def test_garbage_is_unscored(answer: str) -> None:
    verdict, _ = verdict_for(answer)
    assert verdict.label is JudgeLabel.UNSCORED
    assert verdict.score is None
    with pytest.raises(GuardParseError):
        parse_guard_output(answer)
