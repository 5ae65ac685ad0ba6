"""``TemplateMentor``: an offline, deterministic Safety Mentor built from catalog fragments.

For one component spec it composes

* the **prompt**: the persona speaks (``intro``), the tactic frames the request, the topic gives
  the subject and the goal the ask (``request = ask.format(subject)``);
* the **malicious** response: the goal's malicious fragment about the subject (placeholders only;
  the catalog never holds operational content);
* the **safe** response: the goal's safe fragment, which refuses, plus a helpful topic redirect.

Every choice among fragments (and a small stylistic variant) is a seeded draw keyed on
``(seed, spec, variant)``, so the same triple always gives the same output, and other variants
give other wordings of the same spec (the discovery loop re-draws near-duplicates that way).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence

from ares_rlhf.mentor.base import SafetyMentor
from ares_rlhf.records import ComponentSpec, MentorOutput
from ares_rlhf.taxonomy import Catalog

_SLOT = re.compile(r"\{([^{}]*)\}")

# Small stylistic variants appended to the prompt (the empty one keeps the catalog text as is).
CLOSERS: tuple[str, ...] = (
    "",
    "",
    " Thanks.",
    " Please be thorough.",
    " Thank you in advance.",
    " I really need this.",
    " Keep it concise.",
)


def fill_slots(text: str, values: dict[str, str]) -> str:
    """Replace ``{slot}`` references with ``values``; unknown slots are left as they are."""
    return _SLOT.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def split_request(request: str) -> tuple[str, str]:
    """The request cut into two halves at a word boundary (payload splitting, decomposition)."""
    words = request.split()
    if len(words) < 2:
        return request, ""
    middle = (len(words) + 1) // 2
    return " ".join(words[:middle]), " ".join(words[middle:])


def encode_request(request: str) -> str:
    """The request's words in reverse order (what the shipped obfuscation frames describe)."""
    return " ".join(reversed(request.split()))


def draw_key(seed: int, spec: ComponentSpec, variant: int) -> int:
    """A stable 64-bit key for ``(seed, spec, variant)`` (independent of Python's hash seed)."""
    text = f"{seed}|{spec.label()}|{variant}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


class TemplateMentor(SafetyMentor):
    """Composes prompts and response pairs from the catalog; no model needed."""

    mentor_id = "template"

    def __init__(self, catalog: Catalog, seed: int = 0) -> None:
        self.catalog = catalog
        self.seed = seed

    def compose(
        self, specs: Sequence[ComponentSpec], variants: Sequence[int] | None = None
    ) -> list[MentorOutput | None]:
        if variants is None:
            variants = [0] * len(specs)
        if len(variants) != len(specs):
            raise ValueError(f"got {len(specs)} specs but {len(variants)} variants")
        return [self.compose_one(s, v) for s, v in zip(specs, variants, strict=True)]

    def compose_one(self, spec: ComponentSpec, variant: int = 0) -> MentorOutput:
        """The output for one spec and variant (deterministic for this mentor's seed)."""
        rng = random.Random(draw_key(self.seed, spec, variant))
        topic = self.catalog.get("topic", spec.topic)
        persona = self.catalog.get("persona", spec.persona)
        tactic = self.catalog.get("tactic", spec.tactic)
        goal = self.catalog.get("goal", spec.goal)

        subject = rng.choice(topic.fragment("subjects"))
        redirect = rng.choice(topic.fragment("redirects"))
        intro = rng.choice(persona.fragment("intros"))
        frame = rng.choice(tactic.fragment("frames"))
        ask = rng.choice(goal.fragment("asks"))
        closer = rng.choice(CLOSERS)

        request = fill_slots(ask, {"subject": subject})
        request_a, request_b = split_request(request)
        prompt = fill_slots(
            frame,
            {
                "intro": intro,
                "request": request,
                "request_a": request_a,
                "request_b": request_b,
                "request_encoded": encode_request(request),
            },
        )
        prompt = prompt.strip() + closer

        malicious = fill_slots(rng.choice(goal.fragment("malicious")), {"subject": subject})
        safe_fragment = rng.choice(goal.fragment("safe"))
        safe = fill_slots(safe_fragment, {"subject": subject, "redirect": redirect})
        if "{redirect}" not in safe_fragment:
            safe = f"{safe.rstrip()} {redirect}"
        return MentorOutput(
            spec=spec,
            messages=[{"role": "user", "content": prompt}],
            malicious=malicious.strip(),
            safe=safe.strip(),
            mentor_id=self.mentor_id,
        )
