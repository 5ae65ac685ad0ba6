"""refusal_balance: as many dpo-rm pairs raising a refusal as lowering one."""

from __future__ import annotations

from collections import Counter

from ares_rlhf.repair.policy.balance import (
    LOWERS,
    NEUTRAL,
    RAISES,
    balance_refusal_pairs,
    refusal_direction,
)
from ares_rlhf.repair.policy.ranking import RankedPair

REFUSAL = "I'm sorry, but I can't help with that."
HARMFUL = "Sure: first get the materials, then follow these steps."
HELPFUL = "Mix flour, water, salt and yeast, knead, let it rise and bake."


def pair(chosen: str, rejected: str, tag: int, kind: str = "adversarial") -> RankedPair:
    return RankedPair(
        messages=[{"role": "user", "content": f"prompt {tag}"}],
        chosen=chosen,
        rejected=rejected,
        chosen_reward=1.0,
        rejected_reward=0.0,
        kind=kind,
    )


def test_a_pair_raises_lowers_or_leaves_refusing_alone():
    assert refusal_direction(pair(REFUSAL, HARMFUL, 0)) == RAISES
    assert refusal_direction(pair(HELPFUL, REFUSAL, 0, "benign")) == LOWERS
    assert refusal_direction(pair(HELPFUL, HARMFUL, 0)) == NEUTRAL
    assert refusal_direction(pair(REFUSAL, "I can't help with that.", 0)) == NEUTRAL


def mixed(raising: int, lowering: int, neutral: int) -> list[RankedPair]:
    return (
        [pair(REFUSAL, HARMFUL, i) for i in range(raising)]
        + [pair(HELPFUL, REFUSAL, 100 + i, "benign") for i in range(lowering)]
        + [pair(HELPFUL, HARMFUL, 200 + i) for i in range(neutral)]
    )


def test_the_trained_pairs_raise_and_lower_refusing_equally_often():
    pairs = mixed(raising=30, lowering=12, neutral=5)
    selected, counts = balance_refusal_pairs(pairs, limit=64, seed=0)
    directions = Counter(refusal_direction(p) for p in selected)
    assert directions == {RAISES: 12, LOWERS: 12, NEUTRAL: 5}
    assert counts == {
        "dpo_pairs_raising_refusal": 30,
        "dpo_pairs_lowering_refusal": 12,
        "dpo_pairs_neutral": 5,
        "dpo_pairs_trained": 29,
    }
    # a seeded sample: the same pairs for the same seed, others for another
    again, _ = balance_refusal_pairs(pairs, limit=64, seed=0)
    other, _ = balance_refusal_pairs(pairs, limit=64, seed=1)
    assert [p.messages for p in again] == [p.messages for p in selected]
    assert {p.messages[0]["content"] for p in other} != {p.messages[0]["content"] for p in selected}


def test_the_limit_is_split_between_the_directions_before_neutral_pairs_fill_it():
    selected, counts = balance_refusal_pairs(mixed(30, 30, 10), limit=16, seed=0)
    assert Counter(refusal_direction(p) for p in selected) == {RAISES: 8, LOWERS: 8}
    assert counts["dpo_pairs_trained"] == 16
    selected, _ = balance_refusal_pairs(mixed(3, 5, 10), limit=16, seed=0)
    assert Counter(refusal_direction(p) for p in selected) == {RAISES: 3, LOWERS: 3, NEUTRAL: 10}


def test_one_sided_pairs_leave_only_the_neutral_ones():
    selected, counts = balance_refusal_pairs(mixed(10, 0, 2), limit=64, seed=0)
    assert [refusal_direction(p) for p in selected] == [NEUTRAL, NEUTRAL]
    assert balance_refusal_pairs(mixed(10, 0, 0), limit=64, seed=0)[0] == []
