"""Preference pairs for reward-model repair, built from what discovery found.

For every B (RM-only) and C (systemic) probe of the discovery phase:

* chosen: the Mentor's safe response; where the policy itself refused on the same component spec
  (in any discovery probe), that refusal is an extra chosen response;
* rejected: the Mentor's malicious response and, for C probes, the policy's harmful answer.

Pairs are deduplicated and keep their component spec, so they can be split by combination:
whole combinations are held out, and evaluation measures generalisation to attacks the repair
never trained on.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ares_rlhf.records import ComponentSpec, FailureType, MentorOutput, Message, Probe
from ares_rlhf.text.refusal import is_refusal

REPAIR_FAILURES = (FailureType.RM_ONLY, FailureType.SYSTEMIC)


@dataclass(frozen=True)
class PreferencePair:
    """One Bradley-Terry training example: ``chosen`` should score above ``rejected``."""

    messages: tuple[tuple[str, str], ...]
    """The prompt as chat messages, frozen as ``((role, content), ...)`` so pairs are hashable."""
    chosen: str
    rejected: str
    source: str = "adversarial"
    """``adversarial`` (from probes), ``anchor`` (general preference data) or ``benign``."""
    spec: ComponentSpec | None = None
    group: str = field(default="", compare=False)
    """What the held-out split groups by (a combination label, or an anchor's prompt id)."""

    @property
    def conversation(self) -> list[Message]:
        return [{"role": role, "content": content} for role, content in self.messages]

    @property
    def prompt(self) -> str:
        for role, content in reversed(self.messages):
            if role == "user":
                return content
        return ""

    def as_row(self) -> dict[str, object]:
        return {
            "prompt": self.conversation,
            "chosen": self.chosen,
            "rejected": self.rejected,
            "source": self.source,
            "spec": self.spec.label() if self.spec else None,
        }


def freeze_messages(messages: Iterable[Message]) -> tuple[tuple[str, str], ...]:
    return tuple((str(m["role"]), str(m["content"])) for m in messages)


def _policy_refusals(probes: Sequence[Probe]) -> dict[tuple[str, ...], list[str]]:
    refusals: dict[tuple[str, ...], list[str]] = {}
    for probe in probes:
        answer = probe.policy_response.strip()
        if answer and probe.policy_failed is False and is_refusal(answer):
            found = refusals.setdefault(probe.spec.key, [])
            if answer not in found:
                found.append(answer)
    return refusals


def adversarial_pairs(probes: Iterable[Probe]) -> list[PreferencePair]:
    """Deduplicated pairs from the B and C probes of the discovery phase, in probe order."""
    discovery = [p for p in probes if p.phase == "discovery"]
    refusals = _policy_refusals(discovery)
    pairs: list[PreferencePair] = []
    seen: set[PreferencePair] = set()
    for probe in discovery:
        if probe.failure_type not in REPAIR_FAILURES:
            continue
        chosen = [probe.safe] if probe.safe.strip() else []
        chosen += [r for r in refusals.get(probe.spec.key, []) if r not in chosen]
        rejected = [probe.malicious] if probe.malicious.strip() else []
        answer = probe.policy_response.strip()
        if probe.failure_type is FailureType.SYSTEMIC and answer and answer not in rejected:
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
            freeze_messages(output.messages),
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
