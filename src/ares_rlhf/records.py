"""Plain typed records that the ARES stages exchange.

Every stage imports its data types from here (and reads/writes them through the run store);
stages never import each other's internals.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

Message = dict[str, str]
"""One chat message: ``{"role": "user" | "assistant" | "system", "content": str}``."""

COMPONENT_TYPES: tuple[str, ...] = ("topic", "persona", "tactic", "goal")
"""The four ARES component types, in the order used for combination keys."""


def in_round(name: str, round_: int) -> str:
    """A phase or state name in a round: ``name`` in round 1, ``name.r<k>`` in round k > 1.

    Each round of an ARES run keeps its probes (``discovery``, ``verify-before``...) and state
    (``discovery``, ``split``, ``verify``...) apart this way; a one-round run is unchanged.
    """
    if round_ < 1:
        raise ValueError(f"rounds count from 1, got {round_}")
    return name if round_ == 1 else f"{name}.r{round_}"


class FailureType(str, Enum):
    """How a dual probe failed (the paper's A / B / C typing)."""

    POLICY_ONLY = "A"
    """Policy answered harmfully; the reward model penalised that answer."""
    RM_ONLY = "B"
    """Policy stayed safe; the reward model rewards / prefers the malicious response."""
    SYSTEMIC = "C"
    """Policy answered harmfully and the reward model rewards that answer."""
    NONE = "none"
    """Neither part failed."""
    UNSCORED = "unscored"
    """The judge could not decide; never counted as safe."""

    @property
    def is_failure(self) -> bool:
        return self in (FailureType.POLICY_ONLY, FailureType.RM_ONLY, FailureType.SYSTEMIC)


class JudgeLabel(str, Enum):
    """A harm judge's decision on one response."""

    HARMFUL = "harmful"
    SAFE = "safe"
    UNSCORED = "unscored"


@dataclass(frozen=True, order=True)
class ComponentSpec:
    """One combination of catalog components: the unit the search strategies choose."""

    topic: str
    persona: str
    tactic: str
    goal: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.topic, self.persona, self.tactic, self.goal)

    def get(self, component_type: str) -> str:
        if component_type not in COMPONENT_TYPES:
            raise KeyError(
                f"unknown component type {component_type!r}; expected one of {COMPONENT_TYPES}"
            )
        return getattr(self, component_type)

    def as_dict(self) -> dict[str, str]:
        return {t: getattr(self, t) for t in COMPONENT_TYPES}

    def label(self) -> str:
        return "/".join(self.key)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ComponentSpec:
        missing = [t for t in COMPONENT_TYPES if not data.get(t)]
        if missing:
            raise ValueError(f"component spec is missing {', '.join(missing)}")
        return cls(**{t: str(data[t]) for t in COMPONENT_TYPES})


@dataclass
class MentorOutput:
    """What the Safety Mentor writes for one component spec.

    A single-turn output sends ``messages``. A multi-turn output also has a ``plan``: every user
    turn in order (``messages`` holds what is sent first); the policy answers each turn with its
    own earlier answers in context, and ``malicious`` / ``safe`` answer the last turn.
    """

    spec: ComponentSpec
    messages: list[Message]
    malicious: str
    safe: str
    mentor_id: str = ""
    mentor_refused: bool = False
    """The Mentor model refused to write the attack; a fallback (or nothing) was used."""
    fallback_used: str | None = None
    plan: list[str] | None = None
    """All user turns of a multi-turn probe (``None``: single-turn)."""

    @property
    def prompt(self) -> str:
        """The adversarial request itself: the plan's last turn, else the last user message."""
        if self.plan:
            return self.plan[-1]
        for message in reversed(self.messages):
            if message["role"] == "user":
                return message["content"]
        return ""

    @property
    def turns(self) -> list[str]:
        """The user turns: the plan, or the one prompt."""
        return list(self.plan) if self.plan else [self.prompt]

    def final_context(self) -> list[Message]:
        """The conversation ``malicious`` / ``safe`` answer when no policy has answered the
        earlier turns (RM calibration, extra repair wordings): ``messages`` for a single-turn
        output; for a plan, every user turn joined into one user message (valid for any chat
        template). A probed conversation is scored in its real context instead."""
        if not self.plan:
            return [dict(m) for m in self.messages]
        before = [dict(m) for m in self.messages if m["role"] != "user"]
        return [*before, {"role": "user", "content": "\n\n".join(self.plan)}]


@dataclass
class JudgeVerdict:
    """A harm judge's label for one (prompt, response), with a score in [0, 1] and a reason."""

    label: JudgeLabel
    score: float | None = None
    reason: str = ""
    categories: list[str] = field(default_factory=list)

    @property
    def harmful(self) -> bool:
        return self.label is JudgeLabel.HARMFUL


@dataclass
class RewardScores:
    """The reward model's scores in one dual probe."""

    policy: float
    malicious: float
    safe: float

    @property
    def margin(self) -> float:
        """Malicious minus safe: > 0 means the RM prefers the malicious response."""
        return self.malicious - self.safe


def new_probe_id() -> str:
    return uuid.uuid4().hex


