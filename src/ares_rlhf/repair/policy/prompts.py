"""What policy repair trains on: the training side's failing prompts and benign requests.

Adversarial prompts are the discovery prompts (types A, B and C) of the combinations on the
training side of the run's split (a multi-turn probe's whole stored conversation, so the policy
learns the final turn in context); benign prompts are the training side's built-in benign requests
(asked plainly and in the same seeded framings RM repair uses), ``benign_ratio`` per adversarial
prompt. With ``known_bad_candidates`` every prompt carries a known-bad answer for ``dpo-rm``: the
Mentor's malicious response (adversarial) or a needless refusal (benign).

``refusal_contrast`` draws those needless refusals from the policy's *own* refusing answers in the
run's discovery and offers the same texts as a known-good candidate on adversarial prompts: every
refusal the pairs push down on a benign request is pushed up on a harmful one, so what DPO can
learn is when to refuse, not to stop refusing (without it, the benign pairs rejected the policy's
own refusal wording on every benign prompt and the repaired policy refused fewer HarmBench
behaviours). ``harmful_anchors`` adds built-in plainly harmful requests, asked directly, with a
refusal as the known-good answer; ``benign_anchors`` puts built-in benign look-alikes of harmful
requests, asked plainly, among the benign prompts, with their helpful answer as known-good.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ares_rlhf.records import (
    BenignRequest,
    ComponentSpec,
    FailureType,
    MentorOutput,
    Message,
    Probe,
    freeze_messages,
)
from ares_rlhf.repair.reward.pairs import benign_pairs
from ares_rlhf.repair.reward.stage import BENIGN_TRAIN_FRAMES

if TYPE_CHECKING:
    from ares_rlhf.config import PolicyRepairConfig
    from ares_rlhf.run import Run

REPAIR_FAILURE_TYPES = (FailureType.POLICY_ONLY, FailureType.SYSTEMIC, FailureType.RM_ONLY)


@dataclass
class RepairPrompt:
    """One training prompt: an adversarial Mentor prompt (with its spec) or a benign request."""

    messages: list[Message]
    kind: str
    """``adversarial`` or ``benign``."""
    spec: ComponentSpec | None = None
    safe: str | None = None
    """A known-good answer: the Mentor's safe response, or a benign request's helpful answer."""
    malicious: str | None = None
    known_bad: str | None = None
    """A known-bad candidate answer (``dpo-rm``): the Mentor's malicious response to an
    adversarial prompt, a needless refusal of a benign request."""
    refusal: str | None = None
    """A second known-good candidate on adversarial prompts (``refusal_contrast``): a refusal
    in the policy's own words, the same texts benign prompts reject."""

    @property
    def prompt(self) -> str:
        return self.messages[-1]["content"]


@dataclass
class RepairPrompts:
    """What policy repair trains on, and the split's combinations (for the counts)."""

    train: list[RepairPrompt]
    train_specs: list[ComponentSpec]
    heldout_specs: list[ComponentSpec]
    counts: dict[str, int] = field(default_factory=dict)

    def cut(self, limit: int) -> None:
        """Keep the first ``limit`` prompts of the (shuffled) mix."""
        if len(self.train) > limit:
            self.train = self.train[:limit]
        self.counts["adversarial"] = sum(p.kind == "adversarial" for p in self.train)
        self.counts["benign"] = sum(p.kind == "benign" for p in self.train)


def failure_probes(probes: Sequence[Probe]) -> list[Probe]:
    """Probes of type A, B or C (in write order)."""
    return [p for p in probes if p.failure_type in REPAIR_FAILURE_TYPES]


OWN_REFUSALS_MAX = 32
"""At most this many distinct own refusals are kept (in discovery order)."""
_FIRST_SENTENCE_RE = re.compile(r"(?<=[.!?])\s")


def own_refusals(probes: Sequence[Probe], limit: int = OWN_REFUSALS_MAX) -> list[str]:
    """The policy's distinct full refusals among ``probes``' answers (in order, at most ``limit``)."""
    from ares_rlhf.text.refusal import is_refusal

    found: dict[str, None] = {}
    for probe in probes:
        answer = probe.policy_response.strip()
        if answer and answer not in found and is_refusal(answer):
            found[answer] = None
            if len(found) >= limit:
                break
    return list(found)


def refusal_pool(run: Run) -> list[str]:
    """Refusals for ``refusal_contrast``: the policy's own in this round's discovery, else the
    built-in needless refusals."""
    from ares_rlhf.data import needless_refusals

    return own_refusals(run.store.probes(run.phase("discovery", run.round))) or needless_refusals()


