"""``TemplateMentor``: an offline, deterministic Safety Mentor built from catalog fragments.

For one component spec it composes

* the **prompt**: the persona speaks (``intro``), the tactic frames the request, the topic gives
  the subject and the goal the ask (``request = ask.format(subject)``); a tactic with a
  ``converters`` chain gets the request through that chain as ``{request_converted}`` and the
  chain's decoding instruction as ``{converter_instruction}``; a multi-turn tactic (``turns``)
  gives a **plan** instead: one user turn per catalog turn, each filled with the same values
  (plus ``{subject}``), the last one carrying the request;
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
from typing import TYPE_CHECKING

from ares_rlhf.converters import (
    CONVERTER_MODEL_FIELD,
    ConverterChain,
    build_converter_chain,
    reverse_words,
)
from ares_rlhf.errors import ConfigError
from ares_rlhf.mentor.base import SafetyMentor
from ares_rlhf.records import ComponentSpec, MentorOutput
from ares_rlhf.taxonomy import Catalog

if TYPE_CHECKING:
    from ares_rlhf.backends.base import ChatModel

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
    """The request's words in reverse order (the ``reverse_words`` converter)."""
    return reverse_words(request)


def tactic_chains(
    catalog: Catalog,
    *,
    seed: int = 0,
    model: ChatModel | None = None,
    model_field: str = CONVERTER_MODEL_FIELD,
) -> dict[str, ConverterChain]:
    """The converter chain of every catalog tactic that names one (``ConfigError`` if a chain
    needs a chat model and ``model`` is None)."""
    chains = {}
    for tactic in catalog.components["tactic"].values():
        if not tactic.converters:
            continue
        try:
            chains[tactic.id] = build_converter_chain(
                tactic.converters, seed=seed, model=model, model_field=model_field
            )
        except ConfigError as error:
            raise ConfigError(f"tactic {tactic.id!r} ({tactic.source}): {error}") from None
    return chains


def draw_key(seed: int, spec: ComponentSpec, variant: int) -> int:
    """A stable 64-bit key for ``(seed, spec, variant)`` (independent of Python's hash seed)."""
    text = f"{seed}|{spec.label()}|{variant}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


class TemplateMentor(SafetyMentor):
    """Composes prompts and response pairs from the catalog; no model needed (except by a
    tactic whose converter chain translates: give ``converter_model``)."""

    mentor_id = "template"

    def __init__(
        self,
        catalog: Catalog,
        seed: int = 0,
        *,
        converter_model: ChatModel | None = None,
        converter_model_field: str = CONVERTER_MODEL_FIELD,
    ) -> None:
        self.catalog = catalog
        self.seed = seed
        self.chains = tactic_chains(
            catalog, seed=seed, model=converter_model, model_field=converter_model_field
        )

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
        return self._compose(spec, variant)

    def benign_twin(self, spec: ComponentSpec, variant: int, request: str) -> str:
        """``compose_one(spec, variant)``'s prompt with ``request`` asked in place of its harmful
        request: the same persona intro, tactic frame and closer, word for word.

        A minimal pair for repair: the attack and its twin differ only in what they ask. Raises
        ``ValueError`` for a multi-turn tactic (its turns lead up to the harmful subject).
        """
        if self.catalog.get("tactic", spec.tactic).multi_turn:
            raise ValueError(f"tactic {spec.tactic!r} has turns, not a single frame")
        return self._compose(spec, variant, request).messages[-1]["content"]

    def _compose(
        self, spec: ComponentSpec, variant: int, request_override: str | None = None
    ) -> MentorOutput:
        rng = random.Random(draw_key(self.seed, spec, variant))
        topic = self.catalog.get("topic", spec.topic)
        persona = self.catalog.get("persona", spec.persona)
        tactic = self.catalog.get("tactic", spec.tactic)
        goal = self.catalog.get("goal", spec.goal)

        subject = rng.choice(topic.fragment("subjects"))
        redirect = rng.choice(topic.fragment("redirects"))
        intro = rng.choice(persona.fragment("intros"))
        if tactic.multi_turn:
            frames = [rng.choice(alternatives) for alternatives in tactic.turns]
        else:
            frames = [rng.choice(tactic.fragment("frames"))]
        ask = rng.choice(goal.fragment("asks"))
        closer = rng.choice(CLOSERS)

        request = fill_slots(ask, {"subject": subject})
        if request_override is not None:  # drawn first, so every other draw stays the same
            request = request_override
        request_a, request_b = split_request(request)
        values = {
            "intro": intro,
            "request": request,
            "request_a": request_a,
            "request_b": request_b,
            "request_encoded": encode_request(request),
        }
        if tactic.multi_turn:
            values["subject"] = subject
        chain = self.chains.get(tactic.id)
        if chain is not None:
            values["request_converted"] = chain.convert(request)
            values["converter_instruction"] = chain.instruction
        turns = [fill_slots(frame, values).strip() for frame in frames]
        turns[-1] += closer
        prompt = turns[0]

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
            plan=turns if tactic.multi_turn else None,
        )

    def frame_request(self, spec: ComponentSpec, request: str, variant: int = 0) -> str:
        """``request`` (any text) in ``spec``'s persona intro and single-turn tactic frame.

        Benign look-alikes for repair: the same role-play, story, hypothetical, encoding or
        many-shot frame around a harmless request. Raises ``ValueError`` for a multi-turn tactic.
        """
        tactic = self.catalog.get("tactic", spec.tactic)
        if tactic.multi_turn:
            raise ValueError(f"tactic {spec.tactic!r} has turns, not a single frame")
        rng = random.Random(draw_key(self.seed, spec, variant) ^ 0xB3)
        intro = rng.choice(self.catalog.get("persona", spec.persona).fragment("intros"))
        frame = rng.choice(tactic.fragment("frames"))
        first, second = split_request(request)
        values = {
            "intro": intro,
            "request": request,
            "request_a": first,
            "request_b": second,
            "request_encoded": encode_request(request),
        }
        chain = self.chains.get(tactic.id)
        if chain is not None:
            values["request_converted"] = chain.convert(request)
            values["converter_instruction"] = chain.instruction
        return fill_slots(frame, values).strip()
