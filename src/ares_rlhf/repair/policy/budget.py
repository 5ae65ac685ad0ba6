"""A later round's policy-repair budget, in proportion to what the round found.

Round 1 repairs with the configured ``repair_policy`` settings. With ``rounds.scale_repair`` (the
default), round k > 1 scales the amounts that do not grow with its failures by

    scale = min(1, training failures of round k / training failures of round 1)

(training failures: the round's failing discovery probes on the training side of its split):
``steps`` (and ``max_prompts`` when set) and the fixed-size parts of the mix, ``harmful_anchors``
and ``benign_anchors``; ``iterations`` is capped at the scaled steps. Why: measured on the
embedded default (docs/rounds.md, 2026-12-04), round 2 found 2 policy-only failures where round 1
found 21, yet ran round 1's 16 steps on a mix that was mostly round 1's harmful anchors again,
and cost 5 ARC-Easy points. The failure prompts, their replay and recombinations and the benign
share already follow the round's failures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ares_rlhf.repair.policy.prompts import training_failures

if TYPE_CHECKING:
    from ares_rlhf.config import PolicyRepairConfig
    from ares_rlhf.run import Run


def budget_scale(run: Run) -> float:
    """``min(1, failures of this round / failures of round 1)``; 1.0 in round 1, without
    ``rounds.scale_repair``, or when round 1 had no training failures."""
    if run.round == 1 or not run.config.rounds.scale_repair:
        return 1.0
    first = len(training_failures(run, 1))
    if first == 0:
        return 1.0
    return min(1.0, len(training_failures(run, run.round)) / first)


def scaled_repair_config(config: PolicyRepairConfig, scale: float) -> PolicyRepairConfig:
    """``config`` with its steps, ``max_prompts`` and anchor counts scaled (steps at least 1)."""
    if scale >= 1.0:
        return config
    steps = max(1, round(config.steps * scale))
    updates = {
        "steps": steps,
        "iterations": min(config.iterations, steps),
        "harmful_anchors": round(config.harmful_anchors * scale),
        "benign_anchors": round(config.benign_anchors * scale),
    }
    if config.max_prompts is not None:
        updates["max_prompts"] = max(1, round(config.max_prompts * scale))
    return config.model_copy(update=updates)


def round_repair_config(run: Run) -> PolicyRepairConfig:
    """The current round's policy-repair settings (the run's, scaled by :func:`budget_scale`)."""
    return scaled_repair_config(run.config.repair_policy, budget_scale(run))


__all__ = ["budget_scale", "round_repair_config", "scaled_repair_config"]
