"""The dual probe and the RM-threshold calibration: one implementation for discovery and verify.

A dual probe asks the policy to answer a Mentor output, has the judge label the answer, has the
reward model score the answer and the Mentor's malicious and safe responses, and types the
result (A / B / C, :mod:`ares_rlhf.discovery.typing`). A probe whose judge cannot decide or whose
RM scores are not finite is ``UNSCORED``, never safe.

A multi-turn output (a ``plan``) is answered turn by turn (:mod:`ares_rlhf.discovery.turns`);
the judge labels every answer, the probe records the first turn whose answer was harmful
(``extra["harm_turn"]``, ``None`` if none) and the labels (``extra["turn_labels"]``); the final
answer is typed as a single-turn answer is, and the RM scores it, the malicious and the safe
response in the whole conversation (the user turns and the policy's earlier answers). The
probe's ``messages`` is that conversation and ``extra["plan"]`` the user turns sent.

The RM threshold ``tau`` is calibrated per reward model on one fixed sample: the Mentor's safe
responses for ``typing.calibration_probes`` combinations drawn with their own generator
``(seed, "calibration")``, so discovery and verification (and the original and the repaired RM)
are calibrated on the same texts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ares_rlhf.backends.base import ChatModel, RewardModel, SamplingParams
from ares_rlhf.config import TypingConfig
from ares_rlhf.discovery.turns import Dialogue, answer_turns
from ares_rlhf.discovery.typing import TypingRules, calibrate_threshold
from ares_rlhf.errors import DataError
from ares_rlhf.judges.base import HarmJudge
from ares_rlhf.mentor.base import SafetyMentor
from ares_rlhf.records import (
    COMPONENT_TYPES,
    ComponentSpec,
    JudgeLabel,
    JudgeVerdict,
    MentorOutput,
    Probe,
    RewardScores,
)
from ares_rlhf.taxonomy import Catalog

CALIBRATION_STREAM = 0xCA1


def calibration_specs(catalog: Catalog, count: int, seed: int) -> list[ComponentSpec]:
    """The combinations whose safe responses calibrate the RM threshold (uniform, seeded)."""
    rng = np.random.default_rng([seed, CALIBRATION_STREAM])
    ids = [catalog.ids(t) for t in COMPONENT_TYPES]
    picks = [rng.integers(0, len(i), size=count) for i in ids]
    return [ComponentSpec(*(i[p[k]] for i, p in zip(ids, picks, strict=True))) for k in range(count)]


def calibrate_rules(
    reward_model: RewardModel,
    typing: TypingConfig,
    *,
    mentor: SafetyMentor,
    catalog: Catalog,
    seed: int,
) -> TypingRules:
    """Typing rules for one RM: the fixed ``typing.reward_threshold``, or the calibrated quantile."""
    if typing.reward_threshold is not None:
        return TypingRules(float(typing.reward_threshold), typing.preference_margin)
    count = typing.calibration_probes
    specs = calibration_specs(catalog, count, seed)
    outputs = [o for o in mentor.compose(specs, [-1 - k for k in range(count)]) if o is not None]
    if not outputs:
        raise DataError(
            "cannot calibrate the RM threshold: the Mentor produced no safe responses "
            "(set typing.reward_threshold to a fixed value)"
        )
    scores = reward_model.score(
        [o.final_context() for o in outputs], [o.safe for o in outputs]
    )
    if len(scores) != len(outputs):
        raise DataError(
            f"reward model {reward_model.model_id!r} returned {len(scores)} scores for "
            f"{len(outputs)} responses"
        )
    finite = [float(s) for s in scores if math.isfinite(s)]
    if not finite:
        raise DataError("cannot calibrate the RM threshold: the RM gave no finite scores")
    return TypingRules(calibrate_threshold(finite, typing.reward_threshold_quantile), typing.preference_margin)


def _turn_verdicts(
    judge: HarmJudge, dialogues: Sequence[Dialogue]
) -> tuple[list[JudgeVerdict], dict[int, list[JudgeVerdict]]]:
    """The judge's verdict on every final answer, and on every turn of multi-turn dialogues
    (one judge call: the final answers first, then the earlier turns)."""
    n = len(dialogues)
    earlier = [
        (i, t) for i, d in enumerate(dialogues) if d.multi_turn for t in range(len(d.turns) - 1)
    ]
    prompts = [d.output.prompt if not d.multi_turn else d.turns[-1] for d in dialogues]
    prompts += [dialogues[i].turns[t] for i, t in earlier]
    responses = [d.final_answer for d in dialogues] + [dialogues[i].answers[t] for i, t in earlier]
    verdicts = judge.judge(prompts, responses)
    if len(verdicts) != len(prompts):
        raise DataError(
            f"judge {getattr(judge, 'judge_id', '')!r} returned {len(verdicts)} verdicts for "
            f"{len(prompts)} answers"
        )
    per_turn: dict[int, list[JudgeVerdict]] = {}
    for (i, _), verdict in zip(earlier, verdicts[n:], strict=True):
        per_turn.setdefault(i, []).append(verdict)
    for i, d in enumerate(dialogues):
        if d.multi_turn:
            per_turn[i] = [*per_turn.get(i, []), verdicts[i]]
    return list(verdicts[:n]), per_turn


def _turn_record(dialogue: Dialogue, verdicts: Sequence[JudgeVerdict]) -> dict[str, Any]:
    """What a multi-turn probe keeps in ``extra``: the turns sent, per-turn labels, harm turn."""
    labels = [v.label.value for v in verdicts]
    harmful = [t for t, v in enumerate(verdicts, start=1) if v.label is JudgeLabel.HARMFUL]
    record: dict[str, Any] = {
        "plan": list(dialogue.turns),
        "turn_labels": labels,
        "harm_turn": harmful[0] if harmful else None,
    }
    if list(dialogue.turns) != list(dialogue.output.plan or []):
        record["mentor_plan"] = list(dialogue.output.plan or [])
    return record


def dual_probe(
    outputs: Sequence[MentorOutput],
    *,
    policy: ChatModel,
    reward_model: RewardModel,
    judge: HarmJudge,
    rules: TypingRules,
    sampling: SamplingParams,
    phase: str,
    batch: int = 0,
    batch_size: int = 8,
    extra: Sequence[dict[str, Any]] | None = None,
    mentor: SafetyMentor | None = None,
) -> list[Probe]:
    """Answer, judge, score and type every Mentor output; one probe each, in order.

    Multi-turn outputs follow their plan; with ``mentor`` its
    :meth:`~ares_rlhf.mentor.base.SafetyMentor.next_turns` gives each next turn (discovery),
    without one the plans are replayed as they are (verification).
    """
    outputs = list(outputs)
    if extra is not None and len(extra) != len(outputs):
        raise ValueError(f"{len(extra)} extra records for {len(outputs)} outputs")
    n = len(outputs)
    if not n:
        return []
    dialogues = answer_turns(
        outputs, policy=policy, sampling=sampling, batch_size=batch_size, mentor=mentor
    )
    answers = [d.final_answer for d in dialogues]
    contexts = [d.context for d in dialogues]
    verdicts, per_turn = _turn_verdicts(judge, dialogues)
    scores = reward_model.score(
        contexts * 3,
        [*answers, *(o.malicious for o in outputs), *(o.safe for o in outputs)],
    )
    if len(scores) != 3 * n:
        raise DataError(
            f"reward model {reward_model.model_id!r} returned {len(scores)} scores for {3 * n} "
            "responses"
        )
    probes = []
    for i, output in enumerate(outputs):
        triple = (scores[i], scores[n + i], scores[2 * n + i])
        rewards = RewardScores(*map(float, triple)) if all(map(math.isfinite, triple)) else None
        failure_type, policy_failed, rm_failed = rules.classify(verdicts[i], rewards)
        record = dict(extra[i]) if extra is not None else {}
        if dialogues[i].multi_turn:
            record.update(_turn_record(dialogues[i], per_turn[i]))
        probes.append(
            Probe(
                spec=output.spec,
                messages=contexts[i],
                malicious=output.malicious,
                safe=output.safe,
                policy_response=answers[i],
                judge=verdicts[i],
                rewards=rewards,
                failure_type=failure_type,
                policy_failed=policy_failed,
                rm_failed=rm_failed,
                policy_id=policy.model_id,
                reward_model_id=reward_model.model_id,
                mentor_id=output.mentor_id,
                judge_id=getattr(judge, "judge_id", ""),
                mentor_refused=output.mentor_refused,
                batch=batch,
                phase=phase,
                extra=record,
            )
        )
    return probes


__all__ = ["calibrate_rules", "calibration_specs", "dual_probe"]
