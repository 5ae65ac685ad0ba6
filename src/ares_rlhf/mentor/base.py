"""The Safety Mentor interface. Every output a Mentor composes is announced to the process's
compose listeners (:mod:`ares_rlhf.observers`)."""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from ares_rlhf.observers import announce_composed
from ares_rlhf.records import ComponentSpec, MentorOutput, Message


def planned_next_turn(output: MentorOutput, conversation: Sequence[Message]) -> str | None:
    """The plan's turn after the user turns ``conversation`` already holds (``None``: done)."""
    if not output.plan:
        return None
    sent = sum(1 for m in conversation if m.get("role") == "user")
    return output.plan[sent] if sent < len(output.plan) else None


def _announcing(compose: Callable[..., list[MentorOutput | None]]) -> Callable[..., Any]:
    @functools.wraps(compose)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> list[MentorOutput | None]:
        outputs = compose(self, *args, **kwargs)
        announce_composed(outputs)
        return outputs

    wrapper.__announces__ = True  # type: ignore[attr-defined]
    return wrapper


def compose_wordings(
    mentor: SafetyMentor, specs: Sequence[ComponentSpec], count: int, base: int
) -> list[MentorOutput]:
    """``count`` extra wordings of each spec (variants ``base .. base + count - 1``), in spec order.

    ``base`` keeps the variant numbers apart from other users of the same Mentor (discovery's
    per-slot variants, RM repair, verification), so no wording repeats one of theirs by design.
    Specs the Mentor skips are left out.
    """
    if count <= 0 or not specs:
        return []
    requests = [(spec, base + k) for spec in specs for k in range(count)]
    outputs = mentor.compose([s for s, _ in requests], [v for _, v in requests])
    return [o for o in outputs if o is not None]


class SafetyMentor(ABC):
    """Writes, for each component spec, an adversarial prompt plus a malicious and a safe response."""

    mentor_id: str = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        compose = cls.__dict__.get("compose")
        if compose is not None and not getattr(compose, "__announces__", False):
            cls.compose = _announcing(compose)  # every subclass's outputs reach the listeners

    @abstractmethod
    def compose(
        self, specs: Sequence[ComponentSpec], variants: Sequence[int] | None = None
    ) -> list[MentorOutput | None]:
        """One output per spec, in order; ``None`` where the Mentor skipped the spec.

        ``variants`` (one int per spec) asks for a different wording of the same spec, so a
        near-duplicate can be re-drawn; the same (spec, variant, seed) gives the same output
        for deterministic Mentors.
        """

    def next_turns(
        self, outputs: Sequence[MentorOutput], conversations: Sequence[Sequence[Message]]
    ) -> list[str | None]:
        """The next user turn of each multi-turn conversation, or ``None`` to end it.

        ``conversations[i]`` is output ``i``'s conversation so far, ending with the policy's
        latest answer. This Mentor follows each plan as composed; a Mentor may adapt the next
        turn to the answer instead (:class:`~ares_rlhf.mentor.llm.LLMMentor` with
        ``mentor.adaptive_turns``).
        """
        return [planned_next_turn(o, c) for o, c in zip(outputs, conversations, strict=True)]
