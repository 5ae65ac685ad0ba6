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

A multi-turn tactic (``turns`` in the catalog) asks for a plan instead, and with
``mentor.adaptive_turns`` the Mentor writes each next turn from the policy's last answer
(:mod:`ares_rlhf.mentor.llm_turns`).
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
from ares_rlhf.mentor.base import SafetyMentor, planned_next_turn
from ares_rlhf.mentor.llm_turns import (
    PLAN_CORRECTION,
    default_next_turn_instructions,
    default_plan_instructions,
    describe_turns,
    next_turn_request,
    parse_plan_reply,
    parse_turn_reply,
)
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
    frames = (
        tuple(a for alternatives in tactic.turns for a in alternatives)
        if tactic.multi_turn
        else tactic.fragment("frames")
    )
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
        "tactic_turns": describe_turns(tactic) if tactic.multi_turn else "",
        "turn_count": str(len(tactic.turns)),
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
        plan_instructions: str | None = None,
        next_turn_instructions: str | None = None,
        adaptive_turns: bool = False,
        max_turns: int = 6,
    ) -> None:
        if on_refusal not in ("template", "skip"):
            raise ConfigError(f"mentor.on_refusal must be 'template' or 'skip', got {on_refusal!r}")
        if max_turns < 2:
            raise ConfigError(f"mentor.max_turns must be at least 2, got {max_turns}")
        self.model = model
        self.catalog = catalog
        self.instructions = instructions if instructions is not None else default_instructions()
        self.plan_instructions = plan_instructions or default_plan_instructions()
        self.next_turn_instructions = next_turn_instructions or default_next_turn_instructions()
        self.adaptive_turns = adaptive_turns
        self.max_turns = max_turns
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
        """Running counts: ``valid``, ``retried``, ``refused``, ``invalid`` (retries exhausted);
        with adaptive turns ``turns_adapted`` and ``turns_planned`` (the model gave no turn)."""

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
            adaptive_turns=config.adaptive_turns,
            max_turns=config.max_turns,
        )

    def multi_turn(self, spec: ComponentSpec) -> bool:
        return self.catalog.get("tactic", spec.tactic).multi_turn

    def request_for(self, spec: ComponentSpec, variant: int = 0) -> list[Message]:
        """The conversation that asks the Mentor model for one spec (a plan for a multi-turn
        tactic)."""
        values = describe_spec(self.catalog, spec)
        values["variant"] = str(variant)
        values["max_turns"] = str(self.max_turns)
        template = self.plan_instructions if self.multi_turn(spec) else self.instructions
        return [{"role": "user", "content": fill_slots(template, values)}]

    def _read(self, spec: ComponentSpec, raw: str) -> tuple[MentorOutput | None, str, bool]:
        """(output, problem, refused) for one reply: an output when it is valid."""
        if self.multi_turn(spec):
            plan = parse_plan_reply(raw, self.max_turns)
            if plan.turns is None:
                return None, plan.problem, is_refusal(raw)
            if is_refusal(plan.turns[-1]) or is_refusal(plan.malicious):
                return None, "", True
            turns = [*plan.turns[:-1], self._convert(spec, plan.turns[-1])]
            output = MentorOutput(
                spec=spec,
                messages=[{"role": "user", "content": turns[0]}],
                malicious=plan.malicious,
                safe=plan.safe,
                mentor_id=self.mentor_id,
                plan=turns,
            )
            return output, "", False
        parsed = parse_reply(raw)
        if parsed.fields is None:
            return None, parsed.problem, is_refusal(raw)
        if is_refusal(parsed.fields["prompt"]) or is_refusal(parsed.fields["malicious"]):
            return None, "", True
        output = MentorOutput(
            spec=spec,
            messages=[{"role": "user", "content": self._convert(spec, parsed.fields["prompt"])}],
            malicious=parsed.fields["malicious"],
            safe=parsed.fields["safe"],
            mentor_id=self.mentor_id,
        )
        return output, "", False

    def _correction(self, spec: ComponentSpec, problem: str) -> str:
        if self.multi_turn(spec):
            return PLAN_CORRECTION.format(problem=problem, low=2, high=self.max_turns)
        return CORRECTION.format(problem=problem)

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
                output, problem, refused = self._read(specs[i], raw)
                if refused:
                    results[i] = self._fallback(specs[i], variants[i], refused=True)
                    continue
                if output is not None:
                    self.stats["valid"] += 1
                    results[i] = output
                    continue
                conversations[i] = [
                    *conversations[i],
                    {"role": "assistant", "content": raw},
                    {"role": "user", "content": self._correction(specs[i], problem)},
                ]
                still_pending.append(i)
            pending = still_pending
        for i in pending:  # retries exhausted: the model never gave a usable reply
            self.stats["invalid"] += 1
            results[i] = self._fallback(specs[i], variants[i], refused=False)
        return results

    def next_turns(
        self, outputs: Sequence[MentorOutput], conversations: Sequence[Sequence[Message]]
    ) -> list[str | None]:
        """The plan's next turns, or with ``adaptive_turns`` turns the model writes from each
        conversation so far (one ``generate`` call for the batch; at most ``max_turns`` user
        turns; the planned turn where the model gives no usable one or refuses)."""
        planned = [planned_next_turn(o, c) for o, c in zip(outputs, conversations, strict=True)]
        if not self.adaptive_turns:
            return planned
        ask: list[int] = []
        for i, (output, conversation) in enumerate(zip(outputs, conversations, strict=True)):
            sent = sum(1 for m in conversation if m.get("role") == "user")
            last = conversation[-1].get("content", "") if conversation else ""
            if not output.plan or sent >= self.max_turns:
                planned[i] = None
            elif planned[i] is not None or is_refusal(last):
                ask.append(i)
        if not ask:
            return planned
        requests = [
            next_turn_request(
                self.next_turn_instructions,
                describe_spec(self.catalog, outputs[i].spec),
                outputs[i].plan or [],
                conversations[i],
                planned=planned[i],
                max_turns=self.max_turns,
            )
            for i in ask
        ]
        replies = self.model.generate(requests, self.params)
        turns = list(planned)
        for i, raw in zip(ask, replies, strict=True):
            turn = parse_turn_reply(raw)
            if turn is None or is_refusal(turn):
                self.stats["turns_planned"] += 1
                continue
            self.stats["turns_adapted"] += 1
            plan = outputs[i].plan or []
            final = planned[i] is None or planned[i] == plan[-1]
            turns[i] = self._convert(outputs[i].spec, turn) if final else turn
        return turns

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
