"""The TRL trainers policy repair drives: GRPO / RLOO (online, against the repair reward) and DPO
on pairs the repair reward ranked (``dpo-rm``). LoRA (peft) by default; the KL anchor's
reference is then the same model with the adapter disabled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ares_rlhf.config import PolicyRepairConfig
from ares_rlhf.errors import ConfigError
from ares_rlhf.repair.policy.loading import LoadedPolicy
from ares_rlhf.repair.policy.prompts import RepairPrompt
from ares_rlhf.repair.policy.ranking import RankedPair
from ares_rlhf.repair.policy.reward import RepairReward
from ares_rlhf.training.options import trl_config


def common_args(config: PolicyRepairConfig, work_dir: Path, device: str, seed: int) -> dict[str, Any]:
    """Trainer arguments every algorithm shares (CPU-safe: ``use_cpu`` and no bf16 off GPU)."""
    import torch

    on_gpu = device.startswith("cuda")
    every = config.checkpoint_every
    return {
        "output_dir": str(work_dir),
        "max_steps": config.steps,
        "learning_rate": config.learning_rate,
        "seed": seed,
        "data_seed": seed,
        "use_cpu": not on_gpu,
        "bf16": bool(on_gpu and torch.cuda.is_bf16_supported()),
        "activation_checkpointing": False,
        "logging_steps": 1,
        "save_strategy": "steps" if every else "no",
        **({"save_steps": every, "save_total_limit": 1} if every else {}),
        "report_to": [],
        "disable_tqdm": True,
    }


def peft_config(config: PolicyRepairConfig) -> Any:
    if config.method != "lora":
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_r,
        lora_alpha=2 * config.lora_r,
        lora_dropout=0.0,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )


def anchor_reference(config: PolicyRepairConfig, model: Any, work_dir: Path) -> None:
    """Full fine-tuning with a KL anchor: TRL reloads the reference from ``_name_or_path``."""
    if config.method == "full" and config.beta > 0:
        start = work_dir / "initial-policy"
        if not (start / "config.json").is_file():
            model.save_pretrained(start)
        model.config._name_or_path = str(start)


def online_trainer(
    config: PolicyRepairConfig,
    policy: LoadedPolicy,
    reward: RepairReward,
    prompts: list[RepairPrompt],
    work_dir: Path,
    device: str,
    seed: int,
) -> Any:
    """A TRL ``GRPOTrainer`` or ``RLOOTrainer`` over the prompts, rewarded by ``reward``."""
    from datasets import Dataset

    rows = [
        {
            "prompt": policy.trainer_prompt(p.messages),
            "conversation": json.dumps(p.messages, ensure_ascii=False),
            "kind": p.kind,  # the reward's judge veto applies to adversarial prompts only
        }
        for p in prompts
    ]
    anchor_reference(config, policy.model, work_dir)
    group = config.num_generations
    online = {
        "per_device_train_batch_size": config.batch_size * group,
        "num_generations": group,
        "max_completion_length": config.max_new_tokens,
        "beta": config.beta,
        "temperature": 1.0,
    }
    if config.algorithm == "grpo":
        from trl import GRPOConfig as TrainerConfig
        from trl import GRPOTrainer as Trainer
    elif config.algorithm == "rloo":
        from trl import RLOOConfig as TrainerConfig
        from trl import RLOOTrainer as Trainer
    else:
        raise ConfigError(f"unknown policy repair algorithm {config.algorithm!r}")
    return Trainer(
        model=policy.model,
        reward_funcs=[reward],
        args=trl_config(
            TrainerConfig,
            "repair_policy",
            {**common_args(config, work_dir, device, seed), **online, **config.trainer_options},
        ),
        train_dataset=Dataset.from_list(rows),
        processing_class=policy.tokenizer,
        peft_config=peft_config(config),
    )


def dpo_trainer(
    config: PolicyRepairConfig,
    policy: LoadedPolicy,
    pairs: list[RankedPair],
    work_dir: Path,
    device: str,
    seed: int,
) -> Any:
    """A TRL ``DPOTrainer`` on ranked pairs (optionally with an NLL term on the chosen answers)."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    rows = []
    for pair in pairs:
        prompt = policy.trainer_prompt(pair.messages)
        if policy.conversational:
            chosen = [{"role": "assistant", "content": pair.chosen}]
            rejected = [{"role": "assistant", "content": pair.rejected}]
        else:
            chosen, rejected = " " + pair.chosen.strip(), " " + pair.rejected.strip()
        rows.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
    anchor_reference(config, policy.model, work_dir)
    nll = config.chosen_nll_weight
    args = trl_config(
        DPOConfig,
        "repair_policy",
        {
            **common_args(config, work_dir, device, seed),
            "per_device_train_batch_size": config.batch_size,
            "beta": config.beta,
            "max_length": 512,
            **({"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, nll]} if nll > 0 else {}),
            **config.trainer_options,
        },
    )
    ref_model = None
    if config.method == "full":
        import copy

        ref_model = copy.deepcopy(policy.model)
    # a model that already carries the repair adapter (a later dpo-rm iteration) trains it on
    return DPOTrainer(
        model=policy.model,
        ref_model=ref_model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=policy.tokenizer,
        peft_config=None if hasattr(policy.model, "peft_config") else peft_config(config),
    )


__all__ = ["anchor_reference", "common_args", "dpo_trainer", "online_trainer", "peft_config"]