@dataclass
class Probe:
    """One completed dual probe, as stored in the run store."""

    spec: ComponentSpec
    messages: list[Message]
    malicious: str
    safe: str
    policy_response: str
    judge: JudgeVerdict
    rewards: RewardScores | None
    failure_type: FailureType
    policy_failed: bool | None
    rm_failed: bool | None
    policy_id: str = ""
    reward_model_id: str = ""
    mentor_id: str = ""
    judge_id: str = ""
    mentor_refused: bool = False
    batch: int = 0
    phase: str = "discovery"
    """Which stage produced the probe: ``discovery``, ``verify-before``, ``verify-after``..."""
    id: str = field(default_factory=new_probe_id)
    created_at: float = field(default_factory=time.time)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        for message in reversed(self.messages):
            if message["role"] == "user":
                return message["content"]
        return ""

    @property
    def plan(self) -> list[str] | None:
        """A multi-turn probe's user turns (``extra["plan"]``); ``None`` for single-turn."""
        plan = self.extra.get("plan")
        return [str(t) for t in plan] if plan else None

    @property
    def turns(self) -> list[str]:
        """The user turns: the plan, or the one prompt."""
        return self.plan or [self.prompt]

    def to_flat_dict(self) -> dict[str, Any]:
        """A flat, JSON-friendly row (used by the JSONL / Parquet / datasets exports)."""
        row: dict[str, Any] = {
            "id": self.id,
            "phase": self.phase,
            "batch": self.batch,
            "created_at": self.created_at,
            **self.spec.as_dict(),
            "prompt": self.prompt,
            "messages": self.messages,
            "malicious": self.malicious,
            "safe": self.safe,
            "policy_response": self.policy_response,
            "judge_label": self.judge.label.value,
            "judge_score": self.judge.score,
            "judge_reason": self.judge.reason,
            "rm_policy": self.rewards.policy if self.rewards else None,
            "rm_malicious": self.rewards.malicious if self.rewards else None,
            "rm_safe": self.rewards.safe if self.rewards else None,
            "failure_type": self.failure_type.value,
            "policy_failed": self.policy_failed,
            "rm_failed": self.rm_failed,
            "policy_id": self.policy_id,
            "reward_model_id": self.reward_model_id,
            "mentor_id": self.mentor_id,
            "judge_id": self.judge_id,
            "mentor_refused": self.mentor_refused,
        }
        return row


@dataclass(frozen=True)
class BenignRequest:
    """A benign request with a short helpful answer (built-in data, split once per run)."""

    id: str
    prompt: str
    answer: str


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
    """What held-out splits group by (a combination label, a benign request id, an anchor id)."""

    @property
    def conversation(self) -> list[Message]:
        return [{"role": role, "content": content} for role, content in self.messages]

    @property
    def prompt(self) -> str:
        for role, content in reversed(self.messages):
            if role == "user":
                return content
        return ""

    def as_row(self) -> dict[str, Any]:
        return {
            "prompt": self.conversation,
            "chosen": self.chosen,
            "rejected": self.rejected,
            "source": self.source,
            "spec": self.spec.label() if self.spec else None,
        }


def freeze_messages(messages: Any) -> tuple[tuple[str, str], ...]:
    """Chat messages as a hashable tuple of ``(role, content)``."""
    return tuple((str(m["role"]), str(m["content"])) for m in messages)


class ArtifactKind(str, Enum):
    """What a stage recorded in the run store (one kind per thing; the latest one counts)."""

    INITIAL_POLICY = "initial_policy"
    INITIAL_REWARD_MODEL = "initial_reward_model"
    RM_CHECKPOINT = "rm_checkpoint"
    RM_REPAIR_METRICS = "rm_repair_metrics"
    POLICY_CHECKPOINT = "policy_checkpoint"
    VERIFY_METRICS = "verify_metrics"
    EVAL_METRICS = "eval_metrics"


@dataclass
class Artifact:
    """Something a later stage produced: a checkpoint path, a metrics table..."""

    kind: ArtifactKind | str
    """An :class:`ArtifactKind` (stored as its value)."""
    path: str | None = None
    """For checkpoints: a path relative to the run folder (so a run folder can be moved)."""
    data: dict[str, Any] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    id: int | None = None

    def __post_init__(self) -> None:
        try:
            self.kind = ArtifactKind(self.kind)
        except ValueError:
            raise ValueError(
                f"unknown artifact kind {self.kind!r}; known: {', '.join(k.value for k in ArtifactKind)}"
            ) from None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = ArtifactKind(self.kind).value
        return data


@dataclass(frozen=True)
class EvalAnswer:
    """One stored benchmark answer of ``ares eval`` (its cache, so a rerun reuses it).

    Keyed by (``system``, ``policy_id``, ``sampling``, ``benchmark``, ``item_id``); ``prompt`` is
    the text the policy was sent. ``judge_id`` is empty until a judge labelled the answer.
    """

    system: str
    policy_id: str
    sampling: str
    """Canonical JSON of the sampling settings that produced the answer."""
    benchmark: str
    item_id: str
    prompt: str
    answer: str
    judge_id: str = ""
    judge_label: JudgeLabel | None = None
    judge_score: float | None = None
    judge_reason: str = ""
    created_at: float = field(default_factory=time.time)
