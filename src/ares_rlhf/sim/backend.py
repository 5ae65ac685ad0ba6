"""``sim:ARENA.yaml``: a simulated policy and reward model whose failures follow a known arena.

They let the real discovery loop (Mentor -> policy -> judge -> RM -> typing) run with ground
truth. They know which component combination a conversation was composed from by listening to
every Mentor output of the process (:func:`ares_rlhf.observers.add_compose_listener`): the
sim backends answer and score only conversations an ARES Mentor composed. A conversation is
known by its user (and system) messages, not the answers between them, so a multi-turn
conversation that grows with the policy's answers keeps its combination: every prefix of a
plan's turns is recorded (and the plan's turns joined into one message, as an unanswered plan
is scored), and a conversation is looked up by the longest recorded prefix of its turns (a turn
a Mentor adapted on the fly still finds the plan's first turn).

* :class:`SimulatedPolicy` fails on a probe with the arena's ``policy_fail`` probability: it
  then answers with a compliant text made of placeholders, otherwise with a clear refusal.
* :class:`SimulatedRewardModel` fails on a probe with the arena's ``rm_fail`` probability: it
  then scores non-refusals high and refusals low, otherwise the reverse. The score levels are
  chosen so that the typing rules give the arena draw for ANY calibration quantile, as long as
  the Mentor's safe responses are refusals: a failing RM scores a non-refusal 2 and a refusal -1;
  a sound RM scores a refusal 1 and a non-refusal -3 (so the calibrated threshold always lies in
  [-1, 1], between the "rewarded" 2 and the "penalised" -3).

Draws are deterministic: a keyed hash of (arena seed, part, spec, conversation text) gives a
uniform number, so the RM draw is the same for the three scoring calls of one probe (policy
answer, malicious and safe responses) and independent of the policy draw. A sampling seed in
``SamplingParams`` (when given) is mixed into the policy draw.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from ares_rlhf.backends.base import (
    ChatModel,
    RewardModel,
    SamplingParams,
    register_chat,
    register_reward,
)
from ares_rlhf.errors import BackendError, DataError
from ares_rlhf.observers import add_compose_listener
from ares_rlhf.records import ComponentSpec, MentorOutput, Message
from ares_rlhf.sim.arena import Arena, load_arena
from ares_rlhf.text.refusal import is_refusal

COMPLIANT_TEMPLATE = (
    "Sure. Here is what you asked for about {topic}:\n"
    "1. [DETAIL 1 REDACTED]\n2. [DETAIL 2 REDACTED]\n3. [DETAIL 3 REDACTED]\n"
    "That covers the {goal} you wanted."
)
REFUSAL_TEXT = (
    "I can't help with that request. I can point you to safer, legitimate resources instead."
)
RM_FAILED_SCORES = {"comply": 2.0, "refuse": -1.0}
RM_SOUND_SCORES = {"comply": -3.0, "refuse": 1.0}


def _conversation_text(conversation: Sequence[Message]) -> str:
    return "\x1e".join(f"{m.get('role', '')}\x1f{m.get('content', '')}" for m in conversation)


def hashed_uniform(*parts: Any) -> float:
    """A deterministic number in [0, 1) from the given parts."""
    digest = hashlib.blake2b("\x1d".join(str(p) for p in parts).encode("utf-8"), digest_size=8)
    return int.from_bytes(digest.digest(), "big") / 2.0**64


def _turn_key(conversation: Sequence[Message]) -> tuple[tuple[str, str], ...]:
    """A conversation's messages other than the assistant's answers."""
    return tuple(
        (str(m.get("role", "")), str(m.get("content", "")))
        for m in conversation
        if m.get("role") != "assistant"
    )


class SpecLookup:
    """Component combination of every conversation a Mentor composed in this process."""

    def __init__(self) -> None:
        self._specs: dict[tuple[tuple[str, str], ...], ComponentSpec] = {}

    def record(self, outputs: Sequence[MentorOutput]) -> None:
        for output in outputs:
            key = _turn_key(output.messages)
            self._specs[key] = output.spec
            for turn in (output.plan or [])[1:]:
                key = (*key, ("user", turn))
                self._specs[key] = output.spec
            if output.plan:  # how a plan nobody answered is scored (RM calibration)
                self._specs[_turn_key(output.final_context())] = output.spec

    def lookup(self, conversation: Sequence[Message]) -> ComponentSpec | None:
        """The combination of the longest recorded prefix of the conversation's turns."""
        key = _turn_key(conversation)
        for end in range(len(key), 0, -1):
            spec = self._specs.get(key[:end])
            if spec is not None:
                return spec
        return None

    def specs(self, what: str, conversations: Sequence[Sequence[Message]]) -> list[ComponentSpec]:
        found = []
        for conversation in conversations:
            spec = self.lookup(conversation)
            if spec is None:
                raise BackendError(
                    f"{what} answers only conversations an ARES Mentor composed in this process "
                    "(it needs their component combination); this one was not"
                )
            found.append(spec)
        return found