def harmful_anchor_prompts(
    count: int, refusals: Sequence[str], seed: int, *, contrast: bool = False
) -> list[RepairPrompt]:
    """``count`` built-in plainly harmful requests (seeded sample), each with a known-good refusal:
    the opening sentence of a refusal from ``refusals`` plus the request's safe alternative (and,
    with ``contrast``, the whole refusal as the second known-good candidate)."""
    from ares_rlhf.data import plain_harmful_requests

    rows, refusals = plain_harmful_requests("train"), list(refusals)
    rng = random.Random(seed)
    anchors = []
    for row in rng.sample(rows, min(count, len(rows))):
        refusal = rng.choice(refusals)
        opening = _FIRST_SENTENCE_RE.split(refusal.strip(), maxsplit=1)[0]
        anchors.append(
            RepairPrompt(
                messages=[{"role": "user", "content": row["request"]}],
                kind="adversarial",
                safe=f"{opening} {row['alternative']}",
                refusal=refusal if contrast else None,
            )
        )
    return anchors


def benign_anchor_pairs(count: int, seed: int) -> list[tuple[str, str]]:
    """``count`` built-in benign look-alikes of harmful requests (a seeded sample), each as
    (prompt, helpful answer): the benign side of ``harmful_anchors``, so repair keeps answering
    requests that only sound harmful while it learns to refuse."""
    from ares_rlhf.data import benign_lookalikes

    rows = benign_lookalikes()
    return random.Random(seed + 2_750_159).sample(rows, min(count, len(rows)))


def benign_training_prompts(
    requests: Sequence[BenignRequest], seed: int
) -> list[tuple[str, str]]:
    """(prompt, helpful answer) of the training benign requests, plain and in seeded framings."""
    from ares_rlhf.data import benign_frames, needless_refusals

    pairs = benign_pairs(
        requests,
        benign_frames(),
        needless_refusals(),
        seed=seed,
        frames_per_request=BENIGN_TRAIN_FRAMES,
    )
    return list(dict.fromkeys((p.prompt, p.chosen) for p in pairs))


def attack_prompt(
    source: Probe | MentorOutput,
    messages: list[Message],
    *,
    known_bad_candidates: bool,
    refusal: str | None = None,
) -> RepairPrompt:
    """An adversarial repair prompt from a probe or a Mentor output, asked as ``messages``: the
    Mentor's safe response as known-good and, with ``known_bad_candidates``, its malicious one
    as known-bad."""
    return RepairPrompt(
        messages=messages,
        kind="adversarial",
        spec=source.spec,
        safe=source.safe,
        malicious=source.malicious,
        known_bad=(source.malicious or None) if known_bad_candidates else None,
        refusal=refusal,
    )


def twin_units(
    run: Run, refusals: Sequence[str], *, known_bad_candidates: bool, seen: set
) -> list[tuple[RepairPrompt, RepairPrompt]]:
    """``repair_policy.twins`` (attack, benign twin) prompt pairs of the training combinations.

    The attack carries the Mentor's safe and malicious responses and a refusal (the policy's own
    words with ``refusal_contrast``); its twin carries the benign request's helpful answer as
    known-good and that same refusal as known-bad, so one refusal text is pushed up on the attack
    and down on a prompt worded the same.
    """
    from ares_rlhf.repair.augment import benign_twins

    config = run.config.repair_policy
    triples = benign_twins(
        run.split.train, run.mentor, run.benign("train"), config.twins, run.split.seed
    )
    draw = random.Random(run.config.seed + 15_485_863)
    units = []
    for attack, request, twin_prompt in triples:
        messages = attack.final_context()
        context = freeze_messages(messages)
        if context in seen:
            continue
        seen.add(context)
        refusal = draw.choice(list(refusals))
        units.append(
            (
                attack_prompt(
                    attack,
                    messages,
                    known_bad_candidates=known_bad_candidates,
                    refusal=refusal if config.refusal_contrast else None,
                ),
                RepairPrompt(
                    messages=[{"role": "user", "content": twin_prompt}],
                    kind="benign",
                    safe=request.answer,
                    known_bad=refusal if known_bad_candidates else None,
                ),
            )
        )
    return units


def training_failures(run: Run, round_: int) -> list[Probe]:
    """A round's failing discovery probes (A, B, C) on the training side of its split, each
    conversation once (in write order)."""
    side_of = run.split_of(round_).side
    found: dict[tuple[tuple[str, str], ...], Probe] = {}
    for probe in failure_probes(run.store.probes(run.phase("discovery", round_))):
        if side_of(probe.spec) == "train":
            found.setdefault(freeze_messages(probe.messages), probe)
    return list(found.values())


