"""Repair stage 1: fine-tune the reward model on the B/C failures (see :mod:`.stage`)."""

from ares_rlhf.repair.reward.stage import (
    CHECKPOINT_SUBDIR,
    RepairData,
    RepairResult,
    build_repair_data,
    check_trainable_spec,
    compose_variants,
    load_trainable_reward_model,
    model_and_tokenizer,
    repair_reward_model,
)

__all__ = [
    "CHECKPOINT_SUBDIR",
    "RepairData",
    "RepairResult",
    "build_repair_data",
    "check_trainable_spec",
    "compose_variants",
    "load_trainable_reward_model",
    "model_and_tokenizer",
    "repair_reward_model",
]
