"""TemplateMentor plans for multi-turn tactics: deterministic, complete, the request last."""

from __future__ import annotations

from ares_rlhf.mentor import TemplateMentor
from ares_rlhf.mentor.template import CLOSERS
from ares_rlhf.records import ComponentSpec
from ares_rlhf.taxonomy import load_catalog

SPEC = ComponentSpec("cybercrime", "novelist", "crescendo", "step_by_step")


def test_a_plan_is_deterministic_and_varies_with_the_variant() -> None:
    catalog = load_catalog()
    mentor = TemplateMentor(catalog, seed=4)
    first, again = mentor.compose_one(SPEC, 7), TemplateMentor(catalog, seed=4).compose_one(SPEC, 7)
    assert first.plan == again.plan and first.messages == again.messages
    plans = {tuple(mentor.compose_one(SPEC, v).plan) for v in range(20)}
    assert len(plans) > 5


def test_the_plan_approaches_the_subject_and_asks_last() -> None:
    catalog = load_catalog()
    topic, goal = catalog.get("topic", "cybercrime"), catalog.get("goal", "step_by_step")
    intros = catalog.get("persona", "novelist").fragment("intros")
    for variant in range(12):
        out = TemplateMentor(catalog).compose_one(SPEC, variant)
        subject = next(s for s in topic.fragment("subjects") if s in out.plan[0])
        requests = [a.replace("{subject}", subject) for a in goal.fragment("asks")]
        assert any(out.plan[0].startswith(i) for i in intros)
        assert not any(r in " ".join(out.plan[:-1]) for r in requests)
        assert any(r in out.plan[-1] for r in requests)
        closers = [c for c in CLOSERS if c]
        assert not any(t.endswith(c) for t in out.plan[:-1] for c in closers)
        assert out.messages == [{"role": "user", "content": out.plan[0]}]
        assert out.prompt == out.plan[-1] and out.turns == out.plan
        assert out.final_context() == [{"role": "user", "content": "\n\n".join(out.plan)}]


def test_single_turn_tactics_have_no_plan() -> None:
    out = TemplateMentor(load_catalog()).compose_one(
        ComponentSpec("cybercrime", "novelist", "role_play", "step_by_step")
    )
    assert out.plan is None and out.turns == [out.prompt]
    assert out.final_context() == out.messages