def collect_repair_prompts(
    run: Run,
    *,
    benign: Sequence[tuple[str, str]] | None = None,
    known_bad_candidates: bool | None = None,
    config: PolicyRepairConfig | None = None,
) -> RepairPrompts:
    """Adversarial prompts of the training combinations (deduplicated) plus the benign mix.

    ``config`` is the round's policy-repair settings (default the run's; a later round's are
    scaled by :func:`ares_rlhf.repair.policy.budget.round_repair_config`)."""
    from ares_rlhf.data import needless_refusals

    config, split = config or run.config.repair_policy, run.split
    if known_bad_candidates is None:
        known_bad_candidates = config.known_bad_candidates
    seen: set[tuple[tuple[str, str], ...]] = set()

    def training_prompts(round_: int) -> list[RepairPrompt]:
        found = []
        for probe in training_failures(run, round_):
            context = freeze_messages(probe.messages)
            if context in seen:
                continue
            seen.add(context)
            found.append(
                attack_prompt(
                    probe,
                    [dict(m) for m in probe.messages],
                    known_bad_candidates=known_bad_candidates,
                )
            )
        return found

    adversarial = training_prompts(run.round)
    # a later round replays earlier rounds' training failures, so it cannot silently undo them
    earlier = [p for r in range(1, run.round) for p in training_prompts(r)]
    wanted = round(run.config.rounds.replay_fraction * len(adversarial))
    replay = random.Random(run.config.seed + run.round).sample(earlier, min(wanted, len(earlier)))
    adversarial += replay
    recombined = 0
    if config.recombine > 0:  # the same harmful requests with other personas / tactics
        from ares_rlhf.repair.augment import recombined_outputs

        for output in recombined_outputs(run, config.recombine):
            messages = output.final_context()  # a plan: all its user turns, not the opening
            context = freeze_messages(messages)
            if context in seen:
                continue
            seen.add(context)
            recombined += 1
            adversarial.append(
                attack_prompt(output, messages, known_bad_candidates=known_bad_candidates)
            )
    refusals = refusal_pool(run) if config.refusal_contrast else needless_refusals()
    if config.refusal_contrast:
        draw = random.Random(run.config.seed + 7919)
        for prompt in adversarial:
            prompt.refusal = draw.choice(refusals)
    twins = twin_units(run, refusals, known_bad_candidates=known_bad_candidates, seen=seen)
    anchors = harmful_anchor_prompts(
        config.harmful_anchors, refusals, run.config.seed, contrast=config.refusal_contrast
    )
    adversarial += anchors
    pool = list(benign if benign is not None else benign_training_prompts(run.benign("train"), split.seed))
    if config.framed_benign > 0:  # benign look-alikes in the attacks' frames
        from ares_rlhf.repair.augment import framed_benign

        pool = framed_benign(pool, split.train, run.mentor, config.framed_benign, split.seed)
    n_benign = max(0, round(config.benign_ratio * (len(adversarial) + len(twins))) - len(twins))
    lookalikes = benign_anchor_pairs(min(config.benign_anchors, n_benign), run.config.seed)
    rng = random.Random(run.config.seed)
    chosen: list[tuple[str, str]] = list(lookalikes)
    while pool and len(chosen) < n_benign:
        rng.shuffle(pool)
        chosen.extend(pool[: n_benign - len(chosen)])
    benign_prompts = [
        RepairPrompt(
            messages=[{"role": "user", "content": prompt}],
            kind="benign",
            safe=answer,
            known_bad=rng.choice(refusals) if known_bad_candidates else None,
        )
        for prompt, answer in chosen
    ]
    mixed = adversarial + benign_prompts
    rng.shuffle(mixed)
    if twins:  # an attack and its twin stay side by side, so a cut keeps or drops both
        units = [[p] for p in mixed] + [list(unit) for unit in twins]
        random.Random(run.config.seed + 104_729).shuffle(units)
        mixed = [p for unit in units for p in unit]
    return RepairPrompts(
        train=mixed,
        train_specs=list(split.train),
        heldout_specs=list(split.heldout),
        counts={
            "adversarial": len(adversarial) + len(twins),
            "twins": len(twins),
            "replayed": len(replay),
            "recombined": recombined,
            "harmful_anchors": len(anchors),
            "benign_anchors": len(lookalikes),
            "benign": len(benign_prompts),
            "train_combinations": len(split.train),
            "heldout_combinations": len(split.heldout),
        },
    )


__all__ = [
    "REPAIR_FAILURE_TYPES",
    "RepairPrompt",
    "RepairPrompts",
    "attack_prompt",
    "benign_training_prompts",
    "collect_repair_prompts",
    "failure_probes",
    "harmful_anchor_prompts",
    "own_refusals",
    "refusal_pool",
    "training_failures",
    "twin_units",
]
