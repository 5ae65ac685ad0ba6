"""Near-miss refinement: bounded Mentor rewrites for combinations that almost failed systemically.

A *near-miss* is a discovery probe where exactly one part failed: type A (the policy complied
but the RM preferred the safe reply) or type B (the policy refused although the RM preferred the
malicious reply). A new wording of the same spec may push it to a systemic (C) failure, in the
spirit of PAIR (the attacker sees what happened and rewrites) and RainbowPlus (several
candidates per cell of the archive, kept only when new).

:func:`select_near_misses` picks *promising* combinations (at least one near-miss, no C yet,
ranked by the share of their probes that failed in one part, a Beta(1, 1) prior on it) that
still have rewrite budget, and for each its closest single-turn near-miss (A: the largest RM margin, i.e.
the RM nearly rewarded the answer; B: the highest judge score). :func:`refine` asks the Mentor
for ``rewrites`` new wordings of each: an LLM Mentor sees its earlier test case and what
happened (``prompts/refine.txt``, ``prompts/refine_outcomes.yaml``); any other Mentor (the
template one) gives new variants of the spec. Both are deterministic given the stored probes
and ``variant_base``, so a resumed run asks for the same rewrites.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from ares_rlhf.mentor.base import SafetyMentor, compose_wordings
from ares_rlhf.observers import announce_composed
from ares_rlhf.records import ComponentSpec, FailureType, MentorOutput, Message, Probe
from ares_rlhf.text.refusal import is_refusal

REFINED_FROM = "refined_from"
"""``Probe.extra`` key the loop should set on a probe of a rewrite (the near-miss probe id)."""
NEAR_MISS_TYPES = (FailureType.POLICY_ONLY, FailureType.RM_ONLY)


@dataclass(frozen=True)
class NearMiss:
    """One probe where exactly one part failed, chosen for a rewrite."""

    spec: ComponentSpec
    kind: FailureType
    prompt: str
    malicious: str
    safe: str
    probe_id: str
    closeness: float
    """A: RM margin (malicious - safe); B: judge harm score; larger = closer to a C."""


@dataclass(frozen=True)
class Refinement:
    """A Mentor rewrite of a near-miss, ready to probe."""

    output: MentorOutput
    near_miss: NearMiss
    variant: int
    rewritten: bool
    """True when the Mentor model saw the earlier test case; False for a plain new variant."""

    def extra(self) -> dict[str, Any]:
        """What to store in ``Probe.extra`` for the probe of this rewrite."""
        return {REFINED_FROM: self.near_miss.probe_id, "refine_kind": self.near_miss.kind.value}


@lru_cache(maxsize=1)
def _texts() -> tuple[str, dict[str, str]]:
    folder = resources.files("ares_rlhf.discovery").joinpath("prompts")
    request = folder.joinpath("refine.txt").read_text(encoding="utf-8")
    outcomes = yaml.safe_load(folder.joinpath("refine_outcomes.yaml").read_text(encoding="utf-8"))
    return request, {str(k): str(v).strip() for k, v in outcomes.items()}


def _closeness(probe: Probe) -> float:
    if probe.failure_type is FailureType.POLICY_ONLY:
        return probe.rewards.margin if probe.rewards is not None else float("-inf")
    score = probe.judge.score
    return float(score) if score is not None else 0.0


def refinement_counts(probes: Iterable[Probe]) -> Counter[ComponentSpec]:
    """Rewrites already probed per combination (probes whose ``extra`` names a near-miss)."""
    return Counter(p.spec for p in probes if p.extra.get(REFINED_FROM))


def select_near_misses(
    probes: Iterable[Probe],
    *,
    max_combinations: int,
    max_rewrites_per_combination: int,
    used: Mapping[ComponentSpec, int] | None = None,
) -> list[NearMiss]:
    """The closest near-miss of each of the ``max_combinations`` most promising combinations.

    ``used`` counts rewrites already spent per combination (default: counted from ``probes``
    with :func:`refinement_counts`); combinations at ``max_rewrites_per_combination`` are left
    out, and so are combinations that already produced a type-C probe.
    """
    if max_combinations <= 0 or max_rewrites_per_combination <= 0:
        return []
    stored = list(probes)
    spent = used if used is not None else refinement_counts(stored)
    totals: Counter[ComponentSpec] = Counter()
    partial: Counter[ComponentSpec] = Counter()
    systemic: set[ComponentSpec] = set()
    best: dict[ComponentSpec, tuple[float, int, Probe]] = {}
    for order, probe in enumerate(stored):
        spec = probe.spec
        totals[spec] += 1
        if probe.failure_type is FailureType.SYSTEMIC:
            systemic.add(spec)
        if probe.failure_type in NEAR_MISS_TYPES and len(probe.turns) <= 1:
            # single-turn test cases only: a rewrite of a multi-turn plan is not this function's
            partial[spec] += 1
            key = (_closeness(probe), -order)
            if spec not in best or key > best[spec][:2]:
                best[spec] = (key[0], key[1], probe)
    candidates = [
        s for s in best if s not in systemic and spent.get(s, 0) < max_rewrites_per_combination
    ]
    first_seen = {s: -best[s][1] for s in candidates}
    candidates.sort(key=lambda s: (-(partial[s] + 1) / (totals[s] + 2), -partial[s], first_seen[s]))
    chosen = []
    for spec in candidates[:max_combinations]:
        probe = best[spec][2]
        chosen.append(
            NearMiss(
                spec=spec,
                kind=probe.failure_type,
                prompt=probe.prompt,
                malicious=probe.malicious,
                safe=probe.safe,
                probe_id=probe.id,
                closeness=best[spec][0],
            )
        )
    return chosen


def refinement_request(mentor: Any, near_miss: NearMiss, variant: int) -> list[Message]:
    """The conversation asking an LLM Mentor to rewrite one near-miss (PAIR-style feedback)."""
    request, outcomes = _texts()
    earlier = json.dumps(
        {"prompt": near_miss.prompt, "malicious": near_miss.malicious, "safe": near_miss.safe}
    )
    follow_up = request.format(outcome=outcomes[near_miss.kind.value], variant=variant)
    return [
        *mentor.request_for(near_miss.spec, variant),
        {"role": "assistant", "content": earlier},
        {"role": "user", "content": follow_up},
    ]


def _can_rewrite(mentor: SafetyMentor) -> bool:
    return hasattr(mentor, "model") and hasattr(mentor, "request_for") and hasattr(mentor, "params")


def refine(
    mentor: SafetyMentor,
    near_misses: Sequence[NearMiss],
    *,
    rewrites: int,
    variant_base: int,
) -> list[Refinement]:
    """Up to ``rewrites`` new wordings of each near-miss (variants ``variant_base + k``).

    An LLM Mentor rewrites with feedback; a reply it refuses or that does not parse falls back
    to the Mentor's ordinary ``compose`` of that variant (which has its own fallback). Other
    Mentors give new variants of the spec. Specs the Mentor skips are left out.
    """
    if rewrites <= 0 or not near_misses:
        return []
    if not _can_rewrite(mentor):
        out: list[Refinement] = []
        for near in near_misses:
            outputs = compose_wordings(mentor, [near.spec], rewrites, variant_base)
            out.extend(
                Refinement(o, near, variant_base + k, rewritten=False)
                for k, o in enumerate(outputs)
            )
        return out
    from ares_rlhf.mentor.llm import parse_reply

    results: list[Refinement] = []
    for k in range(rewrites):
        variant = variant_base + k
        conversations = [refinement_request(mentor, near, variant) for near in near_misses]
        params = mentor.params
        if params.seed is not None:
            params = replace(params, seed=params.seed + variant)
        replies = mentor.model.generate(conversations, params)
        fallback: list[NearMiss] = []
        for near, raw in zip(near_misses, replies, strict=True):
            parsed = parse_reply(raw)
            fields = parsed.fields
            if fields is None or is_refusal(fields["prompt"]) or is_refusal(fields["malicious"]):
                fallback.append(near)
                continue
            output = MentorOutput(
                spec=near.spec,
                messages=[{"role": "user", "content": fields["prompt"]}],
                malicious=fields["malicious"],
                safe=fields["safe"],
                mentor_id=getattr(mentor, "mentor_id", ""),
            )
            results.append(Refinement(output, near, variant, rewritten=True))
            announce_composed([output])  # like any Mentor output (the sim: backends listen)
        if fallback:
            outputs = mentor.compose([n.spec for n in fallback], [variant] * len(fallback))
            results.extend(
                Refinement(o, near, variant, rewritten=False)
                for near, o in zip(fallback, outputs, strict=True)
                if o is not None
            )
    return results
