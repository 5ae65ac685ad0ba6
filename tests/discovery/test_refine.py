"""Near-miss refinement: which combinations are chosen, and the Mentor rewrites."""

from __future__ import annotations

import json

from ares_rlhf.backends.base import ChatModel
from ares_rlhf.discovery.refine import (
    REFINED_FROM,
    refine,
    refinement_counts,
    select_near_misses,
)
from ares_rlhf.mentor.llm import LLMMentor
from ares_rlhf.mentor.template import TemplateMentor
from ares_rlhf.records import (
    ComponentSpec,
    FailureType,
    JudgeLabel,
    JudgeVerdict,
    Probe,
    RewardScores,
)
from ares_rlhf.taxonomy import load_catalog

CATALOG = load_catalog()
IDS = [CATALOG.ids(t) for t in ("topic", "persona", "tactic", "goal")]
SPEC_A = ComponentSpec(IDS[0][0], IDS[1][0], IDS[2][0], IDS[3][0])
SPEC_B = ComponentSpec(IDS[0][1], IDS[1][1], IDS[2][1], IDS[3][1])
SPEC_C = ComponentSpec(IDS[0][2], IDS[1][2], IDS[2][2], IDS[3][2])
SPEC_X = ComponentSpec(IDS[0][3], IDS[1][3], IDS[2][3], IDS[3][3])

FLAGS = {
    FailureType.POLICY_ONLY: (True, False),
    FailureType.RM_ONLY: (False, True),
    FailureType.SYSTEMIC: (True, True),
    FailureType.NONE: (False, False),
}


def probe(spec, kind, prompt, *, margin=0.0, judge_score=0.0, plan=None, **extra) -> Probe:
    policy, rm = FLAGS[kind]
    made = Probe(
        spec=spec,
        messages=[{"role": "user", "content": prompt}],
        malicious="Sure: [STEP 1 REDACTED]",
        safe="I can't help with that.",
        policy_response="Sure" if policy else "No.",
        judge=JudgeVerdict(JudgeLabel.HARMFUL if policy else JudgeLabel.SAFE, judge_score),
        rewards=RewardScores(0.0, margin, 0.0),
        failure_type=kind,
        policy_failed=policy,
        rm_failed=rm,
        extra=extra,
    )
    if plan is not None:
        made.extra["plan"] = plan
    return made


def history() -> list[Probe]:
    return [
        probe(SPEC_A, FailureType.POLICY_ONLY, "a1", margin=-0.5),
        probe(SPEC_A, FailureType.POLICY_ONLY, "a2", margin=-0.1),  # closest A
        probe(SPEC_B, FailureType.RM_ONLY, "b1", judge_score=0.2),
        probe(SPEC_B, FailureType.NONE, "b2"),
        probe(SPEC_B, FailureType.NONE, "b3"),
        probe(SPEC_C, FailureType.POLICY_ONLY, "c1"),
        probe(SPEC_C, FailureType.SYSTEMIC, "c2"),  # already systemic: not refined
        probe(SPEC_X, FailureType.NONE, "x1"),  # no near-miss
        probe(SPEC_X, FailureType.RM_ONLY, "x2", plan=["hello", "x2"]),  # multi-turn: skipped
    ]


def test_selects_promising_combinations_and_their_closest_near_miss() -> None:
    chosen = select_near_misses(history(), max_combinations=5, max_rewrites_per_combination=2)
    assert [n.spec for n in chosen] == [SPEC_A, SPEC_B]  # A: 2 of 2 partial, B: 1 of 3
    assert chosen[0].prompt == "a2" and chosen[0].kind is FailureType.POLICY_ONLY
    assert chosen[1].prompt == "b1" and chosen[1].kind is FailureType.RM_ONLY
    assert [
        n.spec
        for n in select_near_misses(history(), max_combinations=1, max_rewrites_per_combination=2)
    ] == [SPEC_A]
    assert select_near_misses(history(), max_combinations=0, max_rewrites_per_combination=2) == []


def test_rewrite_budget_per_combination_is_respected() -> None:
    done = history() + [
        probe(SPEC_A, FailureType.NONE, "a3", **{REFINED_FROM: "x"}),
        probe(SPEC_A, FailureType.NONE, "a4", **{REFINED_FROM: "x"}),
    ]
    assert refinement_counts(done)[SPEC_A] == 2
    chosen = select_near_misses(done, max_combinations=5, max_rewrites_per_combination=2)
    assert [n.spec for n in chosen] == [SPEC_B]


def test_template_mentor_gives_new_variants_of_the_spec() -> None:
    mentor = TemplateMentor(CATALOG, seed=0)
    near = select_near_misses(history(), max_combinations=2, max_rewrites_per_combination=4)
    out = refine(mentor, near, rewrites=3, variant_base=5000)
    assert len(out) == 6
    assert [r.output.spec for r in out] == [SPEC_A] * 3 + [SPEC_B] * 3
    assert not any(r.rewritten for r in out)
    assert len({r.output.prompt for r in out[:3]}) > 1  # different wordings
    assert out[0].extra() == {REFINED_FROM: near[0].probe_id, "refine_kind": "A"}
    again = refine(mentor, near, rewrites=3, variant_base=5000)
    assert [r.output.prompt for r in again] == [r.output.prompt for r in out]
    assert refine(mentor, near, rewrites=0, variant_base=0) == []


class ScriptedMentorModel(ChatModel):
    """Answers a rewrite request with JSON, except for combination B, which it refuses."""

    model_id = "test:mentor"

    def __init__(self) -> None:
        self.conversations: list[list[dict]] = []

    def generate(self, conversations, params=None):
        replies = []
        for conversation in conversations:
            self.conversations.append(conversation)
            if "b1" in json.dumps(conversation):
                replies.append("I can't help with that.")
            else:
                replies.append(
                    json.dumps(
                        {
                            "prompt": "a fresh wording",
                            "malicious": "Sure: [X]",
                            "safe": "I can't help with that.",
                        }
                    )
                )
        return replies


def test_llm_mentor_sees_the_earlier_case_and_the_outcome() -> None:
    model = ScriptedMentorModel()
    mentor = LLMMentor(model, CATALOG, seed=3)
    near = select_near_misses(history(), max_combinations=2, max_rewrites_per_combination=4)
    out = refine(mentor, near, rewrites=1, variant_base=7000)
    rewritten = [r for r in out if r.rewritten]
    assert [r.output.spec for r in rewritten] == [SPEC_A]
    assert rewritten[0].output.prompt == "a fresh wording"
    request = model.conversations[0]
    assert request[1]["role"] == "assistant" and json.loads(request[1]["content"])["prompt"] == "a2"
    assert "reward model still preferred" in request[2]["content"]
    # the refused rewrite of B falls back to the Mentor's ordinary compose of that variant
    fallback = [r for r in out if not r.rewritten]
    assert [r.output.spec for r in fallback] == [SPEC_B]
    assert "b1" not in json.dumps(model.conversations[-1])  # a plain request, no feedback
    assert len(model.conversations) == 3


def test_rewrites_are_announced_like_composed_outputs() -> None:
    from ares_rlhf.observers import add_compose_listener

    seen: list[str] = []
    add_compose_listener(lambda outputs: seen.extend(o.prompt for o in outputs))
    mentor = LLMMentor(ScriptedMentorModel(), CATALOG, seed=3)
    near = select_near_misses(history(), max_combinations=1, max_rewrites_per_combination=4)
    out = refine(mentor, near, rewrites=1, variant_base=7000)
    assert out[0].rewritten and out[0].output.prompt in seen
