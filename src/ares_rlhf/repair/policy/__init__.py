"""Repair stage 2: optimise the policy against the repaired reward model (see :mod:`.stage`)."""

from ares_rlhf.repair.policy.loading import LoadedPolicy, load_trainable_policy
from ares_rlhf.repair.policy.prompts import RepairPrompt, RepairPrompts, collect_repair_prompts
from ares_rlhf.repair.policy.ranking import RankedPair, build_preference_pairs
from ares_rlhf.repair.policy.reward import RepairReward
from ares_rlhf.repair.policy.saving import METADATA_FILE, finalize_saved_policy, save_policy
from ares_rlhf.repair.policy.stage import (
    CHECKPOINT_DIR,
    REPAIRED_POLICY_DIR,
    PolicyRepairer,
    PolicyRepairResult,
    repair_policy,
)

__all__ = [
    "CHECKPOINT_DIR",
    "METADATA_FILE",
    "REPAIRED_POLICY_DIR",
    "LoadedPolicy",
    "PolicyRepairResult",
    "PolicyRepairer",
    "RankedPair",
    "RepairPrompt",
    "RepairPrompts",
    "RepairReward",
    "build_preference_pairs",
    "collect_repair_prompts",
    "finalize_saved_policy",
    "load_trainable_policy",
    "repair_policy",
    "save_policy",
]
