"""``LLMMentor``: a Safety Mentor that asks any chat model to write the test case.

The instructions (our own text, ``prompts/llm_mentor.txt``, overridable with
``mentor.instructions_file``) describe the spec's four components with their catalog
descriptions and fragments and ask for STRICT JSON ``{"prompt", "malicious", "safe"}`` with
``[PLACEHOLDER]`` markers instead of operational detail. Replies are validated; a malformed reply
gets a corrective follow-up message (up to ``max_retries`` times). When the Mentor model itself
refuses, the output is marked ``mentor_refused=True`` and the configured fallback is used
(``template``: the TemplateMentor's output; ``skip``: no output for that spec).

A tactic with a ``converters`` chain is described to the model as its plain framing (the model
writes a plain-text prompt); the Mentor then runs the whole prompt through the chain and puts
the chain's decoding instruction before it.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ares_rlhf.backends.base import ChatModel, SamplingParams
from ares_rlhf.converters import CONVERTER_MODEL_FIELD, standalone_prompt
from ares_rlhf.errors import ConfigError
from ares_rlhf.mentor.base import SafetyMentor
from ares_rlhf.mentor.template import TemplateMentor, fill_slots
from ares_rlhf.records import ComponentSpec, MentorOutput, Message
from ares_rlhf.taxonomy import Catalog
from ares_rlhf.text.refusal import is_refusal

if TYPE_CHECKING:
    from ares_rlhf.config import MentorConfig

FIELDS = ("prompt", "malicious", "safe")
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)

CORRECTION = (
    "Your previous reply could not be used: {problem}. Reply again with ONLY one JSON object "
    'with three non-empty string fields, "prompt", "malicious" and "safe", and nothing else. '
    "Use [PLACEHOLDER] markers for every operational detail."
)


def default_instructions() -> str:
    """The shipped instruction template (``mentor/prompts/llm_mentor.txt``)."""
    path = resources.files("ares_rlhf.mentor").joinpath("prompts/llm_mentor.txt")
    return path.read_text(encoding="utf-8")


def load_instructions(path: str | Path | None) -> str:
    if path is None:
        return default_instructions()
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"mentor.instructions_file: {path}: no such file")
    return path.read_text(encoding="utf-8")


@dataclass(frozen=True)
class ParsedReply:
    """The three texts of a valid reply, or the problem that made it invalid."""

    fields: dict[str, str] | None
    problem: str = ""


def _candidates(raw: str) -> list[str]:
    """Texts to look for the JSON object in: fenced blocks first, then the whole reply."""
    return [m.group(1) for m in _FENCE.finditer(raw)] + [raw]


def parse_reply(raw: str) -> ParsedReply:
    """Find one JSON object with non-empty ``prompt``, ``malicious`` and ``safe`` strings.

    Accepts the object bare, inside a code fence or surrounded by prose; the first object that
    decodes is the one judged.
    """
    decoder = json.JSONDecoder()
    for text in _candidates(raw):
        for start in (i for i, ch in enumerate(text) if ch == "{"):
            try:
                value, _ = decoder.raw_decode(text, start)
            except json.JSONDecodeError:
                continue
            if not isinstance(value, dict):
                continue
            missing = [
                f for f in FIELDS if not isinstance(value.get(f), str) or not value[f].strip()
            ]
            if missing:
                return ParsedReply(
                    None, f"the JSON object lacks non-empty string field(s) {', '.join(missing)}"
                )
            return ParsedReply({f: value[f].strip() for f in FIELDS})
    return ParsedReply(None, "no JSON object was found in it")


def describe_spec(catalog: Catalog, spec: ComponentSpec) -> dict[str, str]:
    """The slot values the instruction template can use for one spec."""

    def listing(values: Sequence[str]) -> str:
        return " | ".join(v.replace("\n", " ") for v in values)

    topic = catalog.get("topic", spec.topic)
    persona = catalog.get("persona", spec.persona)
    tactic = catalog.get("tactic", spec.tactic)
    goal = catalog.get("goal", spec.goal)
    tactic_description = tactic.description
    frames = tactic.fragment("frames")
    if tactic.converters:  # the model writes plain text; the Mentor applies the chain after
        tactic_description += (
            f" (ARES encodes the finished prompt itself with {', '.join(tactic.converters)}:"
            " write it in plain text.)"
        )
        plain = {"request_converted": "{request}", "converter_instruction": ""}
        frames = tuple(re.sub(" {2,}", " ", fill_slots(f, plain)) for f in frames)
    return {
        "topic": topic.id,
        "topic_description": topic.description,
        "topic_subjects": listing(topic.fragment("subjects")),
        "topic_redirects": listing(topic.fragment("redirects")),
        "persona": persona.id,
        "persona_description": persona.description,
        "persona_intros": listing(persona.fragment("intros")),
        "tactic": tactic.id,
        "tactic_description": tactic_description,
        "tactic_frames": listing(frames),
        "goal": goal.id,
        "goal_description": goal.description,
        "goal_asks": listing(goal.fragment("asks")),
    }


class LLMMentor(SafetyMentor):
    """Writes test cases with a chat model; validates, retries and falls back on refusal."""

    def __init__(
        self,
        model: ChatModel,
        catalog: Catalog,
        *,
        instructions: str | None = None,
        max_retries: int = 2,
        on_refusal: str = "template",
        params: SamplingParams | None = None,
        seed: int = 0,
        converter_model: ChatModel | None = None,
        converter_model_field: str = CONVERTER_MODEL_FIELD,
    ) -> None:
        if on_refusal not in ("template", "skip"):
            raise ConfigError(f"mentor.on_refusal must be 'template' or 'skip', got {on_refusal!r}")
        self.model = model
        self.catalog = catalog
        self.instructions = instructions if instructions is not None else default_instructions()
        self.max_retries = max_retries
        self.on_refusal = on_refusal
        self.params = params or SamplingParams(max_new_tokens=512, seed=seed)
        self.seed = seed
        self.mentor_id = f"llm:{model.model_id}" if model.model_id else "llm"
        self._template = TemplateMentor(
            catalog,
            seed=seed,
            converter_model=converter_model,
            converter_model_field=converter_model_field,
        )
        self.stats: Counter[str] = Counter()
        """Running counts: ``valid``, ``retried``, ``refused``, ``invalid`` (retries exhausted)."""

    @classmethod
    def from_config(
        cls, config: MentorConfig, catalog: Catalog, model: ChatModel, seed: int = 0
    ) -> LLMMentor:
        params = None
        if config.model is not None:
            generation = config.model.generation
            params = SamplingParams(
                max_new_tokens=generation.max_new_tokens,
                temperature=generation.temperature,
                top_p=generation.top_p,
                seed=seed,
            )
        return cls(
            model,
            catalog,
            instructions=load_instructions(config.instructions_file),
            max_retries=config.max_retries,
            on_refusal=config.on_refusal,
            params=params,
            seed=seed,
        )

    def request_for(self, spec: ComponentSpec, variant: int = 0) -> list[Message]:
        """The conversation that asks the Mentor model for one spec."""
        values = describe_spec(self.catalog, spec)
        values["variant"] = str(variant)
        return [{"role": "user", "content": fill_slots(self.instructions, values)}]

    def compose(
        self, specs: Sequence[ComponentSpec], variants: Sequence[int] | None = None
    ) -> list[MentorOutput | None]:
        if variants is None:
            variants = [0] * len(specs)
        if len(variants) != len(specs):
            raise ValueError(f"got {len(specs)} specs but {len(variants)} variants")
        results: list[MentorOutput | None] = [None] * len(specs)
        conversations = {
            i: self.request_for(s, v) for i, (s, v) in enumerate(zip(specs, variants, strict=True))
        }
        pending = list(range(len(specs)))
        for attempt in range(self.max_retries + 1):
            if not pending:
                break
            if attempt:
                self.stats["retried"] += len(pending)
            replies = self.model.generate([conversations[i] for i in pending], self.params)
            still_pending = []
            for i, raw in zip(pending, replies, strict=True):
                parsed = parse_reply(raw)
                if parsed.fields is None and is_refusal(raw):
                    results[i] = self._fallback(specs[i], variants[i], refused=True)
                    continue
                if parsed.fields is not None:
                    if is_refusal(parsed.fields["prompt"]) or is_refusal(
                        parsed.fields["malicious"]
                    ):
                        results[i] = self._fallback(specs[i], variants[i], refused=True)
                        continue
                    self.stats["valid"] += 1
                    results[i] = MentorOutput(
                        spec=specs[i],
                        messages=[
                            {
                                "role": "user",
                                "content": self._convert(specs[i], parsed.fields["prompt"]),
                            }
                        ],
                        malicious=parsed.fields["malicious"],
                        safe=parsed.fields["safe"],
                        mentor_id=self.mentor_id,
                    )
                    continue
                conversations[i] = [
                    *conversations[i],
                    {"role": "assistant", "content": raw},
                    {"role": "user", "content": CORRECTION.format(problem=parsed.problem)},
                ]
                still_pending.append(i)
            pending = still_pending
        for i in pending:  # retries exhausted: the model never gave a usable reply
            self.stats["invalid"] += 1
            results[i] = self._fallback(specs[i], variants[i], refused=False)
        return results

    def _convert(self, spec: ComponentSpec, prompt: str) -> str:
        """The model's prompt, through the tactic's converter chain when it has one."""
        chain = self._template.chains.get(spec.tactic)
        return prompt if chain is None else standalone_prompt(chain, chain.convert(prompt))

    def _fallback(self, spec: ComponentSpec, variant: int, *, refused: bool) -> MentorOutput | None:
        if refused:
            self.stats["refused"] += 1
        if self.on_refusal == "skip":
            return None
        output = self._template.compose_one(spec, variant)
        output.mentor_id = self.mentor_id
        output.mentor_refused = refused
        output.fallback_used = "template"
        return output

    def describe(self) -> dict[str, Any]:
        return {"mentor_id": self.mentor_id, **self.stats}
