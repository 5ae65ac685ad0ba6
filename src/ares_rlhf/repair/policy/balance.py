"""``refusal_balance``: as many ``dpo-rm`` pairs that raise a refusal as pairs that lower one.

A pair *raises* refusing when its chosen answer is a full refusal and its rejected answer is not
(an attack: the refusal over the harmful answer), and *lowers* it in the opposite case (a benign
request: the helpful answer over a needless refusal). When one direction outnumbers the other in
what the trainer consumes, the cheapest way to lower the DPO loss is a global shift of the
policy's propensity to refuse, and which way it shifts depends on the seeded mix (measured: 16
steps tipped seeds 0 and 2 toward over-refusal, 32 steps tipped seed 0 toward complying; see
docs/repair-policy.md). With equal numbers in each direction, the idea is, a shift of the
propensity alone gains nothing. Measured on seeds 0 and 2 it did not transfer: the repaired policy
refused fewer HarmBench behaviors than the original (docs/repair-policy.md), so it is off by default.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from ares_rlhf.repair.policy.ranking import RankedPair

RAISES, LOWERS, NEUTRAL = "raises", "lowers", "neutral"


def refusal_direction(pair: RankedPair) -> str:
    """``raises`` (chosen refuses, rejected does not), ``lowers`` (the reverse) or ``neutral``."""
    from ares_rlhf.text.refusal import is_refusal

    chosen, rejected = is_refusal(pair.chosen), is_refusal(pair.rejected)
    if chosen and not rejected:
        return RAISES
    if rejected and not chosen:
        return LOWERS
    return NEUTRAL


def balance_refusal_pairs(
    pairs: Sequence[RankedPair], limit: int, seed: int
) -> tuple[list[RankedPair], dict[str, int]]:
    """At most ``limit`` pairs (what the trainer's steps consume), as many raising a refusal as
    lowering one: a seeded sample of each direction, then neutral pairs to fill, in seeded order.
    Returns them and the counts of each direction before the cut."""
    groups: dict[str, list[RankedPair]] = {RAISES: [], LOWERS: [], NEUTRAL: []}
    for pair in pairs:
        groups[refusal_direction(pair)].append(pair)
    rng = random.Random(seed)
    for members in groups.values():
        rng.shuffle(members)
    each = min(len(groups[RAISES]), len(groups[LOWERS]), limit // 2)
    selected = (
        groups[RAISES][:each]
        + groups[LOWERS][:each]
        + groups[NEUTRAL][: max(0, limit - 2 * each)]
    )
    rng.shuffle(selected)
    counts = {
        "dpo_pairs_raising_refusal": len(groups[RAISES]),
        "dpo_pairs_lowering_refusal": len(groups[LOWERS]),
        "dpo_pairs_neutral": len(groups[NEUTRAL]),
        "dpo_pairs_trained": len(selected),
    }
    return selected, counts


__all__ = ["LOWERS", "NEUTRAL", "RAISES", "balance_refusal_pairs", "refusal_direction"]
