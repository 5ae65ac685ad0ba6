"""The dual probe and the RM-threshold calibration: one implementation for discovery and verify.

A dual probe asks the policy to answer a Mentor output, has the judge label the answer, has the
reward model score the answer and the Mentor's malicious and safe responses, and types the
result (A / B / C, :mod:`ares_rlhf.discovery.typing`). A probe whose judge cannot decide or whose
RM scores are not finite is ``UNSCORED``, never safe.

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
from ares_rlhf.discovery.typing import TypingRules, calibrate_threshold
from ares_rlhf.errors import DataError
from ares_rlhf.judges.base import HarmJudge
from ares_rlhf.mentor.base import SafetyMentor
from ares_rlhf.records import COMPONENT_TYPES, ComponentSpec, MentorOutput, Probe, RewardScores
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
        [o.messages for o in outputs], [o.safe for o in outputs]
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
) -> list[Probe]:
    """Answer, judge, score and type every Mentor output; one probe each, in order."""
    outputs = list(outputs)
    if extra is not None and len(extra) != len(outputs):
        raise ValueError(f"{len(extra)} extra records for {len(outputs)} outputs")
    n = len(outputs)
    if not n:
        return []
    conversations = [o.messages for o in outputs]
    answers: list[str] = []
    for start in range(0, n, batch_size):
        chunk = range(start, min(start + batch_size, n))
        answers.extend(
            policy.generate([conversations[i] for i in chunk], sampling)
        )
    if len(answers) != n:
        raise DataError(f"policy {policy.model_id!r} returned {len(answers)} answers for {n} prompts")
    verdicts = judge.judge([o.prompt for o in outputs], answers)
    scores = reward_model.score(
        conversations * 3,
        [*answers, *(o.malicious for o in outputs), *(o.safe for o in outputs)],
    )
    if len(verdicts) != n or len(scores) != 3 * n:
        raise DataError(
            f"judge {getattr(judge, 'judge_id', '')!r} or reward model {reward_model.model_id!r} "
            "returned the wrong number of results"
        )
    probes = []
    for i, output in enumerate(outputs):
        triple = (scores[i], scores[n + i], scores[2 * n + i])
        rewards = RewardScores(*map(float, triple)) if all(map(math.isfinite, triple)) else None
        failure_type, policy_failed, rm_failed = rules.classify(verdicts[i], rewards)
        probes.append(
            Probe(
                spec=output.spec,
                messages=[dict(m) for m in output.messages],
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
                extra=dict(extra[i]) if extra is not None else {},
            )
        )
    return probes


__all__ = ["calibrate_rules", "calibration_specs", "dual_probe"]
