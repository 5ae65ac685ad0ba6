"""Repair prompts beyond the exact failing ones, so repair learns harm rather than a frame.

* **Recombined attacks** (``repair_policy.recombine``): each training combination's harmful
  request (its topic and goal) asked with other personas and tactics, the plain direct ask
  (anonymous persona, direct tactic) first. A recombination is never a held-out combination nor
  shares a held-out combination's topic, tactic and goal, so verification stays unseen.
* **Benign look-alikes** (``repair_policy.framed_benign``): a share of the benign training
  requests put in the persona and tactic frames of the training combinations (role-play, story,
  hypothetical, encoding, many-shot...), answered helpfully as before, so that refusing depends
  on the request, not on the frame around it.
* **Benign twins** (``repair_policy.twins``): newly composed attacks of the training
  combinations, each paired with its twin: the same Mentor wording, word for word, with a benign
  training request in place of the harmful one. Refusing the attack and answering the twin can
  then only be told apart by what is asked.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ares_rlhf.records import BenignRequest, ComponentSpec, MentorOutput

if TYPE_CHECKING:
    from ares_rlhf.run import Run
    from ares_rlhf.taxonomy import Catalog

RECOMBINE_VARIANT_BASE = 1 << 42
"""Mentor variant numbers of recombined prompts (apart from discovery, RM repair and verify)."""
TWIN_VARIANT_BASE = 1 << 43
"""Mentor variant numbers of attacks with benign twins."""
DIRECT_PERSONA = "anonymous"
DIRECT_TACTIC = "direct_request"


def recombined_specs(
    train: Sequence[ComponentSpec],
    heldout: Sequence[ComponentSpec],
    catalog: Catalog,
    per_spec: int,
    seed: int,
) -> list[ComponentSpec]:
    """``per_spec`` recombinations of each training combination (see the module docstring)."""
    if per_spec <= 0:
        return []
    rng = random.Random(seed * 1_000_003 + 17)
    blocked = {(s.topic, s.tactic, s.goal) for s in heldout}
    taken = set(train) | set(heldout)
    personas, tactics = catalog.ids("persona"), catalog.ids("tactic")
    out: list[ComponentSpec] = []
    for spec in sorted(set(train)):
        options = [
            ComponentSpec(spec.topic, p, t, spec.goal)
            for p in personas
            for t in tactics
            if (p, t) != (spec.persona, spec.tactic)
        ]
        rng.shuffle(options)
        direct = ComponentSpec(spec.topic, DIRECT_PERSONA, DIRECT_TACTIC, spec.goal)
        if DIRECT_PERSONA in personas and DIRECT_TACTIC in tactics:
            options = [direct, *[o for o in options if o != direct]]
        chosen = 0
        for option in options:
            if chosen >= per_spec:
                break
            if option in taken or (option.topic, option.tactic, option.goal) in blocked:
                continue
            taken.add(option)
            out.append(option)
            chosen += 1
    return out


def recombined_outputs(run: Run, per_spec: int) -> list[MentorOutput]:
    """The run Mentor's prompts for :func:`recombined_specs` of the current round's split."""
    split = run.split
    specs = recombined_specs(split.train, split.heldout, run.catalog, per_spec, split.seed)
    if not specs:
        return []
    outputs = run.mentor.compose(specs, [RECOMBINE_VARIANT_BASE] * len(specs))
    return [o for o in outputs if o is not None and not o.mentor_refused]


def framed_benign(
    pool: Sequence[tuple[str, str]],
    specs: Sequence[ComponentSpec],
    mentor: object,
    fraction: float,
    seed: int,
) -> list[tuple[str, str]]:
    """``pool`` (prompt, answer) with ``fraction`` of its prompts framed like ``specs``' attacks.

    ``mentor`` must offer ``frame_request(spec, request, variant)`` (the TemplateMentor does);
    specs whose tactic has several turns are not used as frames.
    """
    frame = getattr(mentor, "frame_request", None)
    if fraction <= 0 or not specs or frame is None:
        return list(pool)
    rng = random.Random(seed * 7_919 + 3)
    usable: list[ComponentSpec] = []
    for spec in specs:
        try:
            frame(spec, "probe", 0)
        except ValueError:
            continue
        usable.append(spec)
    if not usable:
        return list(pool)
    out = []
    for index, (prompt, answer) in enumerate(pool):
        if rng.random() >= fraction:
            out.append((prompt, answer))
            continue
        out.append((frame(rng.choice(usable), prompt, index), answer))
    return out


def benign_twins(
    specs: Sequence[ComponentSpec],
    mentor: object,
    requests: Sequence[BenignRequest],
    per_spec: int,
    seed: int,
) -> list[tuple[MentorOutput, BenignRequest, str]]:
    """``per_spec`` (attack, benign request, twin prompt) triples per spec (see the module docstring).

    ``mentor`` must offer ``benign_twin(spec, variant, request)`` (the TemplateMentor does);
    specs whose tactic has several turns get no twins. Each spec's benign requests are a seeded
    sample without repeats while they last.
    """
    twin = getattr(mentor, "benign_twin", None)
    if per_spec <= 0 or not specs or not requests or twin is None:
        return []
    rng = random.Random(seed * 104_729 + 11)
    out = []
    for spec in sorted(set(specs)):
        picks = rng.sample(list(requests), min(per_spec, len(requests)))
        for k, request in enumerate(picks):
            variant = TWIN_VARIANT_BASE + k
            try:
                prompt = twin(spec, variant, request.prompt)
            except ValueError:
                break
            (attack,) = mentor.compose([spec], [variant])  # type: ignore[attr-defined]
            if attack is None or attack.mentor_refused:
                continue
            out.append((attack, request, prompt))
    return out


__all__ = [
    "DIRECT_PERSONA",
    "DIRECT_TACTIC",
    "RECOMBINE_VARIANT_BASE",
    "TWIN_VARIANT_BASE",
    "benign_twins",
    "framed_benign",
    "recombined_outputs",
    "recombined_specs",
]
