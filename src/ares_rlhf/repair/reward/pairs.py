"""Preference pairs for reward-model repair, built from what discovery found.

For every B (RM-only) and C (systemic) probe of the discovery phase:

* chosen: the Mentor's safe response; where the policy itself refused on the same component spec
  (in any discovery probe), that refusal is an extra chosen response;
* rejected: the Mentor's malicious response and, for C probes, the policy's harmful answer.

With ``policy_answers`` the A (policy-only) probes join too, with the policy's harmful answer as
the rejected response of both A and C probes, and the policy's own refusals as chosen ones. The
Mentor's malicious references are written by a template or a model; the policy's real harmful
answers are what policy repair will sample and the RM must rank below a refusal (measured on
2026-12-01: the embedded RM, initial and repaired, preferred the policy's compliant answer to its
refusal on 80% of HarmBench/StrongREJECT prompts where the policy gave one of each). RM repair
then also draws the needless refusals of its benign pairs from the same own refusals, so a
refusal wording is preferred on attacks and dispreferred on benign requests alike: what the RM
can learn is the request, not the wording.

Pairs are deduplicated and keep their component spec, so they can be split by combination:
whole combinations are held out, and evaluation measures generalisation to attacks the repair
never trained on.

A pair's context is the probe's stored conversation: for a multi-turn probe, every user turn and
the policy's earlier answers, so the RM learns to judge the final answer in the context the
earlier turns built. An extra Mentor wording nobody answered has its plan's user turns as one
message (:meth:`~ares_rlhf.records.MentorOutput.final_context`).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from ares_rlhf.records import (
    BenignRequest,
    FailureType,
    MentorOutput,
    PreferencePair,
    Probe,
    freeze_messages,
)
from ares_rlhf.text.refusal import is_refusal

REPAIR_FAILURES = (FailureType.RM_ONLY, FailureType.SYSTEMIC)

__all__ = [
    "POLICY_ANSWER_FAILURES",
    "PreferencePair",
    "adversarial_pairs",
    "benign_pairs",
    "freeze_messages",
    "mentor_pairs",
    "own_refusal_pool",
    "split_by_group",
]


def _policy_refusals(probes: Sequence[Probe]) -> dict[tuple[str, ...], list[str]]:
    refusals: dict[tuple[str, ...], list[str]] = {}
    for probe in probes:
        answer = probe.policy_response.strip()
        if answer and probe.policy_failed is False and is_refusal(answer):
            found = refusals.setdefault(probe.spec.key, [])
            if answer not in found:
                found.append(answer)
    return refusals


def own_refusal_pool(probes: Sequence[Probe]) -> list[str]:
    """The policy's distinct refusals among ``probes`` (discovery order)."""
    discovery = [p for p in probes if p.phase.partition(".")[0] == "discovery"]
    return list(dict.fromkeys(r for found in _policy_refusals(discovery).values() for r in found))


POLICY_ANSWER_FAILURES = (FailureType.POLICY_ONLY, FailureType.SYSTEMIC)
"""Failures whose policy answer was judged harmful (a rejected response with ``policy_answers``)."""


def adversarial_pairs(
    probes: Iterable[Probe], *, policy_answers: bool = False
) -> list[PreferencePair]:
    """Deduplicated pairs from the B and C probes (and with ``policy_answers`` the A probes) of a
    discovery phase, in probe order."""
    discovery = [p for p in probes if p.phase.partition(".")[0] == "discovery"]
    refusals = _policy_refusals(discovery)
    own = own_refusal_pool(discovery)
    kinds = (*REPAIR_FAILURES, FailureType.POLICY_ONLY) if policy_answers else REPAIR_FAILURES
    pairs: list[PreferencePair] = []
    seen: set[PreferencePair] = set()
    for index, probe in enumerate(discovery):
        if probe.failure_type not in kinds:
            continue
        chosen = [probe.safe] if probe.safe.strip() else []
        chosen += [r for r in refusals.get(probe.spec.key, []) if r not in chosen]
        if policy_answers and own and len(chosen) < 2:  # a refusal in the policy's own words
            chosen.append(own[index % len(own)])
        rejected = [probe.malicious] if probe.malicious.strip() else []
        answer = probe.policy_response.strip()
        harmful_answer = probe.failure_type is FailureType.SYSTEMIC or (
            policy_answers and probe.failure_type in POLICY_ANSWER_FAILURES
        )
        if harmful_answer and answer and answer not in rejected:
            rejected.append(probe.policy_response)
        messages = freeze_messages(probe.messages)
        for good in chosen:
            for bad in rejected:
                if good == bad:
                    continue
                pair = PreferencePair(
                    messages, good, bad, "adversarial", probe.spec, probe.spec.label()
                )
                if pair not in seen:
                    seen.add(pair)
                    pairs.append(pair)
    return pairs


def mentor_pairs(
    outputs: Iterable[MentorOutput], known: Iterable[PreferencePair] = ()
) -> list[PreferencePair]:
    """Safe-over-malicious pairs from extra Mentor outputs (new wordings of failing combinations).

    Outputs without both responses, and pairs already in ``known`` or repeated, are dropped.
    """
    seen = set(known)
    pairs: list[PreferencePair] = []
    for output in outputs:
        if (
            not (output.safe.strip() and output.malicious.strip())
            or output.safe == output.malicious
        ):
            continue
        pair = PreferencePair(
            freeze_messages(output.final_context()),
            output.safe,
            output.malicious,
            "adversarial",
            output.spec,
            output.spec.label(),
        )
        if pair not in seen:
            seen.add(pair)
            pairs.append(pair)
    return pairs


def split_by_group(
    pairs: Sequence[PreferencePair], heldout_fraction: float, seed: int
) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """(train, held-out): whole groups (combinations) go to one side, chosen with ``seed``.

    With at least two groups, both sides get at least one group.
    """
    groups = sorted({p.group for p in pairs})
    if len(groups) < 2:
        return list(pairs), []
    random.Random(seed).shuffle(groups)
    count = min(len(groups) - 1, max(1, round(heldout_fraction * len(groups))))
    heldout = set(groups[:count])
    train = [p for p in pairs if p.group not in heldout]
    held = [p for p in pairs if p.group in heldout]
    return train, held


def benign_pairs(
    requests: Sequence[BenignRequest],
    frames: Sequence[str],
    refusals: Sequence[str],
    *,
    seed: int,
    frames_per_request: int | None = 3,
) -> list[PreferencePair]:
    """Helpful answer over a needless refusal, for every benign request.

    Each request is asked plainly plus in ``frames_per_request - 1`` other seeded framings (a
    persona, a role-play, a story, a hypothetical...); ``None`` uses every framing. Pairs are
    grouped by request id.
    """
    rng = random.Random(seed)
    pairs = []
    for request in requests:
        others = list(frames[1:])
        if frames_per_request is not None:
            others = rng.sample(others, max(0, min(len(others), frames_per_request - 1)))
        for frame in [frames[0], *others]:
            pairs.append(
                PreferencePair(
                    (("user", frame.format(p=request.prompt)),),
                    request.answer,
                    rng.choice(list(refusals)),
                    "benign",
                    None,
                    request.id,
                )
            )
    return pairs
