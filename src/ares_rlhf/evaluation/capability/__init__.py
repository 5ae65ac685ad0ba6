"""Capability (alignment-tax) evaluation through lm-evaluation-harness.

* :func:`evaluate_capability`: one policy on ARC-Easy/Challenge, PIQA, HellaSwag, WinoGrande,
  BoolQ, LAMBADA, MMLU and GSM8K (offline files from a user-given folder) or lm-eval's own tasks,
  with seeded item sampling and per-item correctness for paired before/after statistics;
* ``capability.lm.AresLM``: any ARES policy spec as an lm-eval model (registered as ``ares``);
* ``capability.tasks``: the offline task definitions (lm-eval's templates and metrics);
* ``capability.data``: readers for each upstream file format.

Nothing here imports torch or lm_eval until a model is evaluated.
"""

from ares_rlhf.evaluation.capability.data import available_tasks
from ares_rlhf.evaluation.capability.run import (
    LM_EVAL_PREFIX,
    CapabilityResult,
    TaskResult,
    evaluate_capability,
    sample_indices,
)
from ares_rlhf.evaluation.capability.tasks import DEFAULT_SHOTS, OFFLINE_DIFFERENCES, TASKS

__all__ = [
    "DEFAULT_SHOTS",
    "LM_EVAL_PREFIX",
    "OFFLINE_DIFFERENCES",
    "TASKS",
    "CapabilityResult",
    "TaskResult",
    "available_tasks",
    "evaluate_capability",
    "sample_indices",
]
