"""GPU step times at a real model size: RM repair (TRL RewardTrainer) and policy repair (GRPO).

Builds randomly initialised models with the real Qwen3-0.6B dimensions (``Qwen3Config``, no
download; the tokenizer is a small local BPE from ``ares_rlhf.testing.tiny``, so the vocabulary
and embedding matrix are smaller than the real 151k-token one) and times a few optimizer steps
of each trainer on one CUDA device, in bf16 where supported. Sized to finish in well under five
minutes on one modern GPU. Without CUDA it prints a message and a JSON line
``{"skipped": "no CUDA device"}`` and exits 0.

Last line: one JSON object with seconds per step (median over the timed steps) and peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Qwen3-0.6B's published architecture (config.json of Qwen/Qwen3-0.6B)
QWEN3_0_6B = {
    "hidden_size": 1024,
    "intermediate_size": 3072,
    "num_hidden_layers": 28,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "max_position_embeddings": 40960,
    "rope_theta": 1000000,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
}


def _config(tokenizer, **extra):
    from transformers import Qwen3Config

    return Qwen3Config(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        **QWEN3_0_6B,
        **extra,
    )


class StepTimer:
    """A ``TrainerCallback`` recording the wall time of each optimizer step."""

    def __init__(self) -> None:
        from transformers import TrainerCallback

        timer = self

        class _Callback(TrainerCallback):
            def on_step_begin(self, args, state, control, **kwargs):
                import torch

                torch.cuda.synchronize()
                timer._start = time.perf_counter()

            def on_step_end(self, args, state, control, **kwargs):
                import torch

                torch.cuda.synchronize()
                timer.steps.append(time.perf_counter() - timer._start)

        self.steps: list[float] = []
        self._start = 0.0
        self.callback = _Callback()

    def summary(self, warmup: int = 1) -> dict[str, float]:
        timed = self.steps[warmup:] or self.steps
        return {
            "median_s": round(statistics.median(timed), 3),
            "steps_timed": len(timed),
            "first_step_s": round(self.steps[0], 3),
        }


def _common(out_dir: str, steps: int, bf16: bool) -> dict:
    return {
        "output_dir": out_dir,
        "max_steps": steps,
        "learning_rate": 1e-5,
        "bf16": bf16,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": [],
        "disable_tqdm": True,
        "activation_checkpointing": False,
        "seed": 0,
    }


def time_reward_trainer(tokenizer, steps: int, batch: int, length: int, bf16: bool) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification
    from trl import RewardConfig, RewardTrainer

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(_config(tokenizer, num_labels=1))
    words = "the policy answered the request with a long careful explanation " * 40
    text = " ".join(
        words.split()[: length // 4]
    )  # stays under max_length (longer rows are dropped)
    rows = [
        {"chosen": f"Q{i}: {text} safe", "rejected": f"Q{i}: {text} harmful"}
        for i in range(batch * steps)
    ]
    timer = StepTimer()
    with tempfile.TemporaryDirectory() as out:
        trainer = RewardTrainer(
            model=model,
            args=RewardConfig(
                **_common(out, steps, bf16), per_device_train_batch_size=batch, max_length=length
            ),
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            callbacks=[timer.callback],
        )
        trainer.train()
    params = sum(p.numel() for p in model.parameters())
    del trainer, model
    torch.cuda.empty_cache()
    return {**timer.summary(), "params_m": round(params / 1e6, 1), "batch_pairs": batch}


def time_grpo(tokenizer, steps: int, prompts: int, generations: int, tokens: int, bf16: bool):
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, GenerationConfig
    from trl import GRPOConfig, GRPOTrainer

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(_config(tokenizer))
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    rows = [
        {"prompt": [{"role": "user", "content": f"Question {i}: explain how to bake bread."}]}
        for i in range(prompts * steps)
    ]

    def length_reward(completions, **kwargs):
        return [-abs(len(c[0]["content"]) - 80) / 80 for c in completions]

    timer = StepTimer()
    with tempfile.TemporaryDirectory() as out:
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=[length_reward],
            args=GRPOConfig(
                **_common(out, steps, bf16),
                per_device_train_batch_size=prompts * generations,
                num_generations=generations,
                max_completion_length=tokens,
                beta=0.04,
            ),
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            peft_config=LoraConfig(r=16, lora_alpha=32, target_modules="all-linear"),
            callbacks=[timer.callback],
        )
        trainer.train()
    del trainer, model
    torch.cuda.empty_cache()
    return {
        **timer.summary(),
        "completions_per_step": prompts * generations,
        "max_completion_tokens": tokens,
        "lora_r": 16,
        "beta": 0.04,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--rm-batch", type=int, default=16)
    parser.add_argument("--rm-length", type=int, default=512)
    parser.add_argument("--grpo-prompts", type=int, default=4)
    parser.add_argument("--grpo-generations", type=int, default=8)
    parser.add_argument("--grpo-tokens", type=int, default=128)
    args = parser.parse_args(argv)

    import torch

    if not torch.cuda.is_available():
        print("gpu_step: no CUDA device visible; nothing measured (run it on a GPU machine)")
        print(json.dumps({"skipped": "no CUDA device"}))
        return 0

    from ares_rlhf.testing.tiny import train_tokenizer

    tokenizer = train_tokenizer(vocab_size=4096)
    bf16 = torch.cuda.is_bf16_supported()
    device = torch.cuda.get_device_name(0)
    started = time.perf_counter()
    torch.cuda.reset_peak_memory_stats()
    rm = time_reward_trainer(tokenizer, args.steps, args.rm_batch, args.rm_length, bf16)
    rm["peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    torch.cuda.reset_peak_memory_stats()
    grpo = time_grpo(
        tokenizer, args.steps, args.grpo_prompts, args.grpo_generations, args.grpo_tokens, bf16
    )
    grpo["peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    total = time.perf_counter() - started

    print(f"device: {device} (bf16={bf16}); model: Qwen3-0.6B dimensions, vocab {len(tokenizer)}")
    print(f"{'stage':<22} {'s/step (median)':>16} {'first step':>11} {'peak GiB':>9}")
    print(
        f"{'RM repair (Reward)':<22} {rm['median_s']:>16} {rm['first_step_s']:>11} {rm['peak_gib']:>9}"
    )
    print(
        f"{'policy repair (GRPO)':<22} {grpo['median_s']:>16} {grpo['first_step_s']:>11} {grpo['peak_gib']:>9}"
    )
    print(f"total wall time: {total:.1f} s")
    print(
        json.dumps(
            {
                "device": device,
                "bf16": bf16,
                "model": "Qwen3-0.6B dims (random init)",
                "reward_trainer": rm,
                "grpo": grpo,
                "seconds": round(total, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