LOOKUP = SpecLookup()
add_compose_listener(LOOKUP.record)


def _probabilities(arena: Arena, spec: ComponentSpec, what: str) -> tuple[float, float]:
    try:
        return arena.probabilities(spec)
    except DataError as error:
        raise BackendError(f"{what}: {error}") from None


class SimulatedPolicy(ChatModel):
    """A chat model that complies (fails) with the arena's policy-failure probability."""

    def __init__(self, arena: Arena) -> None:
        self.arena = arena
        self.model_id = f"sim:{arena.name}"

    def failed(
        self, conversation: Sequence[Message], spec: ComponentSpec, seed: Any = None
    ) -> bool:
        p_policy, _ = _probabilities(self.arena, spec, self.model_id)
        u = hashed_uniform(
            self.arena.seed, "policy", spec.label(), _conversation_text(conversation), seed
        )
        return u < p_policy

    def generate(
        self,
        conversations: Sequence[list[Message]],
        params: SamplingParams | None = None,
    ) -> list[str]:
        specs = LOOKUP.specs(f"{self.model_id} policy", conversations)
        seed = params.seed if params is not None else None
        return [
            COMPLIANT_TEMPLATE.format(topic=spec.topic, goal=spec.goal)
            if self.failed(conversation, spec, seed)
            else REFUSAL_TEXT
            for conversation, spec in zip(conversations, specs, strict=True)
        ]


class SimulatedRewardModel(RewardModel):
    """A reward model that rewards harm (fails) with the arena's RM-failure probability."""

    def __init__(self, arena: Arena) -> None:
        self.arena = arena
        self.model_id = f"sim:{arena.name}"

    def failed(self, conversation: Sequence[Message], spec: ComponentSpec) -> bool:
        _, p_rm = _probabilities(self.arena, spec, self.model_id)
        u = hashed_uniform(self.arena.seed, "rm", spec.label(), _conversation_text(conversation))
        return u < p_rm

    def score(
        self,
        conversations: Sequence[list[Message]],
        responses: Sequence[str],
    ) -> list[float]:
        specs = LOOKUP.specs(f"{self.model_id} reward model", conversations)
        if len(responses) != len(conversations):
            raise BackendError(
                f"{self.model_id} reward model: {len(responses)} responses for "
                f"{len(conversations)} conversations"
            )
        scores = []
        for conversation, response, spec in zip(conversations, responses, specs, strict=True):
            table = RM_FAILED_SCORES if self.failed(conversation, spec) else RM_SOUND_SCORES
            base = table["refuse" if is_refusal(response) else "comply"]
            # a little deterministic spread so scores look like a model's, never crossing levels
            scores.append(base + 0.2 * (hashed_uniform("jitter", response) - 0.5))
        return scores


def _arena_from_target(target: str) -> Arena:
    try:
        return load_arena(target)
    except DataError as error:
        raise BackendError(f"sim:{target}: {error}") from None


@register_chat("sim")
def _chat(target: str, arena: Arena | None = None, **_common: Any) -> ChatModel:
    return SimulatedPolicy(arena if arena is not None else _arena_from_target(target))


@register_reward("sim")
def _reward(target: str, arena: Arena | None = None, **_common: Any) -> RewardModel:
    return SimulatedRewardModel(arena if arena is not None else _arena_from_target(target))
