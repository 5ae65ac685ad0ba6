"""The Safety Mentor interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from ares_rlhf.records import ComponentSpec, MentorOutput


class SafetyMentor(ABC):
    """Writes, for each component spec, an adversarial prompt plus a malicious and a safe response."""

    mentor_id: str = ""

    @abstractmethod
    def compose(
        self, specs: Sequence[ComponentSpec], variants: Sequence[int] | None = None
    ) -> list[MentorOutput | None]:
        """One output per spec, in order; ``None`` where the Mentor skipped the spec.

        ``variants`` (one int per spec) asks for a different wording of the same spec, so a
        near-duplicate can be re-drawn; the same (spec, variant, seed) gives the same output
        for deterministic Mentors.
        """
